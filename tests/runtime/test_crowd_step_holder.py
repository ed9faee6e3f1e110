"""A crowd's step tasks and resumes name the running step by the holder its
attempt's context is known to hold (``Attempt.context_holder``: known from the
attempt's start in the task runner), and a handler's step call asks the drive's
holder (``Running.step_holder``) whether a closure runs, not the context
variable: a crowd reads that variable a handful of times, not once a step. A
step issued inside any closure is still refused, whichever way the closure ran,
and a closure still sees its own step when its simulation moved between threads."""

from __future__ import annotations

import contextvars
import threading
from datetime import timedelta
from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime import _fast
from simdurable.runtime._invocation import current_step

held = sd.Service("Held")


def add(i: int) -> int:
    return i + 1


@held.handler()
async def five(ctx: sd.Context, x: int) -> int:
    for _ in range(5):
        x = await ctx.run_typed("add", add, i=x)
    return x


@held.handler()
async def nested(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("first", add, i=x)
    # a step's closure that issues a step: refused, the invocation paused
    return await ctx.run_typed("outer", lambda: ctx.run_typed("inner", add, i=x))


def test_a_crowds_steps_do_not_read_the_current_step_variable(monkeypatch):
    """300 invocations of 5 steps in flight: the step calls read the context
    variable (``_fast.running_step``) once a step before, not at all now."""
    reads = []
    read = _fast.running_step

    def counted() -> Any:
        reads.append(1)
        return read()

    monkeypatch.setattr(_fast, "running_step", counted)
    sim = sd.Simulation([held], seed=3)
    handles = [sim.invoke("Held/five", i) for i in range(300)]
    sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(300)]
    assert len(reads) <= 5, len(reads)


def outcomes(sim: sd.Simulation, handles: list[Any]) -> list[Any]:
    """Each invocation's result, or its status and error, and its journal."""
    seen = []
    for h in handles:
        try:
            outcome = h.result()
        except Exception as err:  # noqa: BLE001 - the refusal, compared
            outcome = f"{h.status}: {type(err).__name__}: {err}"
        seen.append((outcome, sim.journal(h)))
    return seen


@pytest.mark.parametrize("faulted", [False, True])
def test_a_step_issued_inside_a_crowds_closure_is_refused_either_way(faulted):
    """A crowd of handlers whose second step's closure issues a step: every
    one paused, refused as without express steps, when its closure runs as a
    step task of the crowd and when a fault that may fire at it sends it the
    general way (a closure named by a ``StepInfo``, after drives and step
    tasks that named the task runner's holder)."""
    plan = sd.FaultPlan((sd.Fault("fail", step="outer", attempt=99),)) if faulted else None
    runs = []
    for express in (True, False):
        sim = sd.Simulation([held], seed=5, faults=plan)
        sim.engine.steps.express = express
        handles = [sim.invoke("Held/nested" if i % 3 else "Held/five", i) for i in range(30)]
        sim.run()
        runs.append((outcomes(sim, handles), sim.trace()))
    assert runs[0] == runs[1]
    refused = [outcome for outcome, _ in runs[0][0] if isinstance(outcome, str)]
    assert len(refused) == 20
    assert all(o.startswith('paused: ContextMisuseError: handler Held/nested, step "outer"')
               and "ctx.run_typed() was called inside a step's closure" in o
               for o in refused), refused[0]


@held.handler()
async def kept(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("first", add, i=x)  # run in place: the drive's holder found
    outer = ctx.run_typed("outer", lambda: ctx.run_typed("inner", add, i=x))
    return await outer  # run by the step lane, named by a ``StepInfo``


def test_a_step_issued_inside_a_closure_the_lane_runs_is_refused():
    """A handler alone whose step, awaited after its call, runs through the step
    lane (its closure named by a ``StepInfo``) after a step run in place found
    the drive's holder: its closure's step is refused, as without express steps."""
    runs = []
    for express in (True, False):
        sim = sd.Simulation([held], seed=5)
        sim.engine.steps.express = express
        h = sim.invoke("Held/kept", 1)
        sim.run()
        runs.append((outcomes(sim, [h]), sim.trace()))
    assert runs[0] == runs[1]
    ((outcome, _),) = runs[0][0]
    assert outcome.startswith('paused: ContextMisuseError: handler Held/kept, step "outer"')


seen: list[tuple[str, str | None]] = []


def note(name: str) -> str:
    """A closure that notes the step ``current_step`` names for it."""
    info = current_step.get()
    seen.append((name, None if info is None else info.step))
    return name


moved = sd.Service("Moved")


@moved.handler()
async def steps(ctx: sd.Context, n: int) -> int:
    await ctx.run_typed("step-0", note, name="step-0")  # a crowd's steps
    await ctx.sleep(timedelta(milliseconds=1000 + 100 * n))
    await ctx.run_typed("step-1", note, name="step-1")  # each alone, in place
    await ctx.sleep(timedelta(milliseconds=2000 - 100 * n))
    await ctx.run_typed("step-2", note, name="step-2")  # a crowd's again, at 3 s
    return n


@pytest.mark.parametrize("seed", range(3))
def test_a_crowds_closure_sees_its_step_after_its_run_moved_between_threads(seed):
    """A crowd started here, continued in another thread (where each handler's
    step runs alone, in place, and sets that thread's holder in its attempt's
    context), then finished here again as a crowd: each closure sees its own
    step throughout."""
    seen.clear()
    sim = sd.Simulation([moved], seed=seed)
    handles = [sim.invoke("Moved/steps", i) for i in range(5)]
    sim.run(until=timedelta(milliseconds=500))
    thread = threading.Thread(target=contextvars.copy_context().run,
                              args=(sim.run,), kwargs={"until": timedelta(milliseconds=2000)})
    thread.start()
    thread.join(60)
    sim.run()
    assert [h.result() for h in handles] == list(range(5))
    assert sorted(seen) == sorted((f"step-{k}", f"step-{k}") for k in range(3) for _ in range(5))
