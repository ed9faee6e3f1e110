"""A simulation's steps write compact records into its flat trace (a step's
run with its "step" event; an express step's "entry" event, run and "step"
event as one record) only as an optimisation: with it on or off, a run reads
back the same trace, events, run log and everything else, whatever its
closures do (trace things, raise, arm faults, run async, stop the run)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as sd
from simdurable import _sim
from simdurable.runtime import MemoryStore, _trace
from simdurable.runtime._trace import RunLog, events

svc = sd.Service("Compact")
calls: list[int] = []
current: list[sd.Simulation] = []


class Stop(BaseException):
    """Raised by a closure past its step: the run stops (``Simulation.run``
    raises a ``HandlerError`` naming it)."""


def add(i: int) -> int:
    return i + 1


def flaky(i: int) -> int:
    calls.append(i)
    if len(calls) % 3 == 1:
        raise ConnectionError("flaky")
    return i


def refuses(i: int) -> int:
    raise sd.TerminalError(f"no {i}", 409)


async def later(i: int) -> int:  # an async closure
    return i * 2


def sends(i: int) -> str:  # a closure that traces (a "submit" event)
    return current[0].send("Compact/short", i).id


crashed: list[int] = []


def crashes_itself(i: int) -> int:  # a closure that arms a crash of its own step
    if not crashed:
        crashed.append(i)
        current[0].crash(after="self-crash", point="effect-done", attempt=None)
    return i


def stops(i: int) -> int:
    if i == 13:
        raise Stop("past the step")
    return i


@svc.handler()
async def mixed(ctx: sd.Context, n: int) -> list:
    x = await ctx.run_typed("at-once", add, i=n)
    await ctx.run_typed("send-first", sends, i=n)  # (express when alone: it traces)
    x = await ctx.run_typed("flaky", flaky, i=x)
    try:
        await ctx.run_typed("refuse", refuses, i=x)
    except sd.TerminalError as err:
        x += err.status_code
    y = await ctx.run_typed("async", later, i=x)
    kept = ctx.run_typed("kept", add, i=y)  # awaited later: its future
    f1, f2 = ctx.run_typed("g1", add, i=1), ctx.run_typed("g2", add, i=2)
    await sd.gather(f1, f2)
    sent = await ctx.run_typed("send", sends, i=n)
    await ctx.sleep(timedelta(milliseconds=3))
    z = await ctx.run_typed("self-crash", crashes_itself, i=await kept)
    await ctx.run_typed("stops", stops, i=n)
    return [x, y, z, await f1, await f2, bool(sent), await ctx.run_typed("last", add, i=z)]


@svc.handler()
async def calm(ctx: sd.Context, n: int) -> list:
    """``mixed`` without what builds an engine's parts at their first use (a
    fault point, a retry, a timer, an async closure's loop, the crowd's
    runner, two steps at once): its engine is taken again by the next run."""
    x = await ctx.run_typed("at-once", add, i=n)
    y = await ctx.run_typed("again", add, i=x)
    for i in range(n % 3):  # (as many as its input says: runs told apart)
        y = await ctx.run_typed(f"more{i}", add, i=y)
    kept = ctx.run_typed("kept", add, i=y)
    return [x, y, await kept, await ctx.run_typed("last", add, i=x)]


@svc.handler()
async def short(ctx: sd.Context, n: int) -> int:
    return await ctx.run_typed("short", add, i=n)


@pytest.fixture
def compact_switch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Sets ``_trace.COMPACT`` for the engines made next; no engine made
    either way is handed to a simulation of the other (``_sim._SPARES``)."""
    def switch(on: bool) -> None:
        _sim._SPARES.clear()
        monkeypatch.setattr(_trace, "COMPACT", on)

    yield switch
    _sim._SPARES.clear()


def run(plan: sd.FaultPlan | None, seed: int, n: int, strict: bool = False,
        store: MemoryStore | None = None, handler: str = "mixed") -> tuple:
    calls.clear()
    crashed.clear()
    sim = sd.Simulation([svc], seed=seed, faults=plan, strict=strict, max_steps=20_000,
                        store=store)
    current[:] = [sim]
    if store is None:
        for i in range(n):
            sim.invoke(f"Compact/{handler}", i + 10)
    try:
        sim.run()
        stopped = None
    except sd.HandlerError as err:  # (the run stops: a BaseException from a closure)
        stopped = str(err)
    log = sim._engine.step_run_log  # (not ``sim.engine``: its engine may be taken again)
    results = [h.result() if h.status == "completed" else h.status for h in sim.invocations()]
    return (stopped, sim.trace(), sim.trace_events(), [sim.journal(h) for h in sim.invocations()],
            results, sim._engine.tasks_run, list(log), len(log), [log[i] for i in range(len(log))],
            [sim.step_runs(h) for h in sim.invocations()], sim.scheduler.decisions)


phases = st.sampled_from(["before", "effect-done", "after-store"])
names = st.sampled_from(["at-once", "send-first", "flaky", "refuse", "async", "kept", "g1", "send",
                         "self-crash", "stops", "last", "short"])
