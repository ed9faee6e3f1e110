# After restatedev/examples python/basics/app/1_building_blocks.py (MIT licence, Restate).
# A catalogue of the durable building blocks in one handler.
from datetime import timedelta

import restate

from .ex_basics_utils import charge_bank_account, subscription_service

my_service = restate.Service("myService")


@my_service.handler()
async def run(ctx: restate.Context):
    result = await ctx.object_call(subscription_service.create, "my-sub-123", "my-request")
    ctx.object_send(subscription_service.cancel, "my-sub-123", "my-request")

    awakeable_id, promise = ctx.awakeable()
    greeting = await promise
    ctx.resolve_awakeable(awakeable_id, "hello")

    await ctx.sleep(timedelta(seconds=5))
    ctx.object_send(subscription_service.cancel, "my-sub-123", "my-request",
                    send_delay=timedelta(days=1))

    dedup_id = str(ctx.uuid())
    result = await ctx.run_typed("charge", charge_bank_account,
                                 payment_deduplication_id=dedup_id, amount=100)


app = restate.app([my_service, subscription_service])
