"""A step called with one keyword argument, in a crowd: its future keeps that
keyword's value alone (``StepFuture._keyword``), not the dict the call made,
and its action is still called with it by its name (``_fast.keyword_run``);
a name a call cannot spell (a Python keyword, not an identifier) keeps the dict."""

from __future__ import annotations

from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime import _fast

svc = sd.Service("Keyed")


def only_by_name(*, i: int) -> int:
    return i + 1


def any_names(**kw: Any) -> list:
    return sorted(kw.items())


def bag(i: list) -> int:
    return len(i)


@svc.handler()
async def run(ctx: sd.Context, x: int) -> list:
    a = await ctx.run_typed("by-name", only_by_name, i=x)
    b = await ctx.run_typed("keyword", any_names, **{"class": a})
    c = await ctx.run_typed("not-identifier", any_names, **{"a-b": a})
    kept = ctx.run_typed("kept", only_by_name, i=a)  # (awaited later)
    d = await ctx.run_typed("list", bag, i=[a, x])
    return [a, b, c, await kept, d]


def expected(x: int) -> list:
    a = x + 1
    return [a, [["class", a]], [["a-b", a]], a + 1, 2]


def results(sim: sd.Simulation, n: int) -> list:
    handles = [sim.invoke("Keyed/run", i) for i in range(n)]
    sim.run()
    return [h.result() for h in handles]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_crowd_calls_each_step_with_its_keyword_by_its_name(seed: int) -> None:
    assert results(sd.Simulation([svc], seed=seed), 30) == [expected(i) for i in range(30)]


@pytest.mark.parametrize("fault", [
    sd.Fault("fail", step="by-name", times=1),
    sd.Fault("crash", step="kept", phase="before"),
    sd.Fault("crash", step="list", phase="effect-done"),
    sd.Fault("suspend", index=3, phase="after-store"),
])
def test_a_step_kept_by_its_keyword_goes_the_general_way_with_it(fault: sd.Fault) -> None:
    """A fault sends the step task the general way (``Steps.step_task``), which
    reads the future's ``kwargs``: the dict made from the one value kept."""
    sim = sd.Simulation([svc], seed=3, faults=sd.FaultPlan((fault,)))
    assert results(sim, 12) == [expected(i) for i in range(12)]


def test_the_future_keeps_the_one_keywords_value_not_the_dict() -> None:
    seen: list = []

    @svc.handler(name="peek")
    async def peek(ctx: sd.Context, x: int) -> int:
        for _ in range(2):  # (the site's keyword is known from its second call)
            future = ctx.run_typed("peek", only_by_name, i=x)
            seen.append((future._keyword, future._kwargs, future.kwargs))
            x = await future
        future = ctx.run_typed("peek", any_names, **{"class": x})
        seen.append((future._keyword, future._kwargs, future.kwargs))
        await future
        return x

    try:
        sim = sd.Simulation([svc], seed=1)
        sim.invoke("Keyed/peek", 7)
        sim.invoke("Keyed/peek", 70)  # (a crowd: other work ready at each step)
        sim.run()
    finally:
        del svc.handlers["peek"]
    assert ("i", 8, {"i": 8}) in seen or ("i", 71, {"i": 71}) in seen
    # A name no call can spell keeps its dict
    assert (None, {"class": 9}, {"class": 9}) in seen
    assert all(kw is None for kw, kept, _ in seen if type(kept) is dict)
    assert _fast.keyword_run("class") is None
    assert _fast.keyword_run("a-b") is None
    assert _fast.keyword_run("i") is _fast.keyword_run("i")
