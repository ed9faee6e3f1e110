"""A crowd's step future is let go by the generator that awaits it
(``DurableFuture.__await__``, the crowd's branch): its step task is the last
to hold it, so that it is kept there for a later step's future
(``Running.spare_futures``) or freed while its lines are at hand, not at the
handler's resume among 10,000 invocations' objects. The await still
returns what it returned: the value handed, else the completion decoded or
its failure raised."""

from __future__ import annotations

import gc
import types

import pytest

import simdurable as sd
from simdurable._api.futures import StepFuture
from simdurable.runtime._invocation import current_step

svc = sd.Service("LetGo")
held_by_generator: list[bool] = []


def look(i: int) -> int:
    future = current_step.var.get().step  # (the fused runner's: the step's own future)
    assert type(future) is StepFuture
    held_by_generator.append(any(type(r) is types.GeneratorType for r in gc.get_referrers(future)))
    return i + 1


def pair(i: int) -> list:
    return [i, i]


def refuse(i: int) -> int:
    raise sd.TerminalError(f"no {i}")


@svc.handler()
async def run(ctx: sd.Context, x: int) -> list:
    a = await ctx.run_typed("look", look, i=x)
    b = await ctx.run_typed("pair", pair, i=a)  # (a list: decoded, not handed)
    try:
        await ctx.run_typed("refuse", refuse, i=a)
    except sd.TerminalError as err:
        return [a, b, str(err)]
    return [a, b, None]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_crowds_step_future_is_held_by_its_step_task_not_the_awaiting_generator(
        seed: int) -> None:
    held_by_generator.clear()
    sim = sd.Simulation([svc], seed=seed)
    handles = [sim.invoke("LetGo/run", i) for i in range(20)]
    sim.run()
    assert [h.result() for h in handles] == [[i + 1, [i + 1, i + 1], f"no {i + 1}"]
                                             for i in range(20)]
    assert held_by_generator and not any(held_by_generator)
