"""A journal of plain steps (each ``run`` completed right after it) is read
by ``Recovery.restore_waits`` with no bytecode an entry (``_recovery.run_pairs``):
only as an optimisation. On any journal, what it rebuilds is what the
general scan rebuilds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import simdurable as sd
from benchmarks.bench_sim import replay_stores, steps_service
from simdurable.runtime import MemoryStore, _recovery
from simdurable.runtime._journal import COMPLETION, GET, RUN, SET, Entry, Value
from simdurable.runtime._recovery import run_pairs


def general_bits(journal: list[Entry]) -> tuple[int, bool]:
    """The completed indices and whether any command waits on the outside, by
    the general scan (the loop ``restore_waits`` runs when ``run_pairs`` fails;
    a completion of no index counts as outside here)."""
    bits = 0
    outside = False
    for e in journal:
        if e.kind == COMPLETION and e.target < 0:
            outside = True
        elif e.kind == COMPLETION:
            bits |= 1 << e.target
        elif e.kind not in (RUN, GET, SET):
            outside = True
    return bits, outside


def pairs(n: int) -> list[Entry]:
    journal = []
    for i in range(n):
        journal.append(Entry(RUN, f"s{i % 3}"))
        journal.append(Entry(COMPLETION, result=Value(b"%d" % i), target=2 * i))
    return journal


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 40),
    edits=st.lists(st.tuples(st.integers(0, 79), st.sampled_from(
        ["kind", "target", "drop", "get", "sleep", "swap"])), max_size=3),
)
def test_run_pairs_says_yes_only_where_the_scan_finds_even_bits(
        n: int, edits: list[tuple[int, str]]) -> None:
    journal = pairs(n)
    for at, edit in edits:
        if not journal:
            break
        i = at % len(journal)
        e = journal[i]
        if edit == "kind":
            journal[i] = e._replace(kind=RUN if e.kind == COMPLETION else COMPLETION)
        elif edit == "target":
            journal[i] = e._replace(target=e.target + 2)
        elif edit == "drop":
            del journal[i]
        elif edit == "get":
            journal.insert(i, Entry(GET, "k", result=Value(b"1")))
        elif edit == "sleep":
            journal.insert(i, Entry("sleep", "", wake_ms=5))
        else:
            journal[i], journal[-1] = journal[-1], journal[i]
    bits, outside = general_bits(journal)
    if run_pairs(journal):
        assert not outside
        assert bits == (1 << len(journal)) // 3
    else:
        assert edits  # every unedited journal of steps is one


@pytest.mark.parametrize("kept", [14, 8, 0])
@pytest.mark.parametrize("crash_at", [None, 10])
def test_a_replay_of_steps_runs_as_through_the_general_scan(
        monkeypatch: pytest.MonkeyPatch, kept: int, crash_at: int | None) -> None:
    """A journal of steps (its first ``kept`` entries) replayed, then run on,
    crashed or not, with ``run_pairs`` and without: the same completed
    indices, results, trace, journal and schedule."""
    svc = steps_service(7)

    def replay() -> tuple[Any, ...]:
        store: MemoryStore = replay_stores(svc, 7, 1)[0]
        (inv_id,) = store._journals
        del store._journals[inv_id][kept:]
        plan = None if crash_at is None else sd.FaultPlan((sd.Fault("crash", index=crash_at),))
        sim = sd.Simulation([svc], seed=1, store=store, faults=plan)
        bits = sim.engine.completions.done[inv_id]
        sim.run()
        (h,) = sim.invocations()
        return (bits, h.result(), sim.trace(), sim.journal(h), sim.scheduler.decisions)

    fast = replay()
    monkeypatch.setattr(_recovery, "run_pairs", lambda journal: False)
    assert replay() == fast
    assert fast[0] == general_bits(pairs(kept // 2))[0]
    assert fast[1] == 7
