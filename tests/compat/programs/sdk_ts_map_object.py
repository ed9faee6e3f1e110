# After restatedev/sdk-python test-services/services/map_object.py (MIT licence, Restate).
from typing import TypedDict

from restate import ObjectContext, VirtualObject

map_object = VirtualObject("MapObject")


class Entry(TypedDict):
    key: str
    value: str


@map_object.handler(name="set")
async def map_set(ctx: ObjectContext, entry: Entry):
    ctx.set(entry["key"], entry["value"])


@map_object.handler(name="get")
async def map_get(ctx: ObjectContext, key: str) -> str:
    return await ctx.get(key) or ""


@map_object.handler(name="clearAll")
async def map_clear_all(ctx: ObjectContext) -> list[Entry]:
    removed = []
    for name in await ctx.state_keys():
        value: str = await ctx.get(name)  # type: ignore
        removed.append(Entry(key=name, value=value))
        ctx.clear(name)
    return removed
