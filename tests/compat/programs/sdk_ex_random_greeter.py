# After restatedev/sdk-python examples/random_greeter.py (MIT licence, Restate).
# Deterministic randomness, uuids and a journaled timestamp.
from datetime import datetime

from restate import Context, Service

random_greeter = Service("random_greeter")


@random_greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    number = ctx.random().randint(0, 100)
    blob = ctx.random().randbytes(10)
    ident = ctx.uuid()
    now = await ctx.time()
    when = datetime.fromtimestamp(now)
    return f"Hello {name} with random number {number}, random bytes {blob!r} random uuid {ident},now datetime {when}!"
