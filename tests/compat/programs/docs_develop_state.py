# After restatedev/docs-restate snippets/python/src/develop/state.py (MIT licence, Restate).
from restate import ObjectContext, VirtualObject

my_object = VirtualObject("Caller")


@my_object.handler()
async def caller(ctx: ObjectContext, arg):
    ctx.state_keys()
    my_string = await ctx.get("my-string-key", type_hint=str) or "default-key"
    my_number = await ctx.get("my-number-key", type_hint=int) or 123
    ctx.set("my-key", "my-new-value")
    ctx.clear("my-key")
    ctx.clear_all()
    return [my_string, my_number]
