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


@pytest.mark.parametrize(("fields", "error", "message"), [
    ({"exponentiation_factor": math.nan}, ValueError,
     "InvocationRetryPolicy.exponentiation_factor must be >= 1, not nan"),
    ({"exponentiation_factor": 0.5}, ValueError, "exponentiation_factor must be >= 1, not 0.5"),
    ({"exponentiation_factor": "2"}, TypeError,
     "InvocationRetryPolicy.exponentiation_factor takes a number, not str ('2')"),
    ({"initial_interval": timedelta(seconds=-1)}, ValueError,
     "InvocationRetryPolicy.initial_interval must not be negative"),
    ({"max_interval": 60}, TypeError,
     "InvocationRetryPolicy.max_interval takes a datetime.timedelta, not int (60)"),
    ({"max_attempts": 1.5}, TypeError, "InvocationRetryPolicy.max_attempts takes an int"),
])
def test_an_invocation_policy_is_checked_where_it_is_written(
        fields: dict[str, object], error: type[Exception], message: str) -> None:
    # Taken, each failed only at an invocation's first retry, deep in the run
    # (nan: "cannot convert float NaN to integer"), or made a negative delay.
    with pytest.raises(error) as err:
        sd.InvocationRetryPolicy(**fields)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_what_restate_sdk_leaves_to_the_server_is_still_taken() -> None:
    policy = sd.InvocationRetryPolicy(initial_interval=None, exponentiation_factor=None,  # type: ignore[arg-type]
                                      max_interval=None, max_attempts=None,  # type: ignore[arg-type]
                                      on_max_attempts=None)  # type: ignore[arg-type]
    assert policy.backoff().delay_ms(2) == 1000
    assert sd.InvocationRetryPolicy(exponentiation_factor=1).backoff().delay_ms(9) == 500


def test_a_step_policy_is_checked_by_the_same_rules() -> None:
    with pytest.raises(ValueError, match=r"RunOptions.initial_retry_interval must not be "
                                         r"negative"):
        sd.RunOptions(initial_retry_interval=timedelta(seconds=-1))
    with pytest.raises(TypeError, match=r"RunOptions.max_duration takes a datetime.timedelta"):
        sd.RunOptions(max_duration=5)  # type: ignore[arg-type]
