"""The compatibility suite: public restate-sdk programs, run in both modes.

Each case must pass, unless ``known.py`` lists it as failing in that mode (with
the reason, which docs/compatibility.md shows); a listed case that passes
fails here too, so that the list and the document stay true. After a change
that fixes or breaks cases: ``python -m tests.compat.report --update-known``.
"""

from __future__ import annotations

import pytest

from tests.compat import harness
from tests.compat.harness import Case, all_cases, programs, run_case
from tests.compat.inventory import handlers_of
from tests.compat.known import KNOWN

CASES = all_cases()
IDS = [f"{p}::{c.name}" for p, c in CASES]


def _check(mode: str, program: str, case: Case) -> None:
    out = run_case(program, case, mode)
    why = KNOWN.get(mode, {}).get((program, case.name))
    if why is None:
        assert out.ok, f"{program} :: {case.name} [{mode}]\n" + "\n".join(out.problems)
    else:
        assert not out.ok, (
            f"{program} :: {case.name} now passes in the {mode} mode; it is listed as failing "
            f"({why}): run python -m tests.compat.report --update-known")


@pytest.mark.parametrize(("program", "case"), CASES, ids=IDS)
def test_swap(program: str, case: Case) -> None:
    _check("swap", program, case)


@pytest.mark.parametrize(("program", "case"), CASES, ids=IDS)
def test_real(program: str, case: Case) -> None:
    pytest.importorskip("restate", reason="restate-sdk is not installed (simdurable[restate])")
    _check("real", program, case)


def test_every_handler_has_a_case() -> None:
    uncovered = []
    for program in programs():
        covered: set[str] = set()
        for case in harness.cases_of(program):
            covered |= case.handlers()
        uncovered += [f"{program}: {h}" for h in sorted(handlers_of(program) - covered)]
    assert not uncovered, "handlers without a case:\n" + "\n".join(uncovered)


def test_known_failures_are_cases() -> None:
    names = {(p, c.name) for p, c in CASES}
    for mode, failures in KNOWN.items():
        assert set(failures) <= names, f"{mode}: {sorted(set(failures) - names)}"
        assert all(why and why != "not yet explained" for why in failures.values()), mode


def test_swap_mode_rewrites_the_imports() -> None:
    """In the swap mode a program's ``restate`` is simdurable, even where
    restate-sdk is installed."""
    import simdurable

    loaded = harness.load("sdk_ex_virtual_object", "swap")
    assert loaded.module is not None, loaded.error
    assert all(type(s).__module__.startswith("simdurable") for s in loaded.services)
    assert loaded.services and isinstance(loaded.services[0], simdurable.VirtualObject)


def test_a_wrong_expectation_is_reported() -> None:
    """The runner fails a case whose expected value differs: it cannot pass blindly."""
    wrong = Case("wrong", [harness.Call("counter/a/increment", 5, result=6)])
    out = run_case("sdk_ex_virtual_object", wrong, "swap")
    assert not out.ok and "expected 6, got 5" in out.problems[0]
