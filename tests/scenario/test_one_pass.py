"""A scenario file's mistakes come in one pass, and a result or state that
differs names the JSON path of the first difference."""

from __future__ import annotations

from pathlib import Path

from simdurable._scenario._schema import json_difference

from .helpers import errors, run

# Every layer of mistakes at once: the schema's, the model's, the targets'.
BROKEN = """\
services: examples.counter:services
invoke:
  - {name: a, target: Counter/x/add, input: 1, expect: {reslt: 1}}
  - {name: b, target: Counter/x/ad, input: 2}
faults:
  - {kind: crush, step: foo}
events:
  - {at: 5 parsecs, cancel: {invocation: zz}}
"""


def test_every_mistake_of_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    lines = errors(tmp_path, BROKEN)
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"{tmp_path}/bad.yaml:3:57", "invoke[0].expect.reslt"],
        [f"{tmp_path}/bad.yaml:4:23", "invoke[1].target"],
        [f"{tmp_path}/bad.yaml:6:12", "faults[0].kind"],
        [f"{tmp_path}/bad.yaml:8:10", "events[0].at"],
        [f"{tmp_path}/bad.yaml:8:42", "events[0].cancel.invocation"],
    ], lines
    assert "did you mean 'Counter/add'?" in lines[1]
    assert "no invocation is named 'zz'" in lines[4]


def test_without_schema_mistakes_the_model_and_the_targets_come_together(
        tmp_path: Path) -> None:
    text = BROKEN.replace("reslt", "result").replace("crush", "crash") \
        .replace("5 parsecs", "5s")
    lines = errors(tmp_path, text)
    assert len(lines) == 2, lines
    assert "invoke[1].target: no handler Counter/ad" in lines[0]
    assert "events[0].cancel.invocation" in lines[1]


def test_a_field_the_schema_refused_is_reported_once(tmp_path: Path) -> None:
    # The fault's phase was reported twice: by the schema ("did you mean"), and
    # by the model for the whole fault ("unknown phase ...").
    text = BROKEN.replace("{kind: crush, step: foo}", "{kind: crash, step: foo, phase: aftr-store}")
    lines = [line for line in errors(tmp_path, text) if "faults[0]" in line]
    assert len(lines) == 1, lines
    assert "faults[0].phase" in lines[0] and "did you mean 'after-store'?" in lines[0]


ORDERS = """\
services: examples.counter:services
invoke:
  - {target: Counter/x/add, input: 3, expect: {result: 4}}
expect:
  state: {Counter/x: {count: 3, seen: [1, 2]}}
"""


def test_a_mismatch_names_the_json_path_that_differs(tmp_path: Path) -> None:
    result = run(tmp_path, ORDERS)
    lines = [p.render("s.yaml") for p in result.failures]
    assert lines[0].endswith("invoke[0].expect.result: got 3, expected 4"), lines
    assert lines[1].endswith('; first difference at .seen: missing, expected [1, 2]'), lines


def test_json_difference() -> None:
    got = {"total": 7, "lines": [{"sku": "a", "price": 3}, {"sku": "b", "price": 4}]}
    want = {"total": 7, "lines": [{"sku": "a", "price": 3}, {"sku": "b", "price": 5}]}
    assert json_difference(got, want) == ".lines[1].price: got 4, expected 5"
    assert json_difference(got, got) is None
    assert json_difference([1, 2, 3], [1, 2]) == "$: 3 item(s), expected 2 (extra from [2])"
    assert json_difference({"a b": 1}, {"a b": 2}) == '["a b"]: got 1, expected 2'
    assert json_difference({"x": 1}, {}) == ".x: got 1, not expected"
    assert json_difference(1, "1") == '$: got 1, expected "1"'


def test_a_state_expectation_naming_no_object_is_a_mistake_at_its_key(tmp_path: Path) -> None:
    # It used to compare the expectation with no state at all: "state of Countr/x is {}".
    lines = errors(tmp_path, ORDERS.replace("Counter/x: ", "Countr/x: "), run_it=True)
    assert lines == [f"{tmp_path}/bad.yaml:5:11: expect.state.Countr/x: no object or workflow "
                     "is named 'Countr'; did you mean 'Counter'? (objects and workflows: "
                     "Counter)"], lines


def test_a_target_names_the_known_handlers_once_and_a_null_is_shown_once(
        tmp_path: Path) -> None:
    # (Before: "...; known handlers: Counter/add, ... (handlers: Counter/add, ...)",
    # and "invoke: expected a list, got null null".)
    [line] = errors(tmp_path, BROKEN.replace("reslt", "result").replace("crush", "crash")
                    .replace("5 parsecs", "5s").replace("zz", "a"), run_it=True)
    assert line.count("Counter/add") == 2, line  # the list, and "did you mean"
    assert "(handlers: " not in line
    [line] = errors(tmp_path, "services: examples.counter:services\ninvoke: null\n")
    assert line.endswith("invoke: expected a list, got null"), line
