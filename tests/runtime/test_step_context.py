"""A step's closure runs in a copy of the handler's context, as Restate's SDK runs it
(restate-sdk 1.3.0 ``ServerInvocationContext.create_run_coroutine``: a sync closure
through ``loop.run_in_executor(None, partial(copy_context().run, action))``, an async
one awaited in a task of its own). A context variable the handler set is seen by the
closure; one the closure sets never reaches the handler or the next step, fresh or
replayed, on every step path (express, kept, gathered, legacy, strict, a crowd's tasks)."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest

import simdurable as sd

# One variable an invocation: this file is about a step's closure, not about
# whether one invocation's handler sees another's (a task each on Restate).
VARS = [contextvars.ContextVar(f"simdurable_test_step_var{n}", default="unset")
        for n in range(3)]
svc = sd.Service("StepContext")


def sets(tag: str, n: int) -> str:
    before = VARS[n].get()
    VARS[n].set(tag)
    return f"{before}>{VARS[n].get()}"


async def sets_async(tag: str, n: int) -> str:
    before = VARS[n].get()
    VARS[n].set(tag)
    return f"{before}>{VARS[n].get()}"


async def sets_then_awaits(tag: str, n: int) -> Any:
    """An async closure that sets the variable, then awaits a coroutine that reads it.
    (A plain closure that returns a coroutine fails its step, as on restate-sdk:
    tests/check/test_step_function_and_state_keys.py.)"""
    VARS[n].set(tag)

    async def later() -> str:
        return f"later:{VARS[n].get()}"

    return await later()


@svc.handler()
async def shapes(ctx: sd.Context, n: int) -> list[str]:
    var = VARS[n]
    var.set(f"h{n}")
    seen = [await ctx.run_typed("at-once", sets, tag="a", n=n), var.get()]
    seen += [await ctx.run_typed("async", sets_async, tag="b", n=n), var.get()]
    seen += [await ctx.run_typed("then", sets_then_awaits, tag="t", n=n), var.get()]
    kept = ctx.run_typed("kept", sets, tag="c", n=n)
    seen += [await kept, var.get()]
    f1, f2 = ctx.run_typed("g1", sets, None, "d", n), ctx.run_typed("g2", sets_async, tag="e", n=n)
    await sd.gather(f1, f2)
    seen += [await f1, await f2, var.get()]
    seen += [await ctx.run("legacy", sets, args=("f", n)), var.get()]
    var.set(f"h{n}-late")
    seen += [await ctx.run_typed("late", sets, tag="g", n=n), var.get()]
    return seen


def expected(n: int) -> list[str]:
    h = f"h{n}"
    return [f"{h}>a", h, f"{h}>b", h, "later:t", h, f"{h}>c", h, f"{h}>d", f"{h}>e", h,
            f"{h}>f", h, f"{h}-late>g", f"{h}-late"]


STEPS = ("at-once", "async", "then", "kept", "g1", "g2", "legacy", "late")


def run(express: bool, strict: bool, invocations: int,
        plan: sd.FaultPlan | None = None) -> tuple[list[Any], list[str]]:
    """Run in a context of its own: the handlers' variables stay there."""
    def go() -> tuple[list[Any], list[str]]:
        sim = sd.Simulation([svc], seed=3, strict=strict, faults=plan)
        sim.engine.steps.express = express
        handles = [sim.invoke("StepContext/shapes", n) for n in range(invocations)]
        sim.run()
        return [h.result() for h in handles], sim.trace()

    return contextvars.copy_context().run(go)


@pytest.mark.parametrize("express", [True, False])
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("invocations", [1, 3])
def test_a_closure_sees_the_handlers_variables_and_keeps_its_own(express, strict, invocations):
    results, _ = run(express, strict, invocations)
    assert results == [expected(n) for n in range(invocations)]
    assert [var.get() for var in VARS] == ["unset"] * 3


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("point", ["effect-done", "after-store"])
def test_a_replayed_step_leaves_the_handler_as_a_fresh_one(step, point):
    """A crash at each step: the replay that follows gives the same values, with
    no nondeterminism reported (the replayed handler never saw a closure's value)."""
    plan = sd.FaultPlan((sd.Fault("crash", step=step, phase=point, attempt=1),))
    results, trace = run(True, False, 1, plan)
    assert any("crash" in line for line in trace), trace
    assert results == [expected(0)]


def test_the_same_seed_gives_the_same_trace():
    assert run(True, False, 3)[1] == run(True, False, 3)[1]
