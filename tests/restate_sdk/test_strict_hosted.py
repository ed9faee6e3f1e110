"""Strict mode on restate-sdk handlers: what the profile hook does not watch.

The hook is off while simdurable's own bookkeeping runs for a hosted handler
(a command issued, a wait's state, a step's options): no code of the user's runs
there. Each case here is code of the user's reached from such an operation, or
the handler's own code around one, and must still be reported: a serde's
``serialize`` for a promise, a state value or a call's argument, a step
function's annotation, the handler's line after a wait in restate's
``select``, and a catch-all ``except`` around an await that waits.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from typing import Any

import pytest

restate = pytest.importorskip("restate")

import simdurable as sd  # noqa: E402


class StampingSerde(restate.serde.Serde[Any]):
    """JSON, reading the clock as it writes (a serde of the user's)."""

    def serialize(self, obj: Any) -> bytes:
        stamp = time.time()  # SERIALIZE
        return json.dumps([obj, stamp > 0]).encode()

    def deserialize(self, buf: bytes) -> Any:
        return json.loads(buf)[0] if buf else None


def stamped() -> type:
    time.monotonic()  # ANNOTATION
    return str


def remind() -> stamped():  # (a string: evaluated by restate-sdk's rule, eval_str)
    return "sent"


wf = restate.Workflow("Watched")
callee = restate.Service("Callee")
obj = restate.VirtualObject("Kept")


@callee.handler(input_serde=StampingSerde())
async def take(ctx: restate.Context, value: Any) -> str:
    return f"took {value}"


@wf.main()
async def run(ctx: restate.WorkflowContext) -> str:
    deadline = ctx.sleep(timedelta(minutes=1))
    rounds = 0
    while True:
        tick = ctx.sleep(timedelta(seconds=15))
        match await restate.select(tick=tick, deadline=deadline):
            case ["tick", _]:
                rounds += 1
                os.getpid()  # AFTER SELECT
                await ctx.run_typed("remind", remind)
            case ["deadline", _]:
                return f"{rounds} rounds"


@wf.handler()
async def confirm(ctx: restate.WorkflowSharedContext, secret: str) -> None:
    await ctx.promise("confirmed", serde=StampingSerde()).resolve(secret)


@wf.handler()
async def call(ctx: restate.WorkflowSharedContext, value: str) -> str:
    return await ctx.service_call(take, value)


@obj.handler()
async def keep(ctx: restate.ObjectContext, value: str) -> None:
    ctx.set("value", value, serde=StampingSerde())


@obj.handler()
async def catch_alls(ctx: restate.ObjectContext, _: int) -> str:
    try:
        await restate.select(a=ctx.sleep(timedelta(seconds=1)), b=ctx.sleep(timedelta(seconds=2)))
    except BaseException:  # SELECT CLAUSE
        pass
    try:
        await ctx.sleep(timedelta(seconds=1))
    except:  # noqa: E722  SLEEP CLAUSE
        pass
    try:
        await restate.gather(ctx.sleep(timedelta(seconds=1)))
    except BaseException:  # GATHER CLAUSE
        pass
    return "done"


def _line(marker: str) -> str:
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if text.rstrip().endswith(marker):
                return f"test_strict_hosted.py:{n}"
    raise AssertionError(marker)


def problems(service: Any, target: str, arg: Any) -> list[tuple[str, str | None, str]]:
    sim = sd.Simulation(services=[wf, callee, obj], strict=True)
    sim.invoke(target, arg)
    sim.run()
    assert sim.problems is not None
    return [(p.kind, p.source, p.detail) for p in sim.problems]


def sources(found: list[tuple[str, str | None, str]], kind: str) -> set[str | None]:
    return {source for k, source, _ in found if k == kind}


def test_the_handlers_line_after_a_select_and_a_steps_annotation_are_reported() -> None:
    found = problems(wf, "Watched/u1/run", None)
    assert sources(found, "nondeterministic-call") == {
        _line("# AFTER SELECT"), _line("# ANNOTATION")}, found
    detail = {s: d for k, s, d in found}[_line("# AFTER SELECT")]
    assert detail.startswith("os.getpid() was called outside a step"), detail


@pytest.mark.parametrize("target", ["Watched/u1/confirm", "Watched/u1/call", "Kept/k/keep"])
def test_a_serde_of_the_users_is_watched_for_a_promise_a_call_and_state(target: str) -> None:
    found = problems(wf, target, "s3cret")
    assert _line("# SERIALIZE") in sources(found, "nondeterministic-call"), found
    detail = {s: d for k, s, d in found}[_line("# SERIALIZE")]
    assert detail.startswith("time.time() was called outside a step"), detail


def test_a_catch_all_around_each_kind_of_await_is_reported() -> None:
    found = problems(obj, "Kept/k/catch_alls", 0)
    assert sources(found, "context-misuse") == {
        _line("# SELECT CLAUSE"), _line("SLEEP CLAUSE"), _line("# GATHER CLAUSE")}, found
