"""An example shop: a checkout that charges a card exactly once.

``checkout`` draws its idempotency key from ``ctx.uuid()`` (stable across
replays), charges through the fake bank inside a step, waits a day (virtual
time) and ships. ``checkout_unsafe`` charges without a key: a crash between
the charge and the storing of its result charges the card twice, which
``simdurable check`` finds and shrinks to one crash.
"""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate

bank = restate.FakeExternal("bank")
warehouse = restate.FakeExternal("warehouse")

shop = restate.Service("Shop")
inventory = restate.VirtualObject("Inventory")


def charge(key: str | None, amount: int) -> str:
    receipt = bank.apply("charge", {"amount": amount}, idempotency_key=key)
    return str(receipt["id"])


def ship(order: str, item: str) -> None:
    warehouse.apply("ship", {"order": order, "item": item}, idempotency_key=order)


@inventory.handler()
async def reserve(ctx: restate.ObjectContext, qty: int) -> int:
    stock = await ctx.get("stock")
    stock = 10 if stock is None else stock
    if stock < qty:
        raise restate.TerminalError(f"only {stock} left of {ctx.key()}", 409)
    ctx.set("stock", stock - qty)
    return int(stock - qty)


@shop.handler()
async def checkout(ctx: restate.Context, order: dict) -> dict:
    left = await ctx.object_call(reserve, order["item"], order.get("qty", 1))
    key = str(ctx.uuid())
    receipt = await ctx.run_typed("charge", charge, key=key, amount=order["amount"])
    await ctx.sleep(timedelta(days=1))
    await ctx.run_typed("ship", ship, order=key, item=order["item"])
    return {"receipt": receipt, "left": left}


@shop.handler()
async def checkout_unsafe(ctx: restate.Context, order: dict) -> dict:
    left = await ctx.object_call(reserve, order["item"], order.get("qty", 1))
    receipt = await ctx.run_typed("charge", charge, key=None, amount=order["amount"])
    return {"receipt": receipt, "left": left}


services = [shop, inventory]
externals = [bank, warehouse]
