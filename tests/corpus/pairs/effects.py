"""Effects applied twice: retries and replays of steps with side effects."""

from __future__ import annotations

import json
import time
import uuid

import simdurable as restate
import simdurable as sd

from . import Pair

bank = sd.FakeExternal("bank")
mail = sd.FakeExternal("mail")
db = sd.FakeExternal("db")
stock = sd.FakeExternal("stock")
EXTERNALS = (bank, mail, db, stock)


def charge(amount: int, key: str | None) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


# A charge without an idempotency key: the provider's response is lost or the
# worker dies after the charge, the retry charges the card again.
# https://www.qa.codes/resources/common-bugs/payments/user-charged-twice-after-retry
# https://interviewcrafted.com/design-challenges/the-payment-service-that-double-charged-customers
checkout_bug = restate.Service("Checkout")


@checkout_bug.handler(name="pay")
async def pay_bug(ctx: restate.Context, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=None)


checkout_ok = restate.Service("Checkout")


@checkout_ok.handler(name="pay")
async def pay_ok(ctx: restate.Context, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=str(ctx.uuid()))


# A welcome email sent by a retried activity: Temporal's documentation asks
# for idempotent activities because they may run more than once.
# https://github.com/temporalio/documentation/pull/3530
signup_bug = restate.Service("Signup")
signup_ok = restate.Service("Signup")


@signup_bug.handler(name="register")
async def register_bug(ctx: restate.Context, user: str) -> str:
    await ctx.run_typed("welcome", lambda: mail.apply("send", {"to": user, "tpl": "welcome"}))
    return "ok"


@signup_ok.handler(name="register")
async def register_ok(ctx: restate.Context, user: str) -> str:
    await ctx.run_typed("welcome", lambda: mail.apply(
        "send", {"to": user, "tpl": "welcome"}, idempotency_key=f"welcome-{user}"))
    return "ok"


# A tool call re-executed on retry with no idempotency guard: a step that
# reserves stock (no key) and then charges (keyed); a lost charge response
# retries the whole step and reserves twice.
# https://github.com/crewAIInc/crewAI/issues/5802
order_bug = restate.Service("Order")
order_ok = restate.Service("Order")


def reserve_and_charge(item: str, amount: int, key: str, reserve_key: str | None) -> str:
    stock.apply("reserve", {"item": item}, idempotency_key=reserve_key)
    return charge(amount, key)


@order_bug.handler(name="place")
async def place_bug(ctx: restate.Context, amount: int) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("reserve-and-charge", reserve_and_charge, item="book",
                               amount=amount, key=key, reserve_key=None)


@order_ok.handler(name="place")
async def place_ok(ctx: restate.Context, amount: int) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("reserve-and-charge", reserve_and_charge, item="book",
                               amount=amount, key=key, reserve_key=f"r-{key}")


# A compensation that mints a new idempotency key inside its step: every
# attempt has a fresh key, so a retried refund refunds again. Keys must be
# tied to the logical operation, not generated per request.
# https://github.com/ComposioHQ/composio/issues/3654
refunds_bug = restate.Service("Refunds")
refunds_ok = restate.Service("Refunds")


@refunds_bug.handler(name="refund")
async def refund_bug(ctx: restate.Context, amount: int) -> str:
    def refund() -> str:
        return str(bank.apply("refund", {"amount": amount},
                              idempotency_key=str(uuid.uuid4()))["id"])

    return await ctx.run_typed("refund", refund)


@refunds_ok.handler(name="refund")
async def refund_ok(ctx: restate.Context, amount: int) -> str:
    key = str(ctx.uuid())

    def refund() -> str:
        return str(bank.apply("refund", {"amount": amount}, idempotency_key=key)["id"])

    return await ctx.run_typed("refund", refund)


# The same, with the key made of the time of the attempt.
# https://github.com/ComposioHQ/composio/issues/3654 (a key per retry is no key)
payouts_bug = restate.Service("Payouts")
payouts_ok = restate.Service("Payouts")


@payouts_bug.handler(name="payout")
async def payout_bug(ctx: restate.Context, amount: int) -> str:
    def send() -> str:
        key = f"payout-{time.time_ns()}"
        return str(bank.apply("payout", {"amount": amount}, idempotency_key=key)["id"])

    return await ctx.run_typed("payout", send)


@payouts_ok.handler(name="payout")
async def payout_ok(ctx: restate.Context, amount: int) -> str:
    started = await ctx.time()

    def send() -> str:
        key = f"payout-{started}"
        return str(bank.apply("payout", {"amount": amount}, idempotency_key=key)["id"])

    return await ctx.run_typed("payout", send)


# Loyalty points added by a non-idempotent increment: Temporal's docs on a
# counter that retries increment more than once.
# https://github.com/temporalio/documentation/pull/3530
points_bug = restate.Service("Points")
points_ok = restate.Service("Points")


