"""A check run under cProfile (``python -m cProfile -m pytest``, pytest-profiling).

``sys.getprofile()`` gives cProfile's profiler object, which ``sys.setprofile``
refuses (it is not a profile function): strict mode's hook, and the choosers
that pause it, used to put it back that way and raised ``TypeError: 'Profile'
object is not callable`` from inside the runtime.
"""

from __future__ import annotations

import cProfile
import pstats
import sys

import pytest

import simdurable as sd
from simdurable import Context, Service

svc = Service("Profiled")


def _profiling(profiler: cProfile.Profile) -> bool:
    """Whether ``profiler`` is still on: its profile function, or from 3.12 on
    its ``sys.monitoring`` tool (it sets no profile function there)."""
    if sys.version_info >= (3, 12):
        return sys.monitoring.get_tool(sys.monitoring.PROFILER_ID) == "cProfile"
    return sys.getprofile() is profiler


@svc.handler()
async def run(ctx: Context, n: int) -> int:
    total = 0
    for i in range(3):
        total += await ctx.run_typed(f"step-{i}", lambda i=i: i + n)
    return total


def after_check() -> int:
    return 42


@pytest.mark.parametrize("strict", [True, False])
def test_a_check_under_cprofile_runs_and_leaves_the_profiler_on(strict: bool) -> None:
    if sys.getprofile() is not None:
        pytest.skip("another profile function is set (the suite runs under a profiler)")
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        report = sd.check([svc], "Profiled/run", 1, max_examples=5, seed=0, strict=strict,
                          hash_seeds=())
        still_on = _profiling(profiler)
        after_check()
    finally:
        profiler.disable()
    assert report.ok, report
    assert still_on
    # The profiler, enabled again after each stretch the hook watched, saw what came after.
    names = {fn for (_, _, fn) in pstats.Stats(profiler).stats}  # type: ignore[attr-defined]
    assert "after_check" in names


def test_a_strict_simulation_under_cprofile_still_finds_an_ambient_read() -> None:
    if sys.getprofile() is not None:
        pytest.skip("another profile function is set (the suite runs under a profiler)")
    import time

    clocked = Service("ClockedUnderProfiler")

    @clocked.handler()
    async def read(ctx: Context) -> float:
        return time.time()

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        sim = sd.Simulation([clocked], seed=0, strict=True)
        handle = sim.invoke("ClockedUnderProfiler/read")
        sim.run()
        problems = [p.detail for p in sim.problems]
        sim.close()
        still_on = _profiling(profiler)
    finally:
        profiler.disable()
    assert handle is not None
    assert any("time.time()" in p for p in problems), problems
    assert still_on
