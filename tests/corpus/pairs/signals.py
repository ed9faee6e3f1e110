"""Signals, promises and awakeables between a workflow and the world."""

from __future__ import annotations

from collections.abc import Callable

import simdurable as restate
import simdurable as sd
from simdurable import world

from . import Pair

mail = sd.FakeExternal("mail")
psp = sd.FakeExternal("psp")


def send_mail(to: str, template: str, key: str) -> None:
    mail.apply("send", {"to": to, "template": template}, idempotency_key=key)


def mailed_once(outcome: sd.Outcome) -> None:
    """The welcome mail goes out at most once per signup."""
    sent = [e for e in outcome.effects["mail"] if e.payload["template"] == "welcome"]
    assert len(sent) <= 1, f"the welcome mail went out {len(sent)} times"


# Work meant to happen once per workflow done in its shared handler: a user
# clicking the link twice (or a mail client prefetching it) runs the handler
# twice, and the welcome mail goes out twice. What happens once per key
# belongs in the workflow's run, which runs once per id.
# https://github.com/temporalio/sdk-php/issues/457 (a signal handler doing the
# work the workflow method must see happen once)
confirm_bug = restate.Workflow("Confirm")
confirm_ok = restate.Workflow("Confirm")


@confirm_bug.main(name="run")
async def confirm_run_bug(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    await ctx.promise("clicked").value()
    return "active"


@confirm_bug.handler(name="click")
async def confirm_click_bug(ctx: restate.WorkflowSharedContext, token: str) -> None:
    email = await ctx.get("email")
    key = str(ctx.uuid())
    await ctx.run_typed("welcome", send_mail, to=str(email), template="welcome", key=key)
    await ctx.promise("clicked").resolve(token)


@confirm_ok.main(name="run")
async def confirm_run_ok(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    await ctx.promise("clicked").value()
    key = str(ctx.uuid())
    await ctx.run_typed("welcome", send_mail, to=email, template="welcome", key=key)
    return "active"


@confirm_ok.handler(name="click")
async def confirm_click_ok(ctx: restate.WorkflowSharedContext, token: str) -> None:
    await ctx.promise("clicked").resolve(token)


# An awakeable's id handed to the payment provider before the workflow stores
# it where the provider's webhook looks it up: a webhook arriving in between
# finds nothing and is dropped, and the workflow waits for ever. A durable
# promise keeps a completion that comes before anyone waits on it.
# https://github.com/restatedev/sdk-typescript/issues/123 (a suspension
# between creating an awakeable and handing out its id stalls the invocation)
# https://github.com/coinbase/temporal-ruby/issues/267 (signals that arrive
# before the workflow looks are not seen)
checkout_bug = restate.Workflow("Checkout")
checkout_ok = restate.Workflow("Checkout")


def start_payment(order: str, callback: str) -> str:
    return str(psp.apply("start", {"order": order, "callback": callback},
                         idempotency_key=order)["id"])


@checkout_bug.main(name="run")
async def checkout_run_bug(ctx: restate.WorkflowContext, amount: int) -> str:
    callback, paid = ctx.awakeable()
    await ctx.run_typed("start-payment", start_payment, order=ctx.key(), callback=callback)
    ctx.set("callback", callback)
    return str(await paid)


@checkout_bug.handler(name="webhook")
async def checkout_webhook_bug(ctx: restate.WorkflowSharedContext, status: str) -> str:
    callback = await ctx.get("callback")
    if callback is None:
        return "unknown payment"
    ctx.resolve_awakeable(callback, status)
    return "ok"


@checkout_ok.main(name="run")
async def checkout_run_ok(ctx: restate.WorkflowContext, amount: int) -> str:
    await ctx.run_typed("start-payment", start_payment, order=ctx.key(), callback="webhook")
    return str(await ctx.promise("paid").value())


@checkout_ok.handler(name="webhook")
async def checkout_webhook_ok(ctx: restate.WorkflowSharedContext, status: str) -> str:
    await ctx.promise("paid").resolve(status)
    return "ok"


# An awakeable's id handed to the payment provider by a plain call in the
# handler, not in a step: every retry and replay of the handler starts the
# payment again (the same id, so only the first callback counts), a duplicate
# request a provider without idempotency turns into a second charge. In a
# step, keyed by the id, it is made once.
# https://github.com/vercel/workflow/pull/3841 (a resume published twice with
# the same id when a publish's answer is lost); superplanehq/superplane#6994 (an
# external action run again when the process stops before it is recorded)
topup_start_bug = restate.Service("CardTopUp")
topup_start_ok = restate.Service("CardTopUp")


@topup_start_bug.handler(name="run")
async def topup_start_run_bug(ctx: restate.Context, amount: int) -> str:
    callback, paid = ctx.awakeable()
    psp.apply("start", {"amount": amount, "callback": callback}, idempotency_key=None)
    return str(await paid)


@topup_start_ok.handler(name="run")
async def topup_start_run_ok(ctx: restate.Context, amount: int) -> str:
    callback, paid = ctx.awakeable()
    await ctx.run_typed("start-payment", start_payment, order=callback, callback=callback)
    return str(await paid)


# A workflow that waits for an approval, then mails a set of people in the
# set's order: in one process every replay agrees, after a restart the order
# follows another hash seed and the replay does not match its journal. The
# processes with other hash seeds repeated the run without the world, so the
# wait hid everything after it.
# https://github.com/UCL/TLOmodel/issues/419 (a set's order); temporalio/sdk-python#673
# (a replay after a signal takes another path than the run it replays)
invite_bug = restate.Workflow("Invite")
invite_ok = restate.Workflow("Invite")


async def _invite(ctx: restate.WorkflowContext, people: list[str],
                  order: Callable[[set[str]], list[str]]) -> int:
    if not await ctx.promise("approved").value():
        return 0
    for who in order(set(people)):
        await ctx.run_typed(f"mail-{who}", send_mail, to=who, template="invite",
                            key=f"invite-{ctx.key()}-{who}")
    return len(people)


@invite_bug.main(name="run")
async def invite_run_bug(ctx: restate.WorkflowContext, people: list[str]) -> int:
    return await _invite(ctx, people, list)


@invite_ok.main(name="run")
async def invite_run_ok(ctx: restate.WorkflowContext, people: list[str]) -> int:
    return await _invite(ctx, people, sorted)


PAIRS = [
    Pair(name="set-order-after-approval", kind="nondeterminism",
         source="UCL/TLOmodel#419; temporalio/sdk-python#673", invoke="Invite/w1/run",
         input=["ann", "bob", "cyd", "dee", "eve", "fay"], buggy=[invite_bug],
         correct=[invite_ok], externals=(mail,),
         extra={"world": [world.resolve_promise("approved", True)]}),
    Pair(name="once-per-key-work-in-shared-handler", kind="invariant",
         source="temporalio/sdk-php#457", invoke="Confirm/u1/run", input="ada@example.com",
         buggy=[confirm_bug], correct=[confirm_ok], externals=(mail,), invariant=mailed_once,
         extra={"world": [world.call("Confirm/u1/click", "t1"),
                          world.call("Confirm/u1/click", "t1")]}),
    Pair(name="awakeable-id-sent-outside-step", kind="nondeterministic-call",
         source="vercel/workflow#3841; superplanehq/superplane#6994", invoke="CardTopUp/run",
         input=10, buggy=[topup_start_bug], correct=[topup_start_ok], externals=(psp,),
         extra={"world": [world.resolve_awakeable("paid")]}),
    Pair(name="awakeable-id-stored-after-handout", kind="stuck",
         source="restatedev/sdk-typescript#123; coinbase/temporal-ruby#267",
         invoke="Checkout/o1/run", input=10, buggy=[checkout_bug], correct=[checkout_ok],
         externals=(psp,), extra={"world": [world.call("Checkout/o1/webhook", "paid")]}),
]


# A decision taken through two shared handlers: "reject" tells the customer
# first and completes the promise after. When "approve" already resolved it,
# completing it again fails (409), but the rejection mail went out, for a
# request the workflow approves. Complete the promise first: a second
# decision then fails before it tells anyone.
# https://github.com/temporalio/sdk-php/issues/136 (a workflow that keeps
# running after the signal that should have ended it)
approval_bug = restate.Workflow("Approval")
approval_ok = restate.Workflow("Approval")


@approval_bug.main(name="run")
async def approval_run_bug(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    try:
        await ctx.promise("decision").value()
    except restate.TerminalError:
        return "rejected"
    return "approved"


@approval_bug.handler(name="approve")
async def approval_approve_bug(ctx: restate.WorkflowSharedContext, by: str) -> None:
    await ctx.promise("decision").resolve(by)
    key = f"{ctx.key()}-approved"
    await ctx.run_typed("tell", send_mail, to=ctx.key(), template="approved", key=key)


@approval_bug.handler(name="reject")
async def approval_reject_bug(ctx: restate.WorkflowSharedContext, by: str) -> None:
    key = f"{ctx.key()}-rejected"
    await ctx.run_typed("tell", send_mail, to=ctx.key(), template="rejected", key=key)
    await ctx.promise("decision").reject(f"rejected by {by}")


@approval_ok.main(name="run")
async def approval_run_ok(ctx: restate.WorkflowContext, email: str) -> str:
    return await approval_run_bug(ctx, email)


@approval_ok.handler(name="approve")
async def approval_approve_ok(ctx: restate.WorkflowSharedContext, by: str) -> None:
    await approval_approve_bug(ctx, by)


@approval_ok.handler(name="reject")
async def approval_reject_ok(ctx: restate.WorkflowSharedContext, by: str) -> None:
    await ctx.promise("decision").reject(f"rejected by {by}")
    key = f"{ctx.key()}-rejected"
    await ctx.run_typed("tell", send_mail, to=ctx.key(), template="rejected", key=key)


def told_what_happened(outcome: sd.Outcome) -> None:
    """The customer is told the decision the workflow took, and only that."""
    told = sorted({e.payload["template"] for e in outcome.effects["mail"]})
    if outcome.result in ("approved", "rejected"):
        assert told in ([], [outcome.result]), (
            f"the request was {outcome.result} but the customer was told {told}")


wallet = sd.FakeExternal("wallet")


def credit(account: str, amount: int, key: str) -> None:
    wallet.apply("credit", {"account": account, "amount": amount}, idempotency_key=key)


# A payment provider's webhook delivered twice (webhooks are at least once):
# each delivery credits the wallet before it completes the top-up's promise,
# so the top-up is credited twice (the second completion fails, too late).
# Key the credit on the provider's event id, not on the delivery.
# https://github.com/restatedev/restate/issues/719 (awakeable and promise
# completions that must be neither lost nor applied twice)
topup_bug = restate.Service("PspWebhook")
topup_ok = restate.Service("PspWebhook")
topups = restate.Workflow("TopUpFlow")


@topups.main(name="run")
async def topup_flow(ctx: restate.WorkflowContext, amount: int) -> str:
    return f"credited by {await ctx.promise('paid').value()}"


@topups.handler(name="paid")
async def topup_paid(ctx: restate.WorkflowSharedContext, event_id: str) -> None:
    await ctx.promise("paid").resolve(event_id)


@topup_bug.handler(name="event")
async def webhook_event_bug(ctx: restate.Context, event: dict) -> None:
    key = str(ctx.uuid())  # a new key per delivery
    await ctx.run_typed("credit", credit, account=event["flow"], amount=event["amount"], key=key)
    await ctx.workflow_call(topup_paid, event["flow"], event["id"])


@topup_ok.handler(name="event")
async def webhook_event_ok(ctx: restate.Context, event: dict) -> None:
    await ctx.run_typed("credit", credit, account=event["flow"], amount=event["amount"],
                        key=event["id"])  # the provider's event id
    await ctx.workflow_call(topup_paid, event["flow"], event["id"])


def credited_once(outcome: sd.Outcome) -> None:
    """One top-up, one credit."""
    credits = [e for e in outcome.effects["wallet"] if e.op == "credit"]
    assert len(credits) <= 1, f"the top-up was credited {len(credits)} times"


EVENT = {"id": "evt_1", "flow": "f1", "amount": 10}

gifts = sd.FakeExternal("gifts")


def grant(card: str, amount: int, key: str) -> None:
    gifts.apply("grant", {"card": card, "amount": amount}, idempotency_key=key)


# The same with an awakeable: the provider calls back twice, each callback
# grants the gift card's value and resolves the awakeable. Resolving it
# again is ignored, the grant is not. Dedupe on the provider's event id.
# https://github.com/restatedev/sdk-typescript/issues/123 (an awakeable
# handed to an external system that calls back)
giftflow = restate.Workflow("GiftFlow")


@giftflow.main(name="run")
async def gift_run(ctx: restate.WorkflowContext, amount: int) -> str:
    callback, paid = ctx.awakeable()
    ctx.set("callback", callback)  # stored before anyone is told about it
    return f"paid by {await paid}"


@giftflow.handler(name="callback")
async def gift_callback(ctx: restate.WorkflowSharedContext) -> str:
    return str(await ctx.get("callback"))


gift_bug = restate.Service("GiftHook")
gift_ok = restate.Service("GiftHook")


@gift_bug.handler(name="paid")
async def gift_paid_bug(ctx: restate.Context, event: dict) -> None:
    callback = await ctx.workflow_call(gift_callback, event["flow"])
    await ctx.run_typed("grant", grant, card=event["flow"], amount=event["amount"],
                        key=str(ctx.uuid()))
    ctx.resolve_awakeable(callback, event["id"])


@gift_ok.handler(name="paid")
async def gift_paid_ok(ctx: restate.Context, event: dict) -> None:
    callback = await ctx.workflow_call(gift_callback, event["flow"])
    await ctx.run_typed("grant", grant, card=event["flow"], amount=event["amount"],
                        key=event["id"])
    ctx.resolve_awakeable(callback, event["id"])


def granted_once(outcome: sd.Outcome) -> None:
    """One payment, one grant."""
    grants = [e for e in outcome.effects["gifts"] if e.op == "grant"]
    assert len(grants) <= 1, f"the gift card was granted {len(grants)} times"


GIFT = {"id": "evt_9", "flow": "g1", "amount": 25}

PAIRS += [
    Pair(name="decision-told-before-promise-completed", kind="invariant",
         source="temporalio/sdk-php#136", invoke="Approval/r1/run", input="ada@example.com",
         buggy=[approval_bug], correct=[approval_ok], externals=(mail,),
         invariant=told_what_happened,
         extra={"world": [world.call("Approval/r1/approve", "bob"),
                          world.call("Approval/r1/reject", "eve")]}),
    Pair(name="webhook-delivered-twice", kind="invariant", source="restatedev/restate#719",
         invoke="TopUpFlow/f1/run", input=10, buggy=[topups, topup_bug],
         correct=[topups, topup_ok], externals=(wallet,), invariant=credited_once,
         extra={"world": [world.call("PspWebhook/event", EVENT),
                          world.call("PspWebhook/event", EVENT)]}),
    Pair(name="awakeable-callback-twice", kind="invariant",
         source="restatedev/sdk-typescript#123", invoke="GiftFlow/g1/run", input=25,
         buggy=[giftflow, gift_bug], correct=[giftflow, gift_ok], externals=(gifts,),
         invariant=granted_once,
         # The provider calls back only once it was told the id: never early.
         extra={"world": [world.call("GiftHook/paid", GIFT, when="waiting"),
                          world.call("GiftHook/paid", GIFT, when="waiting")]}),
]
