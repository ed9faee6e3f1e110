# After restatedev/examples python/patterns-use-cases/statefulactors/app.py and utils.py
# (MIT licence, Restate). A machine operator; transitions take a durable sleep.
from datetime import timedelta

import restate


class Status:
    UP = "UP"
    DOWN = "DOWN"


async def bring_up_machine(ctx: restate.Context, machine_id: str):
    await ctx.sleep(timedelta(seconds=5))


async def tear_down_machine(ctx: restate.Context, machine_id: str):
    await ctx.sleep(timedelta(seconds=5))


machine_operator = restate.VirtualObject("machine-operator")


@machine_operator.handler("setUp")
async def set_up(ctx: restate.ObjectContext):
    machine_id = ctx.key()
    if await ctx.get("status", type_hint=str) == Status.UP:
        return f"{machine_id} is already up, so nothing to do"
    await bring_up_machine(ctx, machine_id)
    ctx.set("status", Status.UP)
    return f"{machine_id} is now up"


@machine_operator.handler("tearDown")
async def tear_down(ctx: restate.ObjectContext):
    machine_id = ctx.key()
    if await ctx.get("status", type_hint=str) != Status.UP:
        return f"{machine_id} is not up, cannot tear down"
    await tear_down_machine(ctx, machine_id)
    ctx.set("status", Status.DOWN)
    return f"{machine_id} is now down"


app = restate.app([machine_operator])
