"""A restate-sdk app, written as for a Restate server: only ``restate`` imports.

The combinators are bound at import, before simdurable hosts anything, so the
futures simdurable hands out must satisfy restate's own ``gather``/``select``.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgspec
import restate
from pydantic import BaseModel
from restate import as_completed, gather, select, wait_completed
from restate.exceptions import RetryableError, TerminalError
from restate.serde import JsonSerde, PydanticJsonSerde, Serde

from simdurable import FakeExternal

bank = FakeExternal("bank")


class Order(BaseModel):
    item: str
    amount: int


class Receipt(BaseModel):
    item: str
    charged: int
    receipt: str


class Point(msgspec.Struct):
    x: int
    y: int


@dataclasses.dataclass
class Label:
    text: str


class Upper(Serde[str]):
    """A user's own serde: stores text upper-cased."""

    def serialize(self, obj: str | None) -> bytes:
        return b"" if obj is None else obj.upper().encode()

    def deserialize(self, buf: bytes) -> str | None:
        return buf.decode() if buf else None


greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"hello {name}"


@greeter.handler()
async def fail(ctx: restate.Context, why: str) -> str:
    raise TerminalError(why, 418)


shop = restate.Service("Shop")


def _charge(amount: int, key: str | None) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


@shop.handler()
async def checkout(ctx: restate.Context, order: Order) -> Receipt:
    key = str(ctx.uuid())
    receipt = await ctx.run_typed("charge", _charge, amount=order.amount, key=key)
    return Receipt(item=order.item, charged=order.amount, receipt=receipt)


@shop.handler()
async def checkout_unsafe(ctx: restate.Context, order: Order) -> Receipt:
    receipt = await ctx.run_typed("charge", _charge, amount=order.amount, key=None)
    return Receipt(item=order.item, charged=order.amount, receipt=receipt)


@shop.handler()
async def combinators(ctx: restate.Context) -> dict:
    a = ctx.run_typed("a", lambda: 1)
    b = ctx.run_typed("b", lambda: 2)
    gathered = await gather(a, b)
    same = gathered[0] is a and gathered[1] is b
    values = [await f for f in gathered]
    winner, value = await select(late=ctx.sleep(timedelta(hours=1)), now=ctx.run_typed("c", lambda: 3))
    done, pending = await wait_completed(ctx.sleep(timedelta(seconds=5)), ctx.run_typed("d", lambda: 4))
    order = []
    async for f in as_completed(ctx.sleep(timedelta(seconds=2)), ctx.sleep(timedelta(seconds=1))):
        order.append(f)
    return {"same": same, "values": values, "winner": [winner, value],
            "waited": [len(done), len(pending)], "as_completed": len(order),
            "empty": await gather()}


def _refuse() -> str:
    raise TerminalError("card declined", 402)


@shop.handler()
async def declined(ctx: restate.Context) -> str:
    try:
        await ctx.run_typed("pay", _refuse)
    except restate.TerminalError as err:
        return f"caught {err.status_code} {err.message}"
    return "not caught"


def _down() -> str:
    raise ConnectionError("service unavailable")


@shop.handler()
async def exhausted(ctx: restate.Context) -> str:
    try:
        await ctx.run_typed("pay", _down, restate.RunOptions(max_attempts=3))
    except TerminalError as err:
        return f"gave up: {err.message}"
    return "not caught"


@shop.handler()
async def calls(ctx: restate.Context, name: str) -> list:
    out = [await ctx.service_call(greet, name)]
    try:
        await ctx.service_call(fail, "no reason")
    except TerminalError as err:
        out.append([err.status_code, err.message])
    handle = ctx.service_send(greet, "later", send_delay=timedelta(seconds=1))
    out.append(bool(await handle.invocation_id()))
    return out


@shop.handler()
async def serdes(ctx: restate.Context) -> dict:
    p = await ctx.run_typed("point", lambda: Point(1, 2), restate.RunOptions(type_hint=Point))
    lab = await ctx.run_typed("label", lambda: Label("x"), restate.RunOptions(type_hint=Label))
    up = await ctx.run_typed("upper", lambda: "shout", restate.RunOptions(serde=Upper()))
    js = await ctx.run_typed("json", lambda: {"k": [1]}, restate.RunOptions(serde=JsonSerde()))
    order = await ctx.run_typed("order", lambda: Order(item="i", amount=1),
                                restate.RunOptions(serde=PydanticJsonSerde(Order)))
    return {"point": [type(p).__name__, p.x], "label": type(lab).__name__, "upper": up,
            "json": js, "order": type(order).__name__}


@shop.handler(input_serde=Upper(), output_serde=Upper())
async def shout(ctx: restate.Context, text: str) -> str:
    return f"{text}, {text.lower()}"


@shop.handler()
async def move(ctx: restate.Context, p: Point) -> Point:
    return Point(p.x + 1, p.y + 1)


attempts: list[int] = []


@shop.handler()
async def retry_after(ctx: restate.Context) -> str:
    attempts.append(1)
    if len(attempts) < 2:
        raise RetryableError("busy", retry_after=timedelta(seconds=30))
    return "ok"


@shop.handler()
async def always_busy(ctx: restate.Context) -> str:
    raise RetryableError("always busy", retry_after=timedelta(seconds=1))  # never recovers


@shop.handler()
async def wrapped_terminal(ctx: restate.Context) -> str:
    try:
        raise TerminalError("inner", 422)
    except TerminalError as err:
        raise RuntimeError("wrapped") from err


@shop.handler()
async def patient(ctx: restate.Context) -> str:
    try:
        await ctx.sleep(timedelta(hours=1))
    except TerminalError as err:
        return f"stopped {err.status_code} {err.message}"
    return "slept"


step_tries: list[int] = []


def _busy_once() -> str:
    step_tries.append(1)
    if len(step_tries) < 2:
        raise RetryableError("busy", retry_after=timedelta(seconds=20))
    return "done"


@shop.handler()
async def busy_step(ctx: restate.Context) -> str:
    return await ctx.run_typed("busy", _busy_once)


@shop.handler()
async def approval(ctx: restate.Context) -> str:
    name, fut = ctx.awakeable(type_hint=str)
    ctx.set_extension_data("awakeable", name)
    try:
        return f"approved by {await fut}"
    except TerminalError as err:
        return f"rejected: {err.message}"


@shop.handler(invocation_retry_policy=restate.InvocationRetryPolicy(
    max_attempts=2, on_max_attempts="kill", initial_interval=timedelta(seconds=3)))
async def doomed(ctx: restate.Context) -> str:
    raise ValueError("always")


@shop.handler()
async def legacy_run(ctx: restate.Context) -> list:
    def pair() -> list:
        return [1, 2]

    return await ctx.run("pair", pair)


cart = restate.VirtualObject("Cart")


@cart.handler()
async def add(ctx: restate.ObjectContext, item: str) -> list:
    items = await ctx.get("items", type_hint=list) or []
    items.append(item)
    ctx.set("items", items)
    return [items, isinstance(ctx, restate.ObjectContext), ctx.key()]


@cart.handler(kind="shared")
async def peek(ctx: restate.ObjectSharedContext) -> list:
    return await ctx.get("items") or []


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    code = await ctx.promise("code", type_hint=str).value()
    return f"{email} confirmed with {code}"


@signup.handler()
async def confirm(ctx: restate.WorkflowSharedContext, code: str) -> None:
    await ctx.promise("code").resolve(code)


app = restate.app([greeter, shop, cart, signup])
