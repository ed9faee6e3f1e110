"""A run cut short by its wall-clock budget is not compared with its twin.

On a loaded machine (a CI runner, a laptop running the test suite on every
core) one of two runs of the same path may take longer than the budget and
the other not; their traces then differ where the clock stopped one, and the
self-check reported ``nondeterminism`` ("something outside the simulation
changed between them"), a false alarm that came and went with the load."""

from __future__ import annotations

import time

import simdurable as sd

svc = sd.Service("Slow")
attempts: list[int] = []


def _work() -> int:
    return 1


@svc.handler()
async def once_slow(ctx: sd.Context) -> int:
    attempts.append(1)
    if len(attempts) == 2:  # (the second run of the same path: the machine got busy)
        time.sleep(0.4)
    return await ctx.run_typed("work", _work) + await ctx.run_typed("more", _work)


def test_a_twin_stopped_by_the_clock_is_noted_not_reported() -> None:
    attempts.clear()
    report = sd.check([svc], invoke="Slow/once_slow", max_examples=0, single_faults=False,
                      hash_seeds=(), wall_budget=0.2)
    assert report.ok, report
    assert len(attempts) >= 2
    assert any("stopped by its wall-clock budget (0.2 s)" in n for n in report.notes)


def test_without_the_clock_the_twin_is_still_compared() -> None:
    # The same handler, slow only where no budget stops it: its twin takes the
    # same path, and nothing is noted.
    attempts.clear()
    report = sd.check([svc], invoke="Slow/once_slow", max_examples=0, single_faults=False,
                      hash_seeds=(), wall_budget=5)
    assert report.ok, report
    assert not any("wall-clock budget" in n for n in report.notes)
