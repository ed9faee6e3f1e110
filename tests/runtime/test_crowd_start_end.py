"""An invocation's start and end among many: a "start" task is the
invocation's record (no tuple, no lookup by id), a never-started invocation's
start asks ``Running.attempts`` nothing, and neither the start nor the
handler's return puts a record the memory store holds already (the store holds
the engine's own record objects, a restart's copies too)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import simdurable as sd

from .test_crowded_tasks import crowd


class Counted(dict):  # type: ignore[type-arg]
    """A dict that counts its writes and its ``in`` tests."""

    writes = 0
    asked = 0

    def __setitem__(self, key: Any, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def __contains__(self, key: object) -> bool:
        self.asked += 1
        return super().__contains__(key)


def test_a_submissions_start_task_is_its_record() -> None:
    sim = sd.Simulation([crowd], seed=1)
    handles = [sim.invoke("Crowd/five", i) for i in range(3)]
    late = sim.send("Crowd/five", 7, delay=timedelta(milliseconds=5))
    by_id = sim.engine.invocations.by_id
    assert [type(t) for t in sim.scheduler.ready] == [type(by_id[h.id]) for h in handles]
    assert all(t is by_id[h.id] for t, h in zip(sim.scheduler.ready, handles, strict=True))
    sim.run()
    assert [h.result() for h in handles] == [5, 6, 7]
    assert late.result() == 12


def test_a_crowds_start_and_end_put_no_record() -> None:
    sim = sd.Simulation([crowd], seed=2)
    handles = [sim.invoke("Crowd/five", i) for i in range(20)]
    store = sim.engine.store
    records = store._invocations = Counted(store._invocations)  # type: ignore[attr-defined]
    sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(20)]
    assert records.writes == 0  # (the submission put each: the store holds it)
    assert all(store.invocation(h.id).status == "completed" for h in handles)


def test_a_never_started_invocations_start_asks_no_attempt() -> None:
    sim = sd.Simulation([crowd], seed=2)
    handles = [sim.invoke("Crowd/five", i) for i in range(20)]
    attempts = sim.engine.running.attempts = Counted()
    sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(20)]
    assert attempts.asked == 0  # (never started: none of them had an attempt)
    assert attempts.writes == 20 and not attempts


def test_after_a_restart_the_store_holds_the_engines_records() -> None:
    """A restart reads copies of the store's records: they are put back, so
    that a put the start and the end leave out would have written what is
    there. The run is the one the general way makes (``test_crowded_tasks``
    compares them); here, the store's records after it."""
    sim = sd.Simulation([crowd], seed=3)
    handles = [sim.invoke("Crowd/five", i) for i in range(30)]
    sim.restart(at=timedelta(milliseconds=0))
    sim.run(until=timedelta(milliseconds=0))
    engine = sim.engine
    store = engine.store
    assert engine.crashes >= 1
    assert all(store._invocations[inv_id] is rec  # type: ignore[attr-defined]
               for inv_id, rec in engine.invocations.by_id.items())
    sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(30)]
    assert [store.invocation(h.id) for h in handles] == [
        engine.invocations.by_id[h.id] for h in handles]
