"""Step results that do not come back from the journal as they went in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import simdurable as restate
import simdurable as sd

from . import Pair

inventory = sd.FakeExternal("inventory")
EXTERNALS = (inventory,)


# A dict with int keys: JSON turns them into strings.
# https://github.com/python/cpython/issues/91774
stock_bug = restate.Service("Stock")
stock_ok = restate.Service("Stock")


def levels() -> dict[int, int]:
    return {101: 3, 102: 0}


@stock_bug.handler(name="available")
async def stock_available_bug(ctx: restate.Context, sku: int) -> bool:
    by_sku = await ctx.run_typed("levels", levels)
    return by_sku.get(sku, 0) > 0


def levels_str() -> dict[str, int]:
    return {str(k): v for k, v in levels().items()}


@stock_ok.handler(name="available")
async def stock_available_ok(ctx: restate.Context, sku: int) -> bool:
    by_sku = await ctx.run_typed("levels", levels_str)
    return by_sku.get(str(sku), 0) > 0


# A tuple comes back as a list: a comparison with a tuple is false.
# https://github.com/lidatong/dataclasses-json/issues/379 (containers lose their type in JSON)
quote_bug = restate.Service("Quote")
quote_ok = restate.Service("Quote")


@quote_bug.handler(name="accept")
async def quote_accept_bug(ctx: restate.Context, amount: int) -> str:
    price = await ctx.run_typed("price", lambda: (amount, "EUR"))
    if price == (amount, "EUR"):
        return await ctx.run_typed("reserve", lambda: str(inventory.apply(
            "reserve", {"amount": amount}, idempotency_key="q")["id"]))
    return "rejected"


@quote_ok.handler(name="accept")
async def quote_accept_ok(ctx: restate.Context, amount: int) -> str:
    price = await ctx.run_typed("price", lambda: [amount, "EUR"])
    if price == [amount, "EUR"]:
        return await ctx.run_typed("reserve", lambda: str(inventory.apply(
            "reserve", {"amount": amount}, idempotency_key="q")["id"]))
    return "rejected"


# A set of tags returned by a step: JSON has no sets.
# https://github.com/jsonpickle/jsonpickle/issues/450 (what JSON cannot hold changes shape)
tags_bug = restate.Service("Tags")
tags_ok = restate.Service("Tags")


@tags_bug.handler(name="label")
async def tags_label_bug(ctx: restate.Context, doc: str) -> int:
    tags = await ctx.run_typed("tags", lambda: {"new", doc})
    return len(tags)


@tags_ok.handler(name="label")
async def tags_label_ok(ctx: restate.Context, doc: str) -> int:
    tags = await ctx.run_typed("tags", lambda: sorted({"new", doc}))
    return len(tags)


# A datetime returned by an activity: its offset (or its type) is lost.
# https://github.com/Azure/azure-functions-durable-extension/issues/934
due_bug = restate.Service("Due")
due_ok = restate.Service("Due")


@due_bug.handler(name="check")
async def due_check_bug(ctx: restate.Context, order: str) -> str:
    due = await ctx.run_typed("due", lambda: datetime(2030, 1, 1, tzinfo=UTC))
    return due.isoformat()


@due_ok.handler(name="check")
async def due_check_ok(ctx: restate.Context, order: str) -> str:
    due = await ctx.run_typed("due", lambda: datetime(2030, 1, 1, tzinfo=UTC)
                              .isoformat())
    return str(due)


# A dataclass returned without a type hint comes back as a dict.
# https://github.com/altmann/FluentResults/issues/209 (activity results rebuilt wrongly)
@dataclass
class Receipt:
    id: str
    amount: int


receipt_bug = restate.Service("Receipt")
receipt_ok = restate.Service("Receipt")


@receipt_bug.handler(name="buy")
async def receipt_buy_bug(ctx: restate.Context, amount: int) -> str:
    r = await ctx.run_typed("buy", lambda: Receipt(id="r1", amount=amount))
    return r.id


def buy(amount: int) -> Receipt:
    return Receipt(id="r1", amount=amount)


@receipt_ok.handler(name="buy")
async def receipt_buy_ok(ctx: restate.Context, amount: int) -> str:
    r = await ctx.run_typed("buy", buy, amount=amount)
    return r.id


def _pair(name: str, source: str, bug: restate.Service, ok: restate.Service, target: str,
          value: object, kind: str = "serialization") -> Pair:
    return Pair(name=name, kind=kind, source=source, invoke=target, input=value, buggy=[bug],
                correct=[ok], externals=EXTERNALS)


PAIRS = [
    _pair("int-keys-result", "python/cpython#91774", stock_bug, stock_ok,
          "Stock/available", 101),
    _pair("tuple-result", "lidatong/dataclasses-json#379", quote_bug, quote_ok,
          "Quote/accept", 30),
    _pair("set-result", "jsonpickle/jsonpickle#450", tags_bug, tags_ok, "Tags/label", "d1"),
    _pair("datetime-result", "Azure/azure-functions-durable-extension#934", due_bug, due_ok,
          "Due/check", "o1"),
    _pair("dataclass-without-hint", "altmann/FluentResults#209", receipt_bug, receipt_ok,
          "Receipt/buy", 30),
]
