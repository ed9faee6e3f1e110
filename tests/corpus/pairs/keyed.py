"""State of one key and promises of one workflow used as they do not work: a
value changed after it was set, or read, changed and never set, state cleared
that another handler keeps, a read after a clear, a process cache shared by
every key, an RNG seeded by the key, a promise peeked at as if it waited, a
promise completed twice, a promise resolved under another name."""

from __future__ import annotations

import random
from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable import world

from . import Pair

shipping = sd.FakeExternal("shipping")
refunds = sd.FakeExternal("refunds")
payouts = sd.FakeExternal("payouts")


def ship(cart: str, items: list[str], address: str | None, key: str) -> str:
    return str(shipping.apply("ship", {"cart": cart, "items": items, "to": address},
                              idempotency_key=key)["id"])


# A cart's list stored with ctx.set, then appended to: set stores the value as
# it is when set (restate-sdk serializes it into the journal at once), so the
# item added after it is lost, and the cart ships without it. An in-memory
# store that hands out its own objects hides this in tests.
# https://github.com/eclipse-edc/Connector/issues/5102 (an in-memory store
# returning its entity without a copy lets changes bypass save);
# https://github.com/LiveRamp/jack/issues/31 (changes to a cached object seen
# in the cache but not in the persistence)
basket_bug = restate.VirtualObject("Basket")
basket_ok = restate.VirtualObject("Basket")


@basket_bug.handler(name="add")
async def basket_add_bug(ctx: restate.ObjectContext, item: str) -> int:
    items: list[str] | None = await ctx.get("items")
    if items is None:
        items = []
        ctx.set("items", items)
    items.append(item)
    return len(items)


@basket_ok.handler(name="add")
async def basket_add_ok(ctx: restate.ObjectContext, item: str) -> int:
    items: list[str] = await ctx.get("items") or []
    items.append(item)
    ctx.set("items", items)
    return len(items)


async def _checkout(ctx: restate.ObjectContext, _: None) -> str:
    items = await ctx.get("items") or []
    address = await ctx.get("address")
    key = str(ctx.uuid())
    receipt = await ctx.run_typed("ship", ship, cart=ctx.key(), items=items, address=address,
                                  key=key)
    ctx.clear("items")
    return receipt


basket_bug.handler(name="checkout")(_checkout)
basket_ok.handler(name="checkout")(_checkout)


# A checkout that empties the whole object with clear_all, when only the
# items are done with: the address the customer saved with another handler
# goes too, and the next order of the same cart ships to nowhere. Clear the
# names you own.
# https://github.com/restatedev/restate/issues/224 (ctx.clearAll: every state
# key of the object); https://github.com/primefaces/primeng/issues/7124
# (clearState cleaning all states where one key was meant)
cart_bug = restate.VirtualObject("Cart")
cart_ok = restate.VirtualObject("Cart")


async def _add(ctx: restate.ObjectContext, item: str) -> None:
    ctx.set("items", [*(await ctx.get("items") or []), item])


async def _set_address(ctx: restate.ObjectContext, address: str) -> None:
    ctx.set("address", address)


@cart_bug.handler(name="checkout")
async def cart_checkout_bug(ctx: restate.ObjectContext, _: None) -> str:
    items = await ctx.get("items") or []
    address = await ctx.get("address")
    key = str(ctx.uuid())
    receipt = await ctx.run_typed("ship", ship, cart=ctx.key(), items=items, address=address,
                                  key=key)
    ctx.clear_all()
    return receipt


@cart_ok.handler(name="checkout")
async def cart_checkout_ok(ctx: restate.ObjectContext, _: None) -> str:
    items = await ctx.get("items") or []
    address = await ctx.get("address")
    key = str(ctx.uuid())
    receipt = await ctx.run_typed("ship", ship, cart=ctx.key(), items=items, address=address,
                                  key=key)
    ctx.clear("items")
    return receipt


for _cart in (cart_bug, cart_ok):
    _cart.handler(name="add")(_add)
    _cart.handler(name="set_address")(_set_address)


