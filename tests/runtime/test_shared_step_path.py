"""Every engine of a process shares one fused step command and one step lane
(``runtime/_fast.py``'s ``fused``), each call reading its own engine's parts:
two simulations run task by task in turns run exactly as each does alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import simdurable as sd

svc = sd.Service("Turns")


def add(i: int) -> int:
    return i + 1


@svc.handler()
async def steps(ctx: sd.Context, n: int) -> int:
    for i in range(5):
        n = await ctx.run_typed(f"s{i}", add, i=n)
    await ctx.sleep(timedelta(milliseconds=n % 3))
    return await ctx.run_typed("last", add, i=n)


def build(seed: int, crash: bool) -> tuple[sd.Simulation, list[Any]]:
    faults = [sd.Fault("crash", step="s2", phase="after-store")] if crash else None
    sim = sd.Simulation([svc], seed=seed, faults=faults)
    return sim, [sim.invoke("Turns/steps", seed * 10 + k) for k in range(3)]


def outcome(sim: sd.Simulation, handles: list[Any]) -> tuple[Any, ...]:
    return (sim.trace(), [sim.journal(h) for h in handles], [h.result() for h in handles],
            sim.engine.tasks_run, sim.engine.step_run_log, sim.fault_plan())


def test_two_simulations_in_turns_run_as_each_alone() -> None:
    alone = []
    for seed, crash in ((1, True), (2, False)):
        sim, handles = build(seed, crash)
        sim.run()
        alone.append(outcome(sim, handles))
    (a, a_handles), (b, b_handles) = build(1, True), build(2, False)
    assert a.engine.issue_step is not None and a.engine.issue_step is b.engine.issue_step
    assert a.engine.step_lane is not None and a.engine.step_lane is b.engine.step_lane
    finished = [False, False]
    while not all(finished):  # one task of each in turn (``stop`` is asked after every task)
        for i, sim in enumerate((a, b)):
            if not finished[i]:
                finished[i] = sim.run(stop=lambda: True).finished
    assert alone[0][5].faults, "the crash fired: its invocation replayed"
    assert [outcome(a, a_handles), outcome(b, b_handles)] == alone
