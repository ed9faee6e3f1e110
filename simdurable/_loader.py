"""Load user objects named ``module:attribute`` (as pytest and uvicorn do)."""

from __future__ import annotations

import importlib
from typing import Any


class LoadError(ValueError):
    """A ``module:attribute`` name that cannot be loaded; says which part failed."""


def load_object(name: str) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted) and return the object."""
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise LoadError(f"{name!r}: expected module:attribute, like myapp.handlers:greeter")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise LoadError(f"{name!r}: cannot import module {module_name!r}: {err}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LoadError(f"{name!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj
