"""A crowd's step (other tasks ready, so it waits its turn as a task) finds its
serde and keyword by its action (``_fast._crowd_sites``, a closure's by its code:
``_fast.crowd_site``), not by its caller's frame: no frame object is made for a
crowd's handler coroutines. Every run is the same, task for task, with express
steps on or off (the fresh command ``issue`` then finds every site by its frame)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime import _fast

from .test_express_steps import ex

crowd = sd.Service("CrowdSite")


def add(i: int) -> int:
    return i + 1


def by_name(*, j: int) -> int:
    return j * 2


def two(i: int, j: int) -> int:
    return i + j


class Unhashable:
    """A callable no dict can hold: its step goes by its caller's frame."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return self is other

    def __call__(self, i: int) -> int:
        return i + 3


unhashable = Unhashable()


@crowd.handler()
async def five(ctx: sd.Context, x: int) -> int:
    for _ in range(5):
        x = await ctx.run_typed("add", add, i=x)
    return x


@crowd.handler()
async def closures(ctx: sd.Context, n: int) -> int:
    def hinted() -> int:  # (a new closure each call, one code, a return hint)
        return n + 1

    x = 0
    for _ in range(3):
        x += await ctx.run_typed("lambda", lambda: n + 1)
        x += await ctx.run_typed("hinted", hinted)
    return x


@crowd.handler()
async def shapes(ctx: sd.Context, x: int) -> list:
    seen = [await ctx.run_typed("add", add, i=x)]
    seen.append(await ctx.run_typed("positions", add, None, x))  # (one action, another site)
    seen.append(await ctx.run_typed("by-name", by_name, j=x))
    seen.append(await ctx.run_typed("two", two, i=x, j=1))  # (two keywords: each checked)
    seen.append(await ctx.run_typed("two-at", two, None, x, 2))
    kept = ctx.run_typed("kept", add, i=x)  # (a future awaited later)
    seen.append(await ctx.run_typed("unhashable", unhashable, i=x))
    seen.append(await ctx.run_typed("lambda", lambda: [x]))
    seen.append(await kept)
    try:
        await ctx.run_typed("not-callable", 5, i=x)  # type: ignore[call-overload]
    except sd.HandlerError as err:
        seen.append(str(err).split("\n")[0])
    try:
        await ctx.run_typed("a-future", add, i=kept)
    except sd.HandlerError as err:
        seen.append(str(err).split("\n")[0])
    return seen


def run(service: sd.Service, handler: str, n: int, express: bool, seed: int = 1) -> tuple:
    sim = sd.Simulation([service], seed=seed)
    sim.engine.steps.express = express
    handles = [sim.invoke(f"{service.name}/{handler}", i) for i in range(n)]
    sim.run()
    results = [h.result() if h.status == "completed" else h.status for h in handles]
    return (sim.trace(), [sim.journal(h) for h in handles], results, sim.engine.tasks_run,
            sim.scheduler.decisions)


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The frame objects asked of ``sys._getframe`` by the step command."""
    asked: list[int] = []

    def counted(depth: int = 0) -> Any:
        asked.append(depth)
        return sys._getframe(depth + 1)

    monkeypatch.setattr(_fast, "get_frame", counted)
    return asked


@pytest.mark.parametrize("handler", ["five", "closures"])
def test_a_crowds_steps_make_no_frame_object_of_its_handlers(frames, handler):
    n = 300
    *_, results, _, _ = run(crowd, handler, n, express=True)
    assert results == [i + 5 if handler == "five" else 6 * (i + 1) for i in range(n)]
    steps = n * (5 if handler == "five" else 6)
    # (a site's first crowd step asks its frame, once; so do the last
    # invocation's steps, alone at the end, where no other task is ready)
    assert len(frames) <= 12, (len(frames), steps)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("handler", "n"), [("shapes", 60), ("closures", 60), ("five", 200)])
def test_a_crowd_is_the_same_with_express_steps_or_without(handler, n, seed):
    assert run(crowd, handler, n, True, seed) == run(crowd, handler, n, False, seed)


def test_a_crowds_refusals_name_their_call_sites():
    *_, results, _, _ = run(crowd, "shapes", 40, express=True)
    for i, seen in enumerate(results):
        assert seen[:8] == [i + 1, i + 1, 2 * i, i + 1, i + 2, i + 3, [i], i + 1]
        assert seen[8].endswith("needs a callable for step 'not-callable', got int"), seen[8]
        assert "got a DurableFuture as argument i= of step \"a-future\"" in seen[9], seen[9]


@pytest.mark.parametrize("handler", ["one_site", "good_then_bad"])
def test_one_site_of_many_actions_in_a_crowd_is_the_same_either_way(handler):
    # (one site given actions of other serdes, one code with other return
    # hints, and wrong calls between good ones: ``test_express_steps``'s)
    assert run(ex, handler, 30, True) == run(ex, handler, 30, False)
