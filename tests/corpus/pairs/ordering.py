"""Ordering across invocations: messages from two senders to one key, a
timer raced against a call to another handler."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable import world

from . import Pair

bank = sd.FakeExternal("bank")
stock = sd.FakeExternal("stock")


# Two messages to one shipment from two senders: the order sends "create",
# then calls the payment service, which sends "paid". Nothing orders the two
# deliveries; a "paid" that arrives first finds no shipment and is dropped,
# and the order stays unpaid in the warehouse. The fix: wait for "create"
# (a call, not a send) before the payment starts.
# https://github.com/temporalio/temporal/issues/4801 (signals delivered in
# another order than the workflow expects)
shipment = restate.VirtualObject("Shipment")


@shipment.handler()
async def create(ctx: restate.ObjectContext, item: str) -> None:
    ctx.set("item", item)
    ctx.set("status", "created")


@shipment.handler()
async def mark_paid(ctx: restate.ObjectContext, receipt: str) -> None:
    if await ctx.get("status") is None:
        return  # no such shipment (yet): the message is dropped
    ctx.set("status", "paid")


payment = restate.Service("Payment")


def charge(order: str) -> str:
    return str(bank.apply("charge", {"order": order}, idempotency_key=order)["id"])


@payment.handler()
async def pay(ctx: restate.Context, order: str) -> str:
    receipt = await ctx.run_typed("charge", charge, order=order)
    ctx.object_send(mark_paid, f"ship-{order}", receipt)
    return receipt


order_bug = restate.VirtualObject("Order")
order_ok = restate.VirtualObject("Order")


@order_bug.handler(name="place")
async def order_place_bug(ctx: restate.ObjectContext, item: str) -> str:
    ctx.object_send(create, f"ship-{ctx.key()}", item)
    return str(await ctx.service_call(pay, ctx.key()))


@order_ok.handler(name="place")
async def order_place_ok(ctx: restate.ObjectContext, item: str) -> str:
    await ctx.object_call(create, f"ship-{ctx.key()}", item)
    return str(await ctx.service_call(pay, ctx.key()))


def paid_shipment(outcome: sd.Outcome) -> None:
    """A paid order's shipment is marked paid."""
    if outcome.error is None:
        status = outcome.state.get("Shipment/ship-o1", {}).get("status")
        assert status == "paid", f"the order was paid but its shipment is {status!r}"


# A call to the stock service raced against a 5-second timer: when the timer
# wins, the handler reports "unavailable", but the call is still running in
# the callee and its reservation lands, held for an order that was refused.
# The loser of a race must be undone.
# https://github.com/indeedeng/iwf/issues/519 (a timer firing at the same
# time as the signal it waits for)
inventory = restate.Service("Inventory")


def reserve_item(item: str) -> str:
    return str(stock.apply("reserve", {"item": item}, idempotency_key=f"r-{item}")["id"])


def release_item(item: str) -> None:
    stock.apply("release", {"item": item}, idempotency_key=f"u-{item}")


@inventory.handler()
async def reserve(ctx: restate.Context, item: str) -> str:
    return await ctx.run_typed("reserve", reserve_item, item=item)


@inventory.handler()
async def release(ctx: restate.Context, item: str) -> None:
    await ctx.run_typed("release", release_item, item=item)


cart_bug = restate.Service("Cart")
cart_ok = restate.Service("Cart")


@cart_bug.handler(name="add")
async def cart_add_bug(ctx: restate.Context, item: str) -> str:
    which, _ = await restate.select(held=ctx.service_call(reserve, item),
                                    timeout=ctx.sleep(timedelta(seconds=5)))
    return "unavailable" if which == "timeout" else "held"


@cart_ok.handler(name="add")
async def cart_add_ok(ctx: restate.Context, item: str) -> str:
    held = ctx.service_call(reserve, item)
    which, _ = await restate.select(held=held, timeout=ctx.sleep(timedelta(seconds=5)))
    if which == "timeout":
        await held  # the call goes on: let it land, then undo it
        await ctx.service_call(release, item)
        return "unavailable"
    return "held"


def refused_holds_nothing(outcome: sd.Outcome) -> None:
    """An item reported unavailable is not held."""
    if outcome.result == "unavailable":
        ops = [e.op for e in outcome.effects["stock"]]
        assert "reserve" not in ops or "release" in ops, (
            f"the item was refused but its reservation holds: {ops}")


mail = sd.FakeExternal("reminders")


def send_reminder(booking: str, email: str) -> None:
    mail.apply("remind", {"booking": booking, "to": email}, idempotency_key=f"remind-{booking}")


# A reminder scheduled as a delayed send when the booking is made, and a
# cancellation that only updates the booking: the delayed message is still
# delivered a day later, and the reminder goes out for a cancelled meeting.
# The delayed handler must check the state it finds when it runs.
# https://github.com/calcom/cal.diy/issues/7225 (reminder emails sent after
# the booking was cancelled)
booking_bug = restate.VirtualObject("Booking")
booking_ok = restate.VirtualObject("Booking")


@booking_bug.handler(name="remind")
async def booking_remind_bug(ctx: restate.ObjectContext, email: str) -> None:
    await ctx.run_typed("remind", send_reminder, booking=ctx.key(), email=email)


