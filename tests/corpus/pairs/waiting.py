"""Waiting in a handler with time.sleep instead of a durable timer, written
with restate-sdk itself (``import restate``) as its users write it."""

from __future__ import annotations

import time
from datetime import timedelta

import restate

import simdurable as sd

from . import Pair

sms = sd.FakeExternal("sms")


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


PAIRS = [
    Pair(name="time-sleep-in-handler", kind="nondeterministic-call",
         source="ray-project/ray#18354; CybercentreCanada/assemblyline-core#1122",
         invoke="Reminder/send", input="ann", buggy=[remind_bug], correct=[remind_ok],
         externals=(sms,)),
]
