"""Kill as Restate's, cancel reaching an invocation that keeps failing, and a
workflow's run sent again (Restate's ``PreviouslyAccepted``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd

ran: list[str] = []

saga = restate.Service("Saga")
worker = restate.Service("Worker")
locked = restate.VirtualObject("Locked")


@worker.handler()
async def long_job(ctx: restate.Context, name: str) -> str:
    try:
        await ctx.sleep(timedelta(days=1))
    except restate.TerminalError:
        await ctx.run_typed("undo-job", lambda: ran.append(f"undo {name}"))
        raise
    return name


@saga.handler()
async def book(ctx: restate.Context) -> str:
    await ctx.run_typed("reserve", lambda: ran.append("reserve"))
    ctx.service_send(long_job, "sent")
    try:
        await ctx.service_call(long_job, "called")
    except restate.TerminalError:
        await ctx.run_typed("compensate", lambda: ran.append("compensate"))
        raise
    return "booked"


@saga.handler()
async def caller(ctx: restate.Context) -> str:
    try:
        return await ctx.service_call(book)
    except restate.TerminalError as err:
        return f"callee failed: {err.status_code} {err.message}"


@locked.handler()
async def hold(ctx: restate.ObjectContext) -> str:
    await ctx.sleep(timedelta(hours=1))
    return "held"


@locked.handler()
async def next_in_line(ctx: restate.ObjectContext) -> str:
    return "my turn"


def started(sim: sd.Simulation, until: timedelta = timedelta(seconds=1)) -> None:
    sim.run(until=until)


def test_kill_ends_at_once_without_compensation_and_kills_its_calls() -> None:
    ran.clear()
    sim = sd.Simulation([saga, worker], seed=3)
    top = sim.invoke("Saga/caller")
    started(sim)
    [booking] = [h for h in sim.invocations() if h.target == "Saga/book"]
    assert sim.kill(booking) is True
    sim.run(until=timedelta(hours=2))
    with pytest.raises(restate.TerminalError) as info:
        booking.result()
    assert (info.value.status_code, info.value.message) == (409, "killed")
    # Its caller gets the failure; no compensation ran, in it or in its callee.
    assert top.result() == "callee failed: 409 killed"
    assert ran == ["reserve"]
    jobs = sorted(h.status for h in sim.invocations() if h.target == "Worker/long_job")
    # The call is killed with it; the one-way send is not a call: it goes on.
    assert jobs == ["failed", "waiting"]
    assert sim.kill(booking) is False  # already ended


def test_cancel_instead_of_kill_runs_the_compensation() -> None:
    """The twin of the kill test: a cancellation lets the handlers compensate."""
    ran.clear()
    sim = sd.Simulation([saga, worker], seed=3)
    top = sim.invoke("Saga/caller")
    started(sim)
    [booking] = [h for h in sim.invocations() if h.target == "Saga/book"]
    sim.cancel(booking)
    sim.run(until=timedelta(hours=2))
    assert top.result() == "callee failed: 409 cancelled"
    assert "undo called" in ran  # the callee, cancelled with it, compensated


def test_kill_frees_the_key_and_ends_a_queued_invocation() -> None:
    sim = sd.Simulation([locked], seed=1)
    first = sim.invoke("Locked/k/hold")
    second = sim.invoke("Locked/k/next_in_line")
    started(sim)
    assert second.status == "queued"
    assert sim.kill(first)
    sim.run()
    assert second.result() == "my turn"
    assert first.status == "failed"
    queued_a = sim.invoke("Locked/j/hold")
    queued_b = sim.invoke("Locked/j/next_in_line")
    started(sim, timedelta(seconds=2))
    assert sim.kill(queued_b) and queued_b.status == "failed"  # never started
    assert queued_a.status == "waiting"


flaky = restate.Service("Flaky")
attempts: list[int] = []


@flaky.handler()
async def fails_between_waits(ctx: restate.Context) -> str:
    await ctx.run_typed("first", lambda: "done")
    attempts.append(1)
    raise ValueError("a bug that every attempt hits, before any wait")


@flaky.handler()
async def compensates_through_a_flaky_step(ctx: restate.Context) -> str:
    try:
        await ctx.sleep(timedelta(days=1))
    except restate.TerminalError:
        def undo() -> str:
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionError("flaky")
            return "undone"

        return await ctx.run_typed("undo", undo)
    return "slept"


def test_cancel_reaches_an_invocation_that_keeps_failing_between_waits() -> None:
    attempts.clear()
    sim = sd.Simulation([flaky], seed=1)
    h = sim.invoke("Flaky/fails_between_waits")
    started(sim, timedelta(milliseconds=100))
    assert h.status == "backing-off"
    sim.cancel(h)
    sim.run()
    with pytest.raises(restate.TerminalError) as info:
        h.result()
    assert (info.value.status_code, info.value.message) == (409, "cancelled")
    assert len(attempts) == 2  # the one before the cancellation, and one after


def test_a_cancelled_handler_still_retries_its_compensation() -> None:
    """The cancellation reached the handler: a failing step after it is retried
    as usual, it does not end the invocation."""
    attempts.clear()
    sim = sd.Simulation([flaky], seed=1)
    h = sim.invoke("Flaky/compensates_through_a_flaky_step")
    started(sim)
    sim.cancel(h)
    sim.run()
    assert h.result() == "undone"
    assert len(attempts) == 3


signup = restate.Workflow("Signup")
runs: list[str] = []


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    await ctx.run_typed("mail", lambda: runs.append(email))
    return f"signed up {email}"


sender = restate.Service("Sender")


@sender.handler()
async def send_twice(ctx: restate.Context) -> str:
    ctx.workflow_send(run, "w1", "a@x")
    ctx.workflow_send(run, "w1", "b@x")
    return "sent"


def test_a_workflow_run_sent_again_gets_the_first_run() -> None:
    runs.clear()
    sim = sd.Simulation([signup], seed=1)
    first = sim.send("Signup/w1/run", "a@x")
    sim.run()
    again = sim.send("Signup/w1/run", "b@x")
    assert again.id == first.id
    sim.run()
    assert again.result() == "signed up a@x"
    assert runs == ["a@x"]
    # A call of the run handler again still fails, as on Restate.
    called = sim.invoke("Signup/w1/run", "c@x")
    sim.run()
    with pytest.raises(restate.TerminalError, match="already invoked"):
        called.result()
    assert [h.target for h in sim.invocations()].count("Signup/w1/run") == 2


def test_a_workflow_run_sent_twice_from_a_handler_runs_once() -> None:
    runs.clear()
    sim = sd.Simulation([signup, sender], seed=1)
    h = sim.invoke("Sender/send_twice")
    sim.run()
    assert h.result() == "sent"
    assert runs == ["a@x"]
    assert [i.target for i in sim.invocations()].count("Signup/w1/run") == 1
