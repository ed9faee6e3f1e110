"""``check(concurrent=...)`` with handlers that read the clock (``ctx.time()``).

Run one at a time, each invocation waits for those before it, and a crashed
attempt's backoff delays every later one: a result or state that holds the
time it was read at differs from every one-at-a-time order's, though nothing
was lost. Each invocation's clock reads are given again to it in the orders
(``_step_values.clock_reads``); a decision made from a stale read of state is
still no order's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import simdurable as sd

stamps = sd.VirtualObject("Stamps")


@stamps.handler(kind="shared")
async def last_mark(ctx: sd.ObjectSharedContext) -> float | None:
    value = await ctx.get("last")
    return None if value is None else float(value)


@stamps.handler()
async def mark(ctx: sd.ObjectContext, at: float) -> None:
    ctx.set("last", at)


@stamps.handler()
async def visit(ctx: sd.ObjectContext) -> dict[str, object]:
    """Count and stamp in one exclusive handler: nothing is lost."""
    seen = await ctx.get("visit") or {"count": 0}
    now = await ctx.time()
    stamped = {"count": int(seen["count"]) + 1, "at": now}
    ctx.set("visit", stamped)
    return stamped


@stamps.handler()
async def limited(ctx: sd.ObjectContext) -> str:
    """A rate limit decided from the time, in one exclusive handler."""
    last = await ctx.get("last")
    now = await ctx.time()
    if last is not None and now - float(last) < 1:
        return f"too soon at {now}"
    ctx.set("last", now)
    return f"ok at {now}"


limits = sd.Service("Limits")


@limits.handler()
async def limited_racy(ctx: sd.Context, key: str) -> str:
    """The same rate limit, its last mark read through one call and written
    through another: two at once both read none and both pass."""
    last = await ctx.object_call(last_mark, key, None)
    now = await ctx.time()
    if last is not None and now - last < 1:
        return f"too soon at {now}"
    await ctx.object_call(mark, key, now)
    return f"ok at {now}"


@limits.handler()
async def greet(ctx: sd.Context, name: str) -> str:
    """As restate-sdk's random greeter: the time, formatted, in the result."""
    now = await ctx.time()
    return f"Hello {name}, now {datetime.fromtimestamp(now, UTC)}"


@limits.handler()
async def nap_then_greet(ctx: sd.Context, name: str) -> str:
    """Two at once both wake at 1 s; one at a time the second wakes at 2 s."""
    await ctx.sleep(timedelta(seconds=1))
    now = await ctx.time()
    return f"Hello {name}, now {now}"


CRASH = "crash(step=timestamp, index=0, phase=before, attempt=1)"


@pytest.mark.parametrize("invoke", ["Stamps/k/visit", "Stamps/k/limited", "Limits/greet"])
def test_a_time_read_after_a_crashed_attempts_backoff_is_no_lost_update(invoke):
    # The crash delays one invocation by its backoff (500 ms): it reads a later
    # time than either does one at a time without it. (Before: not-serializable.)
    value = "ann" if invoke == "Limits/greet" else None
    pinned = sd.replay(CRASH, 0, services=[stamps, limits], invoke=invoke, input=value,
                       concurrent=2)
    assert pinned.kinds == [], [v.details for v in pinned.violations]
    report = sd.check(services=[stamps, limits], invoke=invoke, input=value, concurrent=2,
                      max_examples=20)
    assert report.ok, report.render()
    assert report.faults_fired


def test_a_decision_from_a_stale_read_is_still_found():
    report = sd.check(services=[stamps, limits], invoke="Limits/limited_racy", input="k",
                      concurrent=2, max_examples=20)
    assert report.kinds == ["not-serializable"]
    v = report.violations[0]
    assert '"ok at' in v.details and "too soon at" in v.details
    # Under the crash that shifts one's clock, too.
    again = sd.replay(CRASH, 0, services=[stamps, limits], invoke="Limits/limited_racy",
                      input="k", concurrent=2)
    assert again.kinds == ["not-serializable"]


def test_each_invocation_reads_its_own_time_one_at_a_time():
    # Pinned by invocation and journal index: the orders give each its read,
    # so swapping two invocations' times is still no order's ending.
    from simdurable._check._step_values import clock_reads

    sim = sd.Simulation([stamps, limits], faults=CRASH)
    first = sim.invoke("Limits/greet", "ann")
    second = sim.invoke("Limits/greet", "ann")
    sim.run()
    reads = clock_reads(sim)
    assert sorted(reads.values()) == [1767225600.0, 1767225600.5]
    assert {inv for inv, _ in reads} == {first.id, second.id}
    assert sorted(str(h.result()) for h in (first, second)) == [
        "Hello ann, now 2026-01-01 00:00:00+00:00",
        "Hello ann, now 2026-01-01 00:00:00.500000+00:00",
    ]


def test_a_time_read_after_a_timer_is_no_lost_update_without_faults():
    report = sd.check(services=[stamps, limits], invoke="Limits/nap_then_greet", input="ann",
                      concurrent=2, max_examples=10)
    assert report.ok, report.render()


def test_restate_sdks_random_greeter_two_at_once_passes():
    pytest.importorskip("restate")
    from tests.compat.programs.sdk_ex_random_greeter import random_greeter

    report = sd.check(services=[random_greeter], invoke="random_greeter/greet", input="Zoe",
                      concurrent=2, max_examples=20)
    assert report.ok, report.render()
