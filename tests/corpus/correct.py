"""The correct twins of ``buggy.py``, and the patterns of the durable-steps guide.

None of these may be flagged by ``check``.
"""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd

bank = sd.FakeExternal("bank")
ledger = sd.FakeExternal("ledger")
travel = sd.FakeExternal("travel")

balance = {"n": 0}


def reset() -> None:
    balance["n"] = 0


def charge(key: str | None, amount: int) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


# 1 and 2. The idempotency key from ctx.uuid(): the same on every replay.
payments = restate.Service("Payments")


@payments.handler()
async def pay(ctx: restate.Context, amount: int) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("charge", charge, key=key, amount=amount)


keyed = restate.Service("Keyed")


@keyed.handler()
async def pay_keyed(ctx: restate.Context, amount: int) -> str:
    key = await ctx.run_typed("new-key", lambda: str(__import__("uuid").uuid4()))
    return await ctx.run_typed("charge", charge, key=key, amount=amount)


# 3. Branch on ctx.random() and ctx.time(): recorded or seeded, so replay agrees.
branchy = restate.Service("Branchy")


@branchy.handler()
async def pick(ctx: restate.Context, amount: int) -> str:
    if ctx.random().random() < 0.5:
        return await ctx.run_typed("charge-card", charge, key="card", amount=amount)
    return await ctx.run_typed("charge-wallet", charge, key="wallet", amount=amount)


@branchy.handler()
async def late(ctx: restate.Context, amount: int) -> str:
    now = await ctx.time()
    if now % 2 < 1:
        return await ctx.run_typed("charge-now", charge, key="now", amount=amount)
    return await ctx.run_typed("charge-later", charge, key="later", amount=amount)


# 4. Iterate in sorted order: the same in every process.
notifier = restate.Service("Notifier")


def notify(region: str) -> str:
    return f"notified {region}"


@notifier.handler()
async def notify_all(ctx: restate.Context, regions: list[str]) -> list[str]:
    out = []
    for region in sorted(set(regions)):
        out.append(await ctx.run_typed(f"notify-{region}", notify, region=region))
    return sorted(out)


# 5. Read the state before the step; pass the value in.
profiles = restate.VirtualObject("Profiles")


@profiles.handler()
async def rename(ctx: restate.ObjectContext, name: str) -> str:
    old = await ctx.get("name")
    out = await ctx.run_typed("save", lambda: f"{old} -> {name}")
    ctx.set("name", name)
    return out


# 6. Read inside a step, write with an idempotency key.
deposits = restate.Service("Deposits")


def write_balance(value: int, key: str) -> int:
    ledger.apply("write", {"balance": value}, idempotency_key=key)
    balance["n"] = value
    return value


@deposits.handler()
async def deposit(ctx: restate.Context, amount: int) -> int:
    current = await ctx.run_typed("read", lambda: balance["n"])
    key = str(ctx.uuid())
    return await ctx.run_typed("write", write_balance, value=current + amount, key=key)


# 7. Catch TerminalError: the compensation runs when the hotel fails for good.
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
        except restate.TerminalError:
            await ctx.run_typed("cancel-flight", cancel, what="flight", trip=trip)
            compensated = True
            raise
        return "booked"
    finally:
        sd.sometimes(compensated, "a trip whose hotel fails has its flight cancelled")


def no_flight_left_after_failure(outcome: sd.Outcome) -> None:
    if outcome.error is None:
        return
    ops = [e.op for e in outcome.effects["travel"]]
    assert ops.count("book-flight") == ops.count("cancel-flight"), ops


# The durable-steps guide's patterns.
guide = restate.Service("Guide")


def query_user(user_id: str) -> dict[str, str]:
    return {"id": user_id, "name": "Alice"}        # a read: harmless to repeat


def fetch_resource() -> dict[str, int]:
    return {"status": 200}


def payment_charge(key: str, amount: int) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


@guide.handler()
async def patterns(ctx: restate.Context, user_id: str) -> dict[str, object]:
    # Database query, HTTP API call: each a named step.
    user = await ctx.run_typed("query-user", query_user, user_id=user_id)
    api = await ctx.run_typed("fetch-resource", fetch_resource)
    # External service with a retry policy, and an idempotent external call.
    key = str(ctx.uuid())
    receipt = await ctx.run_typed(
        "payment-charge", payment_charge,
        restate.RunOptions(max_duration=timedelta(minutes=3),
                           initial_retry_interval=timedelta(milliseconds=500)),
        key=key, amount=10,
    )
    # Deterministic random numbers; a void step; a terminal error caught.
    lucky = ctx.random().randint(1, 100)
    await ctx.run_typed("audit", lambda: None)
    try:
        await ctx.run_typed("validate", _reject)
    except restate.TerminalError as err:
        rejected = err.status_code
    await ctx.sleep(timedelta(hours=1))
    return {"user": user["name"], "api": api["status"], "receipt": receipt,
            "lucky": lucky, "rejected": rejected}


def _reject() -> None:
    raise restate.TerminalError("unrecoverable input", 400)
