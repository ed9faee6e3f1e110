"""Ends of an invocation as Restate 1.7.12 (restate-sdk 1.3.0) gives them, measured there.

- A one-way send still waiting for its delay, cancelled, is deleted: attaching to
  it fails with 404 "not found" (no ``sys_invocation`` row is left). One a call
  waits on (an inboxed call) still ends cancelled (409) for its caller.
- A handler that raises on every attempt under ``invocation_retry_policy(...,
  on_max_attempts="kill")`` ends with its exception's repr as the message
  (``[500] ValueError('nope')``), as restate-sdk reports it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd

svc = restate.Service("Cx")
obj = restate.VirtualObject("Qx")


@svc.handler()
async def slow(ctx: restate.Context, x: int) -> int:
    await ctx.sleep(timedelta(seconds=2))
    return x


async def _attach(ctx: restate.Context, inv: str) -> str:
    try:
        return f"ok {await ctx.attach_invocation(inv)}"
    except restate.TerminalError as err:
        return f"terminal {err.status_code} {err.message}"


@svc.handler()
async def delayed(ctx: restate.Context, x: int) -> str:
    h = ctx.service_send(slow, arg=x, send_delay=timedelta(minutes=5))
    inv = await h.invocation_id()
    ctx.cancel_invocation(inv)
    await ctx.sleep(timedelta(seconds=2))
    return await _attach(ctx, inv)


@svc.handler()
async def handle_cancel(ctx: restate.Context, x: int) -> str:
    h = ctx.service_send(slow, arg=x, send_delay=timedelta(minutes=5))
    await h.cancel_invocation()
    return await _attach(ctx, await h.invocation_id())


@svc.handler()
async def running(ctx: restate.Context, x: int) -> str:
    h = ctx.service_send(slow, arg=x)
    inv = await h.invocation_id()
    await ctx.sleep(timedelta(milliseconds=500))
    ctx.cancel_invocation(inv)
    return await _attach(ctx, inv)


@svc.handler()
async def delayed_not_cancelled(ctx: restate.Context, x: int) -> str:
    h = ctx.service_send(slow, arg=x, send_delay=timedelta(seconds=3))
    return await _attach(ctx, await h.invocation_id())


@obj.handler()
async def busy(ctx: restate.ObjectContext, x: int) -> int:
    await ctx.sleep(timedelta(seconds=3))
    return x


@obj.handler()
async def queued_call(ctx: restate.ObjectContext, x: int) -> str:
    # a call to a key that is busy waits in its inbox; cancelled there, the caller gets 409
    try:
        return f"ok {await ctx.object_call(busy, key='k', arg=x)}"
    except restate.TerminalError as err:
        return f"terminal {err.status_code} {err.message}"


@svc.handler(invocation_retry_policy=restate.InvocationRetryPolicy(
    max_attempts=3, on_max_attempts="kill", initial_interval=timedelta(seconds=1)))
async def always_fails(ctx: restate.Context, x: int) -> str:
    raise ValueError("nope")


@pytest.mark.parametrize(("target", "result"), [
    ("Cx/delayed", "terminal 404 not found"),
    ("Cx/handle_cancel", "terminal 404 not found"),
    ("Cx/running", "terminal 409 cancelled"),
    ("Cx/delayed_not_cancelled", "ok 1"),
])
def test_attaching_after_a_cancellation(target: str, result: str) -> None:
    sim = sd.Simulation([svc, obj], seed=1)
    h = sim.invoke(target, 1)
    sim.run()
    assert h.result() == result


def test_a_delayed_send_cancelled_from_the_test_is_gone_too() -> None:
    sim = sd.Simulation([svc, obj], seed=1)
    h = sim.send("Cx/slow", 1, delay=timedelta(minutes=5))
    sim.cancel(h)
    sim.run()
    with pytest.raises(sd.TerminalError) as err:
        h.result()
    assert (err.value.status_code, err.value.message) == (404, "not found")


def test_a_call_waiting_in_an_inbox_ends_cancelled_for_its_caller() -> None:
    sim = sd.Simulation([svc, obj], seed=1)
    sim.invoke("Qx/k/busy", 1)
    caller = sim.invoke("Qx/c/queued_call", 2)
    sim.run(until=timedelta(milliseconds=100))
    [queued] = [i for i in sim.invocations() if i.target == "Qx/k/busy" and i.status != "running"
                and i.attempts == 0]
    sim.cancel(queued)
    sim.run()
    assert caller.result() == "terminal 409 cancelled"


def test_killed_after_its_last_attempt_with_the_exceptions_repr() -> None:
    sim = sd.Simulation([svc, obj], seed=1)
    h = sim.invoke("Cx/always_fails", 1)
    sim.run()
    with pytest.raises(sd.TerminalError) as err:
        h.result()
    assert (err.value.status_code, err.value.message) == (500, "ValueError('nope')")
    assert h.attempts == 3