def every_parcel_addressed(outcome: sd.Outcome) -> None:
    """Each order of the cart ships to the address saved once."""
    to = [e.payload["to"] for e in outcome.effects["shipping"] if e.op == "ship"]
    assert all(a == "1 Main St" for a in to), f"parcels shipped to {to}"


# An account closed by clearing its balance first and reading it afterwards
# to pay it out: a read after a clear in the same handler sees the clear (the
# journal is read-your-writes), so the payout is of nothing.
# https://github.com/dotnet/orleans/issues/9619 (what the state reads as after
# ClearStateAsync); https://github.com/adobe/aio-lib-state/issues/26 (a read
# after a write within one invocation)
wallet_bug = restate.VirtualObject("Wallet")
wallet_ok = restate.VirtualObject("Wallet")


def pay_out(account: str, amount: int) -> str:
    return str(payouts.apply("payout", {"account": account, "amount": amount},
                             idempotency_key=f"close-{account}")["id"])


async def _deposit(ctx: restate.ObjectContext, amount: int) -> int:
    balance = (await ctx.get("balance") or 0) + amount
    ctx.set("balance", balance)
    return balance


@wallet_bug.handler(name="close")
async def wallet_close_bug(ctx: restate.ObjectContext, _: None) -> str:
    ctx.clear("balance")  # closed first, so that no deposit lands meanwhile
    balance = await ctx.get("balance") or 0
    return await ctx.run_typed("payout", pay_out, account=ctx.key(), amount=balance)


@wallet_ok.handler(name="close")
async def wallet_close_ok(ctx: restate.ObjectContext, _: None) -> str:
    balance = await ctx.get("balance") or 0
    ctx.clear("balance")
    return await ctx.run_typed("payout", pay_out, account=ctx.key(), amount=balance)


wallet_bug.handler(name="deposit")(_deposit)
wallet_ok.handler(name="deposit")(_deposit)


def paid_out_the_balance(outcome: sd.Outcome) -> None:
    """Closing the account pays out what was deposited."""
    paid = [e.payload["amount"] for e in outcome.effects["payouts"]]
    assert all(p == 30 for p in paid), f"30 deposited, paid out {paid}"


# A profile cached in a module-level dict by field name, as if the process
# served one key: a process serves every key of the object, and the second
# customer is greeted with the first one's name (and a replay on another
# process with its own).
# https://github.com/pydantic/pydantic-ai/issues/5875 (an instance cache shared
# by every workflow of a worker); https://github.com/temporalio/sdk-typescript/issues/1355
# (module-level state leaking from one execution into another)
PROFILE_CACHE: dict[str, str] = {}
greetings = sd.FakeExternal("greetings")


def reset_profile_cache() -> None:
    PROFILE_CACHE.clear()


def send_greeting(to: str, name: str) -> None:
    greetings.apply("greet", {"to": to, "text": f"Hello {name}"}, idempotency_key=f"greet-{to}")


member_bug = restate.VirtualObject("Member")
member_ok = restate.VirtualObject("Member")


async def _register(ctx: restate.ObjectContext, name: str) -> None:
    ctx.set("name", name)


@member_bug.handler(name="greet")
async def member_greet_bug(ctx: restate.ObjectContext, _: None) -> None:
    if "name" not in PROFILE_CACHE:
        PROFILE_CACHE["name"] = await ctx.get("name") or "friend"
    await ctx.run_typed("greet", send_greeting, to=ctx.key(), name=PROFILE_CACHE["name"])


@member_ok.handler(name="greet")
async def member_greet_ok(ctx: restate.ObjectContext, _: None) -> None:
    name = await ctx.get("name") or "friend"
    await ctx.run_typed("greet", send_greeting, to=ctx.key(), name=name)


member_bug.handler(name="register")(_register)
member_ok.handler(name="register")(_register)


