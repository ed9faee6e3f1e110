# After restatedev/docs-restate snippets/python/src/develop/skillsmd/error_handling.py (MIT
# licence, Restate). The handler raises before its other examples.
import restate

error_handling_service = restate.Service("MyService")


async def call_external_api() -> str:
    return "Hello, world!"


@error_handling_service.handler()
async def my_handler(ctx: restate.Context, greeting: str) -> str:
    from restate import TerminalError

    raise TerminalError("Invalid input - will not retry")
    try:
        result = await ctx.run("api-call", call_external_api)
    except:  # noqa: E722 - as published
        result = None
    return result
