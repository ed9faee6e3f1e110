"""Fault plans print as strings and parse back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from simdurable.runtime import Fault, FaultPlan, FaultPlanError
from simdurable.runtime._faults import KINDS, PHASES, TIMER, make_exception, parse_duration_ms

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
@st.composite
def faults(draw):
    """Any valid fault: a kind, and the fields that kind may carry."""
    kind = draw(st.sampled_from(KINDS))
    phases = {"delay": [None, TIMER], "restart": [None, *PHASES], "suspend": [None, *PHASES],
              "crash": [None, *PHASES]}.get(kind, [None, *PHASES])
    return Fault(
        kind=kind,
        step=draw(st.none() | names),
        index=draw(st.none() | st.integers(0, 500)),
        phase=draw(st.sampled_from(phases)),
        attempt=draw(st.none() | st.integers(1, 9)),
        target=draw(st.none() | st.sampled_from(["Greeter/greet", "Counter/a b/add"])),
        times=draw(st.integers(1, 5)),
        exception=draw(st.none() | st.sampled_from(["ConnectionError", "TimeoutError"])),
        message=draw(st.none() | names),
        at_ms=draw(st.none() | st.integers(0, 10**9)),
        by_ms=draw(st.none() | st.integers(0, 10**6)),
    )


@settings(deadline=None)  # microseconds each; a loaded CI machine must not fail it on time
@given(st.lists(faults(), max_size=5))
def test_a_plan_parses_back_from_its_string(items):
    plan = FaultPlan(tuple(items))
    assert FaultPlan.parse(str(plan)) == plan


def test_readable_form():
    plan = FaultPlan((Fault("crash", step="charge", phase="effect-done", attempt=1),
                      Fault("restart", at_ms=5000), Fault("fail", step="fetch", times=2)))
    assert str(plan) == ("crash(step=charge, phase=effect-done, attempt=1); restart(at=5s); "
                         "fail(step=fetch, times=2)")
    assert str(FaultPlan()) == "no faults"
    assert FaultPlan.parse("no faults") == FaultPlan()


@pytest.mark.parametrize("text,message", [
    ("crash(step=charge", r"column 6: a '\(' that is never closed"),
    ("crash step=charge", "cannot read fault"),
    ("explode()", "unknown fault kind 'explode'"),
    ("crash(phase=later)", "unknown phase 'later'"),
    ("crash(colour=red)", "unknown field 'colour'"),
    ("crash(attempt=one)", "attempt must be an integer"),
    ("restart(at=5 parsecs)", "bad duration"),
    ("crash(step)", "expected field=value"),
])
def test_bad_plans_say_what_is_wrong(text, message):
    with pytest.raises(FaultPlanError, match=message):
        FaultPlan.parse(text)


def test_durations_and_exceptions():
    assert parse_duration_ms("250ms") == 250
    assert parse_duration_ms("2m") == 120_000
    assert parse_duration_ms("30d") == 30 * 86_400_000
    exc = make_exception(Fault("fail", exception="TimeoutError", message="slow"))
    assert isinstance(exc, TimeoutError) and str(exc) == "slow"
    with pytest.raises(FaultPlanError, match="unknown exception type"):
        make_exception(Fault("fail", exception="NoSuchError"))


@pytest.mark.parametrize("text", ["0\n", "charge\n", "a b", "", "1"])
def test_values_that_need_quotes_get_them(text):
    """A value with a trailing newline once went out bare and came back without it."""
    plan = FaultPlan((Fault("crash", message=text),))
    assert FaultPlan.parse(str(plan)) == plan


def test_the_injector_says_which_steps_its_faults_are_aimed_at():
    """What lets a crash run skip the fault points of every step but the one it
    crashes at: ``spares(name)`` is exact for named faults, and says nothing
    (False) for an explorer or a fault not aimed at a name."""
    from simdurable.runtime._faults import FaultPoint, Injector

    inj = Injector(FaultPlan((Fault("crash", step="pay", phase="before"),
                              Fault("fail", step="ship", times=2),
                              Fault("restart", at_ms=5))))  # fired by the clock: no name
    assert inj.aimed_at == {"pay", "ship"}
    assert inj.spares("charge") and not inj.spares("pay") and not inj.spares("ship")
    point = FaultPoint("before", "inv_1", "Shop/buy", 3, "pay", "run", 1, 0)
    assert inj.at_point(point) is not None
    assert inj.spares("pay") and not inj.spares("ship")  # spent: aimed at no more
    inj.enabled = False
    assert inj.spares("ship")
    inj.enabled = True
    inj.add(Fault("crash", index=4, phase="after-store"))  # any name at #4
    assert inj.aimed_at is None and not inj.spares("charge")
    assert not Injector(explore=lambda p: None).spares("charge")
    assert Injector().spares("charge")  # nothing armed
