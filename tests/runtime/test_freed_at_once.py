"""A finished simulation is freed by reference counting: its engine's parts hold
no reference back to it, so a test suite that builds thousands of simulations
does not leave them to the garbage collector (which would cost time and memory)."""

from __future__ import annotations

import gc
from datetime import timedelta

import simdurable as sd

svc = sd.Service("Freed")


@svc.handler()
async def run(ctx: sd.Context, n: int) -> int:
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
