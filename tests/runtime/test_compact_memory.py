"""What many invocations in flight keep, kept small: the run log as one flat list
of values, and no per-attempt record of what was awaited outside strict mode
(only strict mode reads it)."""

from __future__ import annotations

from collections import Counter

import pytest

import simdurable as sd
from simdurable.runtime._trace import RunLog

svc = sd.Service("Compact")


def add(i: int) -> int:
    return i + 1


@svc.handler()
async def run(ctx: sd.Context, n: int) -> int:
    a = ctx.run_typed("a", add, i=n)
    b = ctx.run_typed("b", add, i=n)
    await sd.gather(a, b)
    return await ctx.run_typed("c", add, i=await a + await b)


def test_the_run_log_reads_as_a_list_of_runs() -> None:
    log = RunLog()
    assert len(log) == 0 and list(log) == []
    log.append(("inv_1", 0, "a", 1, "S/h"))
    log.append(("inv_2", 2, "b", 3, "S/h"))
    assert len(log) == 2
    assert list(log) == [("inv_1", 0, "a", 1, "S/h"), ("inv_2", 2, "b", 3, "S/h")]
    assert log[0] == ("inv_1", 0, "a", 1, "S/h") and log[-1] == ("inv_2", 2, "b", 3, "S/h")
    with pytest.raises(IndexError):
        log[2]
    other = RunLog()
    other.append(("inv_1", 0, "a", 1, "S/h"))
    assert log != other
    other.append(("inv_2", 2, "b", 3, "S/h"))
    assert log == other
    log.clear()
    assert len(log) == 0 and list(log) == []


def test_a_simulation_logs_each_closure_run_without_a_tuple_per_run() -> None:
    sim = sd.Simulation([svc], seed=3, faults="crash(step=c, phase=effect-done, attempt=1)")
    handles = [sim.invoke("Compact/run", n) for n in range(3)]
    sim.run()
    assert [h.result() for h in handles] == [3, 5, 7]
    log = sim.engine.step_run_log
    assert not any(isinstance(value, tuple) for value in log._flat)
    per_handle: Counter[str] = Counter()
    for h in handles:
        per_handle.update(sim.step_runs(h))
    assert Counter(name for _, _, name, _, _ in log) == per_handle
    assert len(log) == sum(per_handle.values()) > 9  # the crash made a closure run again
    assert sim.engine.step_runs == Counter((inv, index) for inv, index, *_ in log)


def test_only_strict_mode_keeps_what_each_attempt_awaited() -> None:
    seen = []
    for strict in (False, True):
        sim = sd.Simulation([svc], seed=1, strict=strict)
        sim.invoke("Compact/run", 1)
        sim.invoke("Compact/run", 2)
        attempts = sim.engine.running.attempts
        sim.run(stop=lambda attempts=attempts: len(attempts) == 2)
        first, second = sim.engine.running.attempts.values()
        seen.append((first.awaited is second.awaited, first.started_at is second.started_at))
        sim.run()
        if not strict:  # one shared, empty set and dict, whatever the handlers awaited
            assert not first.awaited and not first.started_at
    assert seen == [(True, True), (False, False)]


def test_records_submitted_without_headers_share_one_empty_dict() -> None:
    sim = sd.Simulation([svc], seed=1)
    a, b = sim.invoke("Compact/run", 1), sim.invoke("Compact/run", 2)
    by_id = sim.engine.invocations.by_id
    assert by_id[a.id].headers is by_id[b.id].headers
    copy = sim.store.invocation(a.id)
    assert copy is not None and copy.headers == {}
    copy.headers["x"] = "y"  # a copy's headers are its own
    sim.run()
    assert by_id[a.id].headers == by_id[b.id].headers == {}
    assert [h.result() for h in (a, b)] == [5, 7]
