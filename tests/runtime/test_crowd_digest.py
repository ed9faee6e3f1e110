"""A crowd's trace, byte for byte, for a seed: pinned.

A speed change to the crowd's path (the fused runner, its ready lists, what
an attempt holds) must leave every run of a seed as it was: which task each
draw takes, so every event and its order. The small crowds of
``test_crowded_tasks`` compare the fused runner with the general one; this
pins a crowd past ``Scheduler.hold_at`` (its older ready tasks held apart)
to the digest its trace had when it was written (main ``e2c888c``), with and
without the held list. A change that moves it changes what a seed means:
a decision on the trace, not a speed change.
"""

from __future__ import annotations

import pytest

import simdurable as sd

five = sd.Service("Five")


def add(i: int) -> int:
    return i + 1


@five.handler()
async def run(ctx: sd.Context, x: int) -> int:
    for _ in range(5):
        x = await ctx.run_typed("add", add, i=x)
    return x


# seed -> (trace digest, draws, trace lines) of 2,500 invocations in flight
PINNED = {
    1: ("93d3a1b35d9833f441e166d5cc89a94c8754f9b2c0554731c849680ae93990d5", 27_499, 32_500),
    7: ("4777f2063e6b7bae89364585e0c18b51094e27c8187c11104a7bdd75cbda297e", 27_497, 32_500),
}


@pytest.mark.parametrize("hold", [True, False])
@pytest.mark.parametrize("seed", sorted(PINNED))
def test_a_crowds_trace_for_a_seed_is_the_one_pinned(seed: int, hold: bool) -> None:
    sim = sd.Simulation([five], seed=seed)
    if not hold:
        sim.scheduler.hold_at = 1 << 30
    handles = [sim.invoke("Five/run", i) for i in range(2_500)]
    sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(2_500)]
    assert (sim.trace_digest(), sim.scheduler.decisions, len(sim.trace())) == PINNED[seed]
