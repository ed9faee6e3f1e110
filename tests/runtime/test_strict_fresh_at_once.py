"""Strict mode: a fresh step awaited at once is taken in ``run_typed``.

With no fused step command in strict mode, a fresh step took the general way:
``_run_typed`` made its registration (its serde wrapped by the loss check, its
closure by the late-binding watch) and a ``DurableFuture``, whose ``__await__``
paused the profile hook a second time, ran the step (``Engine.run_lone_step``)
and saw its completion. A step whose call the handler awaits at once is now
taken in ``Context.run_typed`` in one call (``_strict_fresh``: stored, run in
place and seen, its value checked for loss, the step marked awaited), or,
where that cannot be (another step not started yet, other work ready, a fault
that may fire at it), awaited in ``_run_typed`` (``_awaited_now``) after the
general way's registration. Its value comes back through ``_fast.ready``.
These tests count both, and compare a run's trace, journal, result and strict
findings with them and without them; and check ``Watching.plain_step``, the
late-binding watch's shared wrapper of a module's function, against the
general ``late_binding_check``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import simdurable as sd
from simdurable._api import context as api_context
from simdurable._api.late import Watching, _read_later
from simdurable.runtime._invocation import Attempt

svc = sd.Service("StrictFresh")
BOX: list[int] = []


def work(i: int) -> int:
    return i + 1


def pair(i: int) -> tuple[int, int]:
    return (i, i)  # stored as a list: strict mode's loss check names it


def fail_for_good() -> int:
    raise sd.TerminalError("no")


_flaky = {"left": 0}


def flaky(i: int) -> int:
    if _flaky["left"] > 0:
        _flaky["left"] -= 1
        raise RuntimeError("not yet")
    return i + 1


def as_set(i: int) -> set[int]:
    return {i}  # no serde stores it: the step fails, and strict mode names it


def int_keys(i: int) -> dict[int, int]:
    return {i: i}  # its keys come back as str: strict mode's loss check names it


def some(i: int) -> list[int]:
    return [i, i]  # comes back as it was: nothing to name


def label(i: int) -> str:
    return f"n{i}"


def nothing() -> None:
    return None


def count(box: list[int]) -> int:
    return len(box)


def bump_box() -> int:
    BOX.append(1)  # the step's own change: not the handler's
    return len(BOX)


@svc.handler()
async def chain(ctx: sd.Context, x: int) -> int:
    for name in ("a", "b", "c", "d"):
        x = await ctx.run_typed(name, work, i=x)
    return x


@svc.handler()
async def lossy(ctx: sd.Context, x: int) -> int:
    got = await ctx.run_typed("pair", pair, i=x)
    return int(got[0]) + await ctx.run_typed("b", work, i=x)


@svc.handler()
async def values(ctx: sd.Context, x: int) -> int:
    got = await ctx.run_typed("some", some, i=x)
    keyed = await ctx.run_typed("keys", int_keys, i=x)
    named = await ctx.run_typed("label", label, i=x)
    none = await ctx.run_typed("nothing", nothing)
    assert named == "n1" and none is None
    return len(got) + len(keyed)


@svc.handler()
async def unstorable(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("a", work, i=x)
    got = await ctx.run_typed("set", as_set, i=x)
    return len(got)


@svc.handler()
async def clock(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("a", work, i=x)
    return x if time.time() else 0


@svc.handler()
async def forgets(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("a", work, i=x)
    ctx.run_typed("b", work, i=x)  # never awaited: strict mode says so
    return await ctx.run_typed("c", work, i=x)


@svc.handler()
async def catches(ctx: sd.Context, x: int) -> int:
    try:
        await ctx.run_typed("bad", fail_for_good)
    except sd.TerminalError:
        x += 10
    return await ctx.run_typed("b", work, i=x)


@svc.handler()
async def retries(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("flaky", flaky, i=x)
    return await ctx.run_typed("b", work, i=x)


@svc.handler()
async def rebinds(ctx: sd.Context, x: int) -> int:
    # a step kept, its variable rebound, then a step awaited at once: the
    # late-binding watch names the kept one
    user = "ann"
    kept = ctx.run_typed("mail", lambda: f"mail {user}")
    user = "bob"
    x = await ctx.run_typed("a", work, i=x)
    await kept
    return x + len(user)


@svc.handler()
async def boxed(ctx: sd.Context, x: int) -> int:
    # a step kept that reads BOX (watched: a list passed), then one awaited at
    # once that changes it, and runs first: its own change, not the handler's
    # (its closure is looked after: the watch looks before and after it runs)
    kept = ctx.run_typed("read", count, box=BOX)
    x += await ctx.run_typed("bump", bump_box)
    return x + await kept


@svc.handler()
async def swallows(ctx: sd.Context, x: int) -> int:
    try:
        x = await ctx.run_typed("a", work, i=x)
    except BaseException:  # noqa: BLE001 - what strict mode names
        x = -1
    return x


def _run(handler: str, crash_after: str | None = None, point: str = "after-store",
         others: int = 0) -> tuple[Any, list[str], list[Any], list[tuple[str, str]]]:
    BOX.clear()
    _flaky["left"] = 2
    sim = sd.Simulation([svc], seed=7, strict=True)
    if crash_after is not None:
        sim.crash(after=crash_after, point=point)
    h = sim.invoke(f"StrictFresh/{handler}", 1)
    for _ in range(others):  # (more work ready: a step run in place parks its handler)
        sim.invoke(f"StrictFresh/{handler}", 2)
    sim.run()
    try:
        outcome: Any = h.result()
    except sd.SimdurableError as err:  # pragma: no cover - (a failure is compared too)
        outcome = repr(err)
    found = [(p.kind, p.detail) for p in sim.problems]
    out = (outcome, sim.trace(), list(sim.journal(h)), found)
    sim.close()
    return out


def _taken(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """The indices of the steps taken in one call (``_strict_fresh``), and of
    those awaited in ``_run_typed`` (``_awaited_now``)."""
    fresh: list[int] = []
    taken: list[int] = []
    strict_fresh = api_context._strict_fresh
    awaited_now = api_context._awaited_now

    def in_one(attempt: Attempt, *args: Any) -> Any:
        index = len(attempt.journal)
        value = strict_fresh(attempt, *args)
        if value is not None:
            fresh.append(index)
        return value

    def counted(attempt: Attempt, index: int, *args: Any) -> Any:
        taken.append(index)
        return awaited_now(attempt, index, *args)

    monkeypatch.setattr(api_context, "_strict_fresh", in_one)
    monkeypatch.setattr(api_context, "_awaited_now", counted)
    return fresh, taken


def _general_await(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The indices whose future's ``__await__`` ran the step (``run_lone_step``)."""
    asked: list[int] = []
    general = Attempt.replayed_next

    def counted(self: Attempt, index: int) -> bool:
        asked.append(index)
        return general(self, index)

    monkeypatch.setattr(Attempt, "replayed_next", counted)
    return asked


