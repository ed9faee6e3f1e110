# After restatedev/examples python/basics/app/0_durable_execution.py (MIT licence, Restate).
import restate
from pydantic import BaseModel
from restate import Context, Service

from .ex_basics_utils import create_recurring_payment, create_subscription


class SubscriptionRequest(BaseModel):
    user_id: str
    credit_card: str
    subscriptions: list[str]


subscription_service = Service("SubscriptionService")


@subscription_service.handler()
async def add(ctx: Context, req: SubscriptionRequest):
    payment_id = str(ctx.uuid())
    pay_ref = await ctx.run_typed("recurring payment", create_recurring_payment,
                                  credit_card=req.credit_card, payment_id=payment_id)
    for name in req.subscriptions:
        await ctx.run_typed("subscription", create_subscription,
                            user_id=req.user_id, subscription=name, payment_ref=pay_ref)


app = restate.app([subscription_service])
