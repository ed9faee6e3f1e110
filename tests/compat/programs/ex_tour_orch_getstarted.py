# After restatedev/examples python/tutorials/tour-of-orchestration-python/app/getstarted/
# service.py (MIT licence, Restate).
import restate

from .ex_tour_orch_utils import SubscriptionRequest, create_recurring_payment, create_subscription

subscription_service = restate.Service("SubscriptionService")


@subscription_service.handler()
async def add(ctx: restate.Context, req: SubscriptionRequest) -> None:
    payment_id = str(ctx.uuid())
    pay_ref = await ctx.run_typed("pay", create_recurring_payment, credit_card=req.credit_card,
                                  payment_id=payment_id)
    for s in req.subscriptions:
        await ctx.run_typed(f"add-{s}", create_subscription, user_id=req.user_id, subscription=s,
                            payment_ref=pay_ref)
