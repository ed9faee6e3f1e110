"""The live executor runs each attempt of an invocation in a context of its own
(``tests/runtime/test_invocation_context.py`` for the simulation), whichever
thread runs a turn of its handler: what one handler sets is there at its next
turn, after a timer or a call, and is never seen by another invocation
interleaved with it, nor by the invocation it calls."""

from __future__ import annotations

import contextvars
from datetime import timedelta
from pathlib import Path

import simdurable as sd

REQUEST = contextvars.ContextVar("simdurable_test_live_request_id", default="unset")
live = sd.Service("InvocationContextLive")


@live.handler()
async def callee(ctx: sd.Context, tag: str) -> str:
    before = REQUEST.get()
    REQUEST.set(f"callee-{tag}")
    return before


@live.handler()
async def tagged(ctx: sd.Context, tag: str) -> list[str]:
    seen = [REQUEST.get()]
    REQUEST.set(tag)
    await ctx.sleep(timedelta(milliseconds=300))
    seen.append(REQUEST.get())
    seen.append(await ctx.service_call(callee, tag))
    seen.append(REQUEST.get())
    return seen


def test_interleaved_live_invocations_each_keep_their_own_variables(tmp_path: Path) -> None:
    tags = ["a", "b", "c"]
    with sd.Executor([live], db=tmp_path / "dev.db") as ex:
        handles = [ex.send("InvocationContextLive/tagged", tag) for tag in tags]
        results = [h.result(timeout=10) for h in handles]
    assert results == [["unset", tag, "unset", tag] for tag in tags]
