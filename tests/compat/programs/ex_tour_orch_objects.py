# After restatedev/examples python/tutorials/tour-of-orchestration-python/app/objects/
# service.py (MIT licence, Restate).
from datetime import datetime
from typing import List

import restate

user_subscriptions = restate.VirtualObject("UserSubscriptions")


@user_subscriptions.handler()
async def add(ctx: restate.ObjectContext, subscription: str) -> None:
    subs = await ctx.get("subscriptions", type_hint=List[str]) or []
    if subscription not in subs:
        subs.append(subscription)
    ctx.set("subscriptions", subs)
    ctx.set("lastUpdated", datetime.now().isoformat())


@user_subscriptions.handler("getSubscriptions")
async def get_subscriptions(ctx: restate.ObjectSharedContext) -> List[str]:
    return await ctx.get("subscriptions", type_hint=List[str]) or []
