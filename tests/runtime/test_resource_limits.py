"""A handler that never ends stops with StuckError, saying which bound and how to raise it."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as sd
from simdurable._sim import DEFAULT_MAX_INVOCATIONS, DEFAULT_MAX_JOURNAL

loops = sd.Service("Loops")


@loops.handler()
async def sleeps_forever(ctx: sd.Context) -> None:
    while True:
        await ctx.sleep(timedelta(days=1))


@loops.handler()
async def again(ctx: sd.Context, n: int) -> None:
    ctx.service_send(again, n + 1, send_delay=timedelta(seconds=1))


@loops.handler()
async def fan_out(ctx: sd.Context, n: int) -> None:
    for _ in range(n):
        ctx.service_send(steps, 1)


@loops.handler()
async def steps(ctx: sd.Context, n: int) -> int:
    total = 0
    for i in range(n):
        total += await ctx.run_typed(f"s{i % 3}", lambda i=i: i)
    return total


def test_a_sleep_loop_stops_at_the_journal_bound_not_after_hundreds_of_mb() -> None:
    """It does one task a sleep: ``max_steps`` alone let it reach 2,000,000 entries."""
    sim = sd.Simulation([loops], max_journal=1000)
    h = sim.invoke("Loops/sleeps_forever")
    with pytest.raises(sd.StuckError, match=r"grew past max_journal=1000 entries") as info:
        sim.run()
    assert "Simulation(max_journal=...)" in str(info.value)
    assert "Loops/sleeps_forever" in str(info.value)
    assert len(sim.journal(h)) <= 1002
    assert sim.now() <= 501 * 86400.0


def test_a_long_but_finite_handler_stays_within_its_raised_bound() -> None:
    sim = sd.Simulation([loops], max_journal=1000)
    h = sim.invoke("Loops/steps", 600)  # two entries a step
    with pytest.raises(sd.StuckError, match="max_journal"):
        sim.run()
    sim = sd.Simulation([loops], max_journal=1300)
    h = sim.invoke("Loops/steps", 600)
    sim.run()
    assert h.result() == sum(range(600))


def test_a_handler_that_sends_itself_again_stops_at_the_invocation_bound() -> None:
    """One task an invocation: ``max_steps`` alone let it start a million (some 2 GB)."""
    sim = sd.Simulation([loops], max_invocations=300)
    sim.invoke("Loops/again", 0)
    with pytest.raises(sd.StuckError, match=r"past max_invocations=300: a handler that sends"):
        sim.run()
    assert len(sim.invocations()) == 301
    sim = sd.Simulation([loops], max_invocations=301)
    sim.invoke("Loops/fan_out", 300)
    sim.run()  # 301 finite invocations are fine
    assert all(h.status == "completed" for h in sim.invocations())


def test_a_stuck_crowd_is_summed_up_not_listed_whole() -> None:
    """30,000 unfinished invocations made a 30,000-line message."""
    sim = sd.Simulation([loops], max_invocations=300)
    sim.invoke("Loops/again", 0)
    for _ in range(40):
        sim.invoke("Loops/sleeps_forever")
    with pytest.raises(sd.StuckError) as info:
        sim.run()
    lines = str(info.value).splitlines()
    listed = [line for line in lines if line.startswith("  inv_")]
    assert len(listed) == 20
    assert "  ... and 21 more (its .waiting lists them all):" in lines
    assert [line.strip() for line in lines if line.startswith("    ")] == [
        "Loops/sleeps_forever: waits on #0 sleep until 86400000ms x20", "Loops/again: ready x1"]
    assert len(lines) < 30
    assert len(info.value.waiting) == 41
    # (the first invocation past the bound is named, not the last one submitted)
    assert "Loops/again was invocation number 301, past max_invocations=300" in lines[0]
    sim = sd.Simulation([loops], max_invocations=300)
    for _ in range(310):
        sim.invoke("Loops/sleeps_forever")
    with pytest.raises(sd.StuckError, match=r"Loops/sleeps_forever was invocation number 301, "):
        sim.run()


def test_the_default_bounds_are_there() -> None:
    sim = sd.Simulation([loops])
    assert sim.scheduler.max_journal == DEFAULT_MAX_JOURNAL == 50_000
    assert sim.scheduler.max_invocations == DEFAULT_MAX_INVOCATIONS == 20_000


def test_the_task_bound_says_how_to_raise_it() -> None:
    sim = sd.Simulation([loops], max_steps=50)
    sim.invoke("Loops/steps", 1000)
    with pytest.raises(sd.StuckError, match=r"50 tasks ran .*Simulation\(max_steps=...\)"):
        sim.run()
