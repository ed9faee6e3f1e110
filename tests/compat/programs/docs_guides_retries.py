# After restatedev/docs-restate snippets/python/src/guides/retries.py (MIT licence, Restate).
# The first handler calls itself and waits 5 s for it: the inner call is queued
# behind nothing (a service), recurses again, and the outer select times out.
from datetime import timedelta

import restate
from restate import Context, Service
from restate.exceptions import TerminalError

my_service = Service("MyService")
printed: list[str] = []


def write_to_other_system():
    pass


@my_service.handler("myServiceHandler")
async def my_service_handler(ctx: Context, greeting: str) -> str:
    await ctx.run_typed("write", write_to_other_system,
                        restate.RunOptions(max_attempts=3, max_retry_duration=timedelta(seconds=10)))
    try:
        await ctx.run_typed("write", write_to_other_system, restate.RunOptions(max_attempts=3))
    except TerminalError as err:
        raise err
    match await restate.select(greeting=ctx.service_call(my_service_handler, "value"),
                               timeout=ctx.sleep(timedelta(seconds=5))):
        case ["greeting", greeting]:
            printed.append(f"Greeting: {greeting}")
        case ["timeout", _]:
            printed.append("Timeout occurred")
    return f"${greeting}!"


def decode_request(raw_request):
    return ""


@my_service.handler()
async def my_handler(ctx: Context):
    try:
        decode_request(ctx.request().body)
    except TerminalError as err:
        raise err


class Response:
    status = 200
    headers: dict[str, str] = {}
    data = "ok"


async def make_request():
    return Response()


@my_service.handler()
async def my_retryable_handler(ctx: Context, greeting: str) -> str:
    from restate.exceptions import RetryableError

    async def call_external_api():
        response = await make_request()
        if response.status == 429:
            raise RetryableError("Rate limited",
                                 retry_after=timedelta(seconds=int(response.headers.get("Retry-After", "30"))))
        return response.data

    await ctx.run_typed("call API", call_external_api, restate.RunOptions(max_attempts=5))
    return f"${greeting}!"


app = restate.app([my_service])
