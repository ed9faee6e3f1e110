# After restatedev/sdk-python examples/greeter.py (MIT licence, Restate).
import restate
from restate import Context, Service

logger = restate.getLogger()

greeter = Service("greeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    logger.info("Greeting %s", name)
    return f"Hello {name}!"