faults = st.one_of(
    st.builds(lambda i, p: sd.Fault("crash", index=i, phase=p), st.integers(0, 30), phases),
    st.builds(lambda s, p: sd.Fault("crash", step=s, phase=p), names, phases),
    st.builds(lambda i: sd.Fault("suspend", index=i, phase="after-store"), st.integers(0, 30)),
    st.builds(lambda s: sd.Fault("fail", step=s), names),
    st.builds(lambda s: sd.Fault("delay", step=s, by_ms=2), names),
    st.builds(lambda t: sd.Fault("restart", at_ms=t), st.integers(0, 3000)),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.integers(1, 6), st.booleans())
def test_a_run_reads_back_the_same_with_compact_records_or_without(
        compact_switch, plan_faults, seed, n, strict):
    plan = sd.FaultPlan(tuple(plan_faults))
    compact_switch(True)
    compact = run(plan, seed, n, strict=strict)
    compact_switch(False)
    assert run(plan, seed, n, strict=strict) == compact


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.integers(1, 6))
def test_the_events_but_the_steps_are_every_event_of_another_kind(
        compact_switch, plan_faults, seed, n):
    """``Simulation.plain_event_records`` (what judging reads for a restart, a
    retry, a pause) leaves out the compact records' events only: with them or
    without, it holds every event of a kind they never stand for, in order."""
    for on in (True, False):
        compact_switch(on)
        calls.clear()
        crashed.clear()
        sim = sd.Simulation([svc], seed=seed, faults=sd.FaultPlan(tuple(plan_faults)),
                            max_steps=20_000)
        current[:] = [sim]
        for i in range(n):
            sim.invoke("Compact/mixed", i + 10)
        with contextlib.suppress(sd.HandlerError):
            sim.run()
        every = [ev for ev in sim.event_records() if ev[1] not in _trace.COMPACT_KINDS]
        plain = sim.plain_event_records()
        assert every and [ev for ev in plain if ev[1] not in _trace.COMPACT_KINDS] == every
        if on:  # (the compact records' events left out)
            assert len(plain) < len(sim.event_records())
        # Every event is of a kind written as a form, or of one written as a
        # text, which the tracer notes: ``may_hold`` is False only where the
        # events hold none of the kinds asked for.
        texts = sim._engine.trace.kinds
        assert {ev[1] for ev in sim.event_records()} <= _trace.EVENT_KINDS | texts
        assert {ev[1] for ev in sim.event_records() if ev[3] == _trace.TEXT} == texts
        for kinds in (("restart", "retry", "suspend"), ("step-exhausted", "killed", "paused"),
                      ("attempt",), ("nothing",)):
            assert sim.may_hold(kinds) == any(ev[1] in kinds for ev in sim.event_records())


held_traces: list[Any] = []


def run_calm(seed: int, n: int, hold: bool) -> tuple:
    """A run of ``calm`` read as ``test_spare_engine`` reads one (nothing that
    builds a part at its first use): its engine is left for the next, with
    its trace list emptied, or, ``hold``ing it, a new one."""
    sim = sd.Simulation([svc], seed=seed)
    if hold:
        held_traces.append(sim._trace)
    current[:] = [sim]
    handles = [sim.invoke("Compact/calm", seed + i) for i in range(n)]
    sim.run()
    current.clear()
    return (sim.trace(), sim.trace_events(), [h.result() for h in handles],
            [sim.describe_journal(h) for h in handles], [sim.step_runs(h) for h in handles],
            list(sim._engine.step_run_log), len(sim._engine.step_run_log))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("hold", [False, True])
