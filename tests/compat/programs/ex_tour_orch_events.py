# After restatedev/examples python/tutorials/tour-of-orchestration-python/app/events/
# service.py (MIT licence, Restate).
import restate

from .ex_tour_orch_utils import ConfirmationRequest, PaymentRequest, PaymentResult, init_payment

payments = restate.Service("Payments")


@payments.handler()
async def process(ctx: restate.Context, req: PaymentRequest) -> PaymentResult:
    confirmation_id, confirmation = ctx.awakeable(type_hint=PaymentResult)
    payment_id = str(ctx.uuid())
    await ctx.run_typed("pay", init_payment, req=req, payment_id=payment_id,
                        confirmation_id=confirmation_id)
    return await confirmation


@payments.handler()
async def confirm(ctx: restate.Context, confirmation: ConfirmationRequest) -> None:
    ctx.resolve_awakeable(confirmation.id, confirmation.result)
