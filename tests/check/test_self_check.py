"""The harness's self-check: which runs are run twice, and the reference run again."""

from __future__ import annotations

from typing import Any

import pytest

import simdurable as restate
import simdurable as sd
from simdurable._check import _explore

svc = restate.Service("SelfCheck")

# State kept outside the simulation, changed only on a path that a fault takes.
memory: dict[str, bool] = {}


def forget() -> None:
    memory.clear()


def charge() -> str:
    return "ok"


@svc.handler()
async def remembers(ctx: restate.Context) -> str:
    """After a terminal failure it takes another path in every later run."""
    name = "after-a-failure" if memory.get("failed") else "charge"
    try:
        return await ctx.run_typed(name, charge)
    except restate.TerminalError:
        memory["failed"] = True  # a module global: survives into the next run
        return "refunded"


@svc.handler()
async def steps(ctx: restate.Context) -> int:
    total = 0
    for i in range(3):
        total += await ctx.run_typed(f"step-{i}", lambda i=i: i)
    return total


@svc.handler()
async def falls_back(ctx: restate.Context) -> str:
    try:
        return await ctx.run_typed("charge", charge)
    except restate.TerminalError:
        return await ctx.run_typed("invoice", charge)


def check(handler: str, **kw: Any) -> sd.Report:
    return sd.check([svc], f"SelfCheck/{handler}", hash_seeds=(), **kw)


def test_state_a_faulty_run_leaves_behind_is_found_by_the_reference_run_again() -> None:
    forget()
    report = check("remembers", max_examples=0)
    assert report.kinds == ["nondeterminism"]
    v = report.violations[0]
    assert "run again after" in v.message and "another path" in v.message
    assert "the fault-free run again" in (v.found_by or "")
    assert '"after-a-failure"' in (v.details or "") and '"charge"' in (v.details or "")
    # The correct twin: setup resets what the handler keeps, before every run.
    forget()
    assert check("remembers", max_examples=0, setup=forget).ok


def test_state_left_behind_by_generated_examples_is_found_too() -> None:
    forget()
    report = check("remembers", single_faults=False, max_examples=25)
    assert report.kinds == ["nondeterminism"]
    assert "after the examples of block 1" in (report.violations[0].found_by or "")
    forget()
    assert check("remembers", single_faults=False, max_examples=25, setup=forget).ok


def test_runs_on_the_reference_runs_path_are_not_run_twice() -> None:
    report = check("steps", max_examples=0)
    assert report.ok
    # Every crash and transient failure keeps the reference run's commands; a
    # terminal failure of the first or second step ends the handler before the
    # third command, on the reference run's path: it stopped there, as a
    # terminal failure of the third step, after all three were issued, did.
    # The reference run and its twin, each single fault, the reference run
    # again at the end of the phase.
    assert report.runs == 2 + report.single_faults + 1


def test_a_run_that_leaves_the_reference_path_after_a_failure_is_run_twice() -> None:
    # The terminal failure of "charge" takes the handler's fallback, whose
    # step the reference run never issued: that run has its twin, and so has
    # the crash in that step (after a failure for good: compensation).
    report = check("falls_back", max_examples=0)
    assert report.ok and report.single_faults == 6
    assert report.runs == 2 + report.single_faults + 1 + 2


def test_every_run_twice_when_the_path_is_not_the_reference_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_explore.Exploration, "twin_needed", lambda self, facts: True)
    report = check("steps", max_examples=0)
    assert report.ok and report.runs == 2 * (1 + report.single_faults) + 1


def test_the_same_seed_gives_the_same_report_and_runs() -> None:
    a = check("steps", max_examples=30, seed=3)
    b = check("steps", max_examples=30, seed=3)
    assert a.to_json() == b.to_json() and a.runs == b.runs


# A step whose closure fails on the first request of a process (a pooled
# connection found reset), and its buggy neighbour whose handler, not a step,
# reads the same module state.
pool: list[str] = []


def fetch_rate() -> float:
    if not pool:
        pool.append("connection")
        raise ConnectionError("connection reset by peer")
    return 1.5


@svc.handler()
async def convert(ctx: restate.Context, amount: int) -> float:
    return amount * await ctx.run_typed("rate", fetch_rate)


@svc.handler()
async def convert_from_cache(ctx: restate.Context, amount: int) -> float:
    if not pool:  # the handler itself decides by the process's state
        pool.append("connection")
        return amount * await ctx.run_typed("rate", lambda: 1.5)
    return amount * 1.5


def test_a_step_that_fails_only_on_a_processs_first_request_is_no_nondeterminism() -> None:
    # On Restate the step is retried and the handler sees only its result; the
    # retry follows the process's state, not a path of the handler's.
    pool.clear()
    report = check("convert", input=2, max_examples=20)
    assert report.ok, report
    assert any('step "rate" (#0 of SelfCheck/convert) raised in one of two runs' in n
               for n in report.notes), report.notes
    # The handler's own path following the process's state is still found.
    pool.clear()
    report = check("convert_from_cache", input=2, max_examples=20)
    assert report.kinds == ["nondeterminism"]
    assert "took different paths" in report.violations[0].message


def test_the_reference_run_s_twin_and_runs_again_record_nothing(
        terminal_error_asks: list[int]) -> None:
    # What the reference run's recorder saw is known: its twin and the
    # reference run again are compared by their traces only, and asked at
    # every point of every step (and, at each command, whether the handler
    # had a TerminalError in hand) they cost two runs each.
    from benchmarks.bench_sim import named_steps_service

    asked = terminal_error_asks
    twenty = named_steps_service(20, "AskedOnce")
    report = sd.check([twenty], f"{twenty.name}/run", 0, max_examples=0,
                      hash_seeds=(), strict=False)
    # (the reference run's twin, and the reference run again 4 times)
    assert report.ok and report.runs == 106
    assert asked[0] == 20  # the reference run's, one a command
