# After restatedev/docs-restate snippets/python/src/develop/kafka.py (MIT licence, Restate).
from restate import Context, Service

my_service = Service("MyService")


@my_service.handler("myHandler")
async def my_handler(ctx: Context):
    return dict(ctx.request().headers)
