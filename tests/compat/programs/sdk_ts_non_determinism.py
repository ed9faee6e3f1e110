# After restatedev/sdk-python test-services/services/non_determinism.py (MIT licence,
# Restate). Each handler takes a different branch on every other attempt: Restate
# detects the journal mismatch on replay and retries until the branch matches.
from datetime import timedelta
from typing import Dict

from restate import ObjectContext, VirtualObject

from . import sdk_ts_counter as counter

attempts_by_key: Dict[str, int] = {}


def left_this_time(ctx: ObjectContext) -> bool:
    attempts_by_key[ctx.key()] = attempts_by_key.get(ctx.key(), 0) + 1
    return attempts_by_key[ctx.key()] % 2 == 1


def bump_counter(ctx: ObjectContext):
    ctx.object_send(counter.add, key=ctx.key(), arg=1)


non_deterministic = VirtualObject("NonDeterministic")


@non_deterministic.handler(name="setDifferentKey")
async def set_different_key(ctx: ObjectContext):
    if left_this_time(ctx):
        ctx.set("a", "my-state")
    else:
        ctx.set("b", "my-state")
    await ctx.sleep(timedelta(milliseconds=100))
    bump_counter(ctx)


@non_deterministic.handler(name="backgroundInvokeWithDifferentTargets")
async def background_invoke_with_different_targets(ctx: ObjectContext):
    if left_this_time(ctx):
        ctx.object_send(counter.get, key="abc", arg=None)
    else:
        ctx.object_send(counter.reset, key="abc", arg=None)
    await ctx.sleep(timedelta(milliseconds=100))
    bump_counter(ctx)


@non_deterministic.handler(name="callDifferentMethod")
async def call_different_method(ctx: ObjectContext):
    if left_this_time(ctx):
        await ctx.object_call(counter.get, key="abc", arg=None)
    else:
        await ctx.object_call(counter.reset, key="abc", arg=None)
    await ctx.sleep(timedelta(milliseconds=100))
    bump_counter(ctx)


@non_deterministic.handler(name="eitherSleepOrCall")
async def either_sleep_or_call(ctx: ObjectContext):
    if left_this_time(ctx):
        await ctx.sleep(timedelta(milliseconds=100))
    else:
        await ctx.object_call(counter.get, key="abc", arg=None)
    await ctx.sleep(timedelta(milliseconds=100))
    bump_counter(ctx)
