# After restatedev/examples python/tutorials/tour-of-orchestration-python/app/concurrenttasks/
# service.py (MIT licence, Restate).
import restate

from .ex_tour_orch_utils import (
    SubscriptionRequest,
    SubscriptionResult,
    create_recurring_payment,
    create_subscription,
)

parallel_subscription_service = restate.Service("ParallelSubscriptionService")


@parallel_subscription_service.handler()
async def add(ctx: restate.Context, req: SubscriptionRequest) -> SubscriptionResult:
    payment_id = str(ctx.uuid())
    pay_ref = await ctx.run_typed("pay", create_recurring_payment, credit_card=req.credit_card,
                                  payment_id=payment_id)
    tasks = [ctx.run_typed(f"add-{s}", create_subscription, user_id=req.user_id, subscription=s,
                           payment_ref=pay_ref) for s in req.subscriptions]
    await restate.gather(*tasks)
    return SubscriptionResult(success=True, payment_ref=pay_ref)
