# After restatedev/docs-restate snippets/python/src/develop/retries.py (MIT licence, Restate).
from datetime import timedelta

import restate
from restate import Context, Service
from restate.exceptions import TerminalError

my_service = Service("MyService")
writes: list[str] = []


def write_to_other_system():
    writes.append("w")
    if len(writes) < 3:
        raise ConnectionError("the other system is down")


@my_service.handler("myHandler")
async def my_service_handler(ctx: Context, greeting: str) -> str:
    try:
        await ctx.run_typed("write", write_to_other_system, restate.RunOptions(
            initial_retry_interval=timedelta(milliseconds=100),
            retry_interval_factor=2.0,
            max_retry_interval=timedelta(seconds=10),
            max_duration=timedelta(minutes=5),
            max_attempts=10,
        ))
    except TerminalError as err:
        raise err
    return f"${greeting}!"


app = restate.app([my_service])
