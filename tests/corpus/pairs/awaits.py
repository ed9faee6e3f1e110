"""Durable operations started and never awaited: a forgotten ``await``."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd

from . import Pair

orders = sd.FakeExternal("orders")
billing = sd.FakeExternal("billing")
EXTERNALS = (orders, billing)


def place(fruit: str) -> str:
    return str(orders.apply("order", {"fruit": fruit}, idempotency_key=f"order-{fruit}")["id"])


# The activity of the chosen branch is started and not waited for: the
# workflow returns at once, and the order is never placed (Temporal's
# exclusive-choice sample, fixed by adding .Get to each ExecuteActivity).
# https://github.com/temporalio/samples-go/pull/382
choice_bug = restate.Service("Choice")
choice_ok = restate.Service("Choice")


@choice_bug.handler(name="order")
async def order_bug(ctx: restate.Context, fruit: str) -> str:
    if fruit in ("apple", "banana"):
        ctx.run_typed(f"order-{fruit}", place, fruit=fruit)
    return f"ordered {fruit}"


@choice_ok.handler(name="order")
async def order_ok(ctx: restate.Context, fruit: str) -> str:
    if fruit in ("apple", "banana"):
        await ctx.run_typed(f"order-{fruit}", place, fruit=fruit)
    return f"ordered {fruit}"


def bill(user: str) -> None:
    billing.apply("charge", {"user": user}, idempotency_key=f"trial-{user}")


# A trial that should bill after 14 days bills at once: the durable sleep is
# started and not awaited, a dangling promise the handler never waits for
# (Cloudflare's rules of workflows: "await your steps", step.sleep included).
# https://github.com/cloudflare/cloudflare-docs/pull/19948
trial_bug = restate.Service("Trial")
trial_ok = restate.Service("Trial")


@trial_bug.handler(name="start")
async def trial_start_bug(ctx: restate.Context, user: str) -> str:
    ctx.sleep(timedelta(days=14))
    await ctx.run_typed("bill", bill, user=user)
    return "billed"


@trial_ok.handler(name="start")
async def trial_start_ok(ctx: restate.Context, user: str) -> str:
    await ctx.sleep(timedelta(days=14))
    await ctx.run_typed("bill", bill, user=user)
    return "billed"


# Steps started together and waited on together are awaited, and so is the
# timer that lost a race: the twin must stay quiet while the bug, a step
# started and left behind when the handler returns, is flagged. (The twin
# also waits for the sms after the race: a step that lost to the timer is
# still in flight, and returning would abandon it.)
# https://github.com/vercel/workflow/issues/203 (promises left unresolved when a workflow completes)
notify_bug = restate.Service("Notify")
notify_ok = restate.Service("Notify")


def send(user: str, channel: str) -> str:
    orders.apply("notify", {"user": user, "channel": channel}, idempotency_key=f"{channel}-{user}")
    return channel


@notify_bug.handler(name="all")
async def notify_all_bug(ctx: restate.Context, user: str) -> str:
    mail = ctx.run_typed("mail", send, user=user, channel="mail")  # noqa: F841 - the bug
    sms = ctx.run_typed("sms", send, user=user, channel="sms")
    await restate.select(sms=sms, late=ctx.sleep(timedelta(minutes=5)))
    await sms
    return "sent"  # the mail step is never awaited


@notify_ok.handler(name="all")
async def notify_all_ok(ctx: restate.Context, user: str) -> str:
    mail = ctx.run_typed("mail", send, user=user, channel="mail")
    sms = ctx.run_typed("sms", send, user=user, channel="sms")
    await restate.select(sms=sms, late=ctx.sleep(timedelta(minutes=5)))
    await restate.gather(mail, sms)
    return "sent"


PAIRS = [
    Pair(name="step-not-awaited", kind="not-awaited", source="temporalio/samples-go#382",
         invoke="Choice/order", input="apple", buggy=[choice_bug], correct=[choice_ok],
         externals=EXTERNALS),
    Pair(name="sleep-not-awaited", kind="not-awaited", source="cloudflare/cloudflare-docs#19948",
         invoke="Trial/start", input="ann", buggy=[trial_bug], correct=[trial_ok],
         externals=EXTERNALS),
    Pair(name="step-left-behind-a-race", kind="not-awaited", source="vercel/workflow#203",
         invoke="Notify/all", input="bob", buggy=[notify_bug], correct=[notify_ok],
         externals=EXTERNALS),
]
