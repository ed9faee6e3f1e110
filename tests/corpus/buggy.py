"""Handlers with the durable-execution bugs ``check`` must catch, one per service.

Each has a correct twin in ``correct.py`` under the same service name.
"""

from __future__ import annotations

import random
import time
import uuid

import simdurable as restate
import simdurable as sd

bank = sd.FakeExternal("bank")
ledger = sd.FakeExternal("ledger")
travel = sd.FakeExternal("travel")

# A database row outside simdurable: the counter of the read-modify-write bug.
balance = {"n": 0}


def reset() -> None:
    balance["n"] = 0


def charge(key: str | None, amount: int) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


# 1. A payment charged without an idempotency key: a crash after the charge and
#    before its result is stored charges the card twice.
payments = restate.Service("Payments")


@payments.handler()
async def pay(ctx: restate.Context, amount: int) -> str:
    return await ctx.run_typed("charge", charge, key=None, amount=amount)


# 2. An idempotency key from uuid.uuid4() outside a step: a new key on replay.
keyed = restate.Service("Keyed")


@keyed.handler()
async def pay_keyed(ctx: restate.Context, amount: int) -> str:
    key = str(uuid.uuid4())
    return await ctx.run_typed("charge", charge, key=key, amount=amount)


# 3. A branch on random.random() / time.time() outside a step.
branchy = restate.Service("Branchy")


@branchy.handler()
async def pick(ctx: restate.Context, amount: int) -> str:
    if random.random() < 0.5:
        return await ctx.run_typed("charge-card", charge, key="card", amount=amount)
    return await ctx.run_typed("charge-wallet", charge, key="wallet", amount=amount)


@branchy.handler()
async def late(ctx: restate.Context, amount: int) -> str:
    if time.time() % 2 < 1:
        return await ctx.run_typed("charge-now", charge, key="now", amount=amount)
    return await ctx.run_typed("charge-later", charge, key="later", amount=amount)


# 4. Step names built from set iteration order: the order of a set of strings
#    depends on the process's hash seed, so a replay in a restarted service
#    process issues the steps in another order.
notifier = restate.Service("Notifier")


def notify(region: str) -> str:
    return f"notified {region}"


@notifier.handler()
async def notify_all(ctx: restate.Context, regions: list[str]) -> list[str]:
    out = []
    for region in set(regions):
        out.append(await ctx.run_typed(f"notify-{region}", notify, region=region))
    return sorted(out)


# 5. The context used inside a step.
profiles = restate.VirtualObject("Profiles")


@profiles.handler()
async def rename(ctx: restate.ObjectContext, name: str) -> str:
    async def save() -> str:
        old = await ctx.get("name")
        return f"{old} -> {name}"

    out = await ctx.run_typed("save", save)
    ctx.set("name", name)
    return out


# 6. A counter updated by read-modify-write across a crash, the read outside a step.
deposits = restate.Service("Deposits")


def write_balance(value: int, key: str) -> int:
    ledger.apply("write", {"balance": value}, idempotency_key=key)
    balance["n"] = value
    return value


@deposits.handler()
async def deposit(ctx: restate.Context, amount: int) -> int:
    current = balance["n"]                     # read outside a step: not journaled
    key = str(ctx.uuid())
    return await ctx.run_typed("write", write_balance, value=current + amount, key=key)


# 7. A compensation that never runs: step failures reach the handler as
#    TerminalError, so ``except ConnectionError`` never catches them.
trips = restate.Service("Trips")


def book(what: str, trip: str) -> str:
    return str(travel.apply(f"book-{what}", {"trip": trip}, idempotency_key=f"{what}-{trip}")["id"])


def cancel(what: str, trip: str) -> None:
    travel.apply(f"cancel-{what}", {"trip": trip}, idempotency_key=f"cancel-{what}-{trip}")


@trips.handler()
async def book_trip(ctx: restate.Context, trip: str) -> str:
    compensated = False
    try:
        await ctx.run_typed("book-flight", book, what="flight", trip=trip)
        try:
            await ctx.run_typed("book-hotel", book, what="hotel", trip=trip)
        except ConnectionError:
            await ctx.run_typed("cancel-flight", cancel, what="flight", trip=trip)
            compensated = True
            raise
        return "booked"
    finally:
        sd.sometimes(compensated, "a trip whose hotel fails has its flight cancelled")


def no_flight_left_after_failure(outcome: sd.Outcome) -> None:
    """If the trip failed, every flight booked was cancelled."""
    if outcome.error is None:
        return
    ops = [e.op for e in outcome.effects["travel"]]
    assert ops.count("book-flight") == ops.count("cancel-flight"), (
        f"the trip failed ({outcome.error.message}) but its flight is still booked: {ops}"
    )
