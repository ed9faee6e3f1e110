"""Strict mode on ``sys.monitoring`` (Python 3.12 on, ``_strict_monitoring``).

It finds what the profile hook finds, in the same words at the same lines;
a location of the user's own code is never disabled (the same line runs in a
step, unwatched, and outside one); its tool id is given back when no strict
simulation is left; and with every free tool id taken, strict mode falls back
to the profile hook.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import simdurable as sd
from simdurable import _sim, _strict

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12's")

svc = sd.Service("Ambient")


def _pid() -> int:
    return os.getpid()


@svc.handler()
async def reads(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("one", lambda: x + 1)
    a = time.time()
    b = random.random()
    c = os.environ["HOME"] if "HOME" in os.environ else ""
    d = random.randint(1, 3)
    e = time.strftime("%Y")
    f = time.strftime("%Y", time.gmtime(0))
    g = datetime.now()
    h = uuid.uuid4()
    rng = random._inst  # type: ignore[attr-defined]
    i = rng.random()
    j = id(ctx)
    k = _pid()
    m = ctx.random().random()
    try:
        await ctx.sleep(timedelta(seconds=1))
    except BaseException:
        pass
    return len(str((a, b, c, d, e, f, g, h, i, j, k, m)))


def _problems(monkeypatch: Any, guard: type) -> list[str]:
    if guard is _strict.StrictGuard:
        monkeypatch.setattr(_sim, "new_guard", _strict.StrictGuard)
    sim = sd.Simulation([svc], seed=0, strict=True)
    assert type(sim._guard) is guard
    sim.invoke("Ambient/reads", 1)
    sim.run()
    return [str(p) for p in sim.problems]


def test_the_same_findings_as_the_profile_hook(monkeypatch: Any) -> None:
    from simdurable._strict_monitoring import MonitoringGuard

    by_events = _problems(monkeypatch, MonitoringGuard)
    by_hook = _problems(monkeypatch, _strict.StrictGuard)
    assert by_events == by_hook
    for read in ("time.time()", "random.random()", "random.randint()",
                 "time.strftime() without a time", "datetime.now()", "uuid.uuid4()", "id()",
                 "os.getpid()", "`except BaseException` around the await"):
        assert sum(read in p for p in by_events) >= 1, (read, by_events)
    assert not any("time.gmtime" in p for p in by_events)


clocked = sd.Service("StepThenNot")


def _call(fn: Any) -> Any:
    return fn()


@clocked.handler()
async def step_then_not(ctx: sd.Context) -> float:
    # the same line of the user's (``fn()``), in a step (not judged), then
    # outside one, calling something else first
    await ctx.run_typed("in-step", lambda: _call(time.time))
    _call(str)
    return float(_call(time.time))


def test_a_line_of_the_users_is_judged_whatever_it_called_before() -> None:
    sim = sd.Simulation([clocked], seed=0, strict=True)
    sim.invoke("StepThenNot/step_then_not")
    sim.run()
    found = [str(p) for p in sim.problems]
    assert len(found) == 1 and "time.time() was called outside a step" in found[0], found


# (in a process of their own: a strict simulation of another test still
# alive would hold the events, and the id)
_FRESH = """
import gc, sys, time
import simdurable as sd
from simdurable import _strict

svc = sd.Service("Fresh")


@svc.handler()
async def go(ctx: sd.Context) -> float:
    return time.time()


def ours():
    return [t for t in range(6) if sys.monitoring.get_tool(t) == "simdurable strict mode"]


def found(sim):
    sim.invoke("Fresh/go")
    sim.run()
    return [str(p) for p in sim.problems]


"""


def _fresh(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", _FRESH + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(sd.__file__).parents[1])})
    assert done.returncode == 0, done.stderr


def test_the_tool_id_is_given_back_with_the_last_strict_simulation() -> None:
    _fresh("""
        assert ours() == []
        sim = sd.Simulation([svc], seed=0, strict=True)
        assert len(ours()) == 1
        other = sd.Simulation([svc], seed=0, strict=True)
        problems = found(sim)
        assert len(problems) == 1 and "time.time()" in problems[0], problems
        del sim
        gc.collect()
        assert len(ours()) == 1  # (``other`` holds it)
        del other
        gc.collect()
        assert ours() == []
        """)


def test_with_no_tool_id_free_the_profile_hook_watches() -> None:
    _fresh("""
        for t in (3, 4, 5):
            if sys.monitoring.get_tool(t) is None:
                sys.monitoring.use_tool_id(t, "another tool")
        sim = sd.Simulation([svc], seed=0, strict=True)
        assert type(sim._guard) is _strict.StrictGuard
        problems = found(sim)
        assert len(problems) == 1 and "time.time() was called outside a step" in problems[0]
        """)
