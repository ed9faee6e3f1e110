"""Writes restate_sdk_1_3_0_names.json: the public names of restate-sdk's modules.

Run it with restate-sdk 1.3.0 installed (in a virtualenv of its own):
    python tests/data/restate_names.py > tests/data/restate_sdk_1_3_0_names.json
A module's public names are its ``__all__`` and every name it binds to an
object that restate-sdk defines (not modules, not type variables).
"""

from __future__ import annotations

import importlib
import json
import types
import typing
from importlib.metadata import version

MODULES = [
    "restate", "restate.asyncio", "restate.context", "restate.context_managers",
    "restate.endpoint", "restate.entry_codec", "restate.exceptions", "restate.extensions",
    "restate.handler", "restate.logging", "restate.object", "restate.retry_policy",
    "restate.serde", "restate.service", "restate.types", "restate.workflow",
]


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = set(getattr(module, "__all__", ()))
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, (types.ModuleType, typing.TypeVar,
                                                      typing.ParamSpec)):
            continue
        if str(getattr(value, "__module__", "")).startswith("restate"):
            names.add(name)
    return sorted(names)


if __name__ == "__main__":
    out = {"restate-sdk": version("restate-sdk")}
    out.update({m: public_names(m) for m in MODULES})  # type: ignore[misc]
    print(json.dumps(out, indent=1))
