"""Cancellation: an invocation cancelled mid-way must undo what it did."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable import world

from . import Pair

hotel = sd.FakeExternal("hotel")


def reserve(trip: str) -> str:
    return str(hotel.apply("reserve", {"trip": trip}, idempotency_key=f"reserve-{trip}")["id"])


def release(trip: str) -> None:
    hotel.apply("release", {"trip": trip}, idempotency_key=f"release-{trip}")


def confirm(trip: str) -> None:
    hotel.apply("confirm", {"trip": trip}, idempotency_key=f"confirm-{trip}")


def nothing_held_unless_booked(outcome: sd.Outcome) -> None:
    """A trip that did not end booked holds no room."""
    ops = [e.op for e in outcome.effects["hotel"]]
    if outcome.result != "booked":
        assert "reserve" not in ops or "release" in ops, (
            f"the trip ended with {outcome.error or outcome.result!r} but still holds a "
            f"room: {ops}")


# Compensation wrapped around the step expected to fail, not around the whole
# saga: a cancellation arrives at the next wait (here the hold period) as a
# TerminalError, outside the try, so the reservation is never released.
# Cancellation must run the same compensations as a failure.
# https://github.com/temporalio/sdk-java/issues/305 (compensations do not run
# when the workflow is cancelled)
trip_bug = restate.Service("Trip")
trip_ok = restate.Service("Trip")


@trip_bug.handler(name="book")
async def trip_book_bug(ctx: restate.Context, trip: str) -> str:
    await ctx.run_typed("reserve", reserve, trip=trip)
    await ctx.sleep(timedelta(minutes=10))  # hold period: the customer may still cancel
    try:
        await ctx.run_typed("confirm", confirm, trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("release", release, trip=trip)
        raise
    return "booked"


@trip_ok.handler(name="book")
async def trip_book_ok(ctx: restate.Context, trip: str) -> str:
    try:
        # Inside the try: a cancellation can also arrive while it runs.
        await ctx.run_typed("reserve", reserve, trip=trip)
        await ctx.sleep(timedelta(minutes=10))
        await ctx.run_typed("confirm", confirm, trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("release", release, trip=trip)
        raise
    return "booked"


cluster = sd.FakeExternal("cluster")


def submit_job(job: str) -> None:
    cluster.apply("submit", {"job": job}, idempotency_key=f"submit-{job}")


def kill_job(job: str) -> None:
    cluster.apply("kill", {"job": job}, idempotency_key=f"kill-{job}")


# Cancelling a pipeline cancels the call it waits on (Restate cancels the
# whole call tree): the job handler, cancelled at its next wait, never
# writes its status again, and the job shows "running" for ever, still
# holding its cluster slot. A cancelled handler must leave its state (and
# the world) consistent before it fails.
# https://github.com/hitesh22rana/chronoverse/issues/10 (tasks left RUNNING
# after their workflow was terminated)
# https://github.com/cadence-workflow/cadence-go-client/issues/402 (cleanup
# steps when a workflow is cancelled)
job_bug = restate.VirtualObject("Job")
job_ok = restate.VirtualObject("Job")


@job_bug.handler(name="run")
async def job_run_bug(ctx: restate.ObjectContext, spec: str) -> str:
    ctx.set("status", "running")
    await ctx.run_typed("submit", submit_job, job=ctx.key())
    await ctx.sleep(timedelta(minutes=1))  # the cluster runs it
    ctx.set("status", "done")
    return "done"


@job_ok.handler(name="run")
async def job_run_ok(ctx: restate.ObjectContext, spec: str) -> str:
    ctx.set("status", "running")
    try:
        await ctx.run_typed("submit", submit_job, job=ctx.key())
        await ctx.sleep(timedelta(minutes=1))
    except restate.TerminalError:
        # The status first: a cancellation arriving during the kill step
        # (after a failure) ends the handler there.
        ctx.set("status", "cancelled")
        await ctx.run_typed("kill", kill_job, job=ctx.key())
        raise
    ctx.set("status", "done")
    return "done"


pipeline = restate.Service("Pipeline")


@pipeline.handler()
async def build(ctx: restate.Context, spec: str) -> str:
    return str(await ctx.object_call(job_run_bug, "j1", spec))


pipeline_ok = restate.Service("Pipeline")


@pipeline_ok.handler(name="build")
async def build_ok(ctx: restate.Context, spec: str) -> str:
    return str(await ctx.object_call(job_run_ok, "j1", spec))


def no_job_left_running(outcome: sd.Outcome) -> None:
    """Once everything ended, no job says it is running, and none holds a slot
    that was not killed or finished."""
    status = outcome.state.get("Job/j1", {}).get("status")
    assert status != "running", f"the pipeline ended ({outcome.error or outcome.result}) " \
                                f"but its job still says {status!r}"
    ops = [e.op for e in outcome.effects["cluster"]]
    if status == "cancelled":
        assert "kill" in ops or "submit" not in ops, f"the job was cancelled but runs: {ops}"


PAIRS = [
    Pair(name="compensation-skipped-on-cancel", kind="invariant",
         source="temporalio/sdk-java#305", invoke="Trip/book", input="t1",
         buggy=[trip_bug], correct=[trip_ok], externals=(hotel,),
         invariant=nothing_held_unless_booked, extra={"world": [world.cancel()]}),
    Pair(name="cancel-leaves-callee-half-done", kind="invariant",
         source="hitesh22rana/chronoverse#10; cadence-workflow/cadence-go-client#402",
         invoke="Pipeline/build", input="spec-1", buggy=[pipeline, job_bug],
         correct=[pipeline_ok, job_ok], externals=(cluster,), invariant=no_job_left_running,
         extra={"world": [world.cancel()]}),
]
