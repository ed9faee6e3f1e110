"""Payments, with and without an idempotency key.

``pay`` draws its key from ``ctx.uuid()`` (the same on every replay), so a
crash after the bank charged the card but before the result was stored
replays into the same key and the bank returns the earlier receipt.
``pay_unsafe`` charges without a key: the same crash charges the card twice.
"""

from __future__ import annotations

import simdurable as restate

bank = restate.FakeExternal("bank")
payments = restate.Service("Payments")


def charge(amount: int, key: str | None) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


@payments.handler()
async def pay(ctx: restate.Context, req: dict) -> dict:
    key = str(ctx.uuid())
    receipt = await ctx.run_typed("charge", charge, amount=req["amount"], key=key)
    return {"receipt": receipt, "amount": req["amount"]}


@payments.handler()
async def pay_unsafe(ctx: restate.Context, req: dict) -> dict:
    receipt = await ctx.run_typed("charge", charge, amount=req["amount"], key=None)
    return {"receipt": receipt, "amount": req["amount"]}


services = [payments]
externals = [bank]
