"""restate-sdk handlers that misuse its API pause with an error naming the line.

Each of these fails on Restate on every retry, or ends the invocation for
good with restate-sdk's own words; here it pauses at once, saying what was
wrong and what to write.
"""

from __future__ import annotations

import gc
import inspect
import warnings
from datetime import timedelta
from typing import Any

import pytest

restate = pytest.importorskip("restate")

import simdurable as sd  # noqa: E402

bank = sd.FakeExternal("bank")
svc = restate.Service("Misuse")
box = restate.VirtualObject("Box")


def charge(key: str) -> str:
    return str(bank.apply("charge", {}, idempotency_key=key)["id"])


@box.handler()
async def put(ctx: restate.ObjectContext, n: int) -> int:
    return n


@svc.handler()
async def called_not_passed(ctx: restate.Context, key: str) -> str:
    return await ctx.run_typed("charge", charge(key))  # type: ignore[arg-type]


@svc.handler()
async def old_run_called(ctx: restate.Context, key: str) -> str:
    return await ctx.run("charge", charge(key))  # type: ignore[arg-type]


async def send_receipt(key: str) -> str:
    return key


@svc.handler()
async def coroutine_not_function(ctx: restate.Context, key: str) -> str:
    return await ctx.run_typed("receipt", send_receipt(key))  # type: ignore[arg-type]


@svc.handler()
async def gather_a_list(ctx: restate.Context, key: str) -> str:
    naps = [ctx.sleep(timedelta(seconds=1)), ctx.sleep(timedelta(seconds=2))]
    await restate.gather(naps)  # type: ignore[arg-type]
    return "slept"


@svc.handler()
async def select_a_value(ctx: restate.Context, key: str) -> Any:
    return await restate.select(nap=ctx.sleep(timedelta(seconds=1)), now=key)  # type: ignore[arg-type]


@svc.handler()
async def delay_in_seconds(ctx: restate.Context, key: str) -> str:
    ctx.object_send(put, key=key, arg=1, send_delay=5)  # type: ignore[arg-type]
    return "sent"


@svc.handler()
async def generic_delay_in_seconds(ctx: restate.Context, key: str) -> str:
    ctx.generic_send("Box", "put", b"1", key=key, send_delay=5.0)  # type: ignore[arg-type]
    return "sent"


@svc.handler()
async def numeric_key(ctx: restate.Context, key: str) -> int:
    return await ctx.object_call(put, key=7, arg=1)  # type: ignore[arg-type]


def paused(handler: str) -> str:
    sim = sd.Simulation(services=[svc, box], externals=[bank])
    h = sim.invoke(f"Misuse/{handler}", "k1")
    sim.run()
    assert h.status == "paused"
    with pytest.raises(sd.HandlerError) as err:
        h.result()
    return str(err.value)


def line_of(fn: Any, offset: int) -> str:
    """The line ``offset`` lines below the handler's decorator."""
    return f"test_bad_calls.py:{inspect.unwrap(fn).__code__.co_firstlineno + offset}"


def test_a_steps_action_called_instead_of_passed_names_the_line() -> None:
    text = paused("called_not_passed")
    assert f"({line_of(called_not_passed, 2)})" in text
    assert "ctx.run_typed() needs a callable for step 'charge', got str: pass the function " \
           "and its arguments" in text
    assert "ctx.run() needs a callable for step 'charge', got str" in paused("old_run_called")


def test_a_coroutine_given_as_a_step_is_named_and_closed() -> None:
    """Closed where it is refused: else Python warns that it was never awaited
    later, at whatever line its garbage collection came."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = paused("coroutine_not_function")
        gc.collect()
    assert "ctx.run_typed() needs a callable for step 'receipt', got a coroutine, what " \
           "calling send_receipt() returned: pass the async function and its arguments " \
           "(ctx.run_typed('receipt', send_receipt, ...))" in text
    assert not [w for w in caught if "never awaited" in str(w.message)]


@pytest.mark.parametrize("handler, offset, said", [
    ("gather_a_list", 3, "restate.gather() got a list, which is not a future of this context"
                         ", and restate-sdk ends the invocation for good on it (\"All futures "
                         "must SDK created futures.\"): pass the futures themselves, "
                         "restate.gather(*futures)"),
    ("select_a_value", 2, "restate.select() got a str, which is not a future of this context"),
])
def test_restates_combinators_handed_no_future_pause_naming_what_they_got(
        handler: str, offset: int, said: str) -> None:
    text = paused(handler)
    assert said in text
    assert f"({line_of(globals()[handler], offset)})" in text


@pytest.mark.parametrize("handler, method, given", [
    ("delay_in_seconds", "object_send", "int"),
    ("generic_delay_in_seconds", "generic_send", "float"),
])
def test_a_send_delay_that_is_no_timedelta_is_refused(handler: str, method: str,
                                                      given: str) -> None:
    text = paused(handler)
    assert f"ctx.{method}() takes send_delay as a datetime.timedelta, not {given}" in text
    assert f"({line_of(globals()[handler], 2)})" in text


def test_an_object_key_that_is_no_str_is_refused() -> None:
    text = paused("numeric_key")
    assert "ctx.object_call() takes the key as a str, not int (7): restate-sdk fails on it " \
           "on every retry" in text
    assert f"({line_of(numeric_key, 2)})" in text
