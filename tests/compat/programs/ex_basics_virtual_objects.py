# After restatedev/examples python/basics/app/2_virtual_objects.py (MIT licence, Restate).
import restate
from restate import ObjectContext, VirtualObject

greeter_object = VirtualObject("greeter")


@greeter_object.handler()
async def greet(ctx: ObjectContext, greeting: str) -> str:
    count = (await ctx.get("count") or 0) + 1
    ctx.set("count", count)
    return f"{greeting} {ctx.key()} for the {count}-th time."


@greeter_object.handler()
async def ungreet(ctx: ObjectContext) -> str:
    count = (await ctx.get("count") or 0) - 1
    ctx.set("count", count)
    return f"Goodbye {ctx.key()}, taking one greeting back: {count}."


app = restate.app(services=[greeter_object])
