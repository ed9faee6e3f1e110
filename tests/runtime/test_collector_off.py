"""The cyclic garbage collector is off while a simulation runs: the run makes no
cycles of its own, so the collector would only rescan its growing journals and
trace (a tenth of the CPU time of 10,000 concurrent invocations). Cycles a
handler makes are still collected, between tasks, at fixed task counts."""

from __future__ import annotations

import gc
import weakref

import pytest

import simdurable as sd
import simdurable._sim as sim_module

svc = sd.Service("Collector")
during: list[bool] = []


def note_collector() -> int:
    during.append(gc.isenabled())
    return 1


@svc.handler()
async def run(ctx: sd.Context) -> int:
    return await ctx.run_typed("look", note_collector)


class Node:
    """One half of a reference cycle a handler leaves behind."""

    def __init__(self) -> None:
        self.me = self


made: list[weakref.ref[Node]] = []
alive_at_end: list[int] = []


def make_cycle() -> int:
    made.append(weakref.ref(Node()))
    return 1


def count_alive() -> int:
    alive_at_end.append(sum(ref() is not None for ref in made))
    return 1


cycles = sd.Service("Cycles")


@cycles.handler()
async def churn(ctx: sd.Context, n: int) -> int:
    for _ in range(n):
        await ctx.run_typed("cycle", make_cycle)
    return await ctx.run_typed("count", count_alive)


def test_off_during_a_run_and_back_on_after() -> None:
    during.clear()
    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke("Collector/run")
    assert gc.isenabled()
    sim.run()
    assert h.result() == 1
    assert during == [False]
    assert gc.isenabled()
    assert sim.scheduler.collect_at == float("inf")  # no collection outside a run


def test_a_caller_that_turned_it_off_keeps_it_off() -> None:
    during.clear()
    gc.disable()
    try:
        sim = sd.Simulation([svc], seed=1)
        sim.invoke("Collector/run")
        sim.run()
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert during == [False]


@pytest.mark.parametrize("every", [10, 10**9])
def test_cycles_a_handler_makes_are_collected_between_tasks(
    monkeypatch: pytest.MonkeyPatch, every: int
) -> None:
    # Two invocations in flight: their steps are tasks, taken from the ready list.
    monkeypatch.setattr(sim_module, "_RUN_COLLECT_EVERY", every)
    made.clear()
    alive_at_end.clear()
    gc.collect()
    sim = sd.Simulation([cycles], seed=1)
    handles = [sim.invoke("Cycles/churn", 40) for _ in range(2)]
    sim.run()
    assert [h.result() for h in handles] == [1, 1]
    assert len(made) == 80
    if every == 10:
        assert max(alive_at_end) < 20  # collected as the run went
    else:
        assert min(alive_at_end) >= 40  # none collected before the run ended
    gc.collect()
    assert all(ref() is None for ref in made)
