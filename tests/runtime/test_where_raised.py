"""``where_raised``: the user's line that raised, off the traceback itself.

A failed step's reason (and a failed attempt's) names the user's line that
raised (``file.py:line``). It was the last of ``user_frames``, a summary of
every frame of the traceback with its source line and position; it is now read
off the traceback's frames (``tb_lineno``). These tests compare the two, and
that no summary is made for it.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime import _lifecycle, _running, _steps
from simdurable.runtime._running import user_frames, where_raised


def summarised(exc: BaseException) -> str | None:
    """What ``where_raised`` answered before (the last of ``user_frames``)."""
    frames = user_frames(exc)
    if not frames:
        return None
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"


def helper(x: int) -> int:
    if x > 1:
        return helper(x - 1)
    raise ValueError(  # (``LINE``)
        "spread over",
        "lines",
    )


LINE = helper.__code__.co_firstlineno + 3  # (its raise)


def caught(fn: Any, *args: Any) -> BaseException:
    try:
        fn(*args)
    except BaseException as err:  # noqa: BLE001 - what each case raised
        return err
    raise AssertionError("nothing raised")


def made_in_string() -> BaseException:
    namespace: dict[str, Any] = {}
    exec("def f():\n    raise KeyError('k')\n", namespace)  # noqa: S102 - a <string> frame
    return caught(namespace["f"])


def own_only() -> BaseException:
    err = caught(sd.Simulation([], seed=0).invoke, "Nope/x")
    err.__traceback__ = err.__traceback__.tb_next  # type: ignore[union-attr]  # (ours only)
    return err


@pytest.mark.parametrize("make", [
    lambda: caught(helper, 1),
    lambda: caught(helper, 4),
    made_in_string,
    own_only,
    lambda: caught(lambda: [][1]),
    lambda: ValueError("never raised"),
])
def test_where_raised_is_the_last_user_frame_of_the_summary(make: Any) -> None:
    err = make()
    assert where_raised(err) == summarised(err)


def test_own_frames_only_name_no_line() -> None:
    assert where_raised(own_only()) is None
    assert where_raised(caught(helper, 2)) == f"test_where_raised.py:{LINE}"


svc = sd.Service("Raises")


def flaky(i: int) -> int:
    if i < 3:
        raise ConnectionError("down")
    return i


@svc.handler()
async def run(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("up", flaky, i=x)
    if x == 3:
        raise RuntimeError("handler")
    return x


def _trace(seed: int, x: int) -> list[str]:
    sim = sd.Simulation([svc], seed=seed, strict=True)
    sim.fail("up")
    sim.invoke("Raises/run", x)
    sim.run()
    out = sim.trace()
    sim.close()
    return out


def test_a_failed_attempts_reason_reads_no_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []
    extract = traceback.extract_tb

    def counted(tb: Any, limit: Any = None) -> Any:
        made.append(tb)
        return extract(tb, limit)

    monkeypatch.setattr(traceback, "extract_tb", counted)
    for tb_user in (1, 5):
        err = caught(helper, tb_user)
        made.clear()
        assert where_raised(err) is not None
        assert made == []


@pytest.mark.parametrize("x", [1, 3, 4])
def test_a_runs_failure_reasons_are_the_same_as_with_the_summary(
        monkeypatch: pytest.MonkeyPatch, x: int) -> None:
    now = _trace(0, x)
    # (1: the step raises in flaky; 3: the handler raises; 4: the injected failure only)
    assert any(" at test_where_raised.py:" in line for line in now) == (x != 4), now
    for module in (_steps, _lifecycle, _running):
        monkeypatch.setattr(module, "where_raised", summarised)
    assert _trace(0, x) == now
