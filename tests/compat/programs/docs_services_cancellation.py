# After restatedev/docs-restate snippets/python/src/services/cancellation_example.py (MIT
# licence, Restate).
import restate
from restate.exceptions import TerminalError

payments: list[str] = []


def process_payment(id, order):
    payments.append("pay")


def refund_payment(id):
    payments.append("refund")


order_service = restate.VirtualObject("order-service")


class Order:
    pass


@order_service.handler()
async def notify(ctx: restate.ObjectContext, message: str):
    pass


@order_service.handler()
async def process_order(ctx: restate.ObjectContext, order: Order):
    ctx.set("status", "processing")
    payment_id = str(ctx.uuid())
    try:
        await ctx.run_typed("process-payment", process_payment, id=payment_id, order=order)
        ctx.service_send(notify, "Payment processed")
    except TerminalError as e:
        await ctx.run_typed("refund-payment", refund_payment, id=payment_id)
        raise e
