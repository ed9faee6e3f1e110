# After restatedev/docs-restate snippets/python/src/develop/durable_timers.py (MIT licence,
# Restate).
from datetime import timedelta

import restate
from restate import Context, Service

my_service = Service("MyService")
seen: list[str] = []


@my_service.handler()
async def my_handler(ctx: Context, arg):
    await ctx.sleep(delta=timedelta(seconds=10), name="wait for payment")


@my_service.handler()
async def timer_handler(ctx: Context, arg):
    match await restate.select(greeting=ctx.service_call(my_handler, "Hi"),
                               timeout=ctx.sleep(timedelta(seconds=5))):
        case ["greeting", greeting]:
            seen.append(f"greeting {greeting}")
        case _:
            seen.append("timeout")
    return seen[-1]
