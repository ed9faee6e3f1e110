"""Awakeables, workflows with durable promises, and cancellation."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd

approvals = restate.Service("Approvals")


@approvals.handler()
async def request(ctx: restate.Context, what: str) -> str:
    awk_id, fut = ctx.awakeable()
    await ctx.run_typed("notify", lambda: print(f"approve {what}: {awk_id}"))
    try:
        verdict = await fut
    except restate.TerminalError as err:
        return f"rejected: {err.message}"
    return f"{what}: {verdict}"


@approvals.handler()
async def approver(ctx: restate.Context, awk_id: str) -> None:
    ctx.resolve_awakeable(awk_id, "approved by handler")


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("status", "waiting")
    await ctx.run_typed("send-mail", lambda: f"mail to {email}")
    link = await ctx.promise("link-clicked").value()
    ctx.set("status", "verified")
    return f"{email} verified via {link}"


@signup.handler()
async def click(ctx: restate.WorkflowSharedContext, link: str) -> str:
    await ctx.promise("link-clicked").resolve(link)
    return "ok"


@signup.handler()
async def peek(ctx: restate.WorkflowSharedContext) -> list:
    return [await ctx.promise("link-clicked").peek(), await ctx.get("status")]


def test_awakeable_resolved_from_the_test_after_a_crash():
    sim = sd.Simulation([approvals], seed=2)
    sim.crash(after="notify", point="after-store")
    h = sim.invoke("Approvals/request", "budget")
    sim.run()
    assert h.status == "waiting"
    [awk] = sim.awakeables()
    sim.run(until=timedelta(hours=1))
    sim.resolve_awakeable(awk, "yes")
    sim.run()
    assert h.result() == "budget: yes"
    assert sim.awakeables() == []


def test_awakeable_resolved_by_another_handler_and_rejected_from_the_test():
    sim = sd.Simulation([approvals], seed=2)
    h = sim.invoke("Approvals/request", "laptop")
    sim.run()
    [awk] = sim.awakeables()
    sim.invoke("Approvals/approver", awk)
    sim.run()
    assert h.result() == "laptop: approved by handler"

    h2 = sim.invoke("Approvals/request", "yacht")
    sim.run()
    [awk2] = sim.awakeables()
    sim.reject_awakeable(awk2, "too expensive", 403)
    sim.run()
    assert h2.result() == "rejected: too expensive"


def test_unknown_awakeable_id_is_a_clear_error():
    sim = sd.Simulation([approvals])
    with pytest.raises(sd.InvalidTargetError, match="no awakeable 'awk_nope_1'"):
        sim.resolve_awakeable("awk_nope_1", 1)


def test_workflow_main_waits_on_a_promise_resolved_by_a_shared_handler():
    sim = sd.Simulation([signup], seed=9, always_suspend=True)
    h = sim.invoke("Signup/u1/run", "ann@example.com")
    sim.run()
    assert h.status in ("waiting", "suspended")
    p = sim.invoke("Signup/u1/peek")
    sim.run()
    assert p.result() == [None, "waiting"]
    c = sim.invoke("Signup/u1/click", "https://x/1")
    sim.run()
    assert c.result() == "ok"
    assert h.result() == "ann@example.com verified via https://x/1"
    assert sim.state("Signup", "u1") == {"status": "verified"}


def test_workflow_runs_once_per_id_and_promises_complete_once():
    sim = sd.Simulation([signup], seed=9)
    first = sim.invoke("Signup/u2/run", "bo@example.com")
    again = sim.invoke("Signup/u2/run", "bo@example.com")
    sim.run()
    with pytest.raises(restate.TerminalError) as info:
        again.result()
    assert info.value.status_code == 409
    assert info.value.message == "the workflow method was already invoked"
    clicks = {link: sim.invoke("Signup/u2/click", link) for link in ("a", "b")}
    sim.run()
    winners = [link for link, h in clicks.items() if h.status == "completed"]
    assert len(winners) == 1  # which click lands first is the scheduler's choice
    assert first.result() == f"bo@example.com verified via {winners[0]}"
    [loser] = [h for h in clicks.values() if h.status == "failed"]
    with pytest.raises(restate.TerminalError) as info:
        loser.result()
    assert info.value.status_code == 409
    assert sim.resolve_promise("Signup", "u2", "link-clicked", "c") is False


def test_promise_resolved_from_the_test():
    sim = sd.Simulation([signup], seed=1)
    h = sim.invoke("Signup/u3/run", "cy@example.com")
    sim.run()
    assert sim.resolve_promise("Signup", "u3", "link-clicked", "test-link")
    sim.run()
    assert h.result() == "cy@example.com verified via test-link"


waiter = restate.Service("Waiter")


@waiter.handler()
async def wait_long(ctx: restate.Context) -> str:
    try:
        await ctx.sleep(timedelta(days=365))
    except restate.TerminalError as err:
        undone = await ctx.run_typed("compensate", lambda: "undone")
        return f"{err.status_code} {err.message}, {undone}"
    return "slept"


def test_cancellation_raises_cancelled_409_at_the_next_wait_and_compensation_runs():
    sim = sd.Simulation([waiter], seed=1)
    h = sim.invoke("Waiter/wait_long")
    sim.run(until=timedelta(seconds=10))
    sim.cancel(h)
    sim.run()
    assert h.result() == "409 cancelled, undone"
    assert sim.now() < 20


starter = restate.Service("Starter")


@starter.handler()
async def start_twice(ctx: restate.Context, email: str) -> list:
    first = ctx.workflow_call(run, "w9", email)
    second = ctx.workflow_call(run, "w9", email)
    out = []
    try:
        await second
    except restate.TerminalError as err:
        out.append(err.status_code)
    ctx.workflow_send(click, "w9", "from-handler")
    out.append(await first)
    out.append(await first.invocation_id() == await second.invocation_id())
    return out


def test_workflow_called_twice_from_a_handler_gets_409_and_one_run():
    sim = sd.Simulation([signup, starter], seed=4)
    h = sim.invoke("Starter/start_twice", "dee@example.com")
    sim.run()
    assert h.result() == [409, "dee@example.com verified via from-handler", False]
    runs = [i for i in sim.invocations() if i.target == "Signup/w9/run"]
    assert [r.status for r in runs] == ["completed", "failed"]


gate = sd.VirtualObject("Gate")
parker = sd.Service("Parker")


@gate.handler()
async def park(ctx: sd.ObjectContext, awk: str) -> None:
    ctx.set("parked", [awk])  # kept for a release that never comes


@gate.handler()
async def admit(ctx: sd.ObjectContext, awk: str) -> None:
    ctx.resolve_awakeable(awk, True)


@parker.handler()
async def wait_parked(ctx: sd.Context, _: None) -> bool:
    awk, fut = ctx.awakeable()
    ctx.object_send(park, "g", awk)
    return bool(await fut)


@parker.handler()
async def wait_admitted(ctx: sd.Context, _: None) -> bool:
    awk, fut = ctx.awakeable()
    ctx.object_send(admit, "g", awk)
    return bool(await fut)


@pytest.mark.parametrize("always_suspend", [False, True])
def test_a_stuck_awakeable_says_where_its_id_went(always_suspend: bool) -> None:
    sim = sd.Simulation([gate, parker], seed=0, always_suspend=always_suspend)
    sim.invoke("Parker/wait_parked", None)
    text = str(sim.run())
    assert "(its id went to Gate/g/park (#1); nothing resolved it)" in text, text
    twin = sd.Simulation([gate, parker], seed=0, always_suspend=always_suspend)
    ok = twin.invoke("Parker/wait_admitted", None)
    twin.run()
    assert ok.result() is True
