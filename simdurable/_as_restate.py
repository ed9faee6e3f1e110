"""``install_as_restate()``: let ``import restate`` load simdurable.

A module written for restate-sdk then runs unchanged in simdurable's hosts
without restate-sdk installed: ``import restate``, ``from restate import ...``
and ``from restate.exceptions import TerminalError`` get simdurable's names.
"""

from __future__ import annotations

import sys

_SUBMODULES = (
    "asyncio", "context", "context_managers", "endpoint", "entry_codec", "exceptions",
    "extensions", "handler", "logging", "object", "retry_policy", "serde", "service", "types",
    "workflow",
)


def install_as_restate() -> None:
    """Make ``restate`` and ``restate.<submodule>`` name simdurable's modules.

    Call it before the modules that ``import restate`` are imported (in a
    ``conftest.py``, for instance). It refuses when restate-sdk itself is
    already imported, since its objects and simdurable's would then mix.
    """
    package = sys.modules[__name__.rsplit(".", 1)[0]]
    present = sys.modules.get("restate")
    if present is not None and present is not package:
        raise RuntimeError(
            "install_as_restate(): restate-sdk is already imported (from "
            f"{getattr(present, '__file__', '?')}); call it before anything imports restate"
        )
    sys.modules["restate"] = package
    for name in _SUBMODULES:
        sys.modules[f"restate.{name}"] = sys.modules[f"{package.__name__}.{name}"]
