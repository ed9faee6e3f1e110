"""The corpus of real-world bugs: each buggy handler is caught, its twin is not flagged.

``check`` runs with its default settings, except fewer generated examples
(the single-fault phase stays exhaustive) to keep the suite fast;
``python -m benchmarks.bug_corpus`` runs the full defaults at three seeds.
"""

from __future__ import annotations

import pytest

from tests.corpus.pairs import all_pairs

PAIRS = all_pairs()
EXAMPLES = 30

# Bugs the default check does not find yet, and twins it flags wrongly.
MISSED: set[str] = set()
FALSE_ALARMS: set[str] = set()


def test_the_corpus_has_forty_pairs_with_sources():
    assert len(PAIRS) >= 40
    for p in PAIRS:
        assert p.source and p.buggy and p.correct and p.kind


def _marks(name: str, known: set[str], strict: bool = True) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(strict=strict, reason="a known gap")] if name in known else []


@pytest.mark.parametrize("pair", [pytest.param(p, id=p.name, marks=_marks(p.name, MISSED))
                                  for p in PAIRS])
def test_the_buggy_handler_is_caught_with_its_kind(pair):
    report = pair.check(fixed=False, max_examples=EXAMPLES)
    assert pair.kind in report.kinds, report.render()


@pytest.mark.parametrize("pair", [pytest.param(p, id=p.name, marks=_marks(p.name, FALSE_ALARMS, strict=False))
                                  for p in PAIRS])
def test_the_correct_twin_is_not_flagged(pair):
    report = pair.check(fixed=True, max_examples=EXAMPLES)
    assert report.ok, report.render()
