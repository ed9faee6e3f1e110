# After restatedev/sdk-python test-services/services/cancel_test.py (MIT licence, Restate).
# A runner calls a blocking object; cancelling the call tree marks the runner.
from datetime import timedelta
from typing import Literal

from restate import ObjectContext, VirtualObject
from restate.exceptions import TerminalError

from . import sdk_ts_awakeable_holder as awakeable_holder

BlockingOperation = Literal["CALL", "SLEEP", "AWAKEABLE"]

runner = VirtualObject("CancelTestRunner")
blocking_service = VirtualObject("CancelTestBlockingService")


@runner.handler(name="startTest")
async def start_test(ctx: ObjectContext, op: BlockingOperation):
    try:
        await ctx.object_call(block, key=ctx.key(), arg=op)
    except TerminalError as err:
        if err.status_code != 409:
            raise err
        ctx.set("state", True)


@runner.handler(name="verifyTest")
async def verify_test(ctx: ObjectContext) -> bool:
    seen = await ctx.get("state")
    return False if seen is None else seen


@blocking_service.handler()
async def block(ctx: ObjectContext, op: BlockingOperation):
    awk_id, awk = ctx.awakeable()
    await ctx.object_call(awakeable_holder.hold, key=ctx.key(), arg=awk_id)
    await awk
    if op == "CALL":
        await ctx.object_call(block, key=ctx.key(), arg=op)
    elif op == "SLEEP":
        await ctx.sleep(timedelta(days=1024))
    elif op == "AWAKEABLE":
        _, never = ctx.awakeable()
        await never


@blocking_service.handler(name="isUnlocked")
async def is_unlocked(ctx: ObjectContext):
    return None
