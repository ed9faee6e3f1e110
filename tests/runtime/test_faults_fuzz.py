"""Fault plans from anywhere: parsed, or refused with a FaultPlanError at a column."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from simdurable.runtime import Fault, FaultPlan, FaultPlanError
from simdurable.runtime._faults import MAX_DURATION_MS
from tests.fuzzing import fuzz

PLAN = 'crash(step=charge, phase=effect-done, attempt=1); fail(step="a, b", times=2); restart(at=5s)'


def _parse_or_refuse(text: str) -> FaultPlan | None:
    try:
        plan = FaultPlan.parse(text)
    except FaultPlanError as err:
        assert err.column is not None and 1 <= err.column <= len(text) + 1, (text, str(err))
        assert str(err).startswith(f"at column {err.column}: ")
        return None
    assert FaultPlan.parse(str(plan)) == plan  # what parses, prints back
    return plan


@pytest.mark.parametrize("text,column,message", [
    ("restart(at=" + "9" * 309 + "s)", 12, "too long"),
    ("restart(at=1." + "9" * 5000 + "s)", 12, "more than 9 decimals"),
    ("restart(at=" + "9" * 15 + "d)", 12, "too long"),
    ("restart(at=٣s)", 12, "bad duration"),
    ('crash(message="a\\q")', 17, "badly quoted value"),
    ('crash(message="ab" c)', 20, "badly quoted value"),
    ('crash(step=x); crash(message="ab)', 30, "never closed"),
    ("fail(exception=NoSuchError)", 16, "unknown exception type 'NoSuchError'"),
    ("fail(exception=KeyboardInterrupt)", 16, "not an Exception type"),
    ("fail(exception=SystemExit)", 16, "not an Exception type"),
    ("fail(exception=os.path.nothing)", 16, "unknown exception type"),
    ("fail(exception=a..b)", 16, "not a dotted name"),
    ("crash(attempt=" + "1" * 5000 + ")", 15, "attempt must be an integer"),
    ("crash(attempt=١)", 15, "attempt must be an integer"),
    ("crash(attempt=0)", 1, "attempt must be >= 1"),
    ("crash(index=-1)", 1, "index must be >= 0"),
    ("crash(step=a, step=b)", 15, "step is given twice"),
    ("crash(step=a)); x", 14, "closes nothing"),
    ("crash(); explode()", 10, "unknown fault kind 'explode'"),
])
def test_each_bad_plan_is_refused_at_its_column(text: str, column: int, message: str) -> None:
    with pytest.raises(FaultPlanError, match=message) as caught:
        FaultPlan.parse(text)
    assert caught.value.column == column, str(caught.value)


def test_an_exception_type_is_checked_when_the_fault_is_made() -> None:
    """Before, a misspelt name was taken and the step failed with a FaultPlanError instead."""
    with pytest.raises(FaultPlanError, match="unknown exception type"):
        Fault("fail", exception="ConectionError")
    assert Fault("fail", exception="json.JSONDecodeError").exception == "json.JSONDecodeError"


def test_durations_are_exact_and_bounded() -> None:
    assert FaultPlan.parse("restart(at=0.1s)").faults[0].at_ms == 100
    assert FaultPlan.parse("delay(by=1.0005s)").faults[0].by_ms == 1001
    assert FaultPlan.parse("restart(at=100000d)").faults[0].at_ms == MAX_DURATION_MS
    with pytest.raises(FaultPlanError, match="between 0 and"):
        Fault("restart", at_ms=MAX_DURATION_MS + 1)


def test_the_sample_plan_parses() -> None:
    assert len(_parse_or_refuse(PLAN) or ()) == 3


_PIECES = st.sampled_from([
    "crash", "fail", "delay", "restart", "terminal", "lose-response", "suspend", "(", ")", ",",
    ";", "=", '"', "\\", " ", "step", "at", "by", "times", "attempt", "index", "status",
    "exception", "message", "phase", "effect-done", "timer", "5s", "0.5ms", "1e308", "-1", "0",
    "9" * 400, "KeyboardInterrupt", "ValueError", "os.sep", "١", "\x00", "\udcff", "\U0010ffff",
])


@fuzz(400)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_fuzzed_plans_parse_or_are_refused_at_a_column(text: str) -> None:
    _parse_or_refuse(text)


@fuzz(200)
@given(st.integers(0, len(PLAN)), st.text(max_size=8))
def test_a_valid_plan_with_an_insertion_parses_or_is_refused(at: int, junk: str) -> None:
    _parse_or_refuse(PLAN[:at] + junk + PLAN[at:])


@fuzz(200)
@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_at_a_column(text: str) -> None:
    _parse_or_refuse(text)
