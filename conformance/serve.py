"""Serves one compatibility program on the real restate-sdk (hypercorn, h2c).

Run by the peers' interpreter (``benchmarks/.cache/peers-venv``), not
simdurable's: ``python serve.py PORT PROGRAM [PROGRAM...]``. The programs are
the modules of ``tests/compat/programs/``, imported as they are.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import restate  # noqa: E402
from hypercorn.asyncio import serve  # noqa: E402
from hypercorn.config import Config  # noqa: E402


def services(names: list[str]) -> list[object]:
    found: list[object] = []
    for name in names:
        importlib.import_module(f"tests.compat.programs.{name}")
    modules = [m for k, m in sorted(sys.modules.items()) if k.startswith("tests.compat.programs.")]
    for module in modules:
        for value in vars(module).values():
            if (isinstance(value, (restate.Service, restate.VirtualObject, restate.Workflow))
                    and not any(value is f or value.name == f.name for f in found)):  # type: ignore[attr-defined]
                found.append(value)
    return found


def main() -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{int(sys.argv[1])}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    app = restate.app(services(sys.argv[2:]))
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
