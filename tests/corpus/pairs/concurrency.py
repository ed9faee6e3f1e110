"""Bugs across invocations: two invocations at once lose an update, or do
twice what was meant to happen once per key."""

from __future__ import annotations

import simdurable as restate

from . import Pair

# A stock table outside simdurable (a database row per item).
STOCK = {"seats": 10}


def reset_stock() -> None:
    STOCK["seats"] = 10


def read_left() -> int:
    return STOCK["seats"]


def write_left(value: int) -> int:
    STOCK["seats"] = value
    return value


# A read-modify-write of a database row in a virtual object's *shared*
# handler: shared handlers run concurrently for one key, so two bookings read
# the same count and one is lost. Exclusive handlers run one at a time per key.
# https://github.com/restatedev/sdk-typescript/pull/344 (shared handlers allow
# concurrent invocations for a key)
seats_bug = restate.VirtualObject("Seats")
seats_ok = restate.VirtualObject("Seats")


async def _book(ctx: restate.ObjectSharedContext, n: int) -> int:
    left = await ctx.run_typed("read", read_left)
    if left < n:
        raise restate.TerminalError("sold out", 409)
    return await ctx.run_typed("write", write_left, value=left - n)


@seats_bug.handler(name="book", kind="shared")
async def seats_book_bug(ctx: restate.ObjectSharedContext, n: int) -> int:
    return await _book(ctx, n)


@seats_ok.handler(name="book")
async def seats_book_ok(ctx: restate.ObjectContext, n: int) -> int:
    return await _book(ctx, n)


# A balance read through one call and written back through another: the
# object's lock covers each call, not the pair, so two top-ups at once keep
# only one. The fix is one exclusive handler that reads and writes.
# https://github.com/arunaengine/aruna/issues/47 (a concurrent update
# overwrites the latest revision)
account = restate.VirtualObject("Account")


@account.handler(kind="shared")
async def balance(ctx: restate.ObjectSharedContext) -> int:
    return int(await ctx.get("balance") or 0)


@account.handler()
async def set_balance(ctx: restate.ObjectContext, value: int) -> None:
    ctx.set("balance", value)


@account.handler()
async def deposit(ctx: restate.ObjectContext, amount: int) -> int:
    value = int(await ctx.get("balance") or 0) + amount
    ctx.set("balance", value)
    return value


topup_bug = restate.Service("TopUp")
topup_ok = restate.Service("TopUp")


@topup_bug.handler(name="add")
async def topup_add_bug(ctx: restate.Context, amount: int) -> int:
    current = await ctx.object_call(balance, "acct-1", None)
    await ctx.object_call(set_balance, "acct-1", current + amount)
    return int(current) + amount


@topup_ok.handler(name="add")
async def topup_add_ok(ctx: restate.Context, amount: int) -> int:
    return int(await ctx.object_call(deposit, "acct-1", amount))


PAIRS = [
    Pair(name="shared-handler-read-modify-write", kind="not-serializable",
         source="restatedev/sdk-typescript#344", invoke="Seats/show-1/book", input=1,
         buggy=[seats_bug], correct=[seats_ok], setup=reset_stock, extra={"concurrent": 2}),
    Pair(name="read-then-write-through-two-calls", kind="not-serializable",
         source="arunaengine/aruna#47", invoke="TopUp/add", input=5,
         buggy=[topup_bug, account], correct=[topup_ok, account], extra={"concurrent": 2}),
]
