"""Two things restate-sdk does that the import swap must do too: a terminal
error's metadata reaches whoever catches it (the caller of a failed call, the
handler that ran a failed step, also on replay), and a call's argument is written
with the callee's input serde (a dict where the callee takes a pydantic model
fails the caller, as it does on Restate; a test may still pass plain JSON)."""

from __future__ import annotations

from datetime import timedelta

import pydantic
import pytest

import simdurable as restate
from simdurable import Context
from simdurable.exceptions import TerminalError

billing = restate.Service("Billing")


@billing.handler()
async def charge(ctx: Context, payment: str) -> str:
    raise TerminalError("declined", status_code=402,
                        metadata={"reason": "funds", "payment": payment})


@billing.handler()
async def checkout(ctx: Context, payment: str) -> dict[str, object]:
    try:
        await ctx.service_call(charge, arg=payment)
    except TerminalError as err:
        return {"code": err.status_code, "metadata": err.metadata}
    return {"code": 200}


def fail_step() -> None:
    raise TerminalError("no stock", 409, {"sku": "lamp"})


@billing.handler()
async def reserve(ctx: Context) -> dict[str, str] | None:
    try:
        await ctx.run_typed("reserve", fail_step)
    except TerminalError as err:
        await ctx.sleep(timedelta(seconds=1))  # a wait: with always_suspend, a replay
        return err.metadata
    return None


def run(target: str, arg: object = None, **kw: object) -> object:
    sim = restate.Simulation([billing, orders], **kw)  # type: ignore[arg-type]
    h = sim.invoke(target, arg)
    sim.run()
    return h.result()


def test_the_metadata_of_a_failed_call_reaches_the_caller() -> None:
    assert run("Billing/checkout", "p-1") == {
        "code": 402, "metadata": {"payment": "p-1", "reason": "funds"}}


@pytest.mark.parametrize("always_suspend", [False, True])
def test_the_metadata_of_a_failed_step_survives_its_replay(always_suspend: bool) -> None:
    assert run("Billing/reserve", always_suspend=always_suspend) == {"sku": "lamp"}


def test_the_test_sees_the_metadata_of_the_invocations_failure() -> None:
    with pytest.raises(TerminalError) as info:
        run("Billing/charge", "p-2")
    assert (info.value.status_code, info.value.metadata) == (
        402, {"payment": "p-2", "reason": "funds"})


class Order(pydantic.BaseModel):
    item: str
    quantity: int = 1


orders = restate.Service("Orders")


@orders.handler()
async def place(ctx: Context, order: Order) -> str:
    return f"{order.quantity} x {order.item}"


@orders.handler()
async def with_a_model(ctx: Context, item: str) -> str:
    return await ctx.service_call(place, Order(item=item))  # type: ignore[no-any-return]


@orders.handler()
async def with_a_dict(ctx: Context, item: str) -> str:
    return await ctx.service_call(place, {"item": item})  # type: ignore[no-any-return]


def test_a_handler_typed_with_a_model_gets_restates_pydantic_serde() -> None:
    io = orders.handlers["place"].handler_io
    assert isinstance(io.input_serde, restate.serde.PydanticJsonSerde)
    assert io.input_serde.model is Order


def test_a_call_writes_its_argument_with_the_callees_serde() -> None:
    assert run("Orders/with_a_model", "lamp") == "1 x lamp"
    sim = restate.Simulation([orders])
    h = sim.invoke("Orders/with_a_dict", "lamp")
    sim.run(until=timedelta(seconds=5))
    # restate-sdk's PydanticJsonSerde cannot write a dict: the caller fails and is retried
    assert h.status in ("backing-off", "paused")
    assert "model_dump_json" in sim.engine.record(h.id).last_failure


def test_a_test_may_still_pass_plain_json_for_a_model() -> None:
    assert run("Orders/place", {"item": "desk", "quantity": 2}) == "2 x desk"
    assert run("Orders/place", Order(item="desk")) == "1 x desk"
