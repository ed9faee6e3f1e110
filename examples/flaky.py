"""A step that gives up: three attempts at an unreliable service, then a terminal error.

``fetch`` runs its step with ``RunOptions(max_attempts=3)``. When all three
attempts fail, the failure is recorded and awaiting the step raises
``TerminalError`` (status 500, the ``repr`` of the last exception), which the
handler turns into a fallback answer in ``fetch_or_default``.
"""

from __future__ import annotations

import simdurable as restate

quotes = restate.FakeExternal("quotes")
prices = restate.Service("Prices")


def _quote(symbol: str) -> int:
    quotes.query("quote", {"symbol": symbol})
    return len(symbol) * 100


@prices.handler()
async def fetch(ctx: restate.Context, symbol: str) -> int:
    return await ctx.run_typed("quote", _quote, restate.RunOptions(max_attempts=3), symbol=symbol)


@prices.handler()
async def fetch_or_default(ctx: restate.Context, symbol: str) -> int:
    try:
        return await ctx.run_typed(
            "quote", _quote, restate.RunOptions(max_attempts=3), symbol=symbol
        )
    except restate.TerminalError:
        return 0


services = [prices]
externals = [quotes]
