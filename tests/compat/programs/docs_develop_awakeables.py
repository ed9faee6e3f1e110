# After restatedev/docs-restate snippets/python/src/develop/awakeables.py (MIT licence,
# Restate). The snippet completes an awakeable by a name that is not an awakeable id.
from restate import Context, Service

my_service = Service("MyService")

requested: list[str] = []


def request_human_review(name, id):
    requested.append(id)
    return "123"


@my_service.handler()
async def my_handler(ctx: Context, arg):
    name = "Pete"
    id, promise = ctx.awakeable(type_hint=str)
    await ctx.run_typed("trigger task", request_human_review, name=name, id=id)
    review = await promise
    ctx.resolve_awakeable(name, review)
    ctx.reject_awakeable(name, "Cannot be reviewed")
    return arg
