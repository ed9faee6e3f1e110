"""Payments: charge the card exactly once, then credit the merchant's wallet.

The idempotency key comes from ``ctx.uuid()``, which is the same on every
replay: if the service crashes after the bank charged the card but before
the charge was stored, the retried charge carries the same key and the bank
answers with the first receipt instead of charging again.
"""

from __future__ import annotations

import simdurable as restate

bank = restate.FakeExternal("bank")

payments = restate.Service("Payments")
wallets = restate.VirtualObject("Wallet")


def charge(card: str, amount: int, key: str) -> str:
    receipt = bank.apply("charge", {"card": card, "amount": amount}, idempotency_key=key)
    return str(receipt["id"])


@wallets.handler()
async def deposit(ctx: restate.ObjectContext, amount: int) -> int:
    balance = (await ctx.get("balance")) or 0
    ctx.set("balance", balance + amount)
    return int(balance + amount)


@wallets.handler(kind="shared")
async def balance(ctx: restate.ObjectSharedContext) -> int:
    return int((await ctx.get("balance")) or 0)


@payments.handler()
async def pay(ctx: restate.Context, req: dict) -> dict:
    key = str(ctx.uuid())
    receipt = await ctx.run_typed("charge", charge, card=req["card"], amount=req["amount"],
                                  key=key)
    total = await ctx.object_call(deposit, req["merchant"], req["amount"])
    return {"receipt": receipt, "merchant_balance": total}


services = [payments, wallets]
