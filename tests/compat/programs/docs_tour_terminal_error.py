# After restatedev/docs-restate snippets/python/src/tour/microservices/terminal_error.py
# (the same as tour/workflows/terminal_error.py) (MIT licence, Restate).
from restate import Context, Service

my_service = Service("MyService")


@my_service.handler()
async def my_handler(ctx: Context, arg):
    from restate.exceptions import TerminalError

    raise TerminalError("Invalid credit card")