@points_bug.handler(name="award")
async def award_bug(ctx: restate.Context, user: str) -> str:
    await ctx.run_typed("add", lambda: db.apply("incr", {"user": user, "by": 10}))
    return "ok"


@points_ok.handler(name="award")
async def award_ok(ctx: restate.Context, user: str) -> str:
    key = str(ctx.uuid())
    await ctx.run_typed("add", lambda: db.apply("incr", {"user": user, "by": 10},
                                                idempotency_key=key))
    return "ok"


# A batch of invoices charged in one step, without keys: a crash half-way
# re-bills the first customers (GitHub's double billing of 2009).
# https://github.blog/2009-09-30-revenge-of-the-double-billing/
billing_bug = restate.Service("Billing")
billing_ok = restate.Service("Billing")


@billing_bug.handler(name="run")
async def billing_run_bug(ctx: restate.Context, customers: list[str]) -> int:
    def bill_all() -> int:
        for c in customers:
            bank.apply("charge", {"customer": c, "amount": 5})
        return len(customers)

    return await ctx.run_typed("bill-all", bill_all)


@billing_ok.handler(name="run")
async def billing_run_ok(ctx: restate.Context, customers: list[str]) -> int:
    batch = str(ctx.uuid())
    for c in customers:
        await ctx.run_typed(f"bill-{c}", lambda c=c: bank.apply(
            "charge", {"customer": c, "amount": 5}, idempotency_key=f"{batch}-{c}"))
    return len(customers)


# An external call made from the handler's body, outside any step: every
# replay calls it again. "External API calls outside step.run() will break
# deterministic replay."  https://github.com/openworkflowdev/openworkflow/issues/49
notify_bug = restate.Service("Notify")
notify_ok = restate.Service("Notify")


@notify_bug.handler(name="shipped")
async def shipped_bug(ctx: restate.Context, order: str) -> str:
    mail.apply("send", {"order": order, "tpl": "shipped"}, idempotency_key=None)
    await ctx.run_typed("mark", lambda: db.apply("mark-shipped", {"order": order},
                                                 idempotency_key=order))
    return "ok"


@notify_ok.handler(name="shipped")
async def shipped_ok(ctx: restate.Context, order: str) -> str:
    await ctx.run_typed("email", lambda: mail.apply(
        "send", {"order": order, "tpl": "shipped"}, idempotency_key=f"shipped-{order}"))
    await ctx.run_typed("mark", lambda: db.apply("mark-shipped", {"order": order},
                                                 idempotency_key=order))
    return "ok"


# A key computed from an object the previous step mutated: on replay the
# step does not run, the object is not mutated, the key differs and the
# shipment is booked twice (a mutated event changed Powertools' idempotency hash).
# https://github.com/aws-powertools/powertools-lambda-python/issues/1093
ship_bug = restate.Service("Ship")
ship_ok = restate.Service("Ship")


@ship_bug.handler(name="ship")
async def ship_bug_h(ctx: restate.Context, order: dict[str, str]) -> str:
    def validate() -> bool:
        order["status"] = "valid"  # mutates the handler's object: lost on replay
        return True

    await ctx.run_typed("validate", validate)
    key = json.dumps(order, sort_keys=True)
    return str(await ctx.run_typed("book", lambda: db.apply("book-shipment", {"id": order["id"]},
                                                            idempotency_key=key)["id"]))


@ship_ok.handler(name="ship")
async def ship_ok_h(ctx: restate.Context, order: dict[str, str]) -> str:
    def validate() -> str:
        return "valid"

    status = await ctx.run_typed("validate", validate)
    key = json.dumps({**order, "status": status}, sort_keys=True)
    return str(await ctx.run_typed("book", lambda: db.apply("book-shipment", {"id": order["id"]},
                                                            idempotency_key=key)["id"]))


# An idempotency key made with hash() of the order id: the same on every retry in
# one process, another number in the next (a restart, another replica), so the
# retry after a crash at effect-done charges again.
# https://github.com/Opentrons/opentrons/pull/12581 (command keys from hash() change
# across boots); https://github.com/suitenumerique/meet/pull/148 (3 pods, 3 hashes)
deposit_bug = restate.Service("Deposit")
deposit_ok = restate.Service("Deposit")


@deposit_bug.handler(name="deposit")
async def deposit_bug_h(ctx: restate.Context, order: str) -> str:
    return await ctx.run_typed("charge", charge, amount=30, key=f"deposit-{hash(order)}")


@deposit_ok.handler(name="deposit")
async def deposit_ok_h(ctx: restate.Context, order: str) -> str:
    return await ctx.run_typed("charge", charge, amount=30, key=f"deposit-{order}")


def _pair(name: str, source: str, bug: restate.Service, ok: restate.Service, target: str,
          value: object, kind: str = "duplicate-effect") -> Pair:
    return Pair(name=name, kind=kind, source=source, invoke=target, input=value, buggy=[bug],
                correct=[ok], externals=EXTERNALS)


