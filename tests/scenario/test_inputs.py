"""An invocation's ``input:`` that its handler cannot take is a mistake at its
line, not a scenario that passes while the handler fails on it in every run."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import errors, run

COUNTER = """\
services: examples.counter:services
invoke:
  - target: Counter/x/add
    input: {value}
"""

# The restate-sdk shop's checkout, given an amount its model refuses.
SHOP_BAD_AMOUNT = """\
services: tests.restate_sdk.shop:app
externals: [tests.restate_sdk.shop:bank]
invoke:
  - target: Shop/checkout
    input: {item: book, amount: lots}
"""


@pytest.mark.parametrize(("value", "message"), [
    ("three", 'the input is a JSON string, "three", but the handler takes int'),
    ("[1]", "the input is a JSON array, [1], but the handler takes int"),
    ("null", "the input is JSON null, but the handler takes int"),
])
def test_an_input_of_the_wrong_type_is_named_at_its_line(tmp_path: Path, value: str,
                                                         message: str) -> None:
    lines = errors(tmp_path, COUNTER.format(value=value), run_it=True)
    assert lines == [f"{tmp_path}/bad.yaml:4:12: invoke[0].input: not a valid input for "
                     f"Counter/add: {message}"], lines


def test_a_model_input_names_the_field_it_refuses(tmp_path: Path) -> None:
    pytest.importorskip("restate")
    lines = errors(tmp_path, SHOP_BAD_AMOUNT, run_it=True)
    assert lines == [f"{tmp_path}/bad.yaml:5:12: invoke[0].input: not a valid input for "
                     "Shop/checkout: amount: Input should be a valid integer, unable to parse "
                     'string as an integer (got "lots")'], lines


def test_an_input_may_be_refused_where_the_invocation_expects_an_error(
        tmp_path: Path) -> None:
    pytest.importorskip("restate")
    # What a handler does with input it cannot take may be what the scenario tests.
    result = run(tmp_path, COUNTER.format(value="three") + "    expect: {status: paused}\n")
    assert result.ok, [p.render("s.yaml") for p in result.failures]
    result = run(tmp_path, SHOP_BAD_AMOUNT + "    expect: {error: {status: 500}}\n")
    assert result.ok, [p.render("s.yaml") for p in result.failures]


def test_an_invocation_without_input_is_not_judged(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        services: examples.counter:services
        invoke:
          - target: Counter/x/current
        """)
    assert result.ok, [p.render("s.yaml") for p in result.failures]


@pytest.mark.parametrize(("target", "value", "result"), [
    # a pydantic model, a msgspec struct: as the JSON a caller receives
    ("Shop/checkout", "{item: book, amount: 30}", "{item: book, charged: 30, receipt: bank-1}"),
    ("Shop/move", "{x: 1, y: 2}", "{x: 2, y: 3}"),
    # a serde of the handler's own that writes no JSON: as the value
    ("Shop/shout", "hey", '"HEY, HEY"'),
])
def test_a_typed_result_matches_its_json(tmp_path: Path, target: str, value: str,
                                         result: str) -> None:
    """A model's result was compared by its repr, so no ``expect: result`` could match."""
    pytest.importorskip("restate")
    text = (f"services: tests.restate_sdk.shop:app\nexternals: [tests.restate_sdk.shop:bank]\n"
            f"invoke:\n  - target: {target}\n    input: {value}\n"
            f"    expect: {{result: {result}}}\n")
    result_ok = run(tmp_path, text)
    assert result_ok.ok, [p.render("s.yaml") for p in result_ok.failures]
    wrong = run(tmp_path, text.replace("30, receipt", "31, receipt").replace("y: 3", "y: 4")
                .replace('"HEY, HEY"', '"hey"'))
    [problem] = wrong.failures
    assert "first difference at" in problem.render("s.yaml") or target == "Shop/shout"
