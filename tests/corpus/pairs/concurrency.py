"""Bugs across invocations: two invocations at once lose an update, or do
twice what was meant to happen once per key."""

from __future__ import annotations

import simdurable as restate
import simdurable as sd

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


billing = sd.FakeExternal("billing")


def bill(customer: str, month: str) -> None:
    billing.apply("invoice", {"customer": customer, "month": month},
                  idempotency_key=f"{customer}-{month}")


invoice = restate.Workflow("Invoice")


@invoice.main()
async def issue(ctx: restate.WorkflowContext, order: dict) -> None:
    ctx.set("month", order["month"])
    await ctx.run_typed("bill", bill, customer=order["customer"], month=order["month"])


# A workflow's id reused for work that must happen once per month: a
# workflow runs once per id, so the second month's send is taken for the
# first ("previously accepted") and that month is never invoiced. The id
# must name what happens once: the customer and the month.
# https://github.com/dapr/docs/pull/4237 (scheduling a workflow again with an
# id in use is ignored)
monthly_bug = restate.Service("Billing")
monthly_ok = restate.Service("Billing")


@monthly_bug.handler(name="run")
async def monthly_run_bug(ctx: restate.Context, customer: str) -> None:
    for month in ("2026-01", "2026-02"):
        ctx.workflow_send(issue, customer, {"customer": customer, "month": month})


@monthly_ok.handler(name="run")
async def monthly_run_ok(ctx: restate.Context, customer: str) -> None:
    for month in ("2026-01", "2026-02"):
        ctx.workflow_send(issue, f"{customer}-{month}", {"customer": customer, "month": month})


def every_month_billed(outcome: sd.Outcome) -> None:
    """An invoice workflow ran for each month (whether or not the bank took it)."""
    months = sorted(state["month"] for name, state in outcome.state.items()
                    if name.startswith("Invoice/") and "month" in state)
    assert months == ["2026-01", "2026-02"], f"invoice workflows ran for months {months}"


# Two transfers in opposite directions at once, each an exclusive handler that
# waits on a call to the other account's exclusive handler: alice holds her
# key and waits for bob's, bob holds his and waits for alice's, and neither
# ever ends. A one-way message for the deposit holds no key while it waits.
# https://docs.restate.dev/develop/python/service-communication ("Request-response
# calls between exclusive handlers of Virtual Objects may lead to deadlocks:
# cross deadlock, A -> B and B -> A")
wallet_bug = restate.VirtualObject("Wallet")
wallet_ok = restate.VirtualObject("Wallet")
OPENING = 100


async def _held(ctx: restate.ObjectContext) -> int:
    return int(await ctx.get("balance") or OPENING)


@wallet_bug.handler(name="deposit")
async def wallet_deposit_bug(ctx: restate.ObjectContext, amount: int) -> int:
    balance = await _held(ctx) + amount
    ctx.set("balance", balance)
    return balance


@wallet_bug.handler(name="transfer")
async def wallet_transfer_bug(ctx: restate.ObjectContext, req: dict) -> int:
    balance = await _held(ctx) - req["amount"]
    if balance < 0:
        raise restate.TerminalError("insufficient funds", 402)
    ctx.set("balance", balance)
    await ctx.object_call(wallet_deposit_bug, req["to"], req["amount"])
    return balance


@wallet_ok.handler(name="deposit")
async def wallet_deposit_ok(ctx: restate.ObjectContext, amount: int) -> int:
    balance = await _held(ctx) + amount
    ctx.set("balance", balance)
    return balance


@wallet_ok.handler(name="transfer")
async def wallet_transfer_ok(ctx: restate.ObjectContext, req: dict) -> int:
    balance = await _held(ctx) - req["amount"]
    if balance < 0:
        raise restate.TerminalError("insufficient funds", 402)
    ctx.set("balance", balance)
    ctx.object_send(wallet_deposit_ok, req["to"], req["amount"])
    return balance


def money_kept(outcome: sd.Outcome) -> None:
    """Transfers move money between the two wallets; they make and lose none."""
    total = sum(outcome.state.get(f"Wallet/{who}", {}).get("balance", OPENING)
                for who in ("alice", "bob"))
    assert total == 2 * OPENING, f"{total} in the two wallets, not {2 * OPENING}"


# An exclusive handler that awaits a call to an exclusive handler of its own
# object and key: the callee queues behind the caller, which holds the key
# until the callee answers, and neither ever ends (Restate waits for ever
# too). Read-only work on the same key belongs in a shared handler, or in the
# caller itself.
# https://gemdocs.org/gems/restate-sdk/1.0.0/Restate/Middleware/DeadlockDetection.html
# and yshaul/restate-ruby#1 (re-entrant calls to the same virtual object key
# block for ever); docs.restate.dev virtual objects (one exclusive handler at
# a time per key)
basket_bug = restate.VirtualObject("Basket")
basket_ok = restate.VirtualObject("Basket")


@basket_bug.handler(name="add")
async def basket_add_bug(ctx: restate.ObjectContext, item: str) -> int:
    items = list(await ctx.get("items") or [])
    ctx.set("items", [*items, item])
    return int(await ctx.object_call(basket_size_bug, key=ctx.key(), arg=None))


@basket_bug.handler(name="size")
async def basket_size_bug(ctx: restate.ObjectContext, _: None) -> int:
    return len(await ctx.get("items") or [])


@basket_ok.handler(name="add")
async def basket_add_ok(ctx: restate.ObjectContext, item: str) -> int:
    items = list(await ctx.get("items") or [])
    ctx.set("items", [*items, item])
    return int(await ctx.object_call(basket_size_ok, key=ctx.key(), arg=None))


@basket_ok.handler(name="size", kind="shared")
async def basket_size_ok(ctx: restate.ObjectSharedContext, _: None) -> int:
    return len(await ctx.get("items") or [])


PAIRS = [
    Pair(name="shared-handler-read-modify-write", kind="not-serializable",
         source="restatedev/sdk-typescript#344", invoke="Seats/show-1/book", input=1,
         buggy=[seats_bug], correct=[seats_ok], setup=reset_stock, extra={"concurrent": 2}),
    Pair(name="read-then-write-through-two-calls", kind="not-serializable",
         source="arunaengine/aruna#47", invoke="TopUp/add", input=5,
         buggy=[topup_bug, account], correct=[topup_ok, account], extra={"concurrent": 2}),
    Pair(name="workflow-id-reused-per-month", kind="invariant", source="dapr/docs#4237",
         invoke="Billing/run", input="c1", buggy=[monthly_bug, invoice],
         correct=[monthly_ok, invoice], externals=(billing,), invariant=every_month_billed),
    Pair(name="cross-call-deadlock", kind="stuck",
         source="docs.restate.dev service-communication (cross deadlock)",
         invoke="Wallet/alice/transfer", input={"to": "bob", "amount": 10},
         buggy=[wallet_bug], correct=[wallet_ok], invariant=money_kept,
         extra={"concurrent": [("Wallet/bob/transfer", {"to": "alice", "amount": 5})]}),
    Pair(name="exclusive-handler-calls-own-key", kind="stuck",
         source="gemdocs.org restate-sdk Restate::Middleware::DeadlockDetection; "
                "yshaul/restate-ruby#1", invoke="Basket/b1/add", input="pen",
         buggy=[basket_bug], correct=[basket_ok]),
]
