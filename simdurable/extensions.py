"""``restate.extensions``: the running handler's context, for integrations."""

from __future__ import annotations

from typing import Any

from ._api.service import running_context
from .context_managers import contextvar


def current_context() -> Any:
    """The context of the handler whose code calls this, or None outside one."""
    return running_context()


__all__ = ["contextvar", "current_context"]
