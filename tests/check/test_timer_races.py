"""A timer that lost its race in a faulty run (a call beat it, the handler
ended) is late there too: the slowed fault-free run that explains a changed
outcome delays it past the run's end, so a crash plus a late timer is not
called an outcome changed by the crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as sd

work = sd.Service("Work")
deadline = sd.Service("Deadline")
ATTEMPTS = {"n": 0}


@work.handler()
async def slow(ctx: sd.Context, minutes: int) -> str:
    await ctx.sleep(timedelta(minutes=minutes))
    return "ok"


@deadline.handler()
async def run(ctx: sd.Context, minutes: int) -> str:
    match await sd.select(done=ctx.service_call(slow, minutes),
                          late=ctx.sleep(timedelta(minutes=30))):
        case ["done", result]:
            return str(result)
        case _:
            return "timed out"


@deadline.handler()
async def run_counting(ctx: sd.Context, minutes: int) -> str:
    ATTEMPTS["n"] += 1  # the twin's result tells how many attempts ran: a crash changes it
    match await sd.select(done=ctx.service_call(slow, minutes),
                          late=ctx.sleep(timedelta(minutes=30))):
        case ["done", result]:
            return f"{result} after {ATTEMPTS['n']} attempts"
        case _:
            return f"timed out after {ATTEMPTS['n']} attempts"


# A crash once the call is stored, then the retried attempt's timer an hour late:
# the call (60 minutes) now beats the 30-minute timeout.
PLAN = ("crash(step=Work/slow, index=0, phase=after-store, attempt=1); "
        "delay(index=1, phase=timer, attempt=2, target=Deadline/run, by=3601s)")


def _reset() -> None:
    ATTEMPTS["n"] = 0


def test_a_call_that_beats_a_late_timer_after_a_crash_is_a_slow_machine_not_a_bug():
    with pytest.raises(sd.DidNotReproduce):
        sd.check(services=[work, deadline], invoke="Deadline/run", input=60, replay=PLAN,
                 hash_seeds=())


def test_a_result_the_crash_itself_changes_is_still_found():
    report = sd.check(services=[work, deadline], invoke="Deadline/run_counting", input=60,
                      replay=PLAN.replace("Deadline/run", "Deadline/run_counting"),
                      setup=_reset, hash_seeds=(), strict=False)
    assert report.kinds == ["outcome-changed"], report


quote = sd.Service("Quote")


@quote.handler()
async def price(ctx: sd.Context, n: int) -> int:
    return await ctx.run_typed("price", lambda: n * 2)


@quote.handler()
async def first_come(ctx: sd.Context, n: int) -> list[str]:
    """Lists its call, its timer and its step in the order they complete: a race
    the handler allows (on Restate too, the callee may answer before the step)."""
    call = ctx.service_call(price, n)
    nap = ctx.sleep(timedelta(seconds=30))
    step = ctx.run_typed("local", lambda: n)
    order = []
    async for done in sd.as_completed(call, nap, step):
        order.append("call" if done is call else "nap" if done is nap else "step")
    return order


def test_a_crash_that_lets_a_callee_answer_first_is_a_slow_machine_not_a_bug():
    """After the crash the callee's answer reaches the journal before the retried
    attempt's next commands, so the two journals differ in layout: the slowed
    fault-free run is still found, by matching commands in their order."""
    with pytest.raises(sd.DidNotReproduce):
        sd.check(services=[quote], invoke="Quote/first_come", input=1, hash_seeds=(),
                 replay="crash(step=Quote/price, index=0, phase=after-store, attempt=1)")
    assert sd.check(services=[quote], invoke="Quote/first_come", input=1, hash_seeds=(),
                    max_examples=30).ok
