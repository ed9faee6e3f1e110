"""What makes exploration cheaper must not change what it finds, nor the report."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis.strategies._internal.core import DataObject

import simdurable as sd
from examples import shop
from simdurable._check import _chooser, _explore
from simdurable.runtime._faults import FaultPlan

ORDER = {"item": "book", "amount": 10}


def check_shop(handler: str, **kw: Any) -> sd.Report:
    return sd.check(services=shop.services, invoke=f"Shop/{handler}", input=ORDER,
                    externals=shop.externals, **kw)


def test_examples_run_on_hypothesis_engine_as_given_would_run_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples skip ``@given`` (and ``st.data()``'s draw), with the same
    examples, shrinking and report as through ``@given``."""
    calls = {"n": 0}
    draw = DataObject.draw

    def counted(self: DataObject, *a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return draw(self, *a, **kw)

    def refuse(*args: Any) -> None:
        raise AssertionError("the examples went through @given")

    kw: dict[str, Any] = {"single_faults": False, "max_examples": 40, "hash_seeds": ()}
    with monkeypatch.context() as m:
        m.setattr(DataObject, "draw", counted)
        m.setattr(_explore, "_run_given", refuse)
        engine = check_shop("checkout_unsafe", **kw)
    assert calls["n"] == 0
    v = next(v for v in engine.violations if v.kind == "duplicate-effect")
    assert "Hypothesis, shrunk" in v.found_by and len(v.fault_plan) == 1
    monkeypatch.setattr(_explore, "_run_engine", lambda *args: False)
    given = check_shop("checkout_unsafe", **kw)
    assert engine.to_json() == given.to_json()
    assert (engine.runs, engine.examples) == (given.runs, given.examples)


def test_span_draws_give_what_conjecture_data_draw_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    kw: dict[str, Any] = {"single_faults": False, "max_examples": 40, "hash_seeds": ()}
    lean = check_shop("checkout_unsafe", **kw)
    monkeypatch.setattr(_chooser, "_span_draw", lambda conjecture: None)
    full = check_shop("checkout_unsafe", **kw)
    assert not lean.ok
    assert lean.to_json() == full.to_json()
    assert (lean.runs, lean.examples) == (full.runs, full.examples)


def test_a_runs_faults_are_formatted_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    formatted = {"n": 0}
    to_text = FaultPlan.__str__

    def counted(self: FaultPlan) -> str:
        formatted["n"] += 1
        return to_text(self)

    monkeypatch.setattr(FaultPlan, "__str__", counted)
    kw: dict[str, Any] = {"max_examples": 0, "hash_seeds": ()}
    assert check_shop("checkout", **kw).ok
    assert formatted["n"] == 0
    seen: list[str] = []
    assert check_shop("checkout", invariant=lambda outcome: seen.append(outcome.faults),
                      **kw).ok
    assert seen[0] == "no faults"
    assert any(text.startswith("crash(") for text in seen)
    assert all(text == "no faults" or "(" in text for text in seen)


def test_only_an_engine_of_the_expected_shape_runs_the_examples() -> None:
    from hypothesis.internal.conjecture.engine import ConjectureRunner

    class Older:  # Hypothesis 6.100's shape: a case replayed from its bytes
        def __init__(self, test_function: Any, *, settings: Any = None, random: Any = None,
                     database_key: Any = None) -> None:
            pass

        def new_conjecture_data(self, prefix: bytes, max_length: int = 0) -> Any:
            return None

        def run(self) -> None:
            pass

    assert _explore._engine_fits(ConjectureRunner)
    assert not _explore._engine_fits(Older)
    assert not _explore._engine_fits(object)
