"""One seed, one run: byte-identical traces; other seeds explore other schedules."""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd

bank = sd.FakeExternal("bank")
shop = restate.Service("Shop")
counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    n = (await ctx.get("n")) or 0
    await ctx.sleep(timedelta(milliseconds=10 * delta))
    ctx.set("n", n + delta)
    return n + delta


@shop.handler()
async def buy(ctx: restate.Context, amount: int) -> str:
    a = ctx.run_typed("price", lambda: amount * 2)
    b = ctx.run_typed("tax", lambda: amount // 10)
    await restate.gather(a, b)
    price, tax = await a, await b
    await ctx.object_call(add, "total", price)
    key = str(ctx.uuid())
    receipt = await ctx.run_typed(
        "charge", lambda: bank.apply("charge", {"amount": price + tax}, idempotency_key=key)
    )
    return receipt["id"]


def run(seed: int, plan: str = "") -> sd.Simulation:
    bank.reset()
    sim = sd.Simulation([shop, counter], seed=seed, faults=plan or None, externals=[bank])
    for amount in (10, 20, 30, 40):
        sim.invoke("Shop/buy", amount)
    sim.send("Counter/total/add", 1, delay=timedelta(milliseconds=5))
    sim.run()
    return sim


def test_same_seed_gives_a_byte_identical_trace():
    plan = "crash(step=charge, phase=effect-done, attempt=1); restart(at=300ms)"
    for seed in (0, 1, 7):
        first, second = run(seed, plan), run(seed, plan)
        assert first.trace() == second.trace()
        assert first.trace_digest() == second.trace_digest()
        assert first.fault_plan() == second.fault_plan()


def test_different_seeds_give_different_schedules_but_the_same_outcome():
    digests, totals = set(), set()
    for seed in range(8):
        sim = run(seed)
        digests.add(sim.trace_digest())
        totals.add(str(sim.state("Counter", "total")))
    assert len(digests) > 1
    assert totals == {"{'n': 201}"}


def test_trace_reads_as_a_timeline():
    sim = run(3, "crash(step=charge, phase=effect-done, attempt=1)")
    text = "\n".join(sim.trace())
    assert "crash" in text and "retry" in text and "attempt 2 of Shop/buy" in text
    assert "replaying" in text
