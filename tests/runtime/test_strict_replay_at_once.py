"""Strict mode: a replayed step awaited at once takes its value in ``run_typed``.

With no fused step command in strict mode, a crash run's replayed step took the
general way: a ``DurableFuture`` whose ``__await__`` paused the profile hook again
and saw the completion through ``Attempt.replayed_next``. A step whose call the
handler awaits at once now has its completion seen and decoded where
``_run_typed`` has the hook paused already (``_replayed_at_once``). These tests
count the general await, and compare a crash run's trace, journal, result and
strict findings with the shortcut and without it.
"""

from __future__ import annotations

from typing import Any

import pytest

import simdurable as sd
from simdurable._api import context as api_context
from simdurable.runtime._invocation import Attempt

svc = sd.Service("StrictReplay")


def work(i: int) -> int:
    return i + 1


@svc.handler()
async def chain(ctx: sd.Context, x: int) -> int:
    for name in ("a", "b", "c", "d"):
        x = await ctx.run_typed(name, work, i=x)
    return x


@svc.handler()
async def held(ctx: sd.Context, x: int) -> int:
    # (a future kept, then awaited: not awaited at once, the general way)
    first = ctx.run_typed("a", work, i=x)
    x = await first
    second = ctx.run_typed("b", work, i=x)
    x = await second
    return await ctx.run_typed("c", work, i=x)


@svc.handler()
async def forgets(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("a", work, i=x)
    ctx.run_typed("b", work, i=x)  # never awaited: strict mode says so
    return await ctx.run_typed("c", work, i=x)


def fail_for_good() -> int:
    raise sd.TerminalError("no")


@svc.handler()
async def catches(ctx: sd.Context, x: int) -> int:
    # (a failure replayed: the general way)
    try:
        await ctx.run_typed("bad", fail_for_good)
    except sd.TerminalError:
        x += 10
    return await ctx.run_typed("b", work, i=x)


@svc.handler()
async def with_options(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("a", work, sd.RunOptions(max_attempts=3), x)
    return await ctx.run_typed("b", work, i=x)


_first = {"drifts": True}


@svc.handler()
async def drifts(ctx: sd.Context, x: int) -> int:
    # (a step named otherwise once replayed: the journal's mismatch, the general way)
    name = "a" if _first["drifts"] else "z"
    _first["drifts"] = False
    x = await ctx.run_typed(name, work, i=x)
    return await ctx.run_typed("b", work, i=x)


def _run(handler: str, crash_after: str | None, point: str = "after-store"
         ) -> tuple[Any, list[str], list[Any], list[tuple[str, str]]]:
    _first["drifts"] = True
    sim = sd.Simulation([svc], seed=7, strict=True)
    if crash_after is not None:
        sim.crash(after=crash_after, point=point)
    h = sim.invoke(f"StrictReplay/{handler}", 1)
    sim.run()
    try:
        outcome: Any = h.result()
    except sd.SimdurableError as err:  # pragma: no cover - (a failure is compared too)
        outcome = repr(err)
    found = [(p.kind, p.detail) for p in sim.problems]
    out = (outcome, sim.trace(), list(sim.journal(h)), found)
    sim.close()
    return out


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The indices the general way's ``replayed_next`` was asked for by a
    second attempt (the first asks for its fresh steps too)."""
    asked: list[int] = []
    general = Attempt.replayed_next

    def counted(self: Attempt, index: int) -> bool:
        if self.number > 1:
            asked.append(index)
        return general(self, index)

    monkeypatch.setattr(Attempt, "replayed_next", counted)
    return asked


def test_a_strict_crash_runs_replayed_steps_awaited_at_once_without_the_general_await(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _counting(monkeypatch)
    taken: list[int] = []
    at_once = api_context._replayed_at_once

    def counted(attempt: Attempt, *args: Any) -> Any:
        index = attempt.cursor
        value = at_once(attempt, *args)
        if value is not None:
            taken.append(index)
        return value

    monkeypatch.setattr(api_context, "_replayed_at_once", counted)
    result, *_ = _run("chain", "c")
    assert result == 5
    # a, b, c (#0, #2, #4) replayed after the crash at c's after-store
    assert taken == [0, 2, 4]
    assert not {0, 2, 4} & set(asked), asked


@pytest.mark.parametrize("handler,crash_after,point", [
    ("chain", "c", "after-store"),
    ("chain", "d", "before"),
    ("chain", "b", "effect-done"),
    ("held", "b", "after-store"),
    ("forgets", "c", "after-store"),
    ("catches", "b", "after-store"),
    ("with_options", "b", "after-store"),
    ("drifts", "b", "after-store"),
])
def test_a_strict_crash_run_is_the_same_with_the_shortcut_and_without(
        monkeypatch: pytest.MonkeyPatch, handler: str, crash_after: str, point: str) -> None:
    with_it = _run(handler, crash_after, point)
    monkeypatch.setattr(api_context, "_replayed_at_once", lambda *_: None)
    without = _run(handler, crash_after, point)
    assert with_it == without
    assert any("crash" in line for line in with_it[1])


def test_a_kept_future_replays_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _counting(monkeypatch)
    result, *_ = _run("held", "b")
    assert result == 4
    assert {0, 2} <= set(asked), asked  # (a and b: kept, then awaited)


def test_strict_mode_still_names_a_step_never_awaited_after_a_replay() -> None:
    result, _, _, found = _run("forgets", "c")
    assert result == 3
    kinds = [kind for kind, _ in found]
    assert kinds == ["not-awaited"], found
    assert 'step "b"' in found[0][1]
