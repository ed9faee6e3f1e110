"""Strict mode's profile hook sees the handler's calls, not simdurable's bookkeeping.

Every call and return the hook sees while it is set is a call of ``_hook`` (a
Python function: the single-fault phase of ``check`` makes tens of thousands).
A step's bookkeeping is not watched: the hook takes itself off at the call of
``run_typed`` (``_strict._PAUSE``), which puts it back on its way out, so the
hook sees that call, no call of ``StrictGuard.exit``/``enter``, of
``setprofile`` or of simdurable's own functions behind them. A step awaited at
once is awaited within that one pause (``_strict_fresh``): what the handler
then awaits is ``_rearming``'s generator, which puts the hook back on as it
starts (its return the step's second event), not the future's ``__await__``,
which would pause the hook again. Its findings are unchanged: a read outside a step is still reported
after a step's pause (in the handler, in a helper it awaits, in an ``except``
after a failed step), and a profile function set before the simulation runs
is set again after it.
"""

from __future__ import annotations

import collections
import cProfile
import sys
import time
from typing import Any

import pytest

import simdurable as sd
from benchmarks.bench_sim import named_steps_service
from simdurable import _sim, _strict


def _hook_calls(monkeypatch: Any, svc: sd.Service, target: str) -> collections.Counter[Any]:
    seen: collections.Counter[Any] = collections.Counter()
    hook = _strict.StrictGuard._hook

    def counting(self: Any, frame: Any, event: str, arg: Any) -> None:
        name = (getattr(arg, "__name__", "?") if event.startswith("c_")
                else f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")
        seen[(event, name)] += 1
        hook(self, frame, event, arg)

    monkeypatch.setattr(_strict.StrictGuard, "_hook", counting)
    # (the profile hook's calls: on 3.12 on, strict mode watches by sys.monitoring)
    monkeypatch.setattr(_sim, "new_guard", _strict.StrictGuard)
    sim = sd.Simulation([svc], seed=0, strict=True)
    handle = sim.invoke(target, 0)
    sim.run()
    assert handle.result() == 20
    return seen


def test_a_step_costs_the_hook_two_events(monkeypatch: Any) -> None:
    seen = _hook_calls(monkeypatch, named_steps_service(20, "HookSteps"), "HookSteps20/run")
    # the handler's call of the step, seen as it is made; then nothing until
    # the awaitable it returned puts the hook back on and returns its value
    assert seen[("call", "context.py:run_typed")] == 20
    assert seen[("return", "context.py:_rearming")] == 20
    assert not seen[("return", "context.py:run_typed")]
    assert not seen[("call", "_fast.py:ready")]
    assert not seen[("call", "futures.py:__await__")]
    # (the function of an unkeyed handler runs without ``Handler._start``)
    assert not seen[("call", "service.py:_start")]
    # and no pause in line a step (``setprofile`` called in the hook, or with
    # the hook off, is no event): the one seen is ``Running.drive``'s, at the
    # segment's end
    assert seen[("c_call", "setprofile")] <= 1
    ours = [key for key in seen if key[0] == "call" and key[1].startswith(("_strict.py:",
                                                                          "context.py:_"))]
    assert not ours, ours
    assert sum(seen.values()) <= 2 * 20 + 15, seen


def test_a_read_after_a_pause_is_still_found() -> None:
    svc = sd.Service("HookClock")

    def work(i: int) -> int:
        return i + 1

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> float:
        x = await ctx.run_typed("one", work, i=x)
        x = await ctx.run_typed("two", work, i=x)
        return time.time() + x

    sim = sd.Simulation([svc], seed=0, strict=True)
    sim.invoke("HookClock/run", 0)
    sim.run()
    found = [e for e in sim.problems if isinstance(e, sd.NondeterministicCallError)]
    assert len(found) == 1 and "time.time() was called outside a step" in str(found[0]), found


def test_a_profile_function_set_before_is_set_again_after() -> None:
    calls: list[str] = []

    def outer(frame: Any, event: str, arg: Any) -> None:
        calls.append(event)

    sim = sd.Simulation([named_steps_service(3, "HookSteps")], seed=0, strict=True)
    handle = sim.invoke("HookSteps3/run", 0)
    sys.setprofile(outer)
    try:
        sim.run()
        assert sys.getprofile() is outer
    finally:
        sys.setprofile(None)
    assert handle.result() == 3
    assert calls


def _work(i: int) -> int:
    return i + 1


def _fail() -> int:
    raise sd.TerminalError("no")


def _step_in_a_step(ctx: sd.Context) -> float:
    try:
        ctx.run_typed("inner", _work, None, 1)  # refused: a step's closure issues nothing
    except sd.HandlerError:
        pass
    return time.time()  # (in a step: its value is journaled)


async def _helper(ctx: sd.Context, x: int) -> float:
    x = await ctx.run_typed("in-helper", _work, i=x)
    return time.time() + x  # (read in the helper, right after its step)


_HANDLERS: dict[str, Any] = {}


def _handler(fn: Any) -> Any:
    _HANDLERS[fn.__name__] = fn
    return fn


@_handler
async def right_after(ctx: sd.Context, x: int) -> float:
    x = await ctx.run_typed("one", _work, i=x)
    now = time.time()
    return now + x


@_handler
async def in_a_helper(ctx: sd.Context, x: int) -> float:
    return await _helper(ctx, x)


@_handler
async def after_a_failed_step(ctx: sd.Context, x: int) -> float:
    try:
        x = await ctx.run_typed("fails", _fail)
    except sd.TerminalError:
        return time.time()
    return x


@_handler
async def after_a_step_not_awaited_at_once(ctx: sd.Context, x: int) -> float:
    step = ctx.run_typed("later", _work, i=x)
    x = await step
    return time.time() + x


@_handler
async def after_ctx_time(ctx: sd.Context, x: int) -> float:
    then = await ctx.time()
    return time.time() - then


def _found(handler: str) -> list[str]:
    svc = sd.Service("HookReads")
    svc.handler(name=handler)(_HANDLERS[handler])
    sim = sd.Simulation([svc], seed=0, strict=True)
    sim.invoke(f"HookReads/{handler}", 0)
    sim.run()
    return [str(e) for e in sim.problems if isinstance(e, sd.NondeterministicCallError)]


@pytest.mark.parametrize("handler", sorted(_HANDLERS))
def test_a_read_after_a_step_is_found_wherever_the_handler_goes_on(handler: str) -> None:
    # The hook took itself off at the step's call: it is back on by the time
    # the handler's own code runs again, whichever way it goes on.
    found = _found(handler)
    assert any("time.time() was called outside a step" in e for e in found), found
    assert sys.getprofile() is None


def test_a_read_in_a_step_is_not_reported() -> None:
    svc = sd.Service("HookInStep")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> float:
        first = await ctx.run_typed("clock", time.time)
        return first + await ctx.run_typed("clock-again", lambda: time.time())

    sim = sd.Simulation([svc], seed=0, strict=True)
    sim.invoke("HookInStep/run", 0)
    sim.run()
    assert not [e for e in sim.problems if isinstance(e, sd.NondeterministicCallError)]


def test_a_step_in_a_step_leaves_the_hook_off_in_the_closure() -> None:
    # The inner call was not watched (the hook is off while a closure runs):
    # it must not put the hook back on, nor take the outer call's pause.
    svc = sd.Service("HookNested")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> float:
        return await ctx.run_typed("outer", _step_in_a_step, None, ctx)

    sim = sd.Simulation([svc], seed=0, strict=True)
    sim.invoke("HookNested/run", 0)
    sim.run()
    kinds = [type(e).__name__ for e in sim.problems]
    assert kinds == ["ContextMisuseError"], sim.problems
    assert sys.getprofile() is None


def test_a_read_after_a_step_is_found_under_cprofile() -> None:
    if sys.getprofile() is not None:
        pytest.skip("another profile function is set (the suite runs under a profiler)")
    svc = sd.Service("HookProfiled")
    svc.handler(name="run")(right_after)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        report = sd.check([svc], "HookProfiled/run", 0, max_examples=0, seed=0, hash_seeds=())
    finally:
        profiler.disable()
    assert "nondeterministic-call" in report.kinds, report.render()


def test_a_catch_all_around_a_step_awaited_at_once_is_reported() -> None:
    svc = sd.Service("HookCatchAll")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        try:
            x = await ctx.run_typed("one", _work, i=x)
        except BaseException:
            return -1
        return x

    report = sd.check([svc], "HookCatchAll/run", 0, max_examples=0, seed=0, hash_seeds=())
    assert report.kinds == ["context-misuse"], report.render()
    assert "`except BaseException` around the await" in report.render()


class _Stamped:
    """An output whose serde's call reads the clock (``DefaultSerde`` calls a
    ``model_dump``): code of the user's that runs after the handler returns."""

    def model_dump(self, mode: str) -> dict[str, float]:
        return {"at": time.time()}


@pytest.mark.parametrize("keyed", [False, True])
def test_a_read_in_the_outputs_serde_is_found(keyed: bool) -> None:
    # An unkeyed handler's function runs without ``Handler._start`` around it
    # in strict mode too: what writes its output is watched all the same.
    svc: Any = sd.VirtualObject("HookOutputObject") if keyed else sd.Service("HookOutput")

    @svc.handler()
    async def run(ctx: Any, x: int) -> _Stamped:
        await ctx.run_typed("one", _work, i=x)
        return _Stamped()

    sim = sd.Simulation([svc], seed=0, strict=True)
    if keyed:
        sim.invoke("HookOutputObject/k/run", 0)
    else:
        sim.invoke("HookOutput/run", 0)
    sim.run()
    found = [str(e) for e in sim.problems if isinstance(e, sd.NondeterministicCallError)]
    assert any("time.time() was called outside a step" in e for e in found), found
    assert sys.getprofile() is None


def _two_waiting(monkeypatch: Any, then: str, profile: bool = True) -> tuple[list[str], Any]:
    """Two invocations started together: the first one's step, awaited at
    once, waits as a task (other work is ready), then resumes (or, cancelled,
    is thrown into); each handler reads the clock right after, at a line of
    its own. ``then``: "cancel" or "kill" the first one while it waits, or "".
    ``profile``: watched by the profile hook (else as strict mode chooses: on
    3.12 on, by ``sys.monitoring``'s events, ``_strict_monitoring``)."""
    seen: collections.Counter[Any] = collections.Counter()
    hook = _strict.StrictGuard._hook

    def counting(self: Any, frame: Any, event: str, arg: Any) -> None:
        seen[(event, frame.f_code.co_name)] += 1
        hook(self, frame, event, arg)

    monkeypatch.setattr(_strict.StrictGuard, "_hook", counting)
    if profile:
        monkeypatch.setattr(_sim, "new_guard", _strict.StrictGuard)
    svc = sd.Service("HookWaits")

    @svc.handler()
    async def first(ctx: sd.Context, x: int) -> float:
        try:
            x = await ctx.run_typed("one", _work, i=x)
        except sd.TerminalError:
            return time.time()
        return time.time() + x

    @svc.handler()
    async def second(ctx: sd.Context, x: int) -> float:
        x = await ctx.run_typed("two", _work, i=x)
        return time.time() + x

    sim = sd.Simulation([svc], seed=0, strict=True)
    handle = sim.invoke("HookWaits/first", 0)
    sim.invoke("HookWaits/second", 0)
    if then:
        tasks = iter(range(2))
        sim.run(stop=lambda: next(tasks, None) is None)  # (three tasks: the first one waits)
        if then == "cancel":
            sim.cancel(handle)
        else:
            sim.kill(handle)
    sim.run()
    found = [e.source or "" for e in sim.problems if isinstance(e, sd.NondeterministicCallError)]
    assert sys.getprofile() is None
    return found, seen


@pytest.mark.parametrize("then", ["", "cancel", "kill"])
def test_a_read_after_a_step_that_waited_is_found(monkeypatch: Any, then: str) -> None:
    # The step's await yields: the hook went off at the awaitable's start and
    # at its resume (or the throw into it), and is on again after either;
    # closed while the hook is off (killed), it leaves the hook off.
    found, seen = _two_waiting(monkeypatch, then)
    assert len(found) == (1 if then == "kill" else 2), found
    assert seen[("call", "_waiting")] >= 2, seen  # (a start and a resume at least)
    assert not seen[("call", "replayed_next")]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12's")
@pytest.mark.parametrize("then", ["", "cancel", "kill"])
def test_a_read_after_a_step_that_waited_is_found_by_events_too(monkeypatch: Any,
                                                               then: str) -> None:
    # (the entry point paused at its PY_START, PY_RESUME and PY_THROW)
    by_events, _ = _two_waiting(monkeypatch, then, profile=False)
    by_hook, _ = _two_waiting(monkeypatch, then)
    assert by_events == by_hook and len(by_events) == (1 if then == "kill" else 2), by_events


