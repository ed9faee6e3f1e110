"""Work that repeats or is tried again: a self-rescheduling job started
twice, a call tried again after its timeout while the first still runs."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable import world

from . import Pair

digests = sd.FakeExternal("digests")
card = sd.FakeExternal("card")
DAY = timedelta(days=1)


def send_digest(feed: str, day: int, key: str) -> None:
    digests.apply("send", {"feed": feed, "day": day}, idempotency_key=key)


# A daily job kept going by a virtual object that sends itself a delayed
# "tick" (Restate has no cron; users schedule the next run from the last).
# "start" schedules the first tick every time it is called: a second start
# (a redeploy's start-up script, a retried request) begins a second chain,
# and every digest goes out twice, forever. The twin remembers that the
# chain runs and starts it once.
# https://github.com/restatedev/restate/issues/12 (a recursive delayed
# object_send in a VirtualObject as the cron); https://github.com/openclaw/openclaw/issues/2826
# (after a restart, jobs fired in duplicate cascades)
feed_bug = restate.VirtualObject("DigestFeed")
feed_ok = restate.VirtualObject("DigestFeed")


async def _tick(ctx: restate.ObjectContext, day: int, again: object) -> None:
    key = str(ctx.uuid())
    await ctx.run_typed("digest", send_digest, feed=ctx.key(), day=day, key=key)
    if day < 3:
        ctx.object_send(again, ctx.key(), day + 1, send_delay=DAY)


@feed_bug.handler(name="tick")
async def feed_tick_bug(ctx: restate.ObjectContext, day: int) -> None:
    await _tick(ctx, day, feed_tick_bug)


@feed_ok.handler(name="tick")
async def feed_tick_ok(ctx: restate.ObjectContext, day: int) -> None:
    await _tick(ctx, day, feed_tick_ok)


@feed_bug.handler(name="start")
async def feed_start_bug(ctx: restate.ObjectContext, _: None) -> str:
    ctx.object_send(feed_tick_bug, ctx.key(), 1, send_delay=DAY)
    return "scheduled"


@feed_ok.handler(name="start")
async def feed_start_ok(ctx: restate.ObjectContext, _: None) -> str:
    if await ctx.get("scheduled"):
        return "already scheduled"
    ctx.set("scheduled", True)
    ctx.object_send(feed_tick_ok, ctx.key(), 1, send_delay=DAY)
    return "scheduled"


def one_digest_a_day(outcome: sd.Outcome) -> None:
    """Each day's digest goes out once."""
    days = Counter(e.payload["day"] for e in outcome.effects["digests"])
    twice = sorted(d for d, n in days.items() if n > 1)
    assert not twice, f"the digests of days {twice} went out more than once"


# A payment call raced against a ten-second timer and, when the timer wins,
# simply made again: the first call is not cancelled by losing the race, it
# runs on in the payment service and charges too. The twin gives both calls
# the same idempotency key, so the second attaches to the first and gets its
# result, and nothing is charged twice.
# https://github.com/MutinyWallet/mutiny-web/issues/1105 ("the first one timed
# out, then they tried again, and noticed both sent out"); docs.restate.dev
# invocation idempotency (a call with a key attaches to the earlier invocation)
payments = restate.Service("Payments")


def charge_card(order: str, key: str) -> str:
    return str(card.apply("charge", {"order": order}, idempotency_key=key)["id"])


@payments.handler()
async def charge(ctx: restate.Context, order: str) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("charge", charge_card, order=order, key=key)


till_bug = restate.Service("Till")
till_ok = restate.Service("Till")
PATIENCE = timedelta(seconds=10)


@till_bug.handler(name="pay")
async def till_pay_bug(ctx: restate.Context, order: str) -> str:
    which, receipt = await restate.select(paid=ctx.service_call(charge, order),
                                          timeout=ctx.sleep(PATIENCE))
    if which == "timeout":
        receipt = await ctx.service_call(charge, order)  # the provider is slow: once more
    return str(receipt)


@till_ok.handler(name="pay")
async def till_pay_ok(ctx: restate.Context, order: str) -> str:
    which, receipt = await restate.select(
        paid=ctx.service_call(charge, order, idempotency_key=f"pay-{order}"),
        timeout=ctx.sleep(PATIENCE))
    if which == "timeout":
        receipt = await ctx.service_call(charge, order, idempotency_key=f"pay-{order}")
    return str(receipt)


PAIRS = [
    Pair(name="self-rescheduling-job-started-twice", kind="invariant",
         source="restatedev/restate#12; openclaw/openclaw#2826", invoke="DigestFeed/news/start",
         input=None, buggy=[feed_bug], correct=[feed_ok], externals=(digests,),
         invariant=one_digest_a_day,
         extra={"world": [world.call("DigestFeed/news/start", None, at=timedelta(hours=6))]}),
    Pair(name="call-made-again-after-timeout", kind="duplicate-effect",
         source="MutinyWallet/mutiny-web#1105; docs.restate.dev invocation idempotency",
         invoke="Till/pay", input="o1", buggy=[till_bug, payments], correct=[till_ok, payments],
         externals=(card,)),
]
