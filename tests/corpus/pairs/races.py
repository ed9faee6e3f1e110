"""Races in the handler: a result against a timeout, the first of several steps."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd

from . import Pair

psp = sd.FakeExternal("psp")
seats = sd.FakeExternal("seats")


def timed_out_means_released(outcome: sd.Outcome) -> None:
    """An order reported as timed out leaves no authorization hanging."""
    if outcome.result == "timed-out":
        ops = [e.op for e in outcome.effects["psp"]]
        assert ops.count("authorize") == ops.count("void"), (
            f"the order timed out but its authorization still holds the money: {ops}")


def authorize(order: str) -> str:
    return str(psp.apply("authorize", {"order": order}, idempotency_key=order)["id"])


def capture(order: str) -> str:
    return str(psp.apply("capture", {"order": order}, idempotency_key=order)["id"])


def void(order: str) -> None:
    psp.apply("void", {"order": order}, idempotency_key=f"void-{order}")


# A capture raced against a timeout: when the timeout wins, the handler
# reports a failure but leaves the authorization in place, holding the
# customer's money (PSP timeouts, then payments in an unknown state).
# https://interviewcrafted.com/design-challenges/the-payment-service-that-double-charged-customers
# https://github.com/indeedeng/iwf/issues/519 (a timeout at the same time as the signal)
capture_bug = restate.Service("Capture")
capture_ok = restate.Service("Capture")


@capture_bug.handler(name="run")
async def capture_run_bug(ctx: restate.Context, order: str) -> str:
    await ctx.run_typed("authorize", authorize, order=order)
    done = ctx.run_typed("capture", capture, order=order)
    finished, _ = await restate.wait_completed(done, ctx.sleep(timedelta(seconds=30)))
    if done not in finished:
        return "timed-out"
    await done
    return "captured"


@capture_ok.handler(name="run")
async def capture_run_ok(ctx: restate.Context, order: str) -> str:
    await ctx.run_typed("authorize", authorize, order=order)
    done = ctx.run_typed("capture", capture, order=order)
    finished, _ = await restate.wait_completed(done, ctx.sleep(timedelta(seconds=30)))
    if done not in finished:
        await done  # still in flight: let it land, then undo it
        await ctx.run_typed("void", void, order=order)
        return "timed-out"
    await done
    return "captured"


# The same race with a 15-minute timeout, in select(): a delay of the
# capture's step as long as the handler's own timeout must be explored.
# https://github.com/FINRAOS/herd/issues/110 (a signal raced with a 60-minute timer)
slow_bug = restate.Service("SlowCapture")
slow_ok = restate.Service("SlowCapture")


@slow_bug.handler(name="run")
async def slow_run_bug(ctx: restate.Context, order: str) -> str:
    await ctx.run_typed("authorize", authorize, order=order)
    done = ctx.run_typed("capture", capture, order=order)
    which, _ = await restate.select(done=done, timeout=ctx.sleep(timedelta(minutes=15)))
    return "timed-out" if which == "timeout" else "captured"


@slow_ok.handler(name="run")
async def slow_run_ok(ctx: restate.Context, order: str) -> str:
    await ctx.run_typed("authorize", authorize, order=order)
    done = ctx.run_typed("capture", capture, order=order)
    which, _ = await restate.select(done=done, timeout=ctx.sleep(timedelta(minutes=15)))
    if which == "timeout":
        await done  # still in flight: let it land, then undo it
        await ctx.run_typed("void", void, order=order)
        return "timed-out"
    return "captured"


def hold(flight: str) -> str:
    return str(seats.apply("hold", {"flight": flight}, idempotency_key=f"hold-{flight}")["id"])


def release(flight: str) -> None:
    seats.apply("release", {"flight": flight}, idempotency_key=f"release-{flight}")


def one_seat_held(outcome: sd.Outcome) -> None:
    """Exactly the seat the handler returns is still held."""
    if outcome.error is not None:
        return
    held = {e.payload["flight"] for e in outcome.effects["seats"] if e.op == "hold"}
    held -= {e.payload["flight"] for e in outcome.effects["seats"] if e.op == "release"}
    assert held == {outcome.result}, f"returned {outcome.result!r} but holds {sorted(held)}"


# Holds on two flights, the first to answer wins; the code assumes which one
# wins and releases the other by name. A saga assuming an order among
# concurrent steps (only the last compensation ran).
# https://github.com/eventuate-tram/eventuate-tram-sagas/issues/9
fastest_bug = restate.Service("Fastest")
fastest_ok = restate.Service("Fastest")


@fastest_bug.handler(name="book")
async def fastest_book_bug(ctx: restate.Context, trip: str) -> str:
    a = ctx.run_typed("hold-a", hold, flight="a")
    b = ctx.run_typed("hold-b", hold, flight="b")
    winner = "a"
    async for first in restate.as_completed(a, b):
        await first
        winner = "a" if first is a else "b"
        break
    await restate.gather(a, b)
    await ctx.run_typed("release-b", release, flight="b")  # assumes "a" won
    return winner


@fastest_ok.handler(name="book")
async def fastest_book_ok(ctx: restate.Context, trip: str) -> str:
    a = ctx.run_typed("hold-a", hold, flight="a")
    b = ctx.run_typed("hold-b", hold, flight="b")
    winner = "a"
    async for first in restate.as_completed(a, b):
        await first
        winner = "a" if first is a else "b"
        break
    await restate.gather(a, b)
    loser = "b" if winner == "a" else "a"
    await ctx.run_typed(f"release-{loser}", release, flight=loser)
    return winner


PAIRS = [
    Pair(name="timeout-race-30s", kind="invariant",
         source="interviewcrafted: the payment service that double-charged; indeedeng/iwf#519",
         invoke="Capture/run", input="o1", buggy=[capture_bug], correct=[capture_ok],
         externals=(psp,), invariant=timed_out_means_released),
    Pair(name="timeout-race-15min", kind="invariant", source="FINRAOS/herd#110",
         invoke="SlowCapture/run", input="o1", buggy=[slow_bug], correct=[slow_ok],
         externals=(psp,), invariant=timed_out_means_released),
    Pair(name="as-completed-assumed-winner", kind="invariant",
         source="eventuate-tram/eventuate-tram-sagas#9", invoke="Fastest/book", input="t1",
         buggy=[fastest_bug], correct=[fastest_ok], externals=(seats,),
         invariant=one_seat_held),
]
