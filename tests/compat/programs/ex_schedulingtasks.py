# After restatedev/examples python/patterns-use-cases/schedulingtasks/app.py and utils.py
# (MIT licence, Restate). Payment reminders that re-schedule themselves daily.
from datetime import timedelta

import restate
from pydantic import BaseModel

sent: list[str] = []


class StripeData(BaseModel):
    id: str
    customer: str


class StripeEvent(BaseModel):
    type: str
    created: int
    data: StripeData


def send_reminder_email(event):
    sent.append(f"reminder {event.data.id}")


def escalate_to_human(event):
    sent.append(f"escalate {event.data.id}")


payment_tracker = restate.VirtualObject("PaymentTracker")


@payment_tracker.handler("onPaymentSuccess")
async def on_payment_success(ctx: restate.ObjectContext, _event: StripeEvent):
    ctx.set("paid", True)


@payment_tracker.handler("onPaymentFailure")
async def on_payment_failure(ctx: restate.ObjectContext, event: StripeEvent):
    if await ctx.get("paid", type_hint=bool):
        return
    reminders = await ctx.get("reminder_count", type_hint=int) or 0
    if reminders < 3:
        ctx.set("reminder_count", reminders + 1)
        await ctx.run_typed("send_reminder", send_reminder_email, event=event)
        ctx.object_send(on_payment_failure, ctx.key(), event, send_delay=timedelta(days=1))
    else:
        await ctx.run_typed("escalate", escalate_to_human, event=event)


app = restate.app([payment_tracker])
