# After restatedev/sdk-python test-services/services/list_object.py (MIT licence, Restate).
from restate import ObjectContext, VirtualObject

list_object = VirtualObject("ListObject")


@list_object.handler()
async def append(ctx: ObjectContext, value: str):
    items = await ctx.get("list") or []
    ctx.set("list", items + [value])


@list_object.handler()
async def get(ctx: ObjectContext) -> list[str]:
    return await ctx.get("list") or []


@list_object.handler()
async def clear(ctx: ObjectContext) -> list[str]:
    items = await ctx.get("list") or []
    ctx.clear("list")
    return items
