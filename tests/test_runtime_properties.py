"""Property tests of the runtime itself: transparent faults never change outcomes.

Random plans of crashes, restarts and suspensions, over a workload of calls,
object state, sleeps, awakeable-free fan-out and idempotent effects; whatever
the plan and the seed, every invocation ends as in the fault-free run, no
stored step runs twice, and the effects are those of the fault-free run.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as restate
import simdurable as sd

bank = sd.FakeExternal("bank")
orders = restate.Service("Orders")
stock = restate.VirtualObject("Stock")


@stock.handler()
async def take(ctx: restate.ObjectContext, n: int) -> int:
    left = await ctx.get("left")
    left = 50 if left is None else left
    await ctx.sleep(timedelta(milliseconds=5))
    ctx.set("left", left - n)
    return left - n


@orders.handler()
async def place(ctx: restate.Context, n: int) -> dict:
    prices = [ctx.run_typed(f"price-{i}", lambda i=i: 10 + i) for i in range(3)]
    total = sum([await p for p in await restate.gather(*prices)]) * n
    left = await ctx.object_call(take, "widget", n)
    key = str(ctx.uuid())
    receipt = await ctx.run_typed(
        "charge", lambda: bank.apply("charge", {"total": total}, idempotency_key=key)["id"]
    )
    which = await restate.select(
        fast=ctx.run_typed("fast", lambda: "f"), slow=ctx.sleep(timedelta(hours=1))
    )
    ctx.object_send(take, "gadget", 1, send_delay=timedelta(seconds=1))
    return {"total": total, "left_after": left >= 0, "receipt_ok": receipt.startswith("bank-"),
            "which": which[0]}


def outcome(plan: sd.FaultPlan | None, seed: int):
    bank.reset()
    sim = sd.Simulation([orders, stock], seed=seed, faults=plan, externals=[bank],
                        max_steps=50_000)
    hs = [sim.invoke("Orders/place", n) for n in (1, 2, 3)]
    sim.run()
    results = sorted(str(h.result()) for h in hs)
    state = (sim.state("Stock", "widget"), sim.state("Stock", "gadget"))
    effects = sorted(repr(e.payload) for e in bank.effects)
    assert all(count >= 1 for count in sim.engine.step_runs.values())
    return results, state, effects, sim


REFERENCE = outcome(None, 0)[:3]

phases = st.sampled_from(["before", "effect-done", "after-store"])
faults = st.one_of(
    st.builds(lambda i, p, a: sd.Fault("crash", index=i, phase=p, attempt=a),
              st.integers(0, 14), phases, st.integers(1, 3)),
    st.builds(lambda s, p: sd.Fault("crash", step=s, phase=p),
              st.sampled_from(["price-0", "price-2", "charge", "fast"]), phases),
    st.builds(lambda t: sd.Fault("restart", at_ms=t), st.integers(0, 4000)),
    st.builds(lambda i: sd.Fault("suspend", index=i, phase="after-store"), st.integers(0, 14)),
    st.builds(lambda t: sd.Fault("crash", at_ms=t), st.integers(0, 4000)),
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=4), st.integers(0, 2**16))
def test_transparent_faults_never_change_the_outcome(plan_faults, seed):
    results, state, effects, sim = outcome(sd.FaultPlan(tuple(plan_faults)), seed)
    assert (results, state, effects) == REFERENCE, "\n".join(sim.trace())
    assert not sim.problems


def test_reference_outcome_is_what_the_handlers_say():
    results, state, effects = REFERENCE
    assert len(results) == 3 and all("'which': 'fast'" in r for r in results)
    assert state == ({"left": 44}, {"left": 47})
    assert len(effects) == 3
