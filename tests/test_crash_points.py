"""A crash at every fault point in turn: same outcome, stored steps never re-run."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd

PHASES = ("before", "effect-done", "after-store")


def build():
    bank = sd.FakeExternal("bank")
    svc = restate.Service("Order")
    obj = restate.VirtualObject("Stock")

    @obj.handler()
    async def take(ctx: restate.ObjectContext, n: int) -> int:
        left = (await ctx.get("left")) or 100
        ctx.set("left", left - n)
        return left - n

    def price(item: str) -> int:
        return {"book": 12, "pen": 2}[item]

    def charge(key: str, amount: int) -> str:
        return bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"]

    @svc.handler()
    async def place(ctx: restate.Context, order: dict) -> dict:
        amount = await ctx.run_typed("price", price, item=order["item"])
        left = await ctx.object_call(take, order["item"], order["n"])
        key = str(ctx.uuid())
        receipt = await ctx.run_typed("charge", charge, key=key, amount=amount * order["n"])
        await ctx.sleep(timedelta(hours=1))
        note = await ctx.run_typed("note", lambda: f"{order['item']} x{order['n']}")
        return {"receipt": receipt, "left": left, "note": note}

    return [svc, obj], bank


def run(plan=None, seed=3):
    services, bank = build()
    sim = sd.Simulation(services, seed=seed, faults=plan, externals=[bank])
    h = sim.invoke("Order/place", {"item": "book", "n": 2})
    sim.run()
    return sim, h, bank


def fault_points(sim, h):
    """Every (op index, name, phase) of the crash-free run of ``h``."""
    points = []
    for i, e in enumerate(sim.journal(h)):
        if not e.is_command:
            continue
        phases = PHASES if e.kind == "run" else ("before", "after-store")
        for phase in phases:
            points.append((i, e.name, e.kind, phase))
    return points


def test_reference_run():
    sim, h, bank = run()
    assert h.result() == {"receipt": "bank-1", "left": 98, "note": "book x2"}
    assert sim.state("Stock", "book") == {"left": 98}
    assert len(bank.effects) == 1
    assert sim.step_runs(h) == {"price": 1, "charge": 1, "note": 1}


REFERENCE_SIM, REFERENCE_H, _ = run()
POINTS = fault_points(REFERENCE_SIM, REFERENCE_H)


def test_every_operation_has_its_fault_points():
    kinds = [(k, p) for _, _, k, p in POINTS]
    assert kinds.count(("run", "effect-done")) == 3
    assert ("call", "before") in kinds and ("sleep", "after-store") in kinds
    assert len(POINTS) == 3 * 3 + 2 * 2  # three steps, a call and a sleep


@pytest.mark.parametrize("index,name,kind,phase", POINTS)
def test_a_crash_at_any_point_keeps_the_outcome_and_reruns_only_unstored_steps(
    index, name, kind, phase
):
    plan = sd.FaultPlan((sd.Fault("crash", index=index, phase=phase, attempt=1,
                                  target="Order/place"),))
    sim, h, bank = run(plan)
    assert sim.fault_plan(), "the crash must have fired"
    assert h.result() == REFERENCE_H.result()
    assert sim.state("Stock", "book") == {"left": 98}
    assert len(bank.effects) == 1
    runs = sim.step_runs(h)
    expected = {"price": 1, "charge": 1, "note": 1}
    if kind == "run" and phase == "effect-done":
        expected[name] += 1  # the effect happened, the record was lost
    assert runs == expected
    assert h.attempts == 2


def test_stored_steps_are_never_reexecuted_even_under_many_crashes():
    plan = sd.FaultPlan(tuple(
        sd.Fault("crash", index=i, phase=p, target="Order/place", attempt=None)
        for i, _, _, p in POINTS if p != "effect-done"
    ))
    sim, h, bank = run(plan)
    assert h.result() == REFERENCE_H.result()
    assert sim.step_runs(h) == {"price": 1, "charge": 1, "note": 1}
    assert h.attempts > 5
