"""An invocation's done bits live on its live attempt (``Attempt.done_bits``),
so that a crowd's step task reads no record: at 10,000 invocations in flight a
record is a cold line a step. Its record holds them again once it ends."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import HealthCheck, example, given, settings, strategies as st

import simdurable as sd
from simdurable.runtime import _store
from simdurable.runtime._journal import COMPLETION
from simdurable.runtime._store import PENDING

from .test_crowded_tasks import crowd, faults, run_checking_each_task
from .test_steps_in_place import bank, current, flaky_calls, obj, seq

HANDLERS = ("Crowd/five", "Crowd/mixed", "Seq/chain", "Crowd/typed", "Crowd/calls")


def journal_bits(journal: list) -> tuple[int, int]:
    """The bits of the indices its completions complete, and of its entries
    stored with their result (``Completions.mark_done`` may set those too)."""
    completed = resulted = 0
    for i, entry in enumerate(journal):
        if entry[0] == COMPLETION:
            completed |= 1 << entry[4]
        elif entry[3] is not None:
            resulted |= 1 << i
    return completed, resulted


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.integers(0, 7), st.booleans())
@example([sd.Fault("fail", step="step")], 3, 0, False)
@example([sd.Fault("restart", at_ms=2)], 5, 3, False)
def test_the_done_bits_are_the_journals_on_the_live_attempt_or_else_the_record(
        plan_faults, seed, cancel_every, suspend):
    """Between any two tasks, a pending invocation's done bits (its live
    attempt's while it has one, else its record's) are its journal's completed
    indices, with faults that crash, fail, suspend and restart, and
    cancellations and kills mid-run; and a live attempt's retry index is its
    record's, unless the record's has been cleared since it started."""
    sim = sd.Simulation([crowd, seq, obj], seed=seed, faults=sd.FaultPlan(tuple(plan_faults)),
                        externals=[bank], max_steps=20_000, always_suspend=suspend)
    bank.reset()
    flaky_calls.clear()
    current[:] = [sim]
    engine = sim.engine
    checked = [0]

    def check(generation: int) -> None:
        store = engine.store
        attempts = engine.running.attempts
        for rec in engine.invocations.by_id.values():
            if rec.status != PENDING:
                continue
            attempt = attempts.get(rec.id)
            live = attempt is not None and attempt.alive
            bits = attempt.done_bits if live else rec.done_bits
            completed, resulted = journal_bits(store.raw_journal(rec.id))
            assert completed & ~bits == 0, (rec.id, bin(bits), bin(completed))
            assert bits & ~(completed | resulted) == 0, (rec.id, bin(bits), bin(completed))
            if live:
                assert rec.retry_index in (-1, attempt.retry_index), rec.id
            checked[0] += 1

    run_checking_each_task(sim, HANDLERS, check, cancel_every)
    assert checked[0] > 50


def test_a_crowds_step_tasks_read_no_records_done_bits() -> None:
    """Each invocation of a crowd of five-step handlers reads its record's done
    bits and retry index once, as its attempt starts, and writes its done bits
    at its end: none of its step tasks, resumes or steps' calls reads or
    writes them (before, a step task read them and wrote the done bits)."""
    head = _store._RecordHead
    counts = {"done_bits": 0, "retry_index": 0}

    def counted(name: str) -> property:
        slot = head.__dict__[name]

        def get(rec: object) -> object:
            counts[name] += 1
            return slot.__get__(rec, type(rec))

        def put(rec: object, value: object) -> None:
            counts[name] += 1
            slot.__set__(rec, value)

        return property(get, put)

    n = 40
    sim = sd.Simulation([crowd], seed=1)
    handles = [sim.invoke("Crowd/five", i) for i in range(n)]
    with patch.object(head, "done_bits", counted("done_bits")), \
            patch.object(head, "retry_index", counted("retry_index")):
        sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(n)]
    assert sim.engine.tasks_run >= 11 * n  # (a start, five steps and five resumes each)
    # (the start's read of each, and the end's write of the done bits)
    assert counts == {"done_bits": 2 * n, "retry_index": n}, counts
