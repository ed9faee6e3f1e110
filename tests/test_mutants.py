"""The mutation-testing script's operators, and one module's mutants all killed."""

from __future__ import annotations

import pytest

from benchmarks import mutants


def _step_order(source: str) -> list[str]:
    names = ("reserve-flight", "reserve-hotel", "charge")
    return sorted(names, key=lambda n: source.index(f"'{n}'"))


def test_swap_steps_swaps_two_steps_with_plain_code_between_them() -> None:
    swaps = [m for m in mutants.mutants("saga", ("book",)) if m.operator == "swap-steps"]
    assert [_step_order(m.source) for m in swaps] == [
        ["reserve-hotel", "reserve-flight", "charge"],
        ["reserve-flight", "charge", "reserve-hotel"],
    ]
    # the undo registrations stay where they were
    assert all(m.source.index("'cancel-flight'") < m.source.index("'cancel-hotel'")
               for m in swaps)


def test_a_sleep_between_steps_is_not_swapped_across() -> None:
    ops = {m.operator for m in mutants.mutants("shop", ("checkout", "reserve"))}
    assert "swap-steps" not in ops  # charge, sleep, ship: the sleep is durable


def test_drop_await_covers_a_promise_value() -> None:
    lines = [m.line for m in mutants.mutants("signup", ("run",)) if m.operator == "drop-await"]
    assert lines == [27, 29, 33]


@pytest.mark.parametrize("module", ["reminders", "signup"])
def test_dropped_awaits_are_killed_as_not_awaited(module: str) -> None:
    results = mutants.run([module], operators=("drop-await",), max_examples=10)
    assert results and all(r.killed for r in results), [
        (r.mutant.line, r.kinds) for r in results]
    assert "not-awaited" in {k for r in results for k in r.kinds}


def test_rewriting_the_table_keeps_the_next_section() -> None:
    doc = (f"intro\n\n{mutants.MARK}\n\nold table\n\n## The corpus, at three seeds\n\n"
           "<!-- table: x -->\nrows\n")
    new = mutants.replace_section(doc, f"{mutants.MARK}\n\nnew table\n")
    assert new == (f"intro\n\n{mutants.MARK}\n\nnew table\n\n## The corpus, at three seeds\n\n"
                   "<!-- table: x -->\nrows\n")


def test_a_mutant_that_makes_check_raise_is_shown_apart_not_killed() -> None:
    # Every check raises here (a bad argument): none of them found a bug.
    results = mutants.run(["reminders"], operators=("drop-await",), max_examples=-1)
    assert results and not any(r.killed for r in results)
    assert all(r.crashed and r.crashed.startswith("ValueError: max_examples must be")
               for r in results)
    text = mutants.table(results)
    n = len(results)
    assert f"**0 of {n} mutants killed (0%)**" in text
    assert f"; {n} made `check` itself crash (not counted as killed);" in text
    lines = [m.line for m in mutants.mutants("reminders", ("remind",))
             if m.operator == "drop-await"]
    row = next(line for line in text.splitlines() if line.startswith("| drop-await |"))
    assert row == (f"| drop-await | {n} | 0 | "
                   f"{', '.join(f'reminders:{x}' for x in lines)} | - |")
    assert "check crashed on reminders:" in text
