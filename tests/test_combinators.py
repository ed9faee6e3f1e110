"""gather/select/as_completed/wait_completed, deterministic on replay."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd

svc = restate.Service("Combo")
order: list[str] = []


def work(name: str) -> str:
    order.append(name)
    return name.upper()


@svc.handler()
async def fan_out(ctx: restate.Context) -> list:
    futures = [ctx.run_typed(f"step-{n}", work, name=n) for n in ("a", "b", "c", "d")]
    gathered = await restate.gather(*futures)
    assert gathered == futures and all(g is f for g, f in zip(gathered, futures, strict=True))
    assert all(f.done() for f in futures)
    return [await f for f in gathered]


def fail(name: str) -> str:
    raise restate.TerminalError(f"{name} failed", 422)


@svc.handler()
async def gather_with_a_failure(ctx: restate.Context) -> list:
    ok = ctx.run_typed("ok", work, name="ok")
    bad = ctx.run_typed("bad", fail, name="bad")
    gathered = await restate.gather(bad, ok)  # raises nothing itself
    out: list = [await ok]
    try:
        await bad
    except restate.TerminalError as err:
        out.append([err.message, err.status_code])
    return out + [len(gathered)]


@svc.handler()
async def empty_combinators(ctx: restate.Context) -> list:
    gathered = await restate.gather()
    done, pending = await restate.wait_completed()
    seen = [f async for f in restate.as_completed()]
    try:
        await restate.select()
    except ValueError as err:
        return [gathered, done, pending, seen, str(err)]
    return ["select() raised nothing"]


@svc.handler()
async def race(ctx: restate.Context) -> list:
    awk_id, approval = ctx.awakeable()
    timeout = ctx.sleep(timedelta(minutes=10))
    return await restate.select(approval=approval, timeout=timeout)


@svc.handler()
async def streamed(ctx: restate.Context) -> list:
    futures = [ctx.run_typed(f"s-{n}", work, name=n) for n in ("x", "y", "z")]
    seen = []
    async for f in restate.as_completed(*futures):
        seen.append(await f)
    return seen


@svc.handler()
async def all_done_first(ctx: restate.Context) -> list:
    futures = [ctx.run_typed(f"d-{n}", work, name=n) for n in ("p", "q", "r")]
    for f in reversed(futures):
        await f  # all complete before the combinators look
    done, pending = await restate.wait_completed(*futures)
    seen = [await f async for f in restate.as_completed(*reversed(futures))]
    chosen = await restate.select(q=futures[1], p=futures[0])
    return [[await f for f in done], pending, seen, chosen]


@svc.handler()
async def first_done(ctx: restate.Context) -> list:
    slow = ctx.sleep(timedelta(hours=1))
    fast = ctx.run_typed("fast", work, name="f")
    done, pending = await restate.wait_completed(slow, fast)
    return [len(done), len(pending), await done[0]]


@svc.handler()
async def bad_gather(ctx: restate.Context) -> list:
    async def plain() -> int:
        return 1

    return await restate.gather(plain())


def test_gather_returns_the_futures_in_argument_order_whatever_the_completion_order():
    orders = set()
    for seed in range(12):
        order.clear()
        sim = sd.Simulation([svc], seed=seed)
        h = sim.invoke("Combo/fan_out")
        sim.run()
        assert h.result() == ["A", "B", "C", "D"]
        orders.add(tuple(order))
        journal = sim.journal(h)
        assert [e.name for e in journal if e.kind == "run"] == ["step-a", "step-b", "step-c",
                                                               "step-d"]
    assert len(orders) > 1, "the scheduler must explore different completion orders"


def test_gather_waits_for_all_and_leaves_failures_to_their_futures():
    sim = sd.Simulation([svc], seed=2)
    h = sim.invoke("Combo/gather_with_a_failure")
    sim.run()
    assert h.result() == ["OK", ["bad failed", 422], 2]


def test_combinators_of_no_futures_answer_as_restate_does():
    sim = sd.Simulation([svc], seed=2)
    h = sim.invoke("Combo/empty_combinators")
    sim.run()
    assert h.result() == [[], [], [], [], "At least one future must be passed."]


def test_select_returns_the_first_to_finish():
    sim = sd.Simulation([svc], seed=1)
    timed_out = sim.invoke("Combo/race")
    sim.run()
    assert timed_out.result() == ["timeout", None]
    assert sim.now() == 600.0

    sim = sd.Simulation([svc], seed=1)
    approved = sim.invoke("Combo/race")
    sim.run(until=timedelta(minutes=1))
    [awk] = sim.awakeables()
    sim.resolve_awakeable(awk, "ok")
    sim.run()
    assert approved.result() == ["approval", "ok"]


def test_as_completed_yields_in_completion_order_and_replays_identically():
    for seed in range(6):
        results = []
        for _ in range(2):
            order.clear()
            sim = sd.Simulation([svc], seed=seed, always_suspend=True)
            sim.crash(after="s-y", point="after-store")
            h = sim.invoke("Combo/streamed")
            sim.run()
            assert not sim.problems
            results.append(h.result())
        assert sorted(results[0]) == ["X", "Y", "Z"]
        assert results[0] == results[1]


def test_futures_complete_together_come_in_argument_order():
    sim = sd.Simulation([svc], seed=4)
    h = sim.invoke("Combo/all_done_first")
    sim.run()
    assert h.result() == [["P", "Q", "R"], [], ["R", "Q", "P"], ["q", "Q"]]


def test_wait_completed_splits_done_and_pending():
    sim = sd.Simulation([svc], seed=3)
    h = sim.invoke("Combo/first_done")
    sim.run()
    assert h.result() == [1, 1, "F"]


def test_combinators_refuse_foreign_awaitables():
    sim = sd.Simulation([svc], seed=3)
    h = sim.invoke("Combo/bad_gather")
    sim.run()
    with pytest.raises(sd.HandlerError, match="accepts only simdurable futures"):
        h.result()