# An idempotency key made from the basket's id alone: the customer checks out,
# changes the basket, and checks out again; the provider answers the second
# payment with the first's receipt and charges nothing (Adyen's refund keys
# take the amount refunded so far for this reason; Saleor refuses a key reused
# with other input). A second checkout beside the first shows it; before the
# check compared what a key was given for, only a scenario expecting two
# charges did. The twin counts the basket's checkouts into the key.
# https://github.com/Adyen/adyen-magento2/pull/1979
# https://github.com/saleor/saleor-docs/pull/1053
basket_bug = restate.VirtualObject("Basket")
basket_ok = restate.VirtualObject("Basket")


@basket_bug.handler(name="checkout")
async def basket_checkout_bug(ctx: restate.ObjectContext, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=f"basket-{ctx.key()}")


@basket_ok.handler(name="checkout")
async def basket_checkout_ok(ctx: restate.ObjectContext, amount: int) -> str:
    n = (await ctx.get("checkouts", type_hint=int) or 0) + 1
    ctx.set("checkouts", n)
    return await ctx.run_typed("charge", charge, amount=amount, key=f"basket-{ctx.key()}-{n}")


# One idempotency key given to a send per returned item: Restate scopes a key
# to its target handler and object key, so the second item's credit to the
# same account is taken for a retry of the first, answered with its result,
# and never runs; the customer is refunded one item of two. The key names the
# item too.
# https://github.com/restatedev/restate/issues/1324 (a request sent again with
# an idempotency key latches to the first invocation; the key's scope is the
# invocation target); https://github.com/josipmusa/idempotency4j/issues/12 (a
# key reused with a different body silently gets the cached response)
account = restate.VirtualObject("Account")


@account.handler(name="credit")
async def account_credit(ctx: restate.ObjectContext, amount: int) -> int:
    balance = int(await ctx.get("balance") or 0) + amount
    ctx.set("balance", balance)
    return balance


returns_bug = restate.Service("Returns")
returns_ok = restate.Service("Returns")


@returns_bug.handler(name="refund")
async def returns_refund_bug(ctx: restate.Context, order: dict) -> str:
    for item in order["items"]:
        ctx.object_send(account_credit, key=order["customer"], arg=item["price"],
                        idempotency_key=f"refund-{order['id']}")
    return "refunded"


@returns_ok.handler(name="refund")
async def returns_refund_ok(ctx: restate.Context, order: dict) -> str:
    for item in order["items"]:
        ctx.object_send(account_credit, key=order["customer"], arg=item["price"],
                        idempotency_key=f"refund-{order['id']}-{item['sku']}")
    return "refunded"


PAIRS = [
    Pair(name="key-from-basket-id-alone", kind="duplicate-effect",
         source="Adyen/adyen-magento2#1979; saleor/saleor-docs#1053",
         invoke="Basket/b1/checkout", input=30, buggy=[basket_bug], correct=[basket_ok],
         externals=EXTERNALS, extra={"concurrent": [("Basket/b1/checkout", 45)]}),
    _pair("charge-without-key", "qa.codes: user charged twice after retry", checkout_bug,
          checkout_ok, "Checkout/pay", 30),
    _pair("email-without-key", "temporalio/documentation#3530", signup_bug, signup_ok,
          "Signup/register", "ann"),
    _pair("unkeyed-effect-beside-keyed", "crewAIInc/crewAI#5802", order_bug, order_ok,
          "Order/place", 30),
    _pair("fresh-uuid-key-per-attempt", "ComposioHQ/composio#3654", refunds_bug, refunds_ok,
          "Refunds/refund", 30),
    _pair("time-key-per-attempt", "ComposioHQ/composio#3654", payouts_bug, payouts_ok,
          "Payouts/payout", 30),
    _pair("non-idempotent-increment", "temporalio/documentation#3530", points_bug, points_ok,
          "Points/award", "ann"),
    _pair("batch-in-one-step", "github.blog: revenge of the double billing", billing_bug,
          billing_ok, "Billing/run", ["a", "b", "c"]),
    _pair("effect-outside-step", "openworkflowdev/openworkflow#49", notify_bug, notify_ok,
          "Notify/shipped", "o1"),
    _pair("key-from-mutated-object", "aws-powertools/powertools-lambda-python#1093", ship_bug,
          ship_ok, "Ship/ship", {"id": "o1"}),
    _pair("key-from-hash-of-string", "Opentrons/opentrons#12581; suitenumerique/meet#148",
          deposit_bug, deposit_ok, "Deposit/deposit", "o-17"),
    Pair(name="one-invocation-key-for-many-sends", kind="duplicate-effect",
         source="restatedev/restate#1324; josipmusa/idempotency4j#12", invoke="Returns/refund",
         input={"id": "o1", "customer": "c1",
                "items": [{"sku": "mug", "price": 12}, {"sku": "pen", "price": 3}]},
         buggy=[returns_bug, account], correct=[returns_ok, account]),
]
