# After restatedev/examples python/tutorials/tour-of-orchestration-python/app/communication/
# service.py (MIT licence, Restate).
import restate

from .ex_tour_orch_utils import (
    PurchaseTicketRequest,
    charge,
    day_before,
    email_ticket,
    send_reminder_email,
)

concert_ticketing_service = restate.Service("ConcertTicketingService")


@concert_ticketing_service.handler()
async def buy(ctx: restate.Context, req: PurchaseTicketRequest) -> str:
    pay_ref = await ctx.service_call(charge, req)
    ctx.service_send(email_ticket, req)
    ctx.service_send(send_reminder_email, req, send_delay=day_before(req.concert_date))
    return f"Ticket purchased successfully with payment reference: {pay_ref}"
