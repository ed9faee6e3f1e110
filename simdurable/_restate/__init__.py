"""Hosting services written with restate-sdk itself (the ``restate`` package).

Every entry point that takes services (``Simulation``, ``check``, the plugin,
scenarios, the executor and the CLI) passes them through
``native_services``: simdurable's own services go through unchanged;
``restate.Service``/``VirtualObject``/``Workflow`` objects and the value of
``restate.app(...)`` become simdurable services that run the restate-sdk
handlers unchanged. restate-sdk is imported only when such an object shows up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from importlib import metadata
from types import ModuleType
from typing import Any, Final

SUPPORTED_VERSIONS: Final = ("1.2.0", "1.3.0")


class UnsupportedRestateVersion(ImportError):
    """The installed restate-sdk is not one this simdurable can host."""


def _from_restate(obj: Any) -> bool:
    """True for objects that restate-sdk made (checked without importing it)."""
    for module in (type(obj).__module__, getattr(obj, "__module__", None)):
        if isinstance(module, str) and (module == "restate" or module.startswith("restate.")):
            return True
    return False


def check_version() -> str:
    """The installed restate-sdk version; raises if simdurable cannot host it."""
    try:
        version = metadata.version("restate-sdk")
    except metadata.PackageNotFoundError:
        raise UnsupportedRestateVersion(
            "restate-sdk is not installed: pip install 'simdurable[restate]'"
        ) from None
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedRestateVersion(
            f"restate-sdk {version} is installed, but simdurable hosts restate-sdk "
            f"{' and '.join(SUPPORTED_VERSIONS)} only: pip install 'simdurable[restate]' "
            f"(restate-sdk=={SUPPORTED_VERSIONS[-1]})"
        )
    return version


def _adapter() -> ModuleType:
    check_version()
    from . import _service

    return _service


def native_services(objs: Iterable[Any]) -> list[Any]:
    """``objs`` with each restate-sdk service (or ``restate.app``) made a simdurable one.

    A service named twice (say, itself and in an app) is hosted once.
    """
    out: list[Any] = []
    for obj in objs:
        if not _from_restate(obj):
            found = [obj]
        else:
            adapter = _adapter()
            if adapter.is_service(obj):
                found = [adapter.convert(obj)]
            else:
                services = adapter.services_of_app(obj)
                # Not a service: the caller says what it expected instead.
                found = [obj] if services is None else [adapter.convert(s) for s in services]
        out.extend(f for f in found if not any(f is seen for seen in out))
    return out


def is_hostable(obj: Any) -> bool:
    """True for a restate-sdk service and for the value of ``restate.app(...)``."""
    if not _from_restate(obj):
        return False
    adapter = _adapter()
    return bool(adapter.is_service(obj) or adapter.services_of_app(obj) is not None)


def restate_handler_of(fn: Any) -> Any:
    """The restate-sdk ``Handler`` behind a function it decorated, or None."""
    if "restate" not in sys.modules or not callable(fn):
        return None
    from restate.handler import handler_from_callable

    try:
        return handler_from_callable(fn)
    except (ValueError, TypeError):
        return None
