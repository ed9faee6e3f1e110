"""Between a step's stored value and its handler's next line, other invocations
may run, as they may on Restate (docs/decisions.md, "A crowd's schedule stays as
it was"): a run must offer that point, or a check could not show a race on
what a handler keeps in memory after a step."""

from __future__ import annotations

import simdurable as sd

pair = sd.Service("Pair")
seen: list[tuple[str, str]] = []


@pair.handler()
async def go(ctx: sd.Context, who: str) -> str:
    await ctx.run_typed("effect", lambda: seen.append(("effect", who)))
    seen.append(("after", who))  # what a handler does in memory once its step is done
    return who


def _order(seed: int) -> tuple[tuple[str, str], ...]:
    seen.clear()
    sim = sd.Simulation([pair], seed=seed)
    sim.invoke("Pair/go", "a")
    sim.invoke("Pair/go", "b")
    sim.run()
    return tuple(seen)


def test_another_invocations_step_may_run_before_a_handler_goes_on_from_its_own():
    orders = {_order(seed) for seed in range(40)}
    between = [o for o in orders if o[0][0] == o[1][0] == "effect"]
    assert between, orders  # both effects done while neither handler went on
    assert any(o[0][0] == "effect" and o[1] == ("after", o[0][1]) for o in orders)
    assert len(orders) == 6  # every order of the four events the two handlers allow


def test_the_order_a_seed_gives_is_the_same_every_time():
    assert [_order(seed) for seed in range(10)] == [_order(seed) for seed in range(10)]
