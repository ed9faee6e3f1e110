# After restatedev/examples python/tutorials/tour-of-orchestration-python/app/sagas/
# service.py (MIT licence, Restate).
import restate

from .ex_tour_orch_utils import (
    SubscriptionRequest,
    create_recurring_payment,
    create_subscription,
    remove_recurring_payment,
    remove_subscription,
)

subscription_saga = restate.Service("SubscriptionSaga")


@subscription_saga.handler()
async def add(ctx: restate.Context, req: SubscriptionRequest) -> None:
    compensations = []
    try:
        payment_id = str(ctx.uuid())
        compensations.append(lambda: ctx.run_typed("undo-pay", remove_recurring_payment,
                                                    payment_id=payment_id))
        pay_ref = await ctx.run_typed("pay", create_recurring_payment, credit_card=req.credit_card,
                                      payment_id=payment_id)
        for subscription in req.subscriptions:
            compensations.append(lambda s=subscription: ctx.run_typed(  # type: ignore
                f"undo-{s}", remove_subscription, user_id=req.user_id, subscription=s))
            await ctx.run_typed(f"add-{subscription}", create_subscription, user_id=req.user_id,
                                subscription=subscription, payment_ref=pay_ref)
    except restate.TerminalError as e:
        for undo in reversed(compensations):
            await undo()
        raise e
