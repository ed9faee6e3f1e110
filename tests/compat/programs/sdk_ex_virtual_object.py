# After restatedev/sdk-python examples/virtual_object.py (MIT licence, Restate).
from restate import ObjectContext, ObjectSharedContext, VirtualObject

counter = VirtualObject("counter")


@counter.handler()
async def increment(ctx: ObjectContext, value: int) -> int:
    total = (await ctx.get("counter", type_hint=int) or 0) + value
    ctx.set("counter", total)
    return total


@counter.handler(kind="shared")
async def count(ctx: ObjectSharedContext) -> int:
    return await ctx.get("counter") or 0
