"""Serves one compatibility program on the real restate-sdk (hypercorn, h2c).

Run by the peers' interpreter (``benchmarks/.cache/peers-venv``), not
simdurable's: ``python serve.py PORT PROGRAM [PROGRAM...]``. The programs are
the modules of ``tests/compat/programs/`` (or ``conformance.generated``),
imported as they are.

It also counts how many times each ``ctx.run`` closure really ran (a replayed
step is not run again), per ``service/handler/step``, and answers
``GET /conformance/step-runs`` with those counts (``?reset=1`` clears them):
the simulation's own count (``Simulation.step_runs``) is compared with it.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import restate  # noqa: E402
from restate.server_context import ServerInvocationContext  # noqa: E402

from benchmarks.peers.hosting import serve_h2c  # noqa: E402

STEP_RUNS: dict[str, int] = {}
_LOCK = threading.Lock()
# With CONFORMANCE_STEP_LOG set, each run is also appended to that file, so that
# the counts outlive a process killed with SIGKILL (conformance/crashing.py).
STEP_LOG = os.environ.get("CONFORMANCE_STEP_LOG")


def _load_step_log() -> None:
    if STEP_LOG and os.path.exists(STEP_LOG):
        with open(STEP_LOG, encoding="utf-8") as log:
            for line in log:
                if line.strip():
                    STEP_RUNS[line.strip()] = STEP_RUNS.get(line.strip(), 0) + 1


def _counted(ctx: Any, name: str, action: Callable[..., Any]) -> Callable[..., Any]:
    """``action``, counting each execution under ``service/handler/name``."""
    key = f"{ctx.handler.service_tag.name}/{ctx.handler.name}/{name}"

    def count() -> None:
        with _LOCK:
            STEP_RUNS[key] = STEP_RUNS.get(key, 0) + 1
            if STEP_LOG:
                with open(STEP_LOG, "a", encoding="utf-8") as log:
                    log.write(key + "\n")

    if inspect.iscoroutinefunction(action):
        @functools.wraps(action)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            count()
            return await action(*args, **kwargs)
        return run_async

    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        count()
        return action(*args, **kwargs)
    return run


def _count_steps() -> None:
    run, run_typed = ServerInvocationContext.run, ServerInvocationContext.run_typed

    def counted_run(self: Any, name: str, action: Any, /, *args: Any, **kwargs: Any) -> Any:
        return run(self, name, _counted(self, name, action), *args, **kwargs)

    def counted_run_typed(self: Any, name: str, action: Any, /, *args: Any, **kwargs: Any) -> Any:
        return run_typed(self, name, _counted(self, name, action), *args, **kwargs)

    ServerInvocationContext.run = counted_run  # type: ignore[method-assign]
    ServerInvocationContext.run_typed = counted_run_typed  # type: ignore[method-assign]


def with_step_runs(inner: Any) -> Any:
    """The ASGI app, plus ``GET /conformance/step-runs``."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/conformance/step-runs":
            with _LOCK:
                body = json.dumps(STEP_RUNS, sort_keys=True).encode()
                if b"reset=1" in scope.get("query_string", b""):
                    STEP_RUNS.clear()
                    if STEP_LOG:
                        open(STEP_LOG, "w", encoding="utf-8").close()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)
    return app


def services(names: list[str]) -> list[object]:
    found: list[object] = []
    for name in names:
        importlib.import_module(name if "." in name else f"tests.compat.programs.{name}")
    modules = [m for k, m in sorted(sys.modules.items())
               if k.startswith(("tests.compat.programs.", "conformance."))]
    for module in modules:
        for value in vars(module).values():
            if (isinstance(value, (restate.Service, restate.VirtualObject, restate.Workflow))
                    and not any(value is f or value.name == f.name for f in found)):  # type: ignore[attr-defined]
                found.append(value)
    return found


def main() -> None:
    _count_steps()
    _load_step_log()
    serve_h2c(with_step_runs(restate.app(services(sys.argv[2:]))), int(sys.argv[1]))


if __name__ == "__main__":
    main()
