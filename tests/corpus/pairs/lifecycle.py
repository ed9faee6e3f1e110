"""Around an invocation's start and end: a signal that comes before the
workflow has set itself up, a step handed a coroutine instead of a
function, a delayed job that outlives the order that sent it."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable import world

from . import Pair

limits = sd.FakeExternal("limits")
payouts = sd.FakeExternal("payouts")


def load_limit(employee: str) -> int:
    return int(limits.query("limit", {"employee": employee}).get("limit", 100))


def pay_expense(claim: str, amount: int) -> str:
    return str(payouts.apply("pay", {"claim": claim, "amount": amount},
                             idempotency_key=f"pay-{claim}")["id"])


# A signal handler that relies on state the workflow's run sets up: the
# manager's approval is refused while the claim is not yet "awaiting
# approval", but a workflow takes messages before its run has got that far
# (the approval link mailed early, a backlog, a retried start), so an early
# approval is refused and the run then waits for it for ever. A durable
# promise keeps a value resolved before anyone waits on it: the twin resolves
# it whatever the run has done so far.
# https://github.com/temporalio/documentation/pull/3114 ("Initialize your
# Workflow's state before handling messages": a workflow processes messages
# before the first run of its main method); https://github.com/temporalio/sdk-java/pull/907
# (a signal method can run before the first workflow task)
claim_bug = restate.Workflow("Claim")
claim_ok = restate.Workflow("Claim")


async def _claim_run(ctx: restate.WorkflowContext, amount: int) -> str:
    limit = await ctx.run_typed("limit", load_limit, employee=ctx.key())
    if amount > limit:
        ctx.set("status", "awaiting approval")
        approved_by = await ctx.promise("approval").value()
        ctx.set("status", f"approved by {approved_by}")
    return await ctx.run_typed("pay", pay_expense, claim=ctx.key(), amount=amount)


claim_bug.main(name="run")(_claim_run)
claim_ok.main(name="run")(_claim_run)


@claim_bug.handler(name="approve")
async def claim_approve_bug(ctx: restate.WorkflowSharedContext, by: str) -> str:
    if await ctx.get("status") != "awaiting approval":
        raise restate.TerminalError("this claim is not awaiting approval")
    await ctx.promise("approval").resolve(by)
    return "approved"


@claim_ok.handler(name="approve")
async def claim_approve_ok(ctx: restate.WorkflowSharedContext, by: str) -> str:
    await ctx.promise("approval").resolve(by)
    return "approved"


receipts = sd.FakeExternal("receipts")


async def send_receipt(order: str, total: int) -> str:
    return str(receipts.apply("send", {"order": order, "total": total},
                              idempotency_key=f"receipt-{order}")["id"])


# A step given the coroutine a call of an async function makes, instead of
# the function: `run_typed("receipt", send_receipt(order, total))`. A step
# calls what it is given, on every attempt; a coroutine object cannot be
# called (TypeError: 'coroutine' object is not callable), so the step fails
# on every attempt and the receipt is never sent. The twin passes the
# function and its arguments.
# https://github.com/matrix-org/synapse-s3-storage-provider/pull/139 ("Pass
# run_in_background a callable; don't call it": 'coroutine' object is not
# callable); https://github.com/restatedev/sdk-python/pull/96 (ctx.run takes
# a function, sync or async)
till_bug = restate.Service("Receipts")
till_ok = restate.Service("Receipts")


@till_bug.handler(name="close")
async def till_close_bug(ctx: restate.Context, order: str) -> str:
    return await ctx.run_typed("receipt", send_receipt(order, 30))  # type: ignore[arg-type]


@till_ok.handler(name="close")
async def till_close_ok(ctx: restate.Context, order: str) -> str:
    return await ctx.run_typed("receipt", send_receipt, order=order, total=30)


warehouse = sd.FakeExternal("warehouse")
bank = sd.FakeExternal("orderbank")


def ship_order(order: str) -> None:
    warehouse.apply("ship", {"order": order}, idempotency_key=f"ship-{order}")


def refund_order(order: str) -> None:
    bank.apply("refund", {"order": order}, idempotency_key=f"refund-{order}")


shipping = restate.Service("Dispatch")


@shipping.handler()
async def dispatch(ctx: restate.Context, order: str) -> None:
    await ctx.run_typed("ship", ship_order, order=order)


# A paid order that books its dispatch as a delayed one-way send (shipped
# after the day customers have to change their mind), then waits out that day. A
# cancellation of the order reaches the order's own invocation (and the calls
# it waits on), not the invocations it sent: the buggy twin refunds and
# stops, and the dispatch still ships the refunded order a day later. The
# twin keeps the send's handle and cancels the dispatch before it refunds.
# https://docs.temporal.io/parent-close-policy (a child started with
# ABANDON runs on when its parent is cancelled); docs.restate.dev
# service-communication (a one-way call's handle: its invocation id, to
# cancel it)
order_bug = restate.Service("Order")
order_ok = restate.Service("Order")
COOLING_OFF = timedelta(days=1)


@order_bug.handler(name="place")
async def order_place_bug(ctx: restate.Context, order: str) -> str:
    ctx.service_send(dispatch, order, send_delay=COOLING_OFF)
    try:
        await ctx.sleep(COOLING_OFF)  # the customer may still cancel
    except restate.TerminalError:
        await ctx.run_typed("refund", refund_order, order=order)
        raise
    return "placed"


@order_ok.handler(name="place")
async def order_place_ok(ctx: restate.Context, order: str) -> str:
    handle = ctx.service_send(dispatch, order, send_delay=COOLING_OFF)
    try:
        await ctx.sleep(COOLING_OFF)
    except restate.TerminalError:
        await handle.cancel_invocation()
        await ctx.run_typed("refund", refund_order, order=order)
        raise
    return "placed"


def nothing_shipped_for_a_refund(outcome: sd.Outcome) -> None:
    """A refunded order is not shipped."""
    refunded = any(e.op == "refund" for e in outcome.effects["orderbank"])
    shipped = [e.payload["order"] for e in outcome.effects["warehouse"]]
    assert not (refunded and shipped), f"order refunded, yet shipped: {shipped}"


PAIRS = [
    Pair(name="signal-before-workflow-set-up", kind="stuck",
         source="temporalio/documentation#3114; temporalio/sdk-java#907",
         invoke="Claim/c1/run", input=250, buggy=[claim_bug], correct=[claim_ok],
         externals=(limits, payouts),
         extra={"world": [world.call("Claim/c1/approve", "mia", when="early")]}),
    Pair(name="step-given-a-coroutine", kind="handler-error",
         source="matrix-org/synapse-s3-storage-provider#139; restatedev/sdk-python#96",
         invoke="Receipts/close", input="o1", buggy=[till_bug], correct=[till_ok],
         externals=(receipts,)),
    Pair(name="sent-job-outlives-cancelled-order", kind="invariant",
         source="docs.temporal.io parent-close-policy; docs.restate.dev service-communication",
         invoke="Order/place", input="o1", buggy=[order_bug, shipping],
         correct=[order_ok, shipping], externals=(warehouse, bank),
         invariant=nothing_shipped_for_a_refund,
         extra={"world": [world.cancel(at=timedelta(hours=2))]}),
]
