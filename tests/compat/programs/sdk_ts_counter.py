# After restatedev/sdk-python test-services/services/counter.py (MIT licence, Restate).
# A keyed counter with a handler that stores and then fails terminally.
from typing import TypedDict

from restate import ObjectContext, VirtualObject
from restate.exceptions import TerminalError

counter_object = VirtualObject("Counter")

KEY = "counter"


class UpdateResult(TypedDict):
    oldValue: int
    newValue: int


@counter_object.handler()
async def reset(ctx: ObjectContext):
    ctx.clear(KEY)


@counter_object.handler()
async def get(ctx: ObjectContext) -> int:
    current: int | None = await ctx.get(KEY)
    return 0 if current is None else current


@counter_object.handler()
async def add(ctx: ObjectContext, addend: int) -> UpdateResult:
    before: int | None = await ctx.get(KEY)
    before = before or 0
    ctx.set(KEY, before + addend)
    return UpdateResult(oldValue=before, newValue=before + addend)


@counter_object.handler(name="addThenFail")
async def add_then_fail(ctx: ObjectContext, addend: int):
    before: int | None = await ctx.get(KEY)
    ctx.set(KEY, (before or 0) + addend)
    raise TerminalError(message=ctx.key())
