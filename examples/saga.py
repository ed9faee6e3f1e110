"""A trip booking saga: reserve a flight and a hotel, charge, and undo on failure.

When the charge fails terminally, the handler compensates in reverse order
(cancel the hotel, then the flight) and re-raises. Every step carries an
idempotency key, so crashes during the saga or its compensation never book
or cancel twice.
"""

from __future__ import annotations

import simdurable as restate

flights = restate.FakeExternal("flights")
hotels = restate.FakeExternal("hotels")
cards = restate.FakeExternal("cards")

trips = restate.Service("Trips")


def _do(ext: restate.FakeExternal, op: str, trip: str, key: str) -> str:
    return str(ext.apply(op, {"trip": trip}, idempotency_key=f"{key}:{op}")["id"])


@trips.handler()
async def book(ctx: restate.Context, trip: dict) -> dict:
    name = trip["name"]
    key = str(ctx.uuid())
    undo: list[tuple[str, restate.FakeExternal, str]] = []
    try:
        flight = await ctx.run_typed(
            "reserve-flight", _do, ext=flights, op="reserve", trip=name, key=key
        )
        undo.append(("cancel-flight", flights, "cancel"))
        hotel = await ctx.run_typed(
            "reserve-hotel", _do, ext=hotels, op="reserve", trip=name, key=key
        )
        undo.append(("cancel-hotel", hotels, "cancel"))
        payment = await ctx.run_typed("charge", _do, ext=cards, op="charge", trip=name, key=key)
    except restate.TerminalError:
        for step, ext, op in reversed(undo):
            await ctx.run_typed(step, _do, ext=ext, op=op, trip=name, key=key)
        raise
    return {"flight": flight, "hotel": hotel, "payment": payment}


services = [trips]
externals = [flights, hotels, cards]