def greeted_by_own_name(outcome: sd.Outcome) -> None:
    """Each member is greeted with the name they registered."""
    names = {"ann": "Ann", "bob": "Bob"}
    for e in outcome.effects["greetings"]:
        want = f"Hello {names[e.payload['to']]}"
        assert e.payload["text"] == want, f"{e.payload['to']} got {e.payload['text']!r}"


# A manager's decision read with peek(), which answers at once (None while
# nobody has decided), where the workflow means to wait for it: the expense
# is refused before the manager has even seen the mail.
# https://github.com/temporalio/temporal-ecommerce/pull/2 (ReceiveAsync, which
# returns at once when no signal is pending, against Receive, which blocks);
# https://github.com/restatedev/sdk-java/issues/503 (peek: is it completed yet)
expense_bug = restate.Workflow("Expense")
expense_ok = restate.Workflow("Expense")


def reimburse(claim: str, amount: int) -> str:
    return str(refunds.apply("reimburse", {"claim": claim, "amount": amount},
                             idempotency_key=claim)["id"])


@expense_bug.main(name="run")
async def expense_run_bug(ctx: restate.WorkflowContext, amount: int) -> str:
    decision = await ctx.promise("decision").peek()
    if decision != "approved":
        return "refused"
    return await ctx.run_typed("reimburse", reimburse, claim=ctx.key(), amount=amount)


@expense_ok.main(name="run")
async def expense_run_ok(ctx: restate.WorkflowContext, amount: int) -> str:
    decision = await ctx.promise("decision").value()
    if decision != "approved":
        return "refused"
    return await ctx.run_typed("reimburse", reimburse, claim=ctx.key(), amount=amount)


async def _decide(ctx: restate.WorkflowSharedContext, decision: str) -> None:
    await ctx.promise("decision").resolve(decision)


expense_bug.handler(name="decide")(_decide)
expense_ok.handler(name="decide")(_decide)


def approved_is_paid(outcome: sd.Outcome) -> None:
    """The manager approves: the expense is paid."""
    assert outcome.result != "refused", "the manager approved, but the expense was refused"


# A confirmation link's handler that resolves the workflow's promise on every
# click: the second click (a mail client prefetching the link, a double
# click) fails with "promise already completed" (TerminalError 409), and the
# page behind it tells the user the link is broken. Look first with peek, or
# take the 409 as "already done".
# https://github.com/restatedev/sdk-java/issues/503 (resolving a promise that
# may already be resolved; answer: check with peek())
signup_bug = restate.Workflow("Signup")
signup_ok = restate.Workflow("Signup")


async def _signup_run(ctx: restate.WorkflowContext, email: str) -> str:
    await ctx.promise("confirmed").value()
    return "active"


@signup_bug.handler(name="confirm")
async def signup_confirm_bug(ctx: restate.WorkflowSharedContext, token: str) -> str:
    await ctx.promise("confirmed").resolve(token)
    return "confirmed"


@signup_ok.handler(name="confirm")
async def signup_confirm_ok(ctx: restate.WorkflowSharedContext, token: str) -> str:
    if await ctx.promise("confirmed").peek() is None:
        try:
            await ctx.promise("confirmed").resolve(token)
        except restate.TerminalError as err:
            if err.status_code != 409:
                raise
    return "confirmed"


signup_bug.main(name="run")(_signup_run)
signup_ok.main(name="run")(_signup_run)

link_bug = restate.Service("Link")
link_ok = restate.Service("Link")


@link_bug.handler(name="open")
async def link_open_bug(ctx: restate.Context, account: str) -> str:
    return str(await ctx.workflow_call(signup_confirm_bug, account, "t1"))


@link_ok.handler(name="open")
async def link_open_ok(ctx: restate.Context, account: str) -> str:
    return str(await ctx.workflow_call(signup_confirm_ok, account, "t1"))


def link_confirms(outcome: sd.Outcome) -> None:
    """Opening the confirmation link confirms, however often it is opened."""
    assert outcome.status == "completed", f"the link answered {outcome.error}"




