# After restatedev/sdk-python test-services/services/awakeable_holder.py (MIT licence, Restate).
# Keeps an awakeable id per key so that another caller can complete it.
from restate import ObjectContext, VirtualObject
from restate.exceptions import TerminalError

awakeable_holder = VirtualObject("AwakeableHolder")


@awakeable_holder.handler()
async def hold(ctx: ObjectContext, id: str):
    ctx.set("id", id)


@awakeable_holder.handler(name="hasAwakeable")
async def has_awakeable(ctx: ObjectContext) -> bool:
    return (await ctx.get("id")) is not None


@awakeable_holder.handler()
async def unlock(ctx: ObjectContext, payload: str):
    held = await ctx.get("id")
    if held is None:
        raise TerminalError(message="No awakeable is registered")
    ctx.resolve_awakeable(held, payload)
