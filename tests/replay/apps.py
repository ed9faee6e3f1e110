"""One order handler in several versions, as a project's history would have it.

``v1`` is the code that recorded the journals; the others are deploys made
while invocations of ``v1`` were in flight. Every closure counts its runs in
``RAN``: a replay must leave it empty.
"""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate

RAN: list[str] = []


def reserve(item: str) -> str:
    RAN.append("reserve")
    return f"r-{item}"


def charge(amount: int) -> str:
    RAN.append("charge")
    return f"c-{amount}"


def ship(item: str) -> str:
    RAN.append("ship")
    return f"s-{item}"


def audit() -> str:
    RAN.append("audit")
    return "audited"


def _versions() -> dict[str, list[restate.Service | restate.VirtualObject]]:
    out: dict[str, list[restate.Service | restate.VirtualObject]] = {}

    # v1: what recorded the journals.
    shop = restate.Service("Shop")
    stock = restate.VirtualObject("Stock")

    @shop.handler()
    async def order(ctx: restate.Context, item: str) -> str:
        r = await ctx.run_typed("reserve", reserve, item=item)
        c = await ctx.run_typed("charge", charge, amount=len(item))
        await ctx.sleep(timedelta(hours=1))
        s = await ctx.run_typed("ship", ship, item=item)
        return f"{r} {c} {s}"

    @stock.handler()
    async def take(ctx: restate.ObjectContext, n: int) -> int:
        left = (await ctx.get("left") or 100) - n
        ctx.set("left", left)
        return left

    out["v1"] = [shop, stock]

    # v1 again, unchanged but for a comment: every journal replays.
    same = restate.Service("Shop")

    @same.handler(name="order")
    async def order_same(ctx: restate.Context, item: str) -> str:
        # the same path, written again
        r = await ctx.run_typed("reserve", reserve, item=item)
        c = await ctx.run_typed("charge", charge, amount=len(item))
        await ctx.sleep(timedelta(hours=1))
        s = await ctx.run_typed("ship", ship, item=item)
        return f"{r} {c} {s}"

    out["same"] = [same, stock]

    # A step renamed.
    renamed = restate.Service("Shop")

    @renamed.handler(name="order")
    async def order_renamed(ctx: restate.Context, item: str) -> str:
        r = await ctx.run_typed("reserve", reserve, item=item)
        c = await ctx.run_typed("payment", charge, amount=len(item))  # RENAMED
        await ctx.sleep(timedelta(hours=1))
        s = await ctx.run_typed("ship", ship, item=item)
        return f"{r} {c} {s}"

    out["renamed"] = [renamed, stock]

    # Two steps swapped.
    reordered = restate.Service("Shop")

    @reordered.handler(name="order")
    async def order_reordered(ctx: restate.Context, item: str) -> str:
        c = await ctx.run_typed("charge", charge, amount=len(item))  # REORDERED
        r = await ctx.run_typed("reserve", reserve, item=item)
        await ctx.sleep(timedelta(hours=1))
        s = await ctx.run_typed("ship", ship, item=item)
        return f"{r} {c} {s}"

    out["reordered"] = [reordered, stock]

    # A call added before the charge.
    added = restate.Service("Shop")

    @added.handler(name="order")
    async def order_added(ctx: restate.Context, item: str) -> str:
        r = await ctx.run_typed("reserve", reserve, item=item)
        await ctx.object_call(take, key=item, arg=1)  # ADDED
        c = await ctx.run_typed("charge", charge, amount=len(item))
        await ctx.sleep(timedelta(hours=1))
        s = await ctx.run_typed("ship", ship, item=item)
        return f"{r} {c} {s}"

    out["added"] = [added, stock]

    # A step added at the very end: in-flight journals still replay, ended ones do not.
    tail = restate.Service("Shop")

    @tail.handler(name="order")
    async def order_tail(ctx: restate.Context, item: str) -> str:
        r = await ctx.run_typed("reserve", reserve, item=item)
        c = await ctx.run_typed("charge", charge, amount=len(item))
        await ctx.sleep(timedelta(hours=1))
        s = await ctx.run_typed("ship", ship, item=item)
        await ctx.run_typed("audit", audit)  # ADDED AT THE END
        return f"{r} {c} {s}"

    out["tail"] = [tail, stock]

    # The handler gone (renamed): nothing to replay against.
    gone = restate.Service("Shop")

    @gone.handler()
    async def purchase(ctx: restate.Context, item: str) -> str:
        return item

    out["gone"] = [gone, stock]
    return out


VERSIONS = _versions()
v1 = VERSIONS["v1"]
same = VERSIONS["same"]
renamed = VERSIONS["renamed"]
reordered = VERSIONS["reordered"]
added = VERSIONS["added"]
tail = VERSIONS["tail"]
gone = VERSIONS["gone"]
