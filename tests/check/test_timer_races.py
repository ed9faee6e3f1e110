"""A timer that lost its race in a faulty run (a call beat it, the handler
ended) is late there too: the slowed fault-free run that explains a changed
outcome delays it past the run's end, so a crash plus a late timer is not
called an outcome changed by the crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as sd

work = sd.Service("Work")
deadline = sd.Service("Deadline")
ATTEMPTS = {"n": 0}


@work.handler()
async def slow(ctx: sd.Context, minutes: int) -> str:
    await ctx.sleep(timedelta(minutes=minutes))
    return "ok"


@deadline.handler()
async def run(ctx: sd.Context, minutes: int) -> str:
    match await sd.select(done=ctx.service_call(slow, minutes),
                          late=ctx.sleep(timedelta(minutes=30))):
        case ["done", result]:
            return str(result)
        case _:
            return "timed out"


@deadline.handler()
async def run_counting(ctx: sd.Context, minutes: int) -> str:
    ATTEMPTS["n"] += 1  # the twin's result tells how many attempts ran: a crash changes it
    match await sd.select(done=ctx.service_call(slow, minutes),
                          late=ctx.sleep(timedelta(minutes=30))):
        case ["done", result]:
            return f"{result} after {ATTEMPTS['n']} attempts"
        case _:
            return f"timed out after {ATTEMPTS['n']} attempts"


# A crash once the call is stored, then the retried attempt's timer an hour late:
# the call (60 minutes) now beats the 30-minute timeout.
PLAN = ("crash(step=Work/slow, index=0, phase=after-store, attempt=1); "
        "delay(index=1, phase=timer, attempt=2, target=Deadline/run, by=3601s)")


def _reset() -> None:
    ATTEMPTS["n"] = 0


def test_a_call_that_beats_a_late_timer_after_a_crash_is_a_slow_machine_not_a_bug():
    with pytest.raises(sd.DidNotReproduce):
        sd.check(services=[work, deadline], invoke="Deadline/run", input=60, replay=PLAN,
                 hash_seeds=())


def test_a_result_the_crash_itself_changes_is_still_found():
    report = sd.check(services=[work, deadline], invoke="Deadline/run_counting", input=60,
                      replay=PLAN.replace("Deadline/run", "Deadline/run_counting"),
                      setup=_reset, hash_seeds=(), strict=False)
    assert report.kinds == ["outcome-changed"], report


quote = sd.Service("Quote")


@quote.handler()
async def price(ctx: sd.Context, n: int) -> int:
    return await ctx.run_typed("price", lambda: n * 2)


@quote.handler()
async def first_come(ctx: sd.Context, n: int) -> list[str]:
    """Lists its call, its timer and its step in the order they complete: a race
    the handler allows (on Restate too, the callee may answer before the step)."""
    call = ctx.service_call(price, n)
    nap = ctx.sleep(timedelta(seconds=30))
    step = ctx.run_typed("local", lambda: n)
    order = []
    async for done in sd.as_completed(call, nap, step):
        order.append("call" if done is call else "nap" if done is nap else "step")
    return order


def test_a_crash_that_lets_a_callee_answer_first_is_a_slow_machine_not_a_bug():
    """After the crash the callee's answer reaches the journal before the retried
    attempt's next commands, so the two journals differ in layout: the slowed
    fault-free run is still found, by matching commands in their order."""
    with pytest.raises(sd.DidNotReproduce):
        sd.check(services=[quote], invoke="Quote/first_come", input=1, hash_seeds=(),
                 replay="crash(step=Quote/price, index=0, phase=after-store, attempt=1)")
    assert sd.check(services=[quote], invoke="Quote/first_come", input=1, hash_seeds=(),
                    max_examples=30).ok


carrier = sd.FakeExternal("carrier")
shipping = sd.Workflow("Shipping")


@shipping.main()
async def deliver(ctx: sd.WorkflowContext, order: str) -> str:
    match await sd.select(scanned=ctx.promise("scanned").value(),
                          lost=ctx.sleep(timedelta(days=3))):
        case ["scanned", who]:
            return f"delivered to {who}"
        case _:
            return "lost"


@shipping.handler()
async def scan(ctx: sd.WorkflowSharedContext, who: str) -> str:
    key = f"{ctx.key()}-verify"
    await ctx.run_typed("verify", lambda: carrier.apply("verify", {"who": who},
                                                        idempotency_key=key))
    await ctx.promise("scanned").resolve(who)
    return "ok"


def test_a_run_that_waits_out_its_own_timeout_is_not_a_retry_storm():
    """The carrier refuses the scan for good (a terminal failure of the world's
    caller): nobody completes the promise, and the run ends three days later by
    its timeout, the path it keeps for that. It was reported ``stuck``: "finished
    more than 3600s after the reference run: a retry storm?"."""
    from simdurable import world

    report = sd.check(services=[shipping], invoke="Shipping/o1/deliver", input="o1",
                      externals=[carrier], world=[world.call("Shipping/o1/scan", "ada")],
                      max_examples=20, hash_seeds=())
    assert report.ok, report.render()


