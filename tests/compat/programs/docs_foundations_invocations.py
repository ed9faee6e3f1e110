# After restatedev/docs-restate snippets/python/src/foundations/invocations/client.py (MIT
# licence, Restate): a send with an idempotency key, attached to or cancelled.
from typing import Dict

import restate
from restate import Context

my_service = restate.Service("MyService")


@my_service.handler()
async def my_handler(ctx: Context, greeting: str) -> str:
    return f"{greeting}!"


greeter_service = restate.Service("GreeterService")


@greeter_service.handler()
async def greet(ctx: Context, req: Dict[str, str]) -> str:
    handle = ctx.service_send(my_handler, "Hi", idempotency_key="my-key")
    invocation_id = await handle.invocation_id()
    await ctx.attach_invocation(invocation_id)
    return f"{req['greeting']}!"


@greeter_service.handler()
async def cancel(ctx: Context, req: Dict[str, str]) -> None:
    handle = ctx.service_send(my_handler, "Hi", idempotency_key="my-key")
    ctx.cancel_invocation(await handle.invocation_id())
