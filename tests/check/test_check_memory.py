"""A check's memory does not grow with its runs: each run's simulation, engine
and journals are freed by reference counting when the check is done with them,
not left to a full collection (which a check of a long-running workflow, its
runs' objects handed to the oldest generation, waits a long time for), and the
check keeps of the runs it compares with only what it reads again."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import restate
from restate import TerminalError, WorkflowContext, WorkflowSharedContext

import simdurable as sd
from simdurable import world
from simdurable._sim import Simulation
from simdurable.runtime._engine import Engine

# The shape of restate's signup-with-timers tour example (a reminder every 15 s
# until a deadline, the promise waited on again each time), with a 5-minute
# deadline: 20 reminders instead of 5,760.
wf = restate.Workflow("ShortTimers")


@wf.main()
async def run(ctx: WorkflowContext, name: str) -> bool:
    secret = str(ctx.uuid())
    await ctx.run_typed("verify", lambda: None)
    clicked = ctx.promise("verified", type_hint=str)
    deadline = ctx.sleep(timedelta(minutes=5))
    while True:
        reminder = ctx.sleep(timedelta(seconds=15))
        match await restate.select(verification=clicked.value(), reminder=reminder,
                                   timeout=deadline):
            case ["verification", got]:
                return bool(got == secret)
            case ["reminder", _]:
                await ctx.run_typed("remind", lambda: None)
            case ["timeout", _]:
                raise TerminalError("verification timed out")


@wf.handler("verify")
async def verify(ctx: WorkflowSharedContext, secret: str) -> None:
    await ctx.promise("verified", type_hint=str).resolve(secret)


failing = restate.Service("Failing")


@failing.handler()
async def terminal(ctx: restate.Context, how: str) -> None:
    await ctx.run_typed("s", lambda: None)
    if how == "resumed":  # (raised after a wait: by the runtime's resume task)
        await ctx.sleep(timedelta(seconds=1))
        raise RuntimeError("a bug")
    if how == "terminal":
        raise TerminalError("no")
    if how == "caused":
        try:
            raise ValueError("inner")
        except ValueError as err:
            raise TerminalError("no") from err
    raise RuntimeError("a bug")


native = sd.Service("FailingNative")


@native.handler()
async def native_terminal(ctx: sd.Context, how: str) -> None:
    await ctx.run_typed("s", lambda: None)
    if how == "resumed":
        await ctx.sleep(timedelta(seconds=1))
        raise RuntimeError("a bug")
    if how == "terminal":
        raise sd.TerminalError("no")
    if how == "caused":
        try:
            raise ValueError("inner")
        except ValueError as err:
            raise sd.TerminalError("no") from err
    raise RuntimeError("a bug")


KILL = sd.InvocationRetryPolicy(max_attempts=2, on_max_attempts="kill")


def _engines() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Engine)


@contextmanager
def _collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("how", ["terminal", "caused", "bug", "resumed"])
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("target", ["Failing/terminal", "FailingNative/native_terminal"])
def test_a_handler_that_raises_leaves_its_engine_to_reference_counting(
        target: str, how: str, strict: bool) -> None:
    # A frame that kept the error raised through it in a variable (the hosted
    # handler's wrapper, the error it converted; the runtime's, how the
    # handler's segment ended) made a cycle with the error's traceback, and
    # through the frame's context or engine parts held the whole engine until
    # a full collection.
    sim = sd.Simulation([failing, native], seed=1, retry_policy=KILL, strict=strict)
    sim.invoke(target, how)
    sim.run()
    with _collector_off():
        sim = sd.Simulation([failing, native], seed=2, retry_policy=KILL, strict=strict)
        h = sim.invoke(target, how)
        sim.run()
        with pytest.raises(sd.TerminalError):
            h.result()
        engine = weakref.ref(sim.engine)
        del sim, h
        assert engine() is None


def test_a_check_of_a_timers_workflow_leaves_no_engine_behind() -> None:
    kw: dict[str, Any] = {
        "services": [wf], "invoke": "ShortTimers/u1/run", "input": "Bob",
        "world": [world.call("ShortTimers/u1/verify", "nope")],
        "max_examples": 8, "hash_seeds": (),
    }
    sd.check(**kw)  # imports and caches warmed up
    with _collector_off():
        before = _engines()
        report = sd.check(**kw)
        # Runs at the world's later moments end in the deadline's TerminalError.
        assert report.runs > 10
        assert _engines() == before



def test_a_check_keeps_no_whole_run_per_moment_of_the_world() -> None:
    # Each moments of the world tried kept its fault-free run whole (to judge
    # the runs at those moments by), and every outcome kept (those runs', the
    # reordered callers', other schedules') kept its simulation through a
    # bound method: a long-running workflow's is tens of MB each. Now the
    # reference run and the run being judged (and its twin) are the only ones.
    alive: list[tuple[str, int]] = []

    def simulations() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is Simulation)

    def count(runs: int, phase: str) -> None:
        alive.append((phase, simulations() - before))

    kw: dict[str, Any] = {
        "services": [wf], "invoke": "ShortTimers/u1/run", "input": "Bob",
        "world": [world.call("ShortTimers/u1/verify", "nope")],
        "max_examples": 8, "hash_seeds": (),
    }
    sd.check(**kw)
    with _collector_off():
        before = simulations()  # (another test's, kept by its module)
        sd.check(progress=count, **kw)
    assert "the world's moments" in {phase for phase, _ in alive}
    assert max(n for _, n in alive) <= 3, alive


def _add_one(i: int) -> int:
    return i + 1


plain = sd.Service("PlainSteps")


@plain.handler()
async def three_steps(ctx: sd.Context, x: int) -> int:
    for name in ("a", "b", "c"):
        x = await ctx.run_typed(name, _add_one, i=x)
    return x


@pytest.mark.parametrize("strict", [True, False])
def test_a_checks_runs_leave_nothing_to_the_collector(strict: bool) -> None:
    # A strict run's guard held itself (its hook, bound once), the engine's
    # steps (what its at-once steps bind, which hold the guard back) and the
    # late-binding watch's wrappers (each holding the watch): the engine of
    # most runs of the single-fault phase was freed by the collector, which
    # walked it first, not by reference counting.
    kw: dict[str, Any] = {"max_examples": 0, "hash_seeds": (), "strict": strict}
    sd.check([plain], "PlainSteps/three_steps", 0, **kw)
    with _collector_off():
        report = sd.check([plain], "PlainSteps/three_steps", 0, **kw)
        assert report.ok and report.runs > 10
        del report
        assert gc.collect() == 0
