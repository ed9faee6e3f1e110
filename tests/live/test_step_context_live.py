"""The live executor runs a step's closure in a copy of the context its step was
started in, the handler's (``tests/runtime/test_step_context.py`` for the
simulation): the closure sees what the handler set before it, and what the
closure sets never reaches the handler, fresh or after a restart replays the
stored steps. (The handler sets its variable again before each step: a live
handler's turns may run on different threads, each with its own context.)"""

from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path

import simdurable as sd

VAR = contextvars.ContextVar("simdurable_test_live_step_var", default="unset")
live = sd.Service("StepContextLive")
gate = threading.Event()


def sets(tag: str) -> str:
    before = VAR.get()
    VAR.set(tag)
    return f"{before}>{VAR.get()}"


async def sets_async(tag: str) -> str:
    before = VAR.get()
    VAR.set(tag)
    return f"{before}>{VAR.get()}"


def gated(tag: str) -> str:
    gate.wait(5)
    return sets(tag)


@live.handler()
async def shapes(ctx: sd.Context, n: int) -> list[str]:
    seen = []
    for name, closure in (("sync", sets), ("async", sets_async), ("gated", gated)):
        VAR.set(f"h{n}")
        seen.append(await ctx.run_typed(name, closure, tag=name))
        seen.append("leaked" if VAR.get() == name else "kept")
    return seen


def expected(n: int) -> list[str]:
    return [f"h{n}>sync", "kept", f"h{n}>async", "kept", f"h{n}>gated", "kept"]


def test_a_live_closure_sees_the_handlers_variables_and_keeps_its_own(tmp_path: Path) -> None:
    gate.set()
    with sd.Executor([live], db=tmp_path / "dev.db") as ex:
        assert ex.call("StepContextLive/shapes", 0, timeout=10) == expected(0)
        assert ex.call("StepContextLive/shapes", 1, timeout=10) == expected(1)


def test_a_live_replay_after_a_restart_sees_what_a_fresh_run_saw(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    gate.clear()
    ex = sd.Executor([live], db=db).start()
    ex.send("StepContextLive/shapes", 2)
    time.sleep(0.2)  # "sync" and "async" stored, "gated" in flight on the gate
    threading.Timer(0.2, gate.set).start()
    ex.close()  # stores "gated", runs nothing after it
    gate.set()
    with sd.Executor([live], db=db) as again:
        assert again.invocations()[0].result(timeout=10) == expected(2)
