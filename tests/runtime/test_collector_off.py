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


def churn_twice() -> sd.Simulation:
    """Two invocations of ``Cycles/churn(40)`` in flight (their steps are tasks,
    taken from the ready list), run to their end."""
    sim = sd.Simulation([cycles], seed=1)
    handles = [sim.invoke("Cycles/churn", 40) for _ in range(2)]
    sim.run()
    assert [h.result() for h in handles] == [1, 1]
    return sim


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
    monkeypatch.setattr(sim_module, "_RUN_COLLECT_EVERY", every)
    made.clear()
    alive_at_end.clear()
    gc.collect()
    churn_twice()
    assert len(made) == 80
    if every == 10:
        assert max(alive_at_end) < 20  # collected as the run went
    else:
        assert min(alive_at_end) >= 40  # none collected before the run ended
    gc.collect()
    assert all(ref() is None for ref in made)


def _in_oldest_generation(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects(generation=2))


def _nothing_frozen() -> None:
    """Skip where objects are frozen before the run: a run then hands nothing on,
    so as not to thaw them (3.12.1 starts with some of its own tuples frozen;
    ``test_what_the_caller_froze_stays_frozen``)."""
    if gc.get_freeze_count():
        pytest.skip(f"{gc.get_freeze_count()} objects frozen before the run (by this Python)")


@pytest.mark.parametrize("promote_at", [50, 10**9])
def test_a_crowd_is_handed_to_the_oldest_generation_when_its_run_ends(
    monkeypatch: pytest.MonkeyPatch, promote_at: int
) -> None:
    # What a run leaves behind (journals, records) is not walked again by the
    # first collection after it when there is a crowd of it; a small run's is.
    if promote_at == 50:
        _nothing_frozen()
    monkeypatch.setattr(sim_module, "_RUN_PROMOTE_AT", promote_at)
    gc.collect()
    sim = sd.Simulation([svc], seed=1)
    handles = [sim.invoke("Collector/run") for _ in range(20)]
    sim.run()
    assert [h.result() for h in handles] == [1] * 20
    assert gc.isenabled()
    journal = sim.engine.store._journals[handles[-1].id]  # type: ignore[attr-defined]
    assert _in_oldest_generation(journal) is (promote_at == 50)


def test_cycles_left_in_a_crowd_handed_on_are_still_collected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _nothing_frozen()
    monkeypatch.setattr(sim_module, "_RUN_PROMOTE_AT", 50)
    made.clear()
    alive_at_end.clear()
    gc.collect()
    churn_twice()
    alive = [ref() for ref in made]
    assert all(node is not None and _in_oldest_generation(node) for node in alive)
    del alive
    gc.collect()
    assert all(ref() is None for ref in made)


def test_the_trace_is_the_same_whether_or_not_the_crowd_is_handed_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def run_trace(promote_at: int) -> str:
        monkeypatch.setattr(sim_module, "_RUN_PROMOTE_AT", promote_at)
        sim = sd.Simulation([cycles], seed=3)
        for n in range(6):
            sim.invoke("Cycles/churn", n)
        sim.run()
        return "\n".join(sim.trace())

    assert run_trace(50) == run_trace(10**9)


def test_a_crowd_after_a_collection_in_its_run_is_counted_from_that_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Young objects from before the run (the count a collection in the run resets)
    # do not hide what the run left after its last collection.
    _nothing_frozen()
    monkeypatch.setattr(sim_module, "_RUN_PROMOTE_AT", 50)
    monkeypatch.setattr(sim_module, "_RUN_COLLECT_EVERY", 100)
    made.clear()
    alive_at_end.clear()
    threshold = gc.get_threshold()
    gc.collect()
    gc.set_threshold(10**6, *threshold[1:])
    try:
        before = [[] for _ in range(5000)]  # young, tracked
        sim = churn_twice()
        assert sim.scheduler.tasks_run > 100  # (so there was a collection in the run)
        last = made[-1]()
        assert last is not None and _in_oldest_generation(last)
        del last, before
    finally:
        gc.set_threshold(*threshold)


def test_what_the_caller_froze_stays_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process that froze its objects (before forking workers, say) keeps them
    # frozen: the crowd is then left to the collector as it was.
    monkeypatch.setattr(sim_module, "_RUN_PROMOTE_AT", 50)
    kept = [[]]  # tracked by the collector, frozen below
    gc.collect()
    gc.freeze()
    try:
        sim = sd.Simulation([svc], seed=1)
        handles = [sim.invoke("Collector/run") for _ in range(20)]
        sim.run()
        assert [h.result() for h in handles] == [1] * 20
        assert gc.is_tracked(kept)
        assert not any(
            o is kept for generation in range(3) for o in gc.get_objects(generation=generation)
        )  # still in the permanent generation
    finally:
        gc.unfreeze()
