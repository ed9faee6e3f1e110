"""A handler whose input needs no serde call (none, or the plain serde's int)
runs as its function's own coroutine, without ``Handler._start`` around it
(``HandlerSpec.direct``), and its return value is written where it is taken
(``Attempt.output``). Every run is the same, write for write, as with ``start``:
results, failures and their reports, traces, journals and schedules."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as sd
import simdurable.extensions
from simdurable._api.service import Handler
from simdurable.runtime._errors import HandlerError, NotFinishedError, StuckError
from simdurable.runtime._registry import HandlerSpec

direct = sd.Service("Direct")
flow = sd.Workflow("Flow")
tries: dict[str, int] = {}


def add(i: int) -> int:
    return i + 1


@dataclass
class Pair:
    a: int
    b: str


class Loud(sd.Serde[Any]):
    """An output serde that fails on a negative number (not a ``TypeError``)."""

    def serialize(self, obj: Any) -> bytes:
        if obj < 0:
            raise KeyError(f"negative {obj}")
        return b"%d" % obj

    def deserialize(self, buf: bytes) -> Any:
        return int(buf)


@direct.handler()
async def steps(ctx: sd.Context, x: int) -> int:
    for _ in range(3):
        x = await ctx.run_typed("step", add, i=x)
    return x


@direct.handler()
async def no_input(ctx: sd.Context) -> str:
    n = await ctx.run_typed("n", add, i=1)
    return f"n={n}"


@direct.handler()
async def untyped(ctx: sd.Context, x):  # type: ignore[no-untyped-def]
    return [x, await ctx.run_typed("step", add, i=1)]


@direct.handler()
async def nothing(ctx: sd.Context, x: int) -> None:
    await ctx.sleep(timedelta(milliseconds=x % 3))


@direct.handler()
async def pair(ctx: sd.Context, x: int) -> Pair:
    return Pair(await ctx.run_typed("a", add, i=x), "b")


@direct.handler()
async def unwritable(ctx: sd.Context, x: int) -> Any:
    await ctx.run_typed("step", add, i=x)
    return {x}  # a set: JSON cannot write it


@direct.handler(output_serde=Loud())
async def loud(ctx: sd.Context, x: int) -> int:
    y = await ctx.run_typed("step", add, i=x)
    return y if x % 2 else -y


@direct.handler()
async def refused(ctx: sd.Context, x: int) -> int:
    await ctx.run_typed("before", add, i=x)
    raise sd.TerminalError(f"no {x}", 422)


@direct.handler()
async def flaky(ctx: sd.Context, x: int) -> int:
    key = f"flaky-{x}"
    tries[key] = tries.get(key, 0) + 1
    if tries[key] % 2:
        raise ValueError(f"try {tries[key]}")
    return await ctx.run_typed("after", add, i=x)


@direct.handler()
async def caller(ctx: sd.Context, x: int) -> list:
    got = await ctx.service_call(steps, arg=x)
    text = await ctx.service_call(no_input)
    return [got, text]


@direct.handler()
async def typed_text(ctx: sd.Context, x: str) -> str:
    return x + await ctx.run_typed("s", lambda: "!")


@flow.main()
async def run(ctx: sd.WorkflowContext, x: int) -> int:
    y = await ctx.run_typed("step", add, i=x)
    await ctx.promise("p").resolve(y)
    return y


TARGETS = ["Direct/steps", "Direct/no_input", "Direct/untyped", "Direct/nothing", "Direct/pair",
           "Direct/unwritable", "Direct/loud", "Direct/refused", "Direct/flaky", "Direct/caller",
           "Direct/typed_text", "Flow/w/run"]
# Inputs: digits (the direct way), and what goes through ``start``: a leading 0,
# a negative number, a string, JSON that an int handler's serde cannot read.
INPUTS = [b"0", b"7", b"42", b"007", b"-3", b'"text"', b"[1, 2]", b"{bad"]


def a_run(general: bool, monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, bytes]],
          plan: sd.FaultPlan, seed: int, **options: object) -> tuple:
    tries.clear()
    with monkeypatch.context() as patch:
        if general:  # (every spec's ``direct`` reads None: each handler through ``start``)
            patch.setattr(HandlerSpec, "direct", property(lambda spec: None))
        sim = sd.Simulation([direct, flow], seed=seed, faults=plan, max_steps=3_000,
                            **options)
        for target, data in calls:
            service, _, rest = target.partition("/")
            key, _, name = rest.rpartition("/")
            sim.engine.submit(service, name, key or None, data)
        try:
            summary = str(sim.run())
        except StuckError as err:
            summary = str(err)
    results = []
    for h in sim.invocations():
        try:
            results.append(repr(h.result()))
        except (sd.TerminalError, NotFinishedError, HandlerError) as err:
            results.append(f"{type(err).__name__}: {err}")
    journals = [[(e.kind, e.name, e.data, e.result, e.target, e.at_ms) for e in sim.journal(r)]
                for r in sim.invocations()]
    records = [(r.id, r.status, r.attempts, r.failures, r.last_failure, r.result)
               for r in sim.engine.records()]
    return (sim.trace(), summary, results, journals, records, sim.engine.tasks_run,
            [str(p) for p in sim.problems], [str(m) for m in sim.engine.lifecycle.misuse],
            dict(sim.engine.lifecycle.raised), sim.scheduler.decisions)


faults = st.one_of(
    st.builds(lambda i, p: sd.Fault("crash", index=i, phase=p), st.integers(0, 4),
              st.sampled_from(["before", "effect-done", "after-store"])),
    st.builds(lambda i: sd.Fault("suspend", index=i, phase="after-store"), st.integers(0, 4)),
    st.builds(lambda s: sd.Fault("fail", step=s), st.sampled_from(["step", "a", "after"])),
    st.builds(lambda t: sd.Fault("restart", at_ms=t), st.integers(0, 5)),
)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(TARGETS), st.sampled_from(INPUTS)), min_size=1,
                max_size=4),
       st.lists(faults, max_size=2), st.integers(0, 2**16), st.booleans(), st.booleans())
def test_a_handler_run_without_start_is_the_same_as_through_it(
        monkeypatch, calls, plan_faults, seed, strict, suspend):
    plan = sd.FaultPlan(tuple(plan_faults))
    options = {"strict": strict, "always_suspend": suspend}
    ran = a_run(False, monkeypatch, calls, plan, seed, **options)
    assert a_run(True, monkeypatch, calls, plan, seed, **options) == ran


def started_by_start() -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is Handler._start.__code__:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


seen = sd.Service("Seen")
where: list[tuple[bool, bool, bool]] = []


async def helper() -> bool:
    return simdurable.extensions.current_context() is not None


@seen.handler()
async def look(ctx: sd.Context, x: int) -> int:
    where.append((started_by_start(), simdurable.extensions.current_context() is ctx,
                  await helper()))
    await ctx.run_typed("step", add, i=x)
    where.append((started_by_start(), simdurable.extensions.current_context() is ctx,
                  await helper()))
    return x


@pytest.mark.parametrize(("data", "through_start"), [(b"5", False), (b" 5", True)])
def test_an_int_input_runs_the_function_alone_and_the_context_is_found(data, through_start):
    where.clear()
    sim = sd.Simulation([seen], seed=1)
    sim.engine.submit("Seen", "look", None, data)
    sim.run()
    sim.engine.submit("Seen", "look", None, data)
    sim.invoke("Seen/look", 1)  # (two in flight: the crowd's runner)
    sim.run()
    assert [h.result() for h in sim.invocations()] == [5, 5, 1]
    assert sorted(where) == sorted([(through_start, True, True)] * 4 + [(False, True, True)] * 2)
    assert simdurable.extensions.current_context() is None


def test_the_function_called_outside_a_run_has_no_context():
    class Fake:
        async def run_typed(self, *args: object, **kwargs: object) -> int:
            return 1

    where.clear()
    coro = look(Fake(), 2)  # type: ignore[arg-type]
    with pytest.raises(StopIteration):
        coro.send(None)
    assert where == [(False, False, False)] * 2


saga = sd.Service("Saga")
in_hand: list[bool] = []


@saga.handler()
async def compensate(ctx: sd.Context, x: int) -> int:
    from simdurable._check._explore import _terminal_error_in_hand

    attempt = ctx._attempt  # type: ignore[attr-defined]
    try:
        await ctx.run_typed("charge", add, i=x)
        raise sd.TerminalError("declined")
    except sd.TerminalError as err:
        failure = err  # kept past its except block, as a saga keeps it to raise later
    in_hand.append(_terminal_error_in_hand(attempt.coro.cr_frame))
    del failure
    in_hand.append(_terminal_error_in_hand(attempt.coro.cr_frame))
    return x


def test_a_terminal_error_kept_by_a_handler_run_alone_is_in_hand():
    """``check``'s test for a compensation looks at the frames up to the
    handler's coroutine: its function's own frame when it runs without
    ``start``, which holds the error."""
    in_hand.clear()
    sim = sd.Simulation([saga], seed=1)
    sim.invoke("Saga/compensate", 3)
    sim.run()
    assert in_hand == [True, False]
