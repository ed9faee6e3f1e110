"""A crowd's step future that nothing holds once its step is stored is kept
by the fused runner (``Running.spare_futures``) and taken by ``_fast.express``
for a later step's future, instead of a new object made each step while the
old one is freed among 10,000 invocations' objects. A future its handler
still holds is never taken; what the kept ones hold is let go when the
runner's call ends."""

from __future__ import annotations

from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime import _fast

svc = sd.Service("Spare")


def work(i: int) -> int:
    return i + 1


@svc.handler()
async def run(ctx: sd.Context, x: int) -> int:
    for _ in range(5):
        x = await ctx.run_typed("step", work, i=x)
    return x


kept: dict[int, list[Any]] = {}


@svc.handler()
async def keep(ctx: sd.Context, x: int) -> list[int]:
    futures = kept.setdefault(x, [])
    for _ in range(5):
        future = ctx.run_typed("step", work, i=x)
        futures.append(future)
        x = await future
    return [await f for f in futures]


def counted_futures(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made = [0]
    new_future = _fast.new_future

    def counting(cls: type) -> Any:
        made[0] += 1
        return new_future(cls)

    monkeypatch.setattr(_fast, "new_future", counting)
    return made


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_crowds_steps_take_the_futures_their_step_tasks_let_go(
        monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    made = counted_futures(monkeypatch)
    sim = sd.Simulation([svc], seed=seed)
    handles = [sim.invoke("Spare/run", i) for i in range(40)]
    sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(40)]
    # 200 steps, each with its future: made only where none was kept (a step
    # issued before any step task let one go, as the crowd begins, or while
    # more steps were issued than stored), not 200
    assert made[0] < 60, made[0]
    assert sim.engine.running.spare_futures == []  # (let go as the run's call ended)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_future_its_handler_holds_is_never_taken(seed: int) -> None:
    kept.clear()
    sim = sd.Simulation([svc], seed=seed)
    handles = [sim.invoke("Spare/keep", i) for i in range(30)]
    sim.run()
    assert [h.result() for h in handles] == [[i + 1, i + 2, i + 3, i + 4, i + 5]
                                             for i in range(30)]
    futures = [f for fs in kept.values() for f in fs]
    assert len(futures) == 150 and len({id(f) for f in futures}) == 150
    assert all(f.done() for f in futures)
    assert [f.journal_index for f in kept[0]] == [0, 2, 4, 6, 8]
