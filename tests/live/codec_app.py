"""An app with a journal value codec, for the live executor's codec tests.

The codec masks every byte and tags the result: a value stored plain (or a body
sent plain) is told apart at once, and ``decode`` refuses what it did not encode.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import simdurable as sd
from simdurable.entry_codec import JournalValueCodec

TAG = b"K1:"


def mask(buf: bytes) -> bytes:
    return bytes(b ^ 0x5A for b in buf)


class Masking(JournalValueCodec):
    def encode(self, buf: bytes) -> bytes:
        return TAG + mask(buf)

    async def decode(self, buf: bytes) -> bytes:
        if not buf.startswith(TAG):
            raise ValueError(f"not a value this codec encoded: {buf[:20]!r}")
        return mask(buf[len(TAG):])


ledger = sd.VirtualObject("Ledger")
pricing = sd.Service("Pricing")


@pricing.handler()
async def quote(ctx: sd.Context, item: str) -> dict[str, object]:
    return {"item": item, "cents": await ctx.run_typed("price", lambda: 100 * len(item))}


@ledger.handler()
async def buy(ctx: sd.ObjectContext, item: str) -> dict[str, object]:
    price = await ctx.service_call(quote, item)
    total = int(await ctx.get("total") or 0) + int(price["cents"])  # type: ignore[call-overload]
    ctx.set("total", total)
    await ctx.run_typed("slow", slow)  # (where a test kills the server)
    await ctx.sleep(timedelta(milliseconds=50))
    return {"item": item, "total": total}


def slow() -> str:
    time.sleep(0.4)
    return "done"


app = sd.app([ledger, pricing], journal_value_codec=Masking())


class FloatJson(JournalValueCodec):
    """Re-encodes JSON numbers as floats: a big int comes back with other digits."""

    def encode(self, buf: bytes) -> bytes:
        return json.dumps(json.loads(buf, parse_int=float)).encode() if buf else buf

    async def decode(self, buf: bytes) -> bytes:
        def number(text: str) -> int | float:
            value = float(text)
            return int(value) if value.is_integer() else value

        return json.dumps(json.loads(buf, parse_float=number)).encode() if buf else buf


big = sd.Service("Big")


@big.handler()
async def fetch(ctx: sd.Context) -> int:
    return await ctx.run_typed("fetch", lambda: 2 ** 60 + 1)


lossy_app = sd.app([big], journal_value_codec=FloatJson())

calls = sd.Service("BigCall")


@calls.handler()
async def give(ctx: sd.Context) -> int:
    return 2 ** 60 + 5


@calls.handler()
async def take(ctx: sd.Context, n: int) -> list[object]:
    return [n, n == 2 ** 60 + 7]


@calls.handler()
async def caller(ctx: sd.Context) -> list[object]:
    given = await ctx.service_call(give, arg=None)
    taken = await ctx.service_call(take, arg=2 ** 60 + 7)
    name, awk = ctx.awakeable(type_hint=int)
    ctx.resolve_awakeable(name, 2 ** 60 + 9)
    woken = await awk
    return [given == 2 ** 60 + 5, taken[1], woken == 2 ** 60 + 9]


lossy_calls_app = sd.app([calls], journal_value_codec=FloatJson())
