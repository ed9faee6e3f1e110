"""Retries: what a handler does once a step's retries run out."""

from __future__ import annotations

import simdurable as restate
import simdurable as sd

from . import Pair

bank = sd.FakeExternal("bank")
warehouse = sd.FakeExternal("warehouse")


def charge(order: str, amount: int) -> str:
    return str(bank.apply("charge", {"order": order, "amount": amount},
                          idempotency_key=order)["id"])


def ship(order: str) -> None:
    warehouse.apply("ship", {"order": order}, idempotency_key=order)


def shipped_only_if_charged(outcome: sd.Outcome) -> None:
    """Nothing ships that was not paid for."""
    shipped = any(e.op == "ship" for e in outcome.effects["warehouse"])
    charged = any(e.op == "charge" for e in outcome.effects["bank"])
    assert charged or not shipped, "the order shipped but the charge never went through"


# A step with a bounded retry policy whose final failure is caught and
# logged, and the handler goes on as if it had succeeded: after the last
# attempt the order ships unpaid.
# https://github.com/temporalio/temporal/issues/3272 ("ignore failures and
# return nil" once an activity runs out of retries)
order_bug = restate.Service("Order")
order_ok = restate.Service("Order")


@order_bug.handler(name="place")
async def order_place_bug(ctx: restate.Context, amount: int) -> str:
    order = str(ctx.uuid())
    try:
        await ctx.run_typed("charge", charge, restate.RunOptions(max_attempts=3),
                            order=order, amount=amount)
    except restate.TerminalError:
        pass  # logged and forgotten
    await ctx.run_typed("ship", ship, order=order)
    return "shipped"


@order_ok.handler(name="place")
async def order_place_ok(ctx: restate.Context, amount: int) -> str:
    order = str(ctx.uuid())
    try:
        await ctx.run_typed("charge", charge, restate.RunOptions(max_attempts=3),
                            order=order, amount=amount)
    except restate.TerminalError:
        return "payment-failed"
    await ctx.run_typed("ship", ship, order=order)
    return "shipped"


PAIRS = [
    Pair(name="exhausted-retries-swallowed", kind="invariant",
         source="temporalio/temporal#3272", invoke="Order/place", input=10,
         buggy=[order_bug], correct=[order_ok], externals=(bank, warehouse),
         invariant=shipped_only_if_charged),
]
