"""What makes exploration cheaper must not change what it finds, nor the report."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis.strategies._internal.core import DataObject

import simdurable as sd
from examples import shop
from simdurable._check import _chooser, _explore

ORDER = {"item": "book", "amount": 10}


def check_shop(handler: str, **kw: Any) -> sd.Report:
    return sd.check(services=shop.services, invoke=f"Shop/{handler}", input=ORDER,
                    externals=shop.externals, **kw)


def test_generated_examples_draw_without_the_per_draw_bookkeeping_of_st_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    draw = DataObject.draw

    def counted(self: DataObject, *a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return draw(self, *a, **kw)

    monkeypatch.setattr(DataObject, "draw", counted)
    report = check_shop("checkout_unsafe", single_faults=False, max_examples=40)
    assert report.examples > 0
    v = next(v for v in report.violations if v.kind == "duplicate-effect")
    assert "Hypothesis, shrunk" in v.found_by and len(v.fault_plan) == 1
    assert calls["n"] == 0


def test_drawing_from_the_test_data_directly_gives_the_same_report(
        monkeypatch: pytest.MonkeyPatch) -> None:
    kw: dict[str, Any] = {"single_faults": False, "max_examples": 40}
    fast = check_shop("checkout_unsafe", **kw)
    for module in (_chooser, _explore):
        monkeypatch.setattr(module, "fast_draw", lambda data: data.draw)
    slow = check_shop("checkout_unsafe", **kw)
    assert not fast.ok
    assert fast.to_json() == slow.to_json()
    assert (fast.runs, fast.examples) == (slow.runs, slow.examples)
