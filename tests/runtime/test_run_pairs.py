"""A journal's leading steps (each ``run`` completed right after it) are found
at a reload by C code over its columns (``_journal.steps_prefix``): the reload
(``Recovery.restore_waits``) then rebuilds nothing for them with no bytecode
an entry, and the replay that follows matches a step there by its name and
result alone (``Completions.plain_steps``, ``_fast.step_command``). Only an
optimisation: on any journal, and whatever the handler issues on replay,
every run is what it is without it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import simdurable as sd
from simdurable.runtime import MemoryStore, _fast, _recovery
from simdurable.runtime._journal import COMPLETION, GET, RUN, SET, Entry, Value, steps_prefix
from simdurable.runtime._store import PENDING


def general_bits(journal: list[Entry]) -> tuple[int, bool]:
    """The completed indices and whether any command waits on the outside, by
    the general scan (the loop ``restore_waits`` runs otherwise; a completion
    of no index counts as outside here)."""
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


def plain_steps_by_hand(journal: list[Entry]) -> int:
    """``steps_prefix`` as a loop of Python, field by field."""
    size = len(journal) - len(journal) % 2
    for i in range(0, size, 2):
        command, completion = journal[i], journal[i + 1]
        if command.kind != RUN or completion.kind != COMPLETION or completion.target != i:
            return 0
    return size


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 40),
    pending=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 80), st.sampled_from(
        ["kind", "target", "result", "drop", "get", "sleep", "swap"])), max_size=3),
)
def test_steps_prefix_is_the_plain_steps_a_loop_finds(
        n: int, pending: bool, edits: list[tuple[int, str]]) -> None:
    journal = pairs(n) + ([Entry(RUN, "last")] if pending else [])
    for at, edit in edits:
        if not journal:
            break
        i = at % len(journal)
        e = journal[i]
        if edit == "kind":
            journal[i] = e._replace(kind=RUN if e.kind == COMPLETION else COMPLETION)
        elif edit == "target":
            journal[i] = e._replace(target=e.target + 2)
        elif edit == "result":
            journal[i] = e._replace(result=Value(b"1") if e.result is None else None)
        elif edit == "drop":
            del journal[i]
        elif edit == "get":
            journal.insert(i, Entry(GET, "k", result=Value(b"1")))
        elif edit == "sleep":
            journal.insert(i, Entry("sleep", "", wake_ms=5))
        else:
            journal[i], journal[-1] = journal[-1], journal[i]
    prefix = steps_prefix(journal)
    assert prefix == plain_steps_by_hand(journal)
    if not edits:
        assert prefix == 2 * n
    if prefix == len(journal):
        bits, outside = general_bits(journal)
        assert not outside
        assert bits == (1 << len(journal)) // 3


def work(i: int) -> int:
    return i + 1


def refuse(i: int) -> int:
    raise sd.TerminalError(f"no {i}", 409)


# How the handler runs on replay: as it ran first, or otherwise.
shape: list[str] = ["same"]
svc = sd.Service("Pairs")


@svc.handler()
async def run(ctx: sd.Context, x: int) -> Any:
    for i in range(6):
        name = "step"
        if shape[0] == "renamed" and i == 3:
            name = "other"
        if shape[0] == "kept" and i == 2:
            first = ctx.run_typed(name, work, i=x)
            second = ctx.run_typed(name, work, i=x + 10)
            x = await first + await second
            continue
        if i == 4:
            try:
                await ctx.run_typed("refused", refuse, i=x)
            except sd.TerminalError as err:
                x += err.status_code
            continue
        x = await ctx.run_typed(name, work, i=x)
    return x


def stores(kept: int, tampered: bool = False) -> MemoryStore:
    """A store with the first ``kept`` entries of a finished run's journal, the
    invocation pending again: a Simulation over it replays them. ``tampered``:
    its third command has a result (no step's command has one)."""
    shape[0] = "same"
    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke("Pairs/run", 0)
    sim.run()
    rec = sim.store.invocation(h.id)
    assert rec is not None
    store = MemoryStore()
    for i, entry in enumerate(sim.journal(h)[:kept]):
        store.append(rec.id, entry._replace(result=Value(b"1")) if tampered and i == 4 else entry)
    store.put_invocation(dataclasses.replace(rec, status=PENDING, result=None))
    return store


@pytest.mark.parametrize(("kept", "tampered"),
                         [(12, False), (12, True), (8, False), (7, False), (3, False),
                          (0, False)])
@pytest.mark.parametrize("replayed", ["same", "renamed", "kept"])
@pytest.mark.parametrize("crash_at", [None, 10])
@pytest.mark.parametrize("express", [True, False])
def test_a_replay_runs_as_without_the_plain_steps_found(
        monkeypatch: pytest.MonkeyPatch, kept: int, tampered: bool, replayed: str,
        crash_at: int | None, express: bool) -> None:
    """A journal (its first ``kept`` entries: steps, then a failed one; one
    command with a result if ``tampered``) replayed by a handler that issues
    the same steps, renames one, or keeps one unawaited, then run on, crashed
    or not, with express steps or without (where the steps found are matched
    the general way: ``_fast.leading_steps``): with ``steps_prefix`` and with
    none found, the same completed indices, outcome, trace, journal, misuse
    and schedule."""

    def replay() -> tuple[Any, ...]:
        store = stores(kept, tampered)
        (inv_id,) = store._invocations
        shape[0] = replayed
        plan = None if crash_at is None else sd.FaultPlan((sd.Fault("crash", index=crash_at),))
        sim = sd.Simulation([svc], seed=1, store=store, faults=plan)
        sim.engine.steps.express = express
        bits = sim.engine.invocations.by_id[inv_id].done_bits
        sim.run()
        (h,) = sim.invocations()
        outcome = h.result() if h.status == "completed" else h.status
        return (bits, outcome, sim.trace(), sim.journal(h), sim.scheduler.decisions,
                [str(e) for e in sim.engine.misuse])

    found = replay()
    monkeypatch.setattr(_recovery, "steps_prefix", lambda journal: 0)
    assert replay() == found
    if replayed == "same" and not tampered:
        assert found[1] == 1 + 1 + 1 + 1 + 409 + 1 + 0


@pytest.mark.parametrize("express", [True, False])
def test_a_replay_of_steps_takes_what_the_reload_found(express: bool) -> None:
    """(The test above tests something: the first replay after a reload takes
    the steps found, where a step may be express; the later ones after a crash
    find none.)"""
    store = stores(8)
    (inv_id,) = store._invocations
    shape[0] = "same"
    sim = sd.Simulation([svc], seed=1, store=store,
                        faults=sd.FaultPlan((sd.Fault("crash", index=10),)))
    sim.engine.steps.express = express
    assert sim.engine.completions.plain_steps == {inv_id: 8}
    paired: list[int] = []
    real = _fast.Attempt.__init__

    def opened(attempt: Any, *args: Any, **kwargs: Any) -> None:
        real(attempt, *args, **kwargs)
        paired.append(attempt)

    _fast.Attempt.__init__ = opened  # type: ignore[method-assign]
    try:
        sim.run()
    finally:
        _fast.Attempt.__init__ = real  # type: ignore[method-assign]
    assert [a.paired for a in paired] == [8 if express else 0, 0]
    assert sim.engine.completions.plain_steps == {}
