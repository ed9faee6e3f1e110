"""Ticket reservation written with restate-sdk itself, after Restate's example.

A virtual object per seat (``TicketObject``) keeps its status; a virtual object
per user (``UserSession``) keeps the cart. Adding a ticket reserves the seat
with a call and sends the session a delayed ``expireTicket`` (15 minutes),
which releases the seat if it is still in the cart then. ``checkout`` calls
the ``Checkout`` service with an idempotency key drawn from ``ctx.uuid()``
(one per checkout, the same on every replay) and marks every seat sold.

The module imports ``restate`` (restate-sdk) unchanged; ``simdurable check
examples.tickets:checkout --key ann`` and ``scenarios/tickets-*.yaml`` test it
as it is. Without restate-sdk installed, ``simdurable`` lets the import load
its own copy of the API.
"""

from __future__ import annotations

from datetime import timedelta

import restate
from restate.exceptions import TerminalError

from simdurable import FakeExternal

payments = FakeExternal("payments")
mailer = FakeExternal("mailer")

ticket = restate.VirtualObject("TicketObject")
session = restate.VirtualObject("UserSession")
checkout_service = restate.Service("Checkout")

PRICE = 40


@ticket.handler()
async def reserve(ctx: restate.ObjectContext) -> bool:
    if (await ctx.get("status", type_hint=str) or "AVAILABLE") == "AVAILABLE":
        ctx.set("status", "RESERVED")
        return True
    return False


@ticket.handler()
async def unreserve(ctx: restate.ObjectContext) -> None:
    if await ctx.get("status", type_hint=str) != "SOLD":
        ctx.clear("status")


@ticket.handler(name="markAsSold")
async def mark_as_sold(ctx: restate.ObjectContext) -> None:
    if await ctx.get("status", type_hint=str) == "RESERVED":
        ctx.set("status", "SOLD")


@ticket.handler(kind="shared")
async def status(ctx: restate.ObjectSharedContext) -> str:
    return await ctx.get("status", type_hint=str) or "AVAILABLE"


@session.handler(name="addTicket")
async def add_ticket(ctx: restate.ObjectContext, ticket_id: str) -> bool:
    reserved = await ctx.object_call(reserve, key=ticket_id, arg=None)
    if reserved:
        tickets = await ctx.get("tickets", type_hint=list[str]) or []
        ctx.set("tickets", [*tickets, ticket_id])
        ctx.object_send(expire_ticket, key=ctx.key(), arg=ticket_id,
                        send_delay=timedelta(minutes=15))
    return reserved


@session.handler(name="expireTicket")
async def expire_ticket(ctx: restate.ObjectContext, ticket_id: str) -> None:
    tickets = await ctx.get("tickets", type_hint=list[str]) or []
    if ticket_id in tickets:
        ctx.set("tickets", [t for t in tickets if t != ticket_id])
        ctx.object_send(unreserve, key=ticket_id, arg=None)


@session.handler()
async def checkout(ctx: restate.ObjectContext) -> bool:
    tickets = await ctx.get("tickets", type_hint=list[str]) or []
    if not tickets:
        return False
    paid = await ctx.service_call(handle, arg={"user": ctx.key(), "tickets": tickets},
                                  idempotency_key=str(ctx.uuid()))
    if paid:
        for t in tickets:
            ctx.object_send(mark_as_sold, key=t, arg=None)
        ctx.clear("tickets")
    return paid


def _charge(user: str, amount: int, key: str) -> str:
    if amount > 4 * PRICE:
        raise TerminalError("over the card's limit", 402)
    return str(payments.apply("charge", {"user": user, "amount": amount},
                              idempotency_key=key)["id"])


def _mail(user: str, receipt: str, key: str) -> None:
    mailer.apply("send", {"to": user, "receipt": receipt}, idempotency_key=key)


@checkout_service.handler()
async def handle(ctx: restate.Context, order: dict) -> bool:
    key = str(ctx.uuid())
    try:
        receipt = await ctx.run_typed("charge", _charge, user=order["user"],
                                      amount=PRICE * len(order["tickets"]), key=key)
    except TerminalError:
        return False
    await ctx.run_typed("mail", _mail, user=order["user"], receipt=receipt, key=key)
    return True


app = restate.app([ticket, session, checkout_service])
services = [ticket, session, checkout_service]
externals = [payments, mailer]
