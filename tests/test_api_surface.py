"""The rest of the context surface: async closures, serdes, requests, generic calls,
cancellation from a handler, restarts, suspensions, lost responses, stuck runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd


class UpperSerde(restate.Serde[str]):
    """Stores strings upper-cased, to show the serde is the one used."""

    def serialize(self, obj):
        return b"" if obj is None else obj.upper().encode()

    def deserialize(self, buf):
        return buf.decode() if buf else None


svc = restate.Service("Api")
obj = restate.VirtualObject("Obj")


async def async_closure(x: int) -> int:
    return x * 3


@svc.handler()
async def async_step(ctx: restate.Context, x: int) -> int:
    return await ctx.run_typed("triple", async_closure, x=x)


@svc.handler()
async def legacy_run(ctx: restate.Context) -> int:
    return await ctx.run("add", lambda a, b: a + b, args=(2, 3), max_attempts=2)


@svc.handler()
async def serdes(ctx: restate.Context) -> str:
    opts = restate.RunOptions(serde=UpperSerde())
    return await ctx.run_typed("shout", lambda: "quiet", opts)


@obj.handler()
async def keep(ctx: restate.ObjectContext, text: str) -> str:
    ctx.set("text", text, serde=UpperSerde())
    return await ctx.get("text", serde=UpperSerde())


@svc.handler()
async def whoami(ctx: restate.Context) -> dict:
    req = ctx.request()
    return {"id": req.id, "body": req.body.decode(), "hdr": req.headers.get("x-user")}


@svc.handler()
async def raw_call(ctx: restate.Context) -> str:
    out = await ctx.generic_call("Api", "async_step", b"4")
    handle = ctx.generic_send("Obj", "keep", b'"hi"', key="k")
    sent = await handle.invocation_id()
    return f"{out.decode()} {sent.startswith('inv_')}"


@svc.handler()
async def sleeper(ctx: restate.Context) -> str:
    try:
        await ctx.sleep(timedelta(days=1))
    except restate.TerminalError as err:
        return err.message
    return "woke"


@svc.handler()
async def canceller(ctx: restate.Context) -> str:
    call = ctx.service_call(sleeper)
    await ctx.sleep(timedelta(seconds=1))
    await call.cancel_invocation()
    return await call


@svc.handler()
async def forever(ctx: restate.Context) -> None:
    while True:
        await ctx.sleep(timedelta(seconds=1))


bank = sd.FakeExternal("bank")


@svc.handler()
async def pay(ctx: restate.Context) -> str:
    def charge() -> str:
        return bank.apply("charge", {"amount": 5})["id"]

    return await ctx.run_typed("charge", charge)


def simulate(target, arg=None, **kw):
    sim = sd.Simulation([svc, obj], seed=kw.pop("seed", 2), **kw)
    h = sim.invoke(target, arg, headers=kw.pop("headers", None))
    sim.run()
    return sim, h


def test_async_step_closures_are_awaited():
    _, h = simulate("Api/async_step", 7)
    assert h.result() == 21


def test_legacy_run_with_positional_args():
    _, h = simulate("Api/legacy_run")
    assert h.result() == 5


def test_step_and_state_serdes_are_pluggable():
    sim, h = simulate("Api/serdes")
    assert h.result() == "QUIET"
    assert sim.journal(h)[1].result.data == b"QUIET"
    sim2 = sd.Simulation([svc, obj])
    k = sim2.invoke("Obj/a/keep", "shh")
    sim2.run()
    assert k.result() == "SHH"
    assert sim2.store.state("Obj", "a") == {"text": b"SHH"}


def test_request_carries_id_body_and_headers():
    sim = sd.Simulation([svc, obj])
    h = sim.invoke("Api/whoami", headers={"x-user": "ann"})
    sim.run()
    assert h.result() == {"id": h.id, "body": "", "hdr": "ann"}


def test_generic_call_and_send_with_raw_bytes():
    sim, h = simulate("Api/raw_call")
    assert h.result() == "12 True"
    assert sim.state("Obj", "k") == {"text": b"HI"}  # written by UpperSerde, not JSON


def test_cancelling_a_call_from_a_handler():
    sim, h = simulate("Api/canceller")
    assert h.result() == "cancelled"
    assert sim.now() == 1.0


def test_server_restart_rebuilds_timers_from_the_store():
    sim = sd.Simulation([svc, obj], seed=1, faults="restart(at=2h)")
    h = sim.invoke("Api/sleeper")
    sim.run()
    assert h.result() == "woke"
    assert sim.now() == 86400.0
    assert [line.split()[1] for line in sim.trace()].count("restart") == 1
    assert h.attempts == 2


def test_suspension_replays_from_the_journal():
    sim = sd.Simulation([svc, obj], seed=1, faults="suspend(index=0, phase=after-store)")
    h = sim.invoke("Api/sleeper")
    sim.run()
    assert h.result() == "woke"
    assert h.attempts == 2
    assert any("suspend" in line for line in sim.trace())


def test_lost_response_happens_after_the_effect():
    bank.reset()
    sim = sd.Simulation([svc, obj], seed=1, faults="lose-response(external=bank, operation=charge)")
    h = sim.invoke("Api/pay")
    sim.run()
    assert h.result() == "bank-2"
    assert len(bank.effects) == 2  # no idempotency key: the retry charged again
    assert sim.step_runs(h) == {"charge": 2}


def test_unbounded_loops_are_reported_stuck():
    sim = sd.Simulation([svc, obj], seed=1, max_steps=500)
    sim.invoke("Api/forever")
    with pytest.raises(sd.StuckError, match="no end in sight") as info:
        sim.run()
    assert info.value.waiting and "Api/forever" in info.value.waiting[0]


def test_a_thirty_day_sleep_is_virtual():
    sim = sd.Simulation([svc, obj])
    h = sim.invoke("Api/sleeper")
    sim.run()
    assert h.result() == "woke" and sim.now() == 86400.0


def test_queries_are_reads_that_record_no_effect_but_can_fail():
    quotes = sd.FakeExternal("quotes")
    quotes.fail_next("price", TimeoutError("slow"))
    with pytest.raises(TimeoutError):
        quotes.query("price", {"sym": "X"})
    assert quotes.query("price", {"sym": "X"}) == {"op": "price", "payload": {"sym": "X"}}
    assert quotes.effects == [] and quotes.queries == [("price", {"sym": "X"})]


def test_a_timer_can_be_made_to_fire_late():
    plan = "delay(index=0, phase=timer, by=7200s)"
    assert str(sd.FaultPlan.parse(plan)) == plan
    sim = sd.Simulation([svc, obj], seed=1, faults=plan)
    h = sim.invoke("Api/sleeper")
    sim.run()
    assert h.result() == "woke"
    assert sim.now() == 86400.0 + 7200.0
    assert any("timer #0 delayed by 7200000ms" in line for line in sim.trace())
    # a delay without phase=timer is a step's, and leaves timers alone
    sim = sd.Simulation([svc, obj], seed=1, faults="delay(index=0, by=2h)")
    h = sim.invoke("Api/sleeper")
    sim.run()
    assert sim.now() == 86400.0


def test_only_delays_apply_to_timers():
    with pytest.raises(sd.FaultPlanError, match="only for delay faults"):
        sd.FaultPlan.parse("crash(phase=timer)")
