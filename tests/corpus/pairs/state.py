"""State and control flow: reads outside steps, the context in a step, lost local updates."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd

from . import Pair

ledger = sd.FakeExternal("ledger")
pay = sd.FakeExternal("pay")

# A database row outside simdurable.
ROW = {"balance": 0}


def reset() -> None:
    ROW["balance"] = 0


def write_balance(value: int, key: str) -> int:
    ledger.apply("write", {"balance": value}, idempotency_key=key)
    ROW["balance"] = value
    return value


# A read of the database in the workflow body, not in a step: "if you need
# to perform a non-deterministic operation like accessing the database ...
# do it in a step".  https://github.com/dbos-inc/dbos-docs/pull/408
wallet_bug = restate.Service("Wallet")
wallet_ok = restate.Service("Wallet")


@wallet_bug.handler(name="deposit")
async def wallet_deposit_bug(ctx: restate.Context, amount: int) -> int:
    current = ROW["balance"]
    key = str(ctx.uuid())
    return await ctx.run_typed("write", write_balance, value=current + amount, key=key)


@wallet_ok.handler(name="deposit")
async def wallet_deposit_ok(ctx: restate.Context, amount: int) -> int:
    current = await ctx.run_typed("read", lambda: ROW["balance"])
    key = str(ctx.uuid())
    return await ctx.run_typed("write", write_balance, value=current + amount, key=key)


# The context used inside a step (a durable call from within ctx.run).
# https://github.com/restatedev/sdk-python/pull/151 (SDK exceptions wrapped by user code in a step)
profile_bug = restate.VirtualObject("Profile")
profile_ok = restate.VirtualObject("Profile")


@profile_bug.handler(name="rename")
async def profile_rename_bug(ctx: restate.ObjectContext, name: str) -> str:
    async def save() -> str:
        old = await ctx.get("name")
        return f"{old} -> {name}"

    out = await ctx.run_typed("save", save)
    ctx.set("name", name)
    return out


@profile_ok.handler(name="rename")
async def profile_rename_ok(ctx: restate.ObjectContext, name: str) -> str:
    old = await ctx.get("name")
    out = await ctx.run_typed("save", lambda: f"{old} -> {name}")
    ctx.set("name", name)
    return out


# Results collected by a step into the handler's list: on replay the step
# does not run and the list stays empty; state must come from the journal.
# https://github.com/noetl/noetl/pull/301 (replayed context restored from persisted events)
collect_bug = restate.Service("Collect")
collect_ok = restate.Service("Collect")


@collect_bug.handler(name="run")
async def collect_run_bug(ctx: restate.Context, items: list[str]) -> list[str]:
    done: list[str] = []
    for item in items:
        def process(item: str = item) -> None:
            done.append(item.upper())

        await ctx.run_typed(f"process-{item}", process)
        await ctx.sleep(timedelta(minutes=1))
    return done


@collect_ok.handler(name="run")
async def collect_run_ok(ctx: restate.Context, items: list[str]) -> list[str]:
    done: list[str] = []
    for item in items:
        done.append(await ctx.run_typed(f"process-{item}", lambda item=item: item.upper()))
        await ctx.sleep(timedelta(minutes=1))
    return done


# Status written before the payment, not undone when it fails for good:
# the record stays "paid" (Powertools left a record stuck IN_PROGRESS).
# https://github.com/aws-powertools/powertools-lambda-python/issues/1093
invoice_bug = restate.VirtualObject("Invoice")
invoice_ok = restate.VirtualObject("Invoice")


def charge(inv: str) -> str:
    return str(pay.apply("charge", {"invoice": inv}, idempotency_key=inv)["id"])


@invoice_bug.handler(name="pay")
async def invoice_pay_bug(ctx: restate.ObjectContext, amount: int) -> str:
    ctx.set("status", "paid")
    return await ctx.run_typed("charge", charge, inv=ctx.key())


@invoice_ok.handler(name="pay")
async def invoice_pay_ok(ctx: restate.ObjectContext, amount: int) -> str:
    receipt = await ctx.run_typed("charge", charge, inv=ctx.key())
    ctx.set("status", "paid")
    return receipt


def paid_status_means_charged(outcome: sd.Outcome) -> None:
    """An invoice marked paid was charged."""
    status = outcome.state.get("Invoice/i1", {}).get("status")
    if status == "paid":
        assert any(e.op == "charge" for e in outcome.effects["pay"]), (
            f"the invoice is marked paid but nothing was charged ({outcome.error})")


# An order number from a module-level counter in the body: each replay
# takes the next number, so the key of the charge changes.
# https://github.com/dbos-inc/dbos-docs/pull/408 (the workflow function must be deterministic)
SEQ = {"n": 0}
numbered_bug = restate.Service("Numbered")
numbered_ok = restate.Service("Numbered")


@numbered_bug.handler(name="order")
async def numbered_order_bug(ctx: restate.Context, amount: int) -> str:
    SEQ["n"] += 1
    number = SEQ["n"]
    await ctx.sleep(timedelta(seconds=1))
    return str(await ctx.run_typed("charge", lambda: pay.apply(
        "charge", {"amount": amount}, idempotency_key=f"order-{number}")["id"]))


@numbered_ok.handler(name="order")
async def numbered_order_ok(ctx: restate.Context, amount: int) -> str:
    number = ctx.random().randint(1, 10**9)
    await ctx.sleep(timedelta(seconds=1))
    return str(await ctx.run_typed("charge", lambda: pay.apply(
        "charge", {"amount": amount}, idempotency_key=f"order-{number}")["id"]))


def reset_seq() -> None:
    SEQ["n"] = 0


# Bad input raised as an ordinary exception: retried forever instead of
# failing; non-retryable errors must be terminal.
# https://github.com/dbos-inc/dbos-transact-py/issues/147 (catching exhausted retries)
validate_bug = restate.Service("Validate")
validate_ok = restate.Service("Validate")


def check_amount(amount: int) -> int:
    if amount <= 0:
        raise ValueError(f"invalid amount {amount}")
    return amount


def check_amount_terminal(amount: int) -> int:
    if amount <= 0:
        raise restate.TerminalError(f"invalid amount {amount}", 400)
    return amount


@validate_bug.handler(name="pay")
async def validate_pay_bug(ctx: restate.Context, amount: int) -> int:
    return await ctx.run_typed("validate", check_amount, amount=amount)


@validate_ok.handler(name="pay")
async def validate_pay_ok(ctx: restate.Context, amount: int) -> int:
    return await ctx.run_typed("validate", check_amount_terminal, amount=amount)


# Bets kept in state by round number, an int: JSON keeps a dict's keys as
# str, so the next read of the state has "7" where the handler looks for 7,
# and a bet already placed for round 7 is placed again (the next invocation,
# or a retry that reads state afresh). Keys of state are str.
# https://github.com/gensyn-ai/rl-swarm/pull/461 ("JSON does not support
# integer keys ... every node restart forces it to make another bet")
bets = sd.FakeExternal("bets")


def place_bet(player: str, round_no: int) -> str:
    return str(bets.apply("bet", {"player": player, "round": round_no},
                          idempotency_key=f"{player}-{round_no}")["id"])


player_bug = restate.VirtualObject("Player")
player_ok = restate.VirtualObject("Player")


@player_bug.handler(name="bet")
async def player_bet_bug(ctx: restate.ObjectContext, round_no: int) -> str:
    placed = dict(await ctx.get("placed") or {})
    if round_no not in placed:
        placed[round_no] = await ctx.run_typed("bet", place_bet, player=ctx.key(),
                                               round_no=round_no)
        ctx.set("placed", placed)
    return str(placed[round_no])


@player_ok.handler(name="bet")
async def player_bet_ok(ctx: restate.ObjectContext, round_no: int) -> str:
    placed = dict(await ctx.get("placed") or {})
    if str(round_no) not in placed:
        placed[str(round_no)] = await ctx.run_typed("bet", place_bet, player=ctx.key(),
                                                    round_no=round_no)
        ctx.set("placed", placed)
    return str(placed[str(round_no)])


PAIRS = [
    Pair(name="db-read-outside-step", kind="outcome-changed", source="dbos-inc/dbos-docs#408",
         invoke="Wallet/deposit", input=10, buggy=[wallet_bug], correct=[wallet_ok],
         externals=(ledger,), setup=reset),
    Pair(name="context-in-step", kind="context-misuse", source="restatedev/sdk-python#151",
         invoke="Profile/p1/rename", input="bob", buggy=[profile_bug], correct=[profile_ok]),
    Pair(name="step-mutates-local-list", kind="outcome-changed", source="noetl/noetl#301",
         invoke="Collect/run", input=["a", "b"], buggy=[collect_bug], correct=[collect_ok]),
    Pair(name="status-before-payment", kind="invariant",
         source="aws-powertools/powertools-lambda-python#1093", invoke="Invoice/i1/pay",
         input=10, buggy=[invoice_bug], correct=[invoice_ok], externals=(pay,),
         invariant=paid_status_means_charged),
    Pair(name="module-counter-key", kind="duplicate-effect", source="dbos-inc/dbos-docs#408",
         invoke="Numbered/order", input=10, buggy=[numbered_bug], correct=[numbered_ok],
         externals=(pay,), setup=reset_seq),
    Pair(name="non-terminal-validation", kind="retry-loop",
         source="dbos-inc/dbos-transact-py#147", invoke="Validate/pay", input=-5,
         buggy=[validate_bug], correct=[validate_ok]),
    Pair(name="int-keys-in-state", kind="serialization", source="gensyn-ai/rl-swarm#461",
         invoke="Player/p1/bet", input=7, buggy=[player_bug], correct=[player_ok],
         externals=(bets,)),
]
