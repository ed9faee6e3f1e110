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


def score(amount: int) -> float:
    return 0.9 if amount > 1_000 else 0.1


def failed_order_leaves_stock(outcome: sd.Outcome) -> None:
    """An order that failed for good takes nothing from the stock."""
    left = outcome.state.get("Stock/sku-1", {}).get("left", 10)
    if outcome.error is not None:
        assert left == 10, (
            f"the order failed ({outcome.error.message}) but the stock went down to {left}")


# A TerminalError raised by the handler's own check after it wrote state:
# the handler ends, but what it wrote before stays (Restate keeps a failed
# invocation's state changes; no transaction rolls them back), so the stock
# is taken for an order that was refused. Decide before writing, or undo.
# https://github.com/near/near-sdk-js/issues/286 (throwing does not revert
# state changes made before it); https://github.com/restatedev/examples/pull/288
# ("terminal errors are not retried, so undo previous actions")
stock_bug = restate.VirtualObject("Stock")
stock_ok = restate.VirtualObject("Stock")


async def _left(ctx: restate.ObjectContext) -> int:
    return int(await ctx.get("left") or 10)


@stock_bug.handler(name="order")
async def stock_order_bug(ctx: restate.ObjectContext, amount: int) -> int:
    left = await _left(ctx) - 1
    ctx.set("left", left)
    if await ctx.run_typed("score", score, amount=amount) > 0.8:
        raise restate.TerminalError("order refused: high risk", 402)
    return left


@stock_ok.handler(name="order")
async def stock_order_ok(ctx: restate.ObjectContext, amount: int) -> int:
    if await ctx.run_typed("score", score, amount=amount) > 0.8:
        raise restate.TerminalError("order refused: high risk", 402)
    left = await _left(ctx) - 1
    ctx.set("left", left)
    return left


# A step's own exception caught around its await, as if the step were a plain
# call: a step that raises is retried (the attempt ends there), and its
# exception never reaches the handler, so the fallback never runs and the
# invocation retries until it is paused. What reaches the handler is the
# TerminalError of a step whose retries run out.
# https://github.com/restatedev/sdk-typescript/issues/624 ("Errors thrown in
# ctx.run do not make it to the catch block")
fx_bug = restate.Service("Fx")
fx_ok = restate.Service("Fx")
DEFAULT_RATE = 1.1


def fetch_rate(currency: str) -> float:
    raise ConnectionError(f"no rate for {currency}: the rates service is down")


@fx_bug.handler(name="convert")
async def fx_convert_bug(ctx: restate.Context, amount: int) -> float:
    try:
        rate = await ctx.run_typed("fetch-rate", fetch_rate, currency="EUR")
    except ConnectionError:
        rate = DEFAULT_RATE
    return round(amount * rate, 2)


@fx_ok.handler(name="convert")
async def fx_convert_ok(ctx: restate.Context, amount: int) -> float:
    try:
        rate = await ctx.run_typed("fetch-rate", fetch_rate, restate.RunOptions(max_attempts=3),
                                   currency="EUR")
    except restate.TerminalError:
        rate = DEFAULT_RATE
    return round(amount * rate, 2)


PAIRS = [
    Pair(name="exhausted-retries-swallowed", kind="invariant",
         source="temporalio/temporal#3272", invoke="Order/place", input=10,
         buggy=[order_bug], correct=[order_ok], externals=(bank, warehouse),
         invariant=shipped_only_if_charged),
    Pair(name="terminal-error-after-effects", kind="invariant",
         source="near/near-sdk-js#286; restatedev/examples#288", invoke="Stock/sku-1/order",
         input=5_000, buggy=[stock_bug], correct=[stock_ok],
         invariant=failed_order_leaves_stock),
    Pair(name="step-error-caught-by-type", kind="retry-loop",
         source="restatedev/sdk-typescript#624", invoke="Fx/convert", input=100,
         buggy=[fx_bug], correct=[fx_ok]),
]