def test_a_run_late_beyond_its_timers_is_still_a_retry_storm():
    from types import SimpleNamespace

    from simdurable._check._properties import stuck_violation

    sim = sd.Simulation([shipping], seed=0)
    h = sim.invoke("Shipping/o1/deliver", "o1")
    sim.run()
    assert h.result() == "lost"
    three_days = 3 * 86_400_000
    facts = SimpleNamespace(stuck=None, sim=sim, fired=[], world_hidden=[],
                            records=sim.engine.records(),
                            outcome=SimpleNamespace(finished_ms=three_days + 3_600_001))
    assert stuck_violation(facts, 0, 3_600_000) is not None  # type: ignore[arg-type]
    facts.outcome.finished_ms = three_days + 3_600_000
    assert stuck_violation(facts, 0, 3_600_000) is None  # type: ignore[arg-type]


# A hedged request: the same service called twice, the first answer taken and
# the other call cancelled. Under a restart and a late timer of the first
# callee, the second answers first: a slow machine does that too, but the
# slowed run's delay named the callee by its target, which both callees have,
# and fired in the second.
kitchens = sd.FakeExternal("kitchens")
restaurant = sd.Service("Restaurant")
broker = sd.Service("Broker")


def _cook(name: str, order: str) -> str:
    return str(kitchens.apply("cook", {"by": name, "order": order},
                              idempotency_key=f"{name}-{order}")["id"])


@restaurant.handler()
async def cook(ctx: sd.Context, req: dict[str, object]) -> str:
    await ctx.sleep(timedelta(minutes=int(str(req["minutes"]))))
    return await ctx.run_typed("cook", _cook, name=str(req["name"]), order=str(req["order"]))


@broker.handler()
async def order(ctx: sd.Context, oid: str) -> str:
    a = ctx.service_call(cook, {"name": "a", "order": oid, "minutes": 10})
    b = ctx.service_call(cook, {"name": "b", "order": oid, "minutes": 20})
    async for done in sd.as_completed(a, b):
        loser = b if done is a else a
        ctx.cancel_invocation(await loser.invocation_id())
        return str(await done)
    raise sd.TerminalError("no kitchen")


HEDGE_PLAN = ("restart(step=Restaurant/cook, index=1, phase=before, attempt=1); "
        "delay(index=0, phase=timer, attempt=1, target=Restaurant/cook, by=1201s)")


def test_a_late_callee_among_callees_of_one_target_is_a_slow_machine_not_a_bug():
    # The run the plan makes: the second kitchen cooked, the first was cancelled.
    sim = sd.Simulation(services=[broker, restaurant], externals=[kitchens], seed=0,
                        faults=HEDGE_PLAN)
    kitchens.reset()
    h = sim.invoke("Broker/order", "o1")
    sim.run()
    assert h.result() == "kitchens-1"
    assert [e.payload["by"] for e in kitchens.effects] == ["b"]
    # Which a slow machine does too: replayed, the plan shows no violation.
    with pytest.raises(sd.DidNotReproduce):
        sd.check(services=[broker, restaurant], invoke="Broker/order", input="o1",
                 externals=[kitchens], hash_seeds=(), seed=0, replay=HEDGE_PLAN)