# A promise resolved under another name than the one the workflow waits on
# (a typo, or a rename on one side): the resolution lands on a promise nobody
# reads, and the workflow waits for ever. The twin names it once.
# https://github.com/temporalio/sdk-typescript/issues/444 (a signal sent under
# a name the workflow has no handler for succeeds silently: "misspelled, either
# on the Client or in the Workflow"); https://github.com/temporalio/samples-typescript/pull/29
# ("the signal will just silently be recorded with no listener")
leave_bug = restate.Workflow("Leave")
leave_ok = restate.Workflow("Leave")
APPROVAL = "approval"


@leave_bug.main(name="run")
async def leave_run_bug(ctx: restate.WorkflowContext, days: int) -> str:
    return str(await ctx.promise("approval").value())


@leave_bug.handler(name="approve")
async def leave_approve_bug(ctx: restate.WorkflowSharedContext, by: str) -> None:
    await ctx.promise("approved").resolve(f"approved by {by}")


@leave_ok.main(name="run")
async def leave_run_ok(ctx: restate.WorkflowContext, days: int) -> str:
    return str(await ctx.promise(APPROVAL).value())


@leave_ok.handler(name="approve")
async def leave_approve_ok(ctx: restate.WorkflowSharedContext, by: str) -> None:
    await ctx.promise(APPROVAL).resolve(f"approved by {by}")


# An order number drawn from an RNG seeded with the object's key, so that it
# is "deterministic": every invocation of that key draws the same number, the
# second order's charge reuses the first one's idempotency key, and the
# provider answers it with the first receipt, charging nothing. ctx.random()
# is seeded per invocation and replays the same.
# https://github.com/argotorg/solidity/pull/9023 (a fixed seed made two
# branches generate the same "random" ids); https://github.com/processone/tsung/pull/102
# (a fixed seed: collisions across clients)
orders_pay = sd.FakeExternal("orderpay")
customer_bug = restate.VirtualObject("Customer")
customer_ok = restate.VirtualObject("Customer")


def charge_order(number: int, amount: int) -> str:
    return str(orders_pay.apply("charge", {"order": number, "amount": amount},
                                idempotency_key=f"order-{number}")["id"])


@customer_bug.handler(name="order")
async def customer_order_bug(ctx: restate.ObjectContext, amount: int) -> str:
    number = random.Random(ctx.key()).randrange(10**6)
    return await ctx.run_typed("charge", charge_order, number=number, amount=amount)


@customer_ok.handler(name="order")
async def customer_order_ok(ctx: restate.ObjectContext, amount: int) -> str:
    number = ctx.random().randrange(10**6)
    return await ctx.run_typed("charge", charge_order, number=number, amount=amount)


# A group's member list read with ctx.get, appended to, and never set back:
# what ctx.get returns is the handler's own copy of the stored value, so the
# new member is gone once the handler returns, and the next broadcast misses
# them. An in-memory store that hands out its own objects hides this in tests.
# https://github.com/LiamMorrow/OrgnalR/pull/72 (groups lost their
# membership: a grain's state changed and never written); https://github.com/dotnet/orleans/pull/452
# (the Chirper sample fixed to write its state back every time it changes)
group_bug = restate.VirtualObject("Group")
group_ok = restate.VirtualObject("Group")


@group_bug.handler(name="join")
async def group_join_bug(ctx: restate.ObjectContext, member: str) -> int:
    members: list[str] = await ctx.get("members") or []
    if member not in members:
        members.append(member)
    return len(members)


@group_ok.handler(name="join")
async def group_join_ok(ctx: restate.ObjectContext, member: str) -> int:
    members: list[str] = await ctx.get("members") or []
    if member not in members:
        members.append(member)
        ctx.set("members", members)
    return len(members)


def every_member_kept(outcome: sd.Outcome) -> None:
    """Everyone who joined is a member."""
    members = outcome.state.get("Group/g1", {}).get("members")
    assert members == ["ann", "bob"], f"ann and bob joined, the group holds {members}"


