"""Retries: what a handler does once a step's retries run out."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd

from . import Pair

bank = sd.FakeExternal("bank")
warehouse = sd.FakeExternal("warehouse")
mail = sd.FakeExternal("mail")


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


# Any exception of the payment call turned into a TerminalError inside the
# step, a network error among them: a charge whose response is lost (the bank
# took the money) ends the step for good, and the order is reported failed
# though the customer paid. Only the bank's refusal is final; a lost
# response is retried, and the key makes the retry find the first charge.
# https://github.com/woocommerce/woocommerce-ios/issues/13162 (a capture whose
# response is lost shown as a failed payment although the payment was taken);
# https://docs.restate.dev/ai/patterns/error-handling (network failures are
# transient errors, retried; terminal errors are for permanent failures)
class Declined(Exception):
    """The bank refused the card: retrying cannot change that."""


def charge_or_fail(order: str, amount: int) -> str:
    try:
        return str(bank.apply("charge", {"order": order, "amount": amount},
                              idempotency_key=order)["id"])
    except Exception as err:
        raise restate.TerminalError(f"payment failed: {err}", 402) from err


def charge_or_decline(order: str, amount: int) -> str:
    try:
        return str(bank.apply("charge", {"order": order, "amount": amount},
                              idempotency_key=order)["id"])
    except Declined as err:
        raise restate.TerminalError(f"payment declined: {err}", 402) from err


lost_bug = restate.Service("Purchase")
lost_ok = restate.Service("Purchase")


@lost_bug.handler(name="buy")
async def purchase_buy_bug(ctx: restate.Context, amount: int) -> str:
    order = str(ctx.uuid())
    try:
        await ctx.run_typed("charge", charge_or_fail, order=order, amount=amount)
    except restate.TerminalError:
        return "payment-failed"
    return "paid"


@lost_ok.handler(name="buy")
async def purchase_buy_ok(ctx: restate.Context, amount: int) -> str:
    order = str(ctx.uuid())
    try:
        await ctx.run_typed("charge", charge_or_decline, order=order, amount=amount)
    except restate.TerminalError:
        return "payment-failed"
    return "paid"


def failed_means_not_charged(outcome: sd.Outcome) -> None:
    """A purchase reported as failed took no money."""
    if outcome.result == "payment-failed":
        charged = [e for e in outcome.effects["bank"] if e.op == "charge"]
        assert not charged, "the purchase was reported failed, but the customer was charged"


# A call that fails for good retried by hand in a loop without end: a card
# the bank declines is declined on every try, and the handler never ends
# (its journal grows by a step and a timer every round). Retries of what can
# succeed belong to the step's retry policy; a failure for good is bounded.
# https://github.com/TracecatHQ/tracecat/issues/3411 (a retry_until condition
# that never holds loops until the history limit)
def charge_card(card: str) -> str:
    if card.startswith("expired"):
        raise restate.TerminalError("card declined: expired", 402)
    return str(bank.apply("charge", {"card": card}, idempotency_key=card)["id"])


dunning_bug = restate.Service("Dunning")
dunning_ok = restate.Service("Dunning")


@dunning_bug.handler(name="collect")
async def dunning_collect_bug(ctx: restate.Context, card: str) -> str:
    while True:
        try:
            return await ctx.run_typed("charge", charge_card, card=card)
        except restate.TerminalError:
            await ctx.sleep(timedelta(hours=6))


@dunning_ok.handler(name="collect")
async def dunning_collect_ok(ctx: restate.Context, card: str) -> str:
    for _ in range(4):
        try:
            return await ctx.run_typed("charge", charge_card, card=card)
        except restate.TerminalError:
            await ctx.sleep(timedelta(hours=6))
    return "gave-up"


# An async function wrapped in a plain lambda for a step: restate-sdk awaits a
# step's function only if it is a coroutine function, so it stores what the
# lambda returns, a coroutine, which JSON cannot hold: the step fails on
# every attempt and the mail is never sent. Pass the async function itself.
# https://github.com/restatedev/sdk-python/issues/222 ("Object of type
# coroutine is not JSON serializable": a lambda around an async handler)
async def send_receipt(order: str) -> str:
    return str(mail.apply("send", {"order": order, "template": "receipt"},
                          idempotency_key=order)["id"])


receipt_bug = restate.Service("Receipts")
receipt_ok = restate.Service("Receipts")


@receipt_bug.handler(name="send")
async def receipts_send_bug(ctx: restate.Context, order: str) -> str:
    return await ctx.run_typed("mail", lambda: send_receipt(order))


@receipt_ok.handler(name="send")
async def receipts_send_ok(ctx: restate.Context, order: str) -> str:
    return await ctx.run_typed("mail", send_receipt, order=order)


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
    Pair(name="lost-response-made-terminal", kind="invariant",
         source="woocommerce/woocommerce-ios#13162; docs.restate.dev/ai/patterns/error-handling",
         invoke="Purchase/buy", input=30, buggy=[lost_bug], correct=[lost_ok],
         externals=(bank,), invariant=failed_means_not_charged),
    Pair(name="failure-for-good-retried-by-hand", kind="stuck",
         source="TracecatHQ/tracecat#3411", invoke="Dunning/collect", input="expired-4242",
         buggy=[dunning_bug], correct=[dunning_ok], externals=(bank,)),
    Pair(name="async-function-in-plain-lambda", kind="retry-loop",
         source="restatedev/sdk-python#222", invoke="Receipts/send", input="o1",
         buggy=[receipt_bug], correct=[receipt_ok], externals=(mail,)),
]
