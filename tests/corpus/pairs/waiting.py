"""Waiting in a handler with time.sleep instead of a durable timer, written
with restate-sdk itself (``import restate``) as its users write it."""

from __future__ import annotations

import time
from datetime import timedelta

import restate

import simdurable as sd
from simdurable import world

from . import Pair

sms = sd.FakeExternal("sms")
kitchen = sd.FakeExternal("kitchen")


def text(user: str, message: str) -> None:
    sms.apply("text", {"user": user, "message": message},
              idempotency_key=f"{message}-{user}")


# Two texts half a second apart, the gateway's rate limit, waited out with
# time.sleep: the handler blocks its process's event loop (every invocation
# on it stalls), and the wait is no durable timer, so it is waited again in
# full after a crash and on every replay (Ray: a step that calls time.sleep
# holds a worker and recomputes its wait on retry; assemblyline: "use the
# right sleep function in workflows"). The twin awaits ctx.sleep. Before
# strict mode knew time.sleep, the bug passed, and each of the check's runs
# slept for real.
# https://github.com/ray-project/ray/issues/18354
# https://github.com/CybercentreCanada/assemblyline-core/pull/1122
remind_bug = restate.Service("Reminder")
remind_ok = restate.Service("Reminder")


@remind_bug.handler(name="send")
async def remind_bug_send(ctx: restate.Context, user: str) -> str:
    await ctx.run_typed("first", text, user=user, message="your visit is tomorrow")
    time.sleep(0.5)  # the gateway takes one text a second per number
    await ctx.run_typed("second", text, user=user, message="reply YES to confirm")
    return "sent"


@remind_ok.handler(name="send")
async def remind_ok_send(ctx: restate.Context, user: str) -> str:
    await ctx.run_typed("first", text, user=user, message="your visit is tomorrow")
    await ctx.sleep(timedelta(seconds=0.5))
    await ctx.run_typed("second", text, user=user, message="reply YES to confirm")
    return "sent"


def prepare(order: str, callback: str) -> None:
    kitchen.apply("prepare", {"order": order, "callback": callback}, idempotency_key=order)


# An order waits for the kitchen's callback on an awakeable, and sends itself a
# delayed giveUp that rejects the awakeable if the kitchen never answers. giveUp
# is exclusive (the default): it queues behind the order, which holds the key
# while it waits, so it never runs when it is needed, and the order waits for
# ever (Restate's docs: request-response between exclusive handlers of one
# object deadlocks; a queued message waits on the holder just the same). With
# a world in which the kitchen answers, every run ended, and the check passed;
# without a world, the run was reported stuck. The twin makes giveUp shared.
# https://docs.restate.dev/develop/python/service-communication/
order_bug = restate.VirtualObject("KitchenOrder")
order_ok = restate.VirtualObject("KitchenOrder")


def _order(give_up: object) -> object:
    async def create(ctx: restate.ObjectContext, item: str) -> str:
        callback, meal = ctx.awakeable(type_hint=str)
        ctx.set("status", "WAITING")
        await ctx.run_typed("prepare", prepare, order=ctx.key(), callback=callback)
        ctx.object_send(give_up, key=ctx.key(), arg=callback,  # type: ignore[arg-type]
                        send_delay=timedelta(hours=1))
        try:
            got = await meal
        except restate.TerminalError:
            ctx.set("status", "GIVEN-UP")
            return "given up"
        ctx.set("status", "SERVED")
        return got
    return create


async def _give_up(ctx: restate.ObjectSharedContext, callback: str) -> None:
    if await ctx.get("status", type_hint=str) == "WAITING":
        ctx.reject_awakeable(callback, "the kitchen did not answer", 408)


give_up_bug = order_bug.handler(name="giveUp")(_give_up)
give_up_ok = order_ok.handler(name="giveUp", kind="shared")(_give_up)
order_bug.handler(name="create")(_order(give_up_bug))
order_ok.handler(name="create")(_order(give_up_ok))


PAIRS = [
    Pair(name="exclusive-give-up-of-awakeable", kind="stuck",
         source="docs.restate.dev/develop/python/service-communication (exclusive handlers "
                "of one object deadlock)",
         invoke="KitchenOrder/o1/create", input="pizza", buggy=[order_bug],
         correct=[order_ok], externals=(kitchen,),
         extra={"world": [world.resolve_awakeable("pizza")]}),
    Pair(name="time-sleep-in-handler", kind="nondeterministic-call",
         source="ray-project/ray#18354; CybercentreCanada/assemblyline-core#1122",
         invoke="Reminder/send", input="ann", buggy=[remind_bug], correct=[remind_ok],
         externals=(sms,)),
]
