# After restatedev/examples python/tutorials/tour-of-orchestration-python/app/types.py and
# utils.py (MIT licence, Restate): request types, outside-world stand-ins and the
# payment and email services the tour calls.
import uuid
from datetime import datetime, timedelta
from typing import List

import restate
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel as camelize
from restate import TerminalError


class PurchaseTicketRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    ticket_id: str
    concert_date: str
    price: float
    customer_email: str


class SubscriptionRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    user_id: str
    credit_card: str
    subscriptions: List[str]


class SubscriptionResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    success: bool
    payment_ref: str


class PaymentRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    amount: int
    currency: str
    customer_id: str
    order_id: str


class PaymentResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    success: bool
    transaction_id: str | None = None
    error_message: str | None = None


class ConfirmationRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    id: str
    result: PaymentResult


undone: list[str] = []


def create_subscription(user_id: str, subscription: str, payment_ref: str) -> str:
    if subscription == "Netflix":
        raise Exception('[SIMULATED] "Netflix subscription failed: Netflix API down..."')
    if subscription == "Disney":
        raise TerminalError('[SIMULATED] "Disney subscription is not available in this region"')
    return "SUCCESS"


def create_recurring_payment(credit_card: str, payment_id: str) -> str:
    return f"payRef-{uuid.uuid4()}"


def day_before(concert_date: str) -> timedelta:
    try:
        delay = datetime.fromisoformat(concert_date) - timedelta(days=1) - datetime.now()
    except ValueError:
        return timedelta(0)
    return max(delay, timedelta(0))


def init_payment(req: PaymentRequest, payment_id: str, confirmation_id: str) -> str:
    return f"payRef-{uuid.uuid4()}"


def cancel_payment(pay_ref: str) -> None:
    undone.append(pay_ref)


def remove_recurring_payment(payment_id: str) -> None:
    undone.append("payment")


def remove_subscription(user_id: str, subscription: str) -> None:
    undone.append(subscription)


payment_service = restate.Service("PaymentService")


@payment_service.handler()
async def charge(ctx: restate.Context, req: PurchaseTicketRequest) -> str:
    return str(ctx.uuid())


email_service = restate.Service("EmailService")


@email_service.handler()
async def email_ticket(ctx: restate.Context, req: PurchaseTicketRequest) -> None:
    return None


@email_service.handler()
async def send_reminder_email(ctx: restate.Context, req: PurchaseTicketRequest) -> None:
    return None