PAIRS = [
    Pair(name="state-changed-after-set", kind="late-binding",
         source="eclipse-edc/Connector#5102; LiveRamp/jack#31", invoke="Basket/b1/add",
         input="tea", buggy=[basket_bug], correct=[basket_ok], externals=(shipping,),
         extra={"world": [world.call("Basket/b1/add", "cups", at=timedelta(minutes=1)),
                          world.call("Basket/b1/checkout", None, at=timedelta(minutes=2))]}),
    Pair(name="clear-all-wipes-other-state", kind="invariant",
         source="restatedev/restate#224; primefaces/primeng#7124", invoke="Cart/c1/set_address",
         input="1 Main St", buggy=[cart_bug], correct=[cart_ok], externals=(shipping,),
         invariant=every_parcel_addressed,
         extra={"world": [world.call("Cart/c1/add", "tea", at=timedelta(minutes=1)),
                          world.call("Cart/c1/checkout", None, at=timedelta(minutes=2)),
                          world.call("Cart/c1/add", "cups", at=timedelta(days=3)),
                          world.call("Cart/c1/checkout", None, at=timedelta(days=3, minutes=1))]}),
    Pair(name="read-after-clear", kind="invariant",
         source="dotnet/orleans#9619; adobe/aio-lib-state#26", invoke="Wallet/w1/deposit", input=30,
         buggy=[wallet_bug], correct=[wallet_ok], externals=(payouts,),
         invariant=paid_out_the_balance,
         extra={"world": [world.call("Wallet/w1/close", None, at=timedelta(minutes=1))]}),
    Pair(name="process-cache-shared-by-keys", kind="invariant",
         source="pydantic/pydantic-ai#5875; temporalio/sdk-typescript#1355",
         invoke="Member/ann/register", input="Ann", buggy=[member_bug], correct=[member_ok],
         externals=(greetings,), setup=reset_profile_cache, invariant=greeted_by_own_name,
         extra={"world": [world.call("Member/bob/register", "Bob", at=timedelta(minutes=1)),
                          world.call("Member/ann/greet", None, at=timedelta(minutes=2)),
                          world.call("Member/bob/greet", None, at=timedelta(minutes=3))]}),
    Pair(name="peek-taken-for-wait", kind="invariant",
         source="temporalio/temporal-ecommerce#2; restatedev/sdk-java#503",
         invoke="Expense/e1/run", input=40, buggy=[expense_bug], correct=[expense_ok],
         externals=(refunds,), invariant=approved_is_paid,
         extra={"world": [world.call("Expense/e1/decide", "approved", at=timedelta(hours=2))]}),
    Pair(name="promise-resolved-twice", kind="invariant", source="restatedev/sdk-java#503",
         invoke="Link/open", input="u1", buggy=[signup_bug, link_bug],
         correct=[signup_ok, link_ok], invariant=link_confirms,
         extra={"world": [world.call("Signup/u1/run", "ada@example.com", when="early"),
                          world.call("Signup/u1/confirm", "t1", when="early")]}),
    Pair(name="promise-name-mismatch", kind="stuck",
         source="temporalio/sdk-typescript#444; temporalio/samples-typescript#29",
         invoke="Leave/l1/run", input=3, buggy=[leave_bug], correct=[leave_ok],
         extra={"world": [world.call("Leave/l1/approve", "eve")]}),
    Pair(name="rng-seeded-by-object-key", kind="duplicate-effect",
         source="argotorg/solidity#9023; processone/tsung#102", invoke="Customer/c1/order",
         input=20, buggy=[customer_bug], correct=[customer_ok], externals=(orders_pay,),
         extra={"world": [world.call("Customer/c1/order", 35, at=timedelta(hours=1))]}),
    Pair(name="state-changed-never-set", kind="invariant",
         source="LiamMorrow/OrgnalR#72; dotnet/orleans#452", invoke="Group/g1/join",
         input="ann", buggy=[group_bug], correct=[group_ok], invariant=every_member_kept,
         extra={"world": [world.call("Group/g1/join", "bob", at=timedelta(minutes=1))]}),
]
