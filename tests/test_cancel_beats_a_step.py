"""A step a cancellation beat, as restate-server 1.7.12 with restate-sdk 1.3.0 handle it.

Measured there (docs/decisions.md, "A step a cancellation beat"): a handler
whose ``ctx.run`` action is slow, cancelled through the admin API while the
action runs, sees ``TerminalError("cancelled", 409)`` at its await at once;
the action runs on, and its completion is journaled (after the cancellation)
if it ends while the attempt lives. Killed during the compensation and
restarted, the service replays: the cancellation is raised again at the await
of the step it beat, and that step's action does not run again, whether its
completion was journaled or not. A cancellation that came while the handler
ran its own code is raised at its next await, and a step awaited there still
starts (restate-sdk hands the action to run before it reads the cancellation).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd
from tests.corpus.pairs.lifecycle import (
    COOLING_OFF,
    bank,
    dispatch,
    nothing_shipped_for_a_refund,
    refund_order,
    shipping,
    warehouse,
)

RAN: list[str] = []


def act(what: str) -> str:
    RAN.append(what)
    return f"{what}-ok"


svc = restate.Service("Pay")


@svc.handler()
async def order(ctx: restate.Context, x: int) -> str:
    try:
        return await ctx.run_typed("charge", act, what="charge")
    except restate.TerminalError:
        await ctx.run_typed("refund", act, what="refund")
        raise


@svc.handler()
async def self_cancelled(ctx: restate.Context, x: int) -> str:
    ctx.cancel_invocation(ctx.request().id)  # the cancellation comes while its own code runs
    try:
        return await ctx.run_typed("charge", act, what="charge")
    except restate.TerminalError:
        await ctx.run_typed("refund", act, what="refund")
        raise


@svc.handler()
async def awaits_it_again(ctx: restate.Context, x: int) -> str:
    charge = ctx.run_typed("charge", act, what="charge")
    try:
        return await charge
    except restate.TerminalError:
        await ctx.sleep(timedelta(seconds=1))
        got = await charge  # the handler itself awaits the step it was cancelled at
        await ctx.run_typed("refund", act, what=f"refund of {got}")
        raise


def _cancelled_at_1s(target: str, faults: str | None, invocations: int = 1
                     ) -> tuple[sd.Simulation, list[sd.InvocationHandle]]:
    RAN.clear()
    sim = sd.Simulation([svc], seed=1, faults=faults)
    handles = [sim.invoke(target, i) for i in range(invocations)]
    sim.run(until=timedelta(seconds=1))
    for h in handles:
        sim.cancel(h)
    sim.run()
    for h in handles:
        with pytest.raises(sd.TerminalError) as err:
            h.result()
        assert err.value.status_code == 409
    return sim, handles


def _kinds(sim: sd.Simulation, h: sd.InvocationHandle) -> list[str]:
    return [e.name if e.kind == "run" else e.kind for e in sim.journal(h)]


@pytest.mark.parametrize("phase", ["before", "effect-done"])
def test_the_step_the_cancellation_beat_does_not_run_on_the_replay(phase: str) -> None:
    # (probe B2: the service killed during the refund, before the charge ended)
    sim, [h] = _cancelled_at_1s(
        "Pay/order", f"delay(step=charge, by=3s); crash(step=refund, phase={phase})")
    assert RAN == (["refund"] if phase == "before" else ["refund", "refund"])
    assert _kinds(sim, h) == ["charge", "cancelled", "refund", "completion"]


def test_so_in_a_crowd_too() -> None:
    _, handles = _cancelled_at_1s(
        "Pay/order", "delay(step=charge, by=3s, times=5); crash(step=refund, phase=before, times=5)",
        invocations=5)
    assert RAN == ["refund"] * 5


def test_the_fault_free_run_drops_the_late_step_with_its_attempt() -> None:
    # (probe A2: an async action is cancelled when the attempt ends; its effect
    # after its await never happens, and nothing is journaled for it)
    sim, [h] = _cancelled_at_1s("Pay/order", "delay(step=charge, by=3s)")
    assert RAN == ["refund"]
    assert _kinds(sim, h) == ["charge", "cancelled", "refund", "completion"]


def test_a_step_ending_during_the_compensation_is_journaled_and_replayed() -> None:
    # (probes A3 and B: its completion after the cancellation; the replay
    # neither runs it again nor lets its value past the cancellation)
    sim, [h] = _cancelled_at_1s(
        "Pay/order",
        "delay(step=charge, by=2s); delay(step=refund, by=3s); crash(step=refund, phase=effect-done)")
    assert RAN == ["charge", "refund", "refund"]
    assert _kinds(sim, h) == ["charge", "cancelled", "refund", "completion", "completion"]


@pytest.mark.parametrize(("faults", "ran"), [
    (None, ["charge", "refund"]),
    ("crash(step=refund, phase=before)", ["charge", "refund"]),
    # (the replays: the charge's value stored, it never runs again)
    ("crash(step=charge, phase=after-store)", ["charge", "refund"]),
    ("crash(step=refund, phase=after-store)", ["charge", "refund"]),
    ("crash(step=charge, phase=effect-done)", ["charge", "charge", "refund"]),
])
def test_a_step_awaited_while_a_cancellation_waits_to_be_seen_starts(
        faults: str | None, ran: list[str]) -> None:
    # (probe E: journal Input, Signal, Run charge, Run refund, charge's
    # completion, refund's; the charge ran)
    RAN.clear()
    sim = sd.Simulation([svc], seed=1, faults=faults)
    h = sim.invoke("Pay/self_cancelled", 1)
    sim.run()
    with pytest.raises(sd.TerminalError):
        h.result()
    assert RAN == ran
    assert _kinds(sim, h)[1:] == ["cancelled", "charge", "refund", "completion", "completion"]


def test_a_beaten_step_awaited_again_starts_and_nothing_is_stuck() -> None:
    # (restate-sdk raises the cancellation again there, probe F: the future's
    # task keeps its error; a simulation waits for the step, which starts then;
    # docs/decisions.md, "A step a cancellation beat")
    sim, [h] = _cancelled_at_1s(
        "Pay/awaits_it_again", "delay(step=charge, by=3s); crash(step=refund, phase=before)")
    assert RAN == ["charge", "refund of charge-ok"]


# The twin of ``sent-job-outlives-cancelled-order`` that also charges inside
# its ``try``: a cancellation during a slow charge refunds, and a crash in the
# refund must not make the replay charge (the fault-free run does not).
def charge_order(order: str) -> None:
    bank.apply("charge", {"order": order}, idempotency_key=f"charge-{order}")


charging = restate.Service("Order")


@charging.handler(name="place")
async def place_charging(ctx: restate.Context, order: str) -> str:
    handle = ctx.service_send(dispatch, order, send_delay=COOLING_OFF)
    try:
        await ctx.run_typed("charge", charge_order, order=order)
        await ctx.sleep(COOLING_OFF)
    except restate.TerminalError:
        await handle.cancel_invocation()
        await ctx.run_typed("refund", refund_order, order=order)
        raise
    return "placed"


def test_the_charging_twin_is_not_flagged() -> None:
    report = sd.check(services=[charging, shipping], invoke="Order/place", input="o1",
                      externals=[warehouse, bank], invariant=nothing_shipped_for_a_refund,
                      seed=0, world=[sd.world.cancel(at=timedelta(hours=2))])
    assert report.ok, str(report)


def test_its_refund_after_a_late_charge_is_the_only_money_movement() -> None:
    for external in (bank, warehouse):
        external.reset()
    sim = sd.Simulation([charging, shipping], seed=0, externals=[warehouse, bank],
                        faults="delay(step=charge, by=1d); crash(step=refund, phase=before)")
    h = sim.invoke("Order/place", "o1")
    sim.run(until=timedelta(hours=2))
    sim.cancel(h)
    sim.run()
    with pytest.raises(sd.TerminalError):
        h.result()
    assert [e.op for e in bank.effects] == ["refund"]
    assert warehouse.effects == []


@pytest.mark.parametrize("phase", ["before", "after-store"])
def test_a_beaten_step_awaited_again_after_a_timer_on_the_replay_starts(phase: str) -> None:
    # (the replay sets the charge aside; the handler, resumed by its timer,
    # awaits it again: the resume's own wait path must start it too)
    _cancelled_at_1s("Pay/awaits_it_again",
                     f"delay(step=charge, by=10s); crash(index=2, phase={phase})")
    assert RAN == ["charge", "refund of charge-ok"]


def test_so_in_a_crowd_awaited_again_too() -> None:
    _cancelled_at_1s(
        "Pay/awaits_it_again",
        "delay(step=charge, by=3s, times=5); crash(step=refund, phase=before, times=5)",
        invocations=5)
    assert sorted(RAN) == ["charge"] * 5 + ["refund of charge-ok"] * 5


# Calls around a cancellation (probe L1, L2): restate-sdk, raising the
# cancellation at an await, cancels the calls still open (a SendSignal each),
# so a call made after the cancellation came but before the handler saw it
# ends cancelled too; a call made after it was raised (in the compensation) runs.
callee = restate.Service("Callee")


@callee.handler()
async def slow(ctx: restate.Context, tag: str) -> str:
    await ctx.sleep(timedelta(seconds=4))
    return f"{tag}-ok"


calls = restate.Service("Calls")


@calls.handler()
async def late_call(ctx: restate.Context, tag: str) -> str:
    ctx.cancel_invocation(ctx.request().id)  # it comes while its own code runs
    try:
        return await ctx.service_call(slow, arg=tag)
    except restate.TerminalError as err:
        return f"caught {err.status_code}"


@calls.handler()
async def call_in_the_compensation(ctx: restate.Context, tag: str) -> str:
    try:
        await ctx.sleep(timedelta(seconds=3))
    except restate.TerminalError:
        return await ctx.service_call(slow, arg=tag)
    return "slept"


@pytest.mark.parametrize(("handler", "caller", "callee_ends"), [
    ("late_call", "caught 409", "cancelled"),
    ("call_in_the_compensation", "t-ok", "t-ok"),
])
def test_a_call_made_before_the_handler_saw_its_cancellation_is_cancelled(
        handler: str, caller: str, callee_ends: str) -> None:
    sim = sd.Simulation([calls, callee], seed=1)
    h = sim.invoke(f"Calls/{handler}", "t")
    sim.run(until=timedelta(seconds=1))
    sim.cancel(h)
    sim.run()
    assert h.result() == caller
    [c] = [i for i in sim.invocations() if i.target == "Callee/slow"]
    try:
        ended = c.result()
    except sd.TerminalError as err:
        ended = err.message
    assert ended == callee_ends


def test_a_cancelled_call_tree_leaves_no_blocked_call_behind() -> None:
    # restate-sdk's cancel test, blocked on a call to its own key: the
    # cancellation comes once the awakeable is resolved, before the blocked
    # handler makes its call; Restate cancels that call too, and the key is free.
    from tests.compat.programs import (
        sdk_ts_awakeable_holder as holder,
        sdk_ts_cancel_test as program,
    )

    sim = sd.Simulation([program.runner, program.blocking_service, holder.awakeable_holder], seed=0)
    h = sim.invoke("CancelTestRunner/r/startTest", "CALL")
    sim.run()
    [awk] = sim.awakeables()
    sim.resolve_awakeable(awk, None)
    sim.cancel(h)
    sim.run()
    assert h.result() is None
    assert sim.awakeables() == []
    assert all(i.status in ("completed", "failed") for i in sim.invocations())
