"""The corpus of buggy handlers is caught with the right kind; the twins are not."""

from __future__ import annotations

import pytest

import simdurable as sd
from tests.corpus import buggy, correct

# target, input, expected kind, words the message must contain, extra check() arguments
CASES = [
    ("Payments/pay", 10, "duplicate-effect",
     ["bank.charge", "applied 2 times", '"charge"', "crash at effect-done", "idempotency key"],
     {}),
    ("Keyed/pay_keyed", 10, "nondeterministic-call", ["uuid.uuid4()", "outside a step"], {}),
    ("Branchy/pick", 10, "nondeterministic-call", ["random.random()", "outside a step"], {}),
    ("Branchy/late", 10, "nondeterministic-call", ["time.time()", "outside a step"], {}),
    ("Notifier/notify_all", ["eu", "us", "asia", "africa"], "nondeterminism",
     ["PYTHONHASHSEED", "iterates a set", "sorted("], {"hash_seeds": (1, 2)}),
    ("Profiles/p1/rename", "bob", "context-misuse", ["ctx.get()", "inside a step"], {}),
    ("Deposits/deposit", 10, "outcome-changed",
     ["transparent fault", "result", "returned 10", "returned 20"], {}),
    ("Trips/book_trip", "t1", "invariant", ["flight is still booked"],
     {"invariant": "no_flight_left_after_failure"}),
]


def _check(mod, target, value, extra):
    extra = dict(extra)
    if "invariant" in extra:
        extra["invariant"] = getattr(mod, extra["invariant"])
    return sd.check(
        services=[mod.payments, mod.keyed, mod.branchy, mod.notifier, mod.profiles,
                  mod.deposits, mod.trips],
        invoke=target, input=value, externals=[mod.bank, mod.ledger, mod.travel],
        setup=mod.reset, max_examples=20, **extra,
    )


@pytest.mark.parametrize(("target", "value", "kind", "words", "extra"), CASES,
                         ids=[c[0] for c in CASES])
def test_buggy_handler_is_caught_with_the_right_kind(target, value, kind, words, extra):
    report = _check(buggy, target, value, extra)
    assert not report.ok
    assert kind in report.kinds, report.render()
    v = next(v for v in report.violations if v.kind == kind)
    for word in words:
        assert word in v.message, (word, v.message)
    assert v.handler and v.handler.split("/")[0] == target.split("/")[0]
    with pytest.raises(AssertionError, match=kind):
        report.raise_if_failed()


@pytest.mark.parametrize(("target", "value", "kind", "words", "extra"), CASES,
                         ids=[c[0] for c in CASES])
def test_correct_twin_is_not_flagged(target, value, kind, words, extra):
    report = _check(correct, target, value, extra)
    assert report.ok, report.render()
    report.raise_if_failed()


def test_a_compensation_that_never_runs_is_reported_by_sometimes():
    report = _check(buggy, "Trips/book_trip", "t1", {})
    assert report.kinds == ["invariant"]
    v = report.violations[0]
    assert "sometimes('a trip whose hotel fails has its flight cancelled') was never true" in (
        v.message)
    assert v.source and v.source.startswith("buggy.py:")
    assert _check(correct, "Trips/book_trip", "t1", {}).ok


def test_the_patterns_of_the_durable_steps_guide_pass():
    report = sd.check(services=[correct.guide], invoke="Guide/patterns", input="u1",
                      externals=[correct.bank], max_examples=30)
    assert report.ok, report.render()
    assert report.fault_points_exercised == report.fault_points > 10


def test_reading_state_outside_a_step_is_caught_without_strict_mode_too():
    report = sd.check(services=[buggy.deposits], invoke="Deposits/deposit", input=5,
                      externals=[buggy.ledger], setup=buggy.reset, strict=False,
                      max_examples=0)
    assert report.kinds == ["outcome-changed"]
    assert "returned 5; this run returned 10" in report.violations[0].details
