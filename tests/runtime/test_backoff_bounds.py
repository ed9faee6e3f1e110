"""Backoff delays stay within their bounds however many failures came before.

A policy that retries for ever (``InvocationRetryPolicy(max_attempts=None)``,
or a step's ``RunOptions(max_attempts=10**30)``) used to stop the simulation
with a bare ``OverflowError`` near its 1,025th failure: the factor's power left
the float range, long after the delay had reached its bound."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, strategies as st

import simdurable as sd
from simdurable.runtime._retry import Backoff
from tests.fuzzing import fuzz


@fuzz(200)
@given(initial=st.integers(0, 10**9), factor=st.floats(1, math.inf),
       bound=st.integers(0, 10**12), failures=st.lists(st.integers(0, 10**6), min_size=2,
                                                       max_size=2))
def test_a_delay_is_an_int_within_its_bound_and_never_shrinks(
        initial: int, factor: float, bound: int, failures: list[int]) -> None:
    backoff = Backoff(initial_ms=initial, factor=factor, max_interval_ms=bound)
    lo, hi = sorted(failures)
    a, b = backoff.delay_ms(lo), backoff.delay_ms(hi)
    assert type(a) is int and type(b) is int
    assert 0 <= a <= b <= bound
    if initial == 0:
        assert b == 0


svc = sd.Service("Flaky")


@svc.handler()
async def fails(ctx: sd.Context) -> str:
    raise ValueError("down")


def test_an_invocation_retried_for_ever_keeps_retrying() -> None:
    sim = sd.Simulation([svc], retry_policy=sd.InvocationRetryPolicy(
        max_attempts=None, max_interval=timedelta(seconds=1)))
    handle = sim.invoke("Flaky/fails")
    sim.run(stop=lambda: handle.attempts >= 1100)
    assert handle.attempts == 1100 and handle.status == "backing-off"


def test_a_step_factor_that_is_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_interval_factor must be >= 1, not nan"):
        sd.RunOptions(retry_interval_factor=math.nan)
