"""Cancellation: an invocation cancelled mid-way must undo what it did."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable import world

from . import Pair

hotel = sd.FakeExternal("hotel")


def reserve(trip: str) -> str:
    return str(hotel.apply("reserve", {"trip": trip}, idempotency_key=f"reserve-{trip}")["id"])


def release(trip: str) -> None:
    hotel.apply("release", {"trip": trip}, idempotency_key=f"release-{trip}")


def confirm(trip: str) -> None:
    hotel.apply("confirm", {"trip": trip}, idempotency_key=f"confirm-{trip}")


def nothing_held_unless_booked(outcome: sd.Outcome) -> None:
    """A trip that did not end booked holds no room."""
    ops = [e.op for e in outcome.effects["hotel"]]
    if outcome.result != "booked":
        assert "reserve" not in ops or "release" in ops, (
            f"the trip ended with {outcome.error or outcome.result!r} but still holds a "
            f"room: {ops}")


# Compensation wrapped around the step expected to fail, not around the whole
# saga: a cancellation arrives at the next wait (here the hold period) as a
# TerminalError, outside the try, so the reservation is never released.
# Cancellation must run the same compensations as a failure.
# https://github.com/temporalio/sdk-java/issues/305 (compensations do not run
# when the workflow is cancelled)
trip_bug = restate.Service("Trip")
trip_ok = restate.Service("Trip")


@trip_bug.handler(name="book")
async def trip_book_bug(ctx: restate.Context, trip: str) -> str:
    await ctx.run_typed("reserve", reserve, trip=trip)
    await ctx.sleep(timedelta(minutes=10))  # hold period: the customer may still cancel
    try:
        await ctx.run_typed("confirm", confirm, trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("release", release, trip=trip)
        raise
    return "booked"


@trip_ok.handler(name="book")
async def trip_book_ok(ctx: restate.Context, trip: str) -> str:
    try:
        # Inside the try: a cancellation can also arrive while it runs.
        await ctx.run_typed("reserve", reserve, trip=trip)
        await ctx.sleep(timedelta(minutes=10))
        await ctx.run_typed("confirm", confirm, trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("release", release, trip=trip)
        raise
    return "booked"


PAIRS = [
    Pair(name="compensation-skipped-on-cancel", kind="invariant",
         source="temporalio/sdk-java#305", invoke="Trip/book", input="t1",
         buggy=[trip_bug], correct=[trip_ok], externals=(hotel,),
         invariant=nothing_held_unless_booked, extra={"world": [world.cancel()]}),
]
