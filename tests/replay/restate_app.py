"""A restate-sdk program (the real ``restate`` package), in versions.

``SHOP_VERSION`` (an environment variable, default ``v1``) picks the version
when the module is imported: the real Restate server records journals of
``v1``; the test then replays them against another version in the simulation.
"""

from __future__ import annotations

import os
from datetime import timedelta

import restate

VERSION = os.environ.get("SHOP_VERSION", "v1")


def make(version: str) -> list[object]:
    """The services of ``version``: ``v1``, or ``renamed`` (two steps renamed)."""
    shop = restate.Service("Shop")
    stock = restate.VirtualObject("Stock")
    gate = restate.Service("Gate")

    @gate.handler()
    async def wait(ctx: restate.Context) -> str:
        # A named signal: Restate journals no command for it, only its notification.
        approved = await ctx.signal("approval", type_hint=str)
        note = await ctx.run_typed("note" if version == "v1" else "memo", lambda: "noted")
        return f"{approved} {note}"

    @gate.handler()
    async def approve(ctx: restate.Context, invocation_id: str) -> str:
        ctx.resolve_signal(invocation_id, "approval", "yes")
        return "approved"

    @stock.handler()
    async def take(ctx: restate.ObjectContext, n: int) -> int:
        left = (await ctx.get("left", type_hint=int) or 100) - n
        ctx.set("left", left)
        return left

    @shop.handler()
    async def order(ctx: restate.Context, item: str) -> str:
        r = await ctx.run_typed("reserve", lambda: f"r-{item}")
        left = await ctx.object_call(take, key=item, arg=1)
        name = "charge" if version == "v1" else "payment"
        c = await ctx.run_typed(name, lambda: f"c-{len(item)}")
        await ctx.sleep(timedelta(milliseconds=10 if item != "slow" else 3_600_000))
        return f"{r} {c} {left}"

    return [shop, stock, gate]


services = make(VERSION)
