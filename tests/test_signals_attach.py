"""Signals (``ctx.signal``, ``resolve_signal``, ``reject_signal``) and
``ctx.attach_invocation``, as in restate-sdk, across crashes and restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd

svc = restate.Service("Sig")


@svc.handler()
async def wait(ctx: restate.Context, name: str) -> str:
    return await ctx.signal(name)


@svc.handler()
async def wait_after_a_while(ctx: restate.Context) -> list:
    await ctx.sleep(timedelta(hours=1))
    first = await ctx.signal("go")
    second = await ctx.signal("go")  # the next signal of that name
    return [first, second]


@svc.handler()
async def send(ctx: restate.Context, req: dict) -> None:
    ctx.resolve_signal(req["id"], req["name"], req["value"])


@svc.handler()
async def refuse(ctx: restate.Context, req: dict) -> None:
    ctx.reject_signal(req["id"], req["name"], "not today", 418)


@svc.handler()
async def slow(ctx: restate.Context, n: int) -> int:
    await ctx.sleep(timedelta(minutes=n))
    if n < 0:
        raise restate.TerminalError("negative", 422)
    return n * 10


@svc.handler()
async def attach(ctx: restate.Context, inv_id: str) -> list:
    try:
        return ["ok", await ctx.attach_invocation(inv_id)]
    except restate.TerminalError as err:
        return ["failed", err.status_code, err.message]


@svc.handler()
async def start_and_attach(ctx: restate.Context, n: int) -> int:
    handle = ctx.service_send(slow, n)
    return await ctx.attach_invocation(await handle.invocation_id(), type_hint=int)


def test_a_handler_waits_for_the_signal_another_sends():
    sim = sd.Simulation([svc], seed=1)
    waiter = sim.invoke("Sig/wait", "approved")
    sim.run()
    assert not waiter.done
    sim.invoke("Sig/send", {"id": waiter.id, "name": "approved", "value": "yes"})
    sim.run()
    assert waiter.result() == "yes"


def test_signals_sent_before_they_are_asked_for_are_kept_in_order():
    sim = sd.Simulation([svc], seed=1)
    waiter = sim.invoke("Sig/wait_after_a_while")
    sim.run(until=timedelta(minutes=1))
    sim.invoke("Sig/send", {"id": waiter.id, "name": "go", "value": "first"})
    sim.run(until=timedelta(minutes=2))
    sim.signal(waiter, "go", "second")
    sim.run()
    assert waiter.result() == ["first", "second"]


def test_a_rejected_signal_raises_terminal_error_in_the_waiter():
    sim = sd.Simulation([svc], seed=1)
    waiter = sim.invoke("Sig/wait", "approved")
    sim.invoke("Sig/refuse", {"id": waiter.id, "name": "approved"})
    sim.run()
    with pytest.raises(sd.TerminalError, match="not today"):
        waiter.result()
    sim = sd.Simulation([svc], seed=1)
    waiter = sim.invoke("Sig/wait", "approved")
    sim.reject_signal(waiter, "approved", "no", 409)
    sim.run()
    with pytest.raises(sd.TerminalError, match="no"):
        waiter.result()


def test_signals_survive_crashes_restarts_and_replays():
    for point in ("before", "after-store"):
        sim = sd.Simulation([svc], seed=2, always_suspend=True)
        waiter = sim.invoke("Sig/wait_after_a_while")
        sim.run(until=timedelta(minutes=1))
        sim.signal(waiter, "go", "kept")
        sim.restart()
        sim.run(until=timedelta(hours=2))
        sim.signal(waiter, "go", "later")
        sim.run()
        assert waiter.result() == ["kept", "later"], point
        assert not sim.problems

        sim = sd.Simulation([svc], seed=2)
        sim.crash(after="go", point=point)
        waiter = sim.invoke("Sig/wait", "go")
        sim.run()
        sender = sim.invoke("Sig/send", {"id": waiter.id, "name": "go", "value": 7})
        sim.run()
        assert (waiter.result(), sender.result()) == (7, None)
        assert any(f"crash at {point} of signal" in line for line in sim.trace())


def test_a_signal_to_an_invocation_that_ended_is_dropped():
    sim = sd.Simulation([svc], seed=1)
    done = sim.invoke("Sig/slow", 1)
    sim.run()
    sender = sim.invoke("Sig/send", {"id": done.id, "name": "late", "value": 1})
    sim.signal("inv_doesnotexist", "x", 1)
    sim.run()
    assert sender.result() is None and done.result() == 10


def test_attach_waits_for_an_invocation_and_gets_its_result_or_failure():
    sim = sd.Simulation([svc], seed=1)
    target = sim.invoke("Sig/slow", 5)
    attached = sim.invoke("Sig/attach", target.id)
    sim.run()
    assert attached.result() == ["ok", 50]
    # attaching to one that has ended gets its result at once
    late = sim.invoke("Sig/attach", target.id)
    failing = sim.invoke("Sig/slow", -1)
    on_failure = sim.invoke("Sig/attach", failing.id)
    unknown = sim.invoke("Sig/attach", "inv_" + "0" * 20)  # an id naming no invocation
    sim.run()
    assert late.result() == ["ok", 50]
    assert on_failure.result() == ["failed", 422, "negative"]
    assert unknown.result()[:2] == ["failed", 404]


def test_attach_to_a_sent_invocation_survives_a_restart():
    sim = sd.Simulation([svc], seed=3, always_suspend=True)
    h = sim.invoke("Sig/start_and_attach", 2)
    sim.run(until=timedelta(minutes=1))
    sim.restart()
    sim.run()
    assert h.result() == 20
    assert not sim.problems


def test_signals_and_attach_under_check():
    report = sd.check([svc], invoke="Sig/start_and_attach", input=3, max_examples=20)
    assert report.ok, report
