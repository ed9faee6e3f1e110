# After restatedev/docs-restate snippets/python/src/develop/my_service.py (MIT licence, Restate).
import restate

my_service = restate.Service("MyService")


@my_service.handler("myHandler")
async def my_handler(ctx: restate.Context, greeting: str) -> str:
    return f"{greeting}!"


app = restate.app([my_service])
