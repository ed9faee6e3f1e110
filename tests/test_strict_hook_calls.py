"""Strict mode's profile hook sees the handler's calls, not simdurable's bookkeeping.

Every call and return the hook sees while it is set is a call of ``_hook`` (a
Python function: the single-fault phase of ``check`` makes tens of thousands).
A step's bookkeeping pauses it in line, at the first call the handler made
(``run_typed``): the hook sees that call, the pause and the return, and no call
of ``StrictGuard.exit``/``enter`` or of simdurable's own functions behind them.
A step awaited at once is awaited within that one pause (``_awaited_now``): what
the handler then awaits is ``_fast.ready``'s generator, not the future's
``__await__``, which would pause the hook again. Its findings are unchanged: a
read outside a step is still reported after a step's pause, and a profile
function set before the simulation runs is set again after it.
"""

from __future__ import annotations

import collections
import sys
import time
from typing import Any

import simdurable as sd
from benchmarks.bench_sim import named_steps_service
from simdurable import _strict


def _hook_calls(monkeypatch: Any, svc: sd.Service, target: str) -> collections.Counter[Any]:
    seen: collections.Counter[Any] = collections.Counter()
    hook = _strict.StrictGuard._hook

    def counting(self: Any, frame: Any, event: str, arg: Any) -> None:
        name = (getattr(arg, "__name__", "?") if event.startswith("c_")
                else f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")
        seen[(event, name)] += 1
        hook(self, frame, event, arg)

    monkeypatch.setattr(_strict.StrictGuard, "_hook", counting)
    sim = sd.Simulation([svc], seed=0, strict=True)
    handle = sim.invoke(target, 0)
    sim.run()
    assert handle.result() == 20
    return seen


def test_a_step_costs_the_hook_its_own_calls_and_one_pause(monkeypatch: Any) -> None:
    seen = _hook_calls(monkeypatch, named_steps_service(20, "HookSteps"), "HookSteps20/run")
    # the handler's two calls a step (the step's call, and the await of what it
    # returned), each seen as it is made and as it returns
    for name in ("context.py:run_typed", "_fast.py:ready"):
        assert seen[("call", name)] == seen[("return", name)] == 20
    assert not seen[("call", "futures.py:__await__")]
    # and one pause a step (``setprofile`` in line)
    assert seen[("c_call", "setprofile")] <= 21
    ours = [key for key in seen if key[0] == "call" and key[1].startswith(("_strict.py:",
                                                                          "context.py:_"))]
    assert not ours, ours
    assert sum(seen.values()) <= 5 * 20 + 15, seen


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
