"""A virtual-object counter: keyed state with one writer per key.

``add`` reads, adds and writes the count; state writes are journaled with the
invocation, so a crash never loses or doubles an increment.
"""

from __future__ import annotations

import simdurable as restate

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    n = (await ctx.get("count")) or 0
    ctx.set("count", n + delta)
    return int(n + delta)


@counter.handler(kind="shared")
async def current(ctx: restate.ObjectSharedContext) -> int:
    return int((await ctx.get("count")) or 0)


@counter.handler()
async def reset(ctx: restate.ObjectContext) -> None:
    ctx.clear("count")


services = [counter]
