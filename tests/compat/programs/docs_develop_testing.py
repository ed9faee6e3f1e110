# After restatedev/docs-restate snippets/python/src/develop/testing.py (MIT licence, Restate).
import restate

greeter = restate.Service("greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


app = restate.app(services=[greeter])
