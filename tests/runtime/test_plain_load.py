"""A new engine over a store that holds something loads it through
``_recovery.load_plain`` where it can (a memory store of steps-only journals,
nothing paused, no key's lock, no fault plan), else through the recovery part
(``Recovery.load``). Only an optimisation: both leave the same records,
journals, ready tasks, timers and replay hints, and the runs that follow are
the same, event for event."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as sd
from simdurable.runtime import _engine
from simdurable.runtime._store import PENDING, MemoryStore

svc = sd.Service("PlainLoad")
obj = sd.VirtualObject("PlainLoadObj")


def add(i: int) -> int:
    return i + 1


@svc.handler()
async def steps(ctx: sd.Context, n: int) -> int:
    for i in range(n % 5):
        n = await ctx.run_typed(f"s{i}", add, i=n)
    return n


@svc.handler()
async def sleeps(ctx: sd.Context, n: int) -> int:
    n = await ctx.run_typed("before", add, i=n)
    await ctx.sleep(timedelta(milliseconds=n % 7 + 1))
    return await ctx.run_typed("after", add, i=n)


@obj.handler()
async def bump(ctx: sd.ObjectContext, n: int) -> int:
    return await ctx.run_typed("bump", add, i=n)


# (mostly steps: a store whose every pending journal is steps is the plain load's)
TARGETS = ["PlainLoad/steps"] * 4 + ["PlainLoad/sleeps", "PlainLoadObj/k/bump"]


def copied(store: MemoryStore, cut: list[int], pending: list[bool],
           backwards: bool = False) -> MemoryStore:
    """The store's records and journals, each journal cut to a length (a
    crash that lost its end) and each record set back to pending or not;
    ``backwards``, put in the reverse of their submission order."""
    made = MemoryStore()
    records = store.invocations()
    for i, rec in (reversed(list(enumerate(records))) if backwards else enumerate(records)):
        journal = store.raw_journal(rec.id)
        keep = len(journal) - cut[i % len(cut)] if journal else 0
        for entry in journal[:max(keep, 0)]:
            made.append(rec.id, entry)
        if pending[i % len(pending)]:
            rec = dataclasses.replace(rec, status=PENDING, result=None)
        made.put_invocation(rec)
    return made


def state(sim: sd.Simulation) -> Any:
    engine = sim.engine
    scheduler = engine.scheduler
    return (sorted((rec.id, repr(rec), rec.done_bits)
                   for rec in engine.invocations.by_id.values()),
            engine.invocations.seq, dict(engine.completions.plain_steps),
            list(scheduler.ready), sorted(scheduler._timers),
            {key: list(journal) for key, journal in sim.store._journals.items()})


def both_loads(store: MemoryStore, seed: int) -> tuple[sd.Simulation, sd.Simulation, list[bool]]:
    """A simulation over ``store`` (the plain load where it can) and one over
    its copy through the recovery part, and whether the first took the plain
    load (one answer a new engine over a store that holds something)."""
    twin = copied(store, [0], [False])
    took: list[bool] = []
    load_plain = _engine.load_plain

    def counted(engine: Any) -> bool:
        took.append(load_plain(engine))
        return took[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_engine, "load_plain", counted)
        plain = sd.Simulation([svc, obj], seed=seed, store=store)
        patch.setattr(_engine, "load_plain", lambda engine: False)
        general = sd.Simulation([svc, obj], seed=seed, store=twin)
    return plain, general, took


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(st.tuples(st.sampled_from(TARGETS), st.integers(0, 9),
                             st.integers(0, 3)), min_size=1, max_size=5),
    until=st.integers(0, 12),
    cut=st.lists(st.integers(0, 2), min_size=1, max_size=3),
    pending=st.lists(st.booleans(), min_size=1, max_size=3),
    paused=st.integers(0, 3),
    backwards=st.booleans(),
)
def test_a_store_loads_alike_either_way(calls: list[tuple[str, int, int]], until: int,
                                        cut: list[int], pending: list[bool],
                                        paused: int, backwards: bool) -> None:
    first = sd.Simulation([svc, obj], seed=3)
    for target, n, delay in calls:
        first.send(target, n, delay=timedelta(milliseconds=delay))
    first.run(until=timedelta(milliseconds=until))
    store = copied(first.store, cut, pending, backwards)
    if not paused and store._invocations:
        rec = next(iter(store._invocations.values()))
        store.put_invocation(dataclasses.replace(rec, status="paused"))
    plain, general, took = both_loads(store, seed=5)
    assert state(plain) == state(general)
    if took and took[0]:
        # (nothing of the recovery part built: it is built at its first use)
        assert "crashes" not in vars(plain.engine.steps)
    plain.run()
    general.run()
    # (a call for the key a paused invocation may hold: queued behind it, or run)
    plain.send("PlainLoadObj/k/bump", 1)
    general.send("PlainLoadObj/k/bump", 1)
    plain.run()
    general.run()
    assert plain.trace() == general.trace()
    assert state(plain) == state(general)


def test_a_paused_invocation_takes_the_general_load() -> None:
    """(The examples above have stores of both kinds: a paused record is one
    the plain load leaves to the recovery part.)"""
    first = sd.Simulation([svc], seed=1)
    first.send("PlainLoad/steps", 4)
    first.run(until=timedelta(milliseconds=0))
    store = copied(first.store, [1], [True])
    rec = next(iter(store._invocations.values()))
    store.put_invocation(dataclasses.replace(rec, status="paused"))
    plain, general, took = both_loads(store, seed=1)
    assert took == [False]
    assert state(plain) == state(general)


def test_a_replay_of_steps_takes_the_plain_load() -> None:
    first = sd.Simulation([svc], seed=1)
    handle = first.invoke("PlainLoad/steps", 4)
    first.run()
    store = copied(first.store, [0], [True])
    plain, general, took = both_loads(store, seed=1)
    assert took == [True]
    assert plain.engine.completions.plain_steps == {handle.id: 8}
    assert state(plain) == state(general)
    plain.run()
    general.run()
    assert plain.trace() == general.trace()
    assert plain.store.invocation(handle.id) == general.store.invocation(handle.id)
