# After restatedev/sdk-python test-services/services/kill_test.py (MIT licence, Restate).
# A call tree that keeps calling itself once its awakeable is completed.
from restate import ObjectContext, VirtualObject

from . import sdk_ts_awakeable_holder as awakeable_holder

kill_runner = VirtualObject("KillTestRunner")
kill_singleton = VirtualObject("KillTestSingleton")


@kill_runner.handler(name="startCallTree")
async def start_call_tree(ctx: ObjectContext):
    await ctx.object_call(recursive_call, key=ctx.key(), arg=None)


@kill_singleton.handler(name="recursiveCall")
async def recursive_call(ctx: ObjectContext):
    awk_id, awk = ctx.awakeable()
    ctx.object_send(awakeable_holder.hold, key=ctx.key(), arg=awk_id)
    await awk
    await ctx.object_call(recursive_call, key=ctx.key(), arg=None)


@kill_singleton.handler(name="isUnlocked")
async def is_unlocked(ctx: ObjectContext):
    return None