def test_taken_again_an_engine_reads_back_the_same_either_way(compact_switch, seed, hold):
    """Runs built with the defaults, each taking the engine the one before left
    (``Engine.renew``): the trace and the run log of each are its own."""
    outcomes = []
    for on in (True, False):
        compact_switch(on)
        runs = []
        for k in range(3):
            runs.append(run_calm(seed + k, 1, hold))
            assert len(_sim._SPARES) == 1  # (its engine left for the next run)
        outcomes.append(runs)
    held_traces.clear()
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("seed", range(3))
def test_a_replay_after_a_crash_reads_back_the_same_either_way(compact_switch, seed):
    compact_switch(True)
    calls.clear()
    crashed.clear()
    first = sd.Simulation([svc], seed=seed)
    current[:] = [first]
    h = first.invoke("Compact/mixed", 2)
    first.run()
    journal = first.journal(h)
    outcomes = []
    for on in (True, False):
        compact_switch(on)
        store = MemoryStore()
        for entry in journal[:len(journal) // 2]:  # a half-way crash
            store.append(h.id, entry)
        store.put_invocation(dataclasses.replace(first.store.invocation(h.id),
                                                 status="pending", result=None))
        outcomes.append(run(None, seed, 0, store=store))
    assert outcomes[0] == outcomes[1]


def test_the_trace_holds_compact_records_and_spells_them_out(compact_switch):
    """On, the flat trace holds the compact records (so the comparisons above
    compare something); each spelt out as the events of a run without them."""
    flats, kept = [], []
    for on in (True, False):
        compact_switch(on)
        calls.clear()
        crashed.clear()
        sim = sd.Simulation([svc], seed=3)
        current[:] = [sim]
        sim.invoke("Compact/short", 1)
        sim.invoke("Compact/mixed", 1)
        sim.run()
        flats.append(list(sim._trace))
        kept.append(len(sim._trace) + len(sim.engine.step_run_log._flat))
    assert {"ran", "ran_step"} <= forms_of(flats[0])
    assert not {"ran", "ran_step", "ran_task", "issued"} & forms_of(flats[1])
    assert kept[0] < kept[1]  # (values kept by the trace and the run log's own list)
    assert list(events(flats[0])) == list(events(flats[1]))


def forms_of(flat: list[Any]) -> set[str]:
    """The forms of a flat trace's records, as written."""
    forms, i = set(), 0
    while i < len(flat):
        forms.add(flat[i + 3])
        i += 4 + _trace._ARITY[flat[i + 3]]
    return forms


def test_a_closure_that_stops_the_run_leaves_its_entry_event_where_it_was_due(compact_switch):
    traces = []
    for on in (True, False):
        compact_switch(on)
        calls.clear()
        crashed.clear()
        sim = sd.Simulation([svc], seed=0)
        current[:] = [sim]
        sim.invoke("Compact/mixed", 13)  # its "stops" step gets 13
        with pytest.raises(sd.HandlerError, match="raised Stop"):
            sim.run()
        traces.append((sim.trace(), list(sim.engine.step_run_log)))
    assert traces[0] == traces[1]
    assert traces[0][0][-1].endswith('run "stops"'), traces[0][0][-1]


def test_a_run_log_over_a_trace_reads_as_one_of_its_own() -> None:
    flat: list[Any] = []
    log = RunLog(flat)
    flat.extend((5, "entry", "inv_1", "ran", 0, "a", 1, "S/h", 6))
    flat.extend((6, "note", "inv_1", "text", "between"))
    flat.extend((7, "step", "inv_2", "ran_step", "b", 4, 2, "S/k"))
    own = RunLog()
    own.append(("inv_1", 0, "a", 1, "S/h"))
    own.append(("inv_2", 4, "b", 2, "S/k"))
    assert log == own and list(log) == list(own) and len(log) == 2
    assert log[-1] == ("inv_2", 4, "b", 2, "S/k") and repr(log) == repr(own)
    assert list(events(flat)) == [(5, "entry", "inv_1", "run", 0, "a"),
                                  (6, "step", "inv_1", "step", "a", 0),
                                  (6, "note", "inv_1", "text", "between"),
                                  (7, "step", "inv_2", "step", "b", 4)]
    with pytest.raises(sd.InternalError, match="emptied with its trace"):
        log.clear()
    log.append(("inv_4", 1, "d", 1, "S/h"))  # (by hand: read after the trace's runs)
    flat.extend((8, "step", "inv_3", "ran_step", "c", 0, 1, "S/h"))
    assert list(log)[2:] == [("inv_3", 0, "c", 1, "S/h"), ("inv_4", 1, "d", 1, "S/h")]
    assert len(log) == 4 and log[3] == ("inv_4", 1, "d", 1, "S/h")


def test_a_crowd_step_record_reads_its_attempt_from_the_attempt_event() -> None:
    """A crowd's step task writes its run as ``(t, inv, name, "ran_task",
    index)``: its attempt's number and target are read back from the
    invocation's last "attempt" event (a keyed target too, and a later
    attempt's number)."""
    flat: list[Any] = []
    log = RunLog(flat)
    flat.extend((0, "attempt", "inv_1", "attempt", 1, "S", None, "h", 0))
    flat.extend((0, "attempt", "inv_2", "attempt", 1, "O", "k", "g", 0))
    flat.extend((0, "inv_1", "a", "issued", 0))  # (its "entry" event, a value less)
    flat.extend((1, "inv_1", "a", "ran_task", 0))
    flat.extend((2, "inv_2", "b", "ran_task", 3))
    flat.extend((3, "attempt", "inv_1", "attempt", 2, "S", None, "h", 2))
    flat.extend((4, "inv_1", "c", "ran_task", 2))
    assert list(log) == [("inv_1", 0, "a", 1, "S/h"), ("inv_2", 3, "b", 1, "O/k/g"),
                         ("inv_1", 2, "c", 2, "S/h")]
    assert len(log) == 3 and log[1] == ("inv_2", 3, "b", 1, "O/k/g")
    assert [e for e in events(flat) if e[1] in ("step", "entry")] == [
        (0, "entry", "inv_1", "run", 0, "a"), (1, "step", "inv_1", "step", "a", 0),
        (2, "step", "inv_2", "step", "b", 3), (4, "step", "inv_1", "step", "c", 2)]
    flat.extend((5, "inv_3", "d", "ran_task", 0))  # (no attempt of its own: not a run's trace)
    with pytest.raises(sd.InternalError, match="no attempt"):
        list(log)
