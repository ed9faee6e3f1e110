"""A finished simulation is freed by reference counting: its engine's parts hold
no reference back to it, so a test suite that builds thousands of simulations
does not leave them to the garbage collector (which would cost time and memory)."""

from __future__ import annotations

import gc
import weakref
from datetime import timedelta

import pytest

import simdurable as sd
from simdurable.runtime._invocation import Abort

svc = sd.Service("Freed")


@svc.handler()
async def run(ctx: sd.Context, n: int) -> int:
    ctx.random().random()  # (its guard holds the attempt, which holds it)
    for i in range(n):
        n = await ctx.run_typed("step", lambda i=i: i + 1)
    await ctx.sleep(timedelta(seconds=1))
    return n


def test_a_finished_simulation_leaves_no_garbage_cycle() -> None:
    sd.Simulation([svc], seed=1).run()  # imports and caches warmed up
    gc.collect()
    gc.disable()
    try:
        for seed in range(20):
            sim = sd.Simulation([svc], seed=seed, faults="crash(step=step, phase=after-store)")
            h = sim.invoke("Freed/run", 3)
            sim.run()
            assert h.result() == 3
            del sim, h
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("faults", [
    "crash(step=step, phase=effect-done)",  # the closure ran, its result not stored
    "crash(step=step, phase=before)",
    "restart(step=step, phase=effect-done)",
    "suspend(step=step, phase=effect-done)",
    "fail(step=step, times=2)",  # the exception's traceback held the frames holding it
    "terminal(step=step)",
])
def test_a_run_with_a_fault_leaves_no_garbage_cycle(faults: str) -> None:
    # A plain step's registration is its future, which holds the attempt: an
    # attempt killed before the step's result was stored kept the attempt, and
    # through it the whole engine, alive until the collector found the cycle.
    sd.Simulation([svc], seed=1).run()
    gc.collect()
    gc.disable()
    try:
        for seed in range(3):
            sim = sd.Simulation([svc], seed=seed, faults=faults)
            h = sim.invoke("Freed/run", 3)
            sim.run()
            if faults.startswith("terminal"):
                with pytest.raises(sd.TerminalError):
                    h.result()
            else:
                assert h.result() == 3
            engine = weakref.ref(sim.engine)
            del sim, h
            assert engine() is None
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_ctx_random_kept_past_its_attempt_stops_the_code_that_kept_it() -> None:
    kept = []
    svc = sd.Service("Keeper")

    @svc.handler()
    async def keep(ctx: sd.Context) -> None:
        kept.append(ctx.random())

    sim = sd.Simulation([svc], seed=1)
    sim.invoke("Keeper/keep")
    sim.run()
    with pytest.raises(Abort):
        kept[0].random()


class Payload:
    """A step argument that only the step's own bookkeeping refers to."""


seen: list[weakref.ref[Payload]] = []


def keep_ref(p: Payload) -> int:
    seen.append(weakref.ref(p))
    return 1


holder = sd.Service("Holder")


@holder.handler()
async def hold(ctx: sd.Context) -> int:
    n = await ctx.run_typed("take", keep_ref, None, Payload())
    await ctx.run_typed("other", keep_ref, None, Payload())  # run on the general path too
    await ctx.sleep(timedelta(hours=1))  # still in flight while the test looks
    return n


def test_a_stored_step_lets_go_of_its_closure_and_arguments() -> None:
    # 10,000 invocations in flight held every finished step's closure, arguments and
    # serde until they ended: memory that nothing could read again.
    seen.clear()
    for faults in (None, "crash(step=other, phase=after-store)"):
        sim = sd.Simulation([holder], seed=1, faults=faults)
        h = sim.invoke("Holder/hold")
        sim.run(until=timedelta(minutes=30))
        assert h.status in ("waiting", "suspended", "scheduled"), h.status
        assert seen and all(ref() is None for ref in seen)
        sim.run()
        assert h.result() == 1
        seen.clear()