@booking_ok.handler(name="remind")
async def booking_remind_ok(ctx: restate.ObjectContext, email: str) -> None:
    if await ctx.get("status") == "booked":
        await ctx.run_typed("remind", send_reminder, booking=ctx.key(), email=email)


@booking_bug.handler(name="book")
async def booking_book_bug(ctx: restate.ObjectContext, email: str) -> str:
    ctx.set("status", "booked")
    ctx.object_send(booking_remind_bug, ctx.key(), email, send_delay=timedelta(hours=23))
    return "booked"


@booking_ok.handler(name="book")
async def booking_book_ok(ctx: restate.ObjectContext, email: str) -> str:
    ctx.set("status", "booked")
    ctx.object_send(booking_remind_ok, ctx.key(), email, send_delay=timedelta(hours=23))
    return "booked"


@booking_bug.handler(name="cancel")
async def booking_cancel_bug(ctx: restate.ObjectContext) -> None:
    ctx.set("status", "cancelled")


@booking_ok.handler(name="cancel")
async def booking_cancel_ok(ctx: restate.ObjectContext) -> None:
    ctx.set("status", "cancelled")


def no_reminder_once_cancelled(outcome: sd.Outcome) -> None:
    """A booking cancelled an hour after it was made gets no reminder."""
    if outcome.state.get("Booking/b1", {}).get("status") == "cancelled":
        sent = [e for e in outcome.effects["reminders"] if e.op == "remind"]
        assert not sent, "the booking was cancelled, but its reminder went out"


# A hold on seats that waits out its fifteen minutes inside the exclusive
# handler: the object takes one invocation at a time per key, so the payment
# made a minute later queues behind the sleeping hold, runs only once it has
# released the seats, and is refused. The twin returns at once and sends
# itself a delayed "expire", leaving the key free for the payment.
# https://docs.restate.dev/develop/python/durable-timers ("Virtual Objects only
# process a single invocation at a time, so the Virtual Object will be blocked
# while sleeping"); https://docs.restate.dev/develop/ts/durable-timers (long
# waits as delayed messages, not sleep then send)
hold_bug = restate.VirtualObject("Reservation")
hold_ok = restate.VirtualObject("Reservation")
HOLD = timedelta(minutes=15)


async def _pay(ctx: restate.ObjectContext, amount: int) -> str:
    if await ctx.get("status") != "held":
        raise restate.TerminalError("the hold has expired", 409)
    ctx.set("status", "paid")
    return "paid"


@hold_bug.handler(name="hold")
async def reservation_hold_bug(ctx: restate.ObjectContext, seats: int) -> str:
    ctx.set("status", "held")
    await ctx.sleep(HOLD)
    if await ctx.get("status") == "held":
        ctx.set("status", "released")
    return "held"


@hold_ok.handler(name="hold")
async def reservation_hold_ok(ctx: restate.ObjectContext, seats: int) -> str:
    ctx.set("status", "held")
    ctx.object_send(reservation_expire_ok, key=ctx.key(), arg=None, send_delay=HOLD)
    return "held"


@hold_ok.handler(name="expire")
async def reservation_expire_ok(ctx: restate.ObjectContext, _: None) -> None:
    if await ctx.get("status") == "held":
        ctx.set("status", "released")


hold_bug.handler(name="pay")(_pay)
hold_ok.handler(name="pay")(_pay)


def paid_within_the_hold(outcome: sd.Outcome) -> None:
    """A payment made a minute into a fifteen-minute hold is taken."""
    status = outcome.state.get("Reservation/r1", {}).get("status")
    assert status == "paid", f"paid a minute into the hold, yet the reservation is {status}"


PAIRS = [
    Pair(name="two-senders-one-key-order", kind="invariant",
         source="temporalio/temporal#4801", invoke="Order/o1/place", input="book",
         buggy=[order_bug, shipment, payment], correct=[order_ok, shipment, payment],
         externals=(bank,), invariant=paid_shipment),
    Pair(name="timer-beats-call-effect-left", kind="invariant", source="indeedeng/iwf#519",
         invoke="Cart/add", input="book", buggy=[cart_bug, inventory],
         correct=[cart_ok, inventory], externals=(stock,), invariant=refused_holds_nothing),
    Pair(name="delayed-reminder-after-cancel", kind="invariant", source="calcom/cal.diy#7225",
         invoke="Booking/b1/book", input="ada@example.com", buggy=[booking_bug],
         correct=[booking_ok], externals=(mail,), invariant=no_reminder_once_cancelled,
         extra={"world": [world.call("Booking/b1/cancel", None, at=timedelta(hours=1))]}),
    Pair(name="hold-waited-out-in-exclusive-handler", kind="invariant",
         source="docs.restate.dev/develop/python/durable-timers (an object is blocked while "
                "it sleeps); docs.restate.dev/develop/ts/durable-timers",
         invoke="Reservation/r1/hold", input=2, buggy=[hold_bug], correct=[hold_ok],
         invariant=paid_within_the_hold,
         extra={"world": [world.call("Reservation/r1/pay", 40, at=timedelta(minutes=1))]}),
]
