# After restatedev/docs-restate snippets/python/src/usecases/microservices/{booking_service,
# order_service,service_actions,user_account}.py (MIT licence, Restate).
import uuid
from datetime import timedelta
from typing import Any, Dict, List

import restate
from pydantic import BaseModel
from restate import TerminalError


class BookingRequest:
    def __init__(self, hotel_id: str, flight_id: str):
        self.hotel_id = hotel_id
        self.flight_id = flight_id


def cancel_hotel(hotel_id: str):
    pass


def book_hotel(request: BookingRequest):
    pass


def cancel_flight(flight_id: str):
    pass


def book_flight(request: BookingRequest):
    pass


booking_service = restate.Service("BookingService")


@booking_service.handler()
async def reserve(ctx: restate.Context, request: BookingRequest):
    compensations = []
    try:
        compensations.append(lambda: cancel_hotel(request.hotel_id))
        await ctx.run_typed("book_hotel", book_hotel, request=request)
        compensations.append(lambda: cancel_flight(request.flight_id))
        await ctx.run_typed("book_flight", book_flight, request=request)
        return {"success": True}
    except Exception as error:
        for i, compensation in enumerate(reversed(compensations)):
            await ctx.run_typed(f"compensation_{i}", compensation)
        raise error


class Item(BaseModel):
    id: str
    amount: int


class Order(BaseModel):
    id: str
    items: List[Item]
    credit_card: str


def charge_payment_fn(credit_card: str, payment_id: str):
    pass


def reserve_item(item_id: str, amount: int):
    pass


order_service = restate.Service("OrderService")


@order_service.handler()
async def process(ctx: restate.Context, order: Order):
    payment_id = str(uuid.uuid4())
    await ctx.run_typed("charge", charge_payment_fn, credit_card=order.credit_card, payment_id=payment_id)
    for item in order.items:
        await ctx.run_typed(f"reserve_{item.id}", reserve_item, item_id=item.id, amount=item.amount)
    return {"success": True, "payment_id": payment_id}


class PlainOrder:
    def __init__(self, id: str, items: List[Dict[str, Any]], credit_card: str):
        self.id = id
        self.items = items
        self.credit_card = credit_card


my_service = restate.Service("MyService")


@my_service.handler("process")
async def process_ticket(ctx: restate.Context, ticket: PlainOrder):
    await ctx.service_call(charge_payment, "item-123")
    ctx.service_send(send_ticket_email, ticket)
    ctx.service_send(send_reminder, ticket, send_delay=timedelta(days=7))


inventory_service = restate.Service("InventoryService")


@inventory_service.handler()
async def charge_payment(ctx: restate.Context, item: str):
    return {"item": item, "in_stock": True}


email_service = restate.Service("EmailService")


@email_service.handler()
async def send_ticket_email(ctx: restate.Context, order: PlainOrder):
    return f"Sending confirmation for order {order.id}"


reminder_service = restate.Service("ReminderService")


@reminder_service.handler()
async def send_reminder(ctx: restate.Context, order: PlainOrder):
    return f"Sending reminder for order {order.id}"


user_account = restate.VirtualObject("UserAccount")


@user_account.handler()
async def update_balance(ctx: restate.ObjectContext, amount: float):
    new_balance = (await ctx.get("balance", type_hint=float) or 0.0) + amount
    if new_balance < 0.0:
        raise TerminalError("Insufficient funds")
    ctx.set("balance", new_balance)
    return new_balance


@user_account.handler(kind="shared")
async def get_balance(ctx: restate.ObjectSharedContext):
    return await ctx.get("balance", type_hint=float) or 0.0
