"""Names to print for user objects, so that reproducers can be pasted back."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def modules_of(services: Iterable[Any]) -> list[str]:
    """Modules that define the services' handler functions (and ``__main__``)."""
    found: list[str] = []
    for svc in services:
        for h in getattr(svc, "handlers", {}).values():
            mod = getattr(getattr(h, "fn", None), "__module__", None)
            if mod and mod not in found:
                found.append(mod)
    if "__main__" not in found:
        found.append("__main__")
    return found


def name_of(obj: Any, modules: Iterable[str]) -> str | None:
    """``module.attr`` under which ``obj`` is a module global, if any.

    A restate-sdk service hosted here is named by the user's own object (the
    hosted twin is no module global), which ``Simulation`` accepts as well.
    """
    origin = getattr(obj, "restate_service", None)
    home = getattr(obj, "defined_in", None) or getattr(obj, "__module__", None)
    if isinstance(home, str):  # where it was made first: an import elsewhere is a copy
        modules = [home, *(m for m in modules if m != home)]
    for want in (obj,) if origin is None else (obj, origin):
        for mod_name in modules:
            mod = sys.modules.get(mod_name)
            if mod is None:
                continue
            for attr, value in sorted(vars(mod).items()):
                if value is want and not attr.startswith("__"):
                    return attr if mod_name == "__main__" else f"{mod_name}.{attr}"
    return None


def python_names(objs: Iterable[Any], modules: list[str], fallback: str) -> str:
    parts = []
    for obj in objs:
        name = name_of(obj, modules)
        if name is None:
            label = getattr(obj, "name", None) or type(obj).__name__
            name = f"<{fallback} {label!r}>"
        parts.append(name)
    return "[" + ", ".join(parts) + "]"


def services_source(services: Any, modules: list[str]) -> tuple[str, list[str]]:
    """What a reproducer passes as ``services=``, and the names it imports: the
    services' names, or the app they came from when it has a journal value
    codec (a list of its services would replay without it)."""
    names = python_names(services, modules, "Service")
    codec = getattr(services, "journal_value_codec", None)
    inner = names.strip("[]").split(", ") if services else []
    if codec is None:
        return names, inner
    from .._codec import journal_codec_of

    for mod_name in modules:
        mod = sys.modules.get(mod_name)
        if mod is None:
            continue
        for attr, value in sorted(vars(mod).items()):
            if attr.startswith("__"):
                continue
            try:
                found = journal_codec_of([value]) is codec
            except Exception:  # noqa: BLE001 - a global that is no app
                found = False
            if found:
                name = attr if mod_name == "__main__" else f"{mod_name}.{attr}"
                # (simdurable's app is a list of services; restate-sdk's an ASGI function)
                return (name if isinstance(value, Iterable) else f"[{name}]"), [name]
    codec_name = name_of(codec, modules) or "<the app's journal_value_codec>"
    return (f"simdurable.app({names}, journal_value_codec={codec_name})",
            ["simdurable.app", *inner, codec_name])


def imports_for(names: Iterable[str]) -> list[str]:
    mods = []
    for n in names:
        if n.startswith("<") or "." not in n:
            continue
        mod = n.rsplit(".", 1)[0]
        if mod not in mods:
            mods.append(mod)
    return mods