def test_fresh_steps_awaited_at_once_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, taken = _taken(monkeypatch)
    result, _, journal, found = _run("chain")
    assert result == 5 and not found  # (each step marked awaited)
    assert fresh == [0, 2, 4, 6] and not taken
    assert len(journal) == 8


def test_other_work_ready_takes_the_general_registration(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, taken = _taken(monkeypatch)
    result, _, _, found = _run("chain", others=1)
    assert result == 5 and not found
    assert taken  # (its steps awaited in ``_run_typed``, each run as the others wait)


def test_a_kept_future_is_awaited_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, taken = _taken(monkeypatch)
    result, _, _, found = _run("rebinds")
    assert taken == [1] and not fresh  # (a: at once, after mail, #0: kept, not run yet)
    assert result == 2 + 3
    assert [kind for kind, _ in found] == ["late-binding"], found
    assert 'step "mail"' in found[0][1] and "user" in found[0][1]


def test_a_step_awaited_at_once_has_its_value_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, _ = _taken(monkeypatch)
    result, _, _, found = _run("lossy")
    assert fresh == [0, 2]
    assert result == 1 + 2
    assert [kind for kind, _ in found] == ["serialization"], found
    assert 'step "pair" returned a tuple' in found[0][1]


def test_only_a_value_that_comes_back_otherwise_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, _ = _taken(monkeypatch)
    result, _, _, found = _run("values")
    assert fresh == [0, 2, 4, 6]
    assert result == 2 + 1
    assert [kind for kind, _ in found] == ["serialization"], found
    assert 'step "keys" returned a dict with int keys' in found[0][1]


def test_a_value_no_serde_stores_fails_its_step_and_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, _ = _taken(monkeypatch)
    _, trace, _, found = _run("unstorable")
    assert fresh[:2] == [0, 2]
    assert "serialization" in [kind for kind, _ in found], found
    assert any('step "set" returned a set' in detail for _, detail in found), found
    assert any("retry" in line for line in trace)


def test_a_read_after_a_step_awaited_at_once_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, _ = _taken(monkeypatch)
    *_, found = _run("clock")
    assert fresh == [0]
    assert [kind for kind, _ in found] == ["nondeterministic-call"], found
    assert "time.time() was called outside a step" in found[0][1]


def test_a_step_never_awaited_is_still_named(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, _ = _taken(monkeypatch)
    result, _, _, found = _run("forgets")
    assert fresh == [0]  # (b is not awaited at once; c comes after it, not run yet)
    assert result == 3
    assert [kind for kind, _ in found] == ["not-awaited"], found
    assert 'step "b"' in found[0][1]


def test_a_step_awaited_at_once_that_changes_what_a_kept_one_reads_is_no_finding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, taken = _taken(monkeypatch)
    result, _, _, found = _run("boxed")
    assert taken == [1] and not fresh  # (bump, at once; read, #0: kept, not run yet)
    assert not found, found
    assert result == 1 + 1 + 1


def test_a_catch_all_around_a_step_awaited_at_once_is_found_where_it_waits() -> None:
    # (another invocation ready: the step runs in place and its handler waits
    # for its resume, at the await the catch-all holds)
    *_, found = _run("swallows", others=1)
    assert "context-misuse" in [kind for kind, _ in found], found


@pytest.mark.parametrize("shortcuts", ["awaited_now", "neither"])
@pytest.mark.parametrize("handler,crash_after,point,others", [
    ("values", None, "after-store", 0),
    ("unstorable", None, "after-store", 0),
    ("chain", None, "after-store", 0),
    ("chain", None, "after-store", 2),
    ("chain", "c", "after-store", 0),
    ("chain", "d", "before", 0),
    ("chain", "b", "effect-done", 1),
    ("lossy", None, "after-store", 0),
    ("clock", None, "after-store", 0),
    ("forgets", "c", "after-store", 0),
    ("catches", None, "after-store", 0),
    ("catches", "b", "after-store", 1),
    ("retries", None, "after-store", 0),
    ("rebinds", None, "after-store", 0),
    ("boxed", None, "after-store", 0),
    ("boxed", None, "after-store", 1),
    ("swallows", None, "after-store", 0),
    ("swallows", None, "after-store", 1),
])
def test_a_strict_run_is_the_same_with_the_shortcuts_and_without(
        monkeypatch: pytest.MonkeyPatch, handler: str, crash_after: str | None, point: str,
        others: int, shortcuts: str) -> None:
    with_them = _run(handler, crash_after, point, others)
    asked = _general_await(monkeypatch)
    monkeypatch.setattr(api_context, "_strict_fresh", lambda *_: None)
    if shortcuts == "neither":
        monkeypatch.setattr(api_context, "_at_once", lambda caller: False)
    without = _run(handler, crash_after, point, others)
    assert with_them == without
    assert asked  # (the general way taken instead)


@pytest.mark.parametrize("make", [
    lambda: (work, (), {"i": 1}),
    lambda: (work, (1,), {}),
    lambda: (work, ([1],), {}),
    lambda: (work, (), {"i": {"a": 1}}),
    lambda: (bump_box, (), {}),
    lambda: (count, (BOX,), {}),
    lambda: ((lambda: 1), (), {}),
    lambda: ((lambda u=[1]: u), (), {}),
    lambda: (sd.Service, ("x",), {}),
    lambda: (_closure(), (), {}),
])
def test_a_plain_step_is_one_whose_closure_reads_nothing_later(make: Any) -> None:
    action, args, kwargs = make()
    watching = Watching()
    plain = watching.plain_step(action, args, kwargs)
    if plain is not None:
        assert _read_later(action, args, kwargs) == []
        assert plain.__wrapped__ is action  # type: ignore[attr-defined]
        # (one wrapper a function, shared by its steps)
        assert watching.plain_step(action, args, kwargs) is plain
    if _read_later(action, args, kwargs) or not _module_level(action):
        assert plain is None


def _closure() -> Any:
    box = [1]
    return lambda: box


def _module_level(action: Any) -> bool:
    return (getattr(action, "__closure__", 1) is None
            and "<locals>" not in getattr(action, "__qualname__", "<locals>"))
