"""Loading and validating scenario files: every error names file:line:col and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from simdurable._scenario import load_scenario, parse_scenario, schema
from simdurable._scenario._yaml import MAX_BYTES, MAX_DEPTH
from simdurable.runtime._faults import CRASH, FAIL, Fault

from .helpers import PAY, errors, write


def test_a_valid_scenario_becomes_typed_objects(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, PAY + """\
faults:
  - {kind: crash, step: charge, phase: effect-done}
  - {kind: fail, step: charge, times: 2, exception: TimeoutError}
  - {kind: restart, at: 5s}
expect:
  time: {at_least: 250ms, at_most: 1.5}
"""))
    assert sc.name == "s"
    assert sc.seed == 7 and sc.strict is True
    assert [i.target for i in sc.invocations] == ["Payments/pay"]
    assert sc.plan.faults == (
        Fault(CRASH, step="charge", phase="effect-done", attempt=1),
        Fault(FAIL, step="charge", times=2, exception="TimeoutError"),
        Fault("restart", at_ms=5000),
    )
    assert (sc.expect.at_least_ms, sc.expect.at_most_ms) == (250, 1500)


def test_faults_may_be_written_as_a_plan_string(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, PAY + 'faults: "crash(step=charge, phase=before); '
                                             'restart(at=2s)"\n'))
    assert str(sc.plan) == "crash(step=charge, phase=before); restart(at=2s)"


def test_unknown_keys_say_where_and_suggest(tmp_path: Path) -> None:
    lines = errors(tmp_path, """\
        services: examples.payments:services
        invoke:
          - target: Payments/pay
            inptu: 3
        exepct: {}
        """)
    assert any(line.startswith(f"{tmp_path / 'bad.yaml'}:4:5: invoke[0].inptu: unknown key "
                               "'inptu'; did you mean 'input'?") for line in lines), lines
    assert any(":5:1: exepct: unknown key 'exepct'; did you mean 'expect'?" in line
               for line in lines), lines


def test_wrong_types_show_the_value_received_and_what_is_allowed(tmp_path: Path) -> None:
    lines = errors(tmp_path, """\
        services: examples.payments:services
        seed: seven
        invoke:
          - target: Payments/pay
            expect: {status: finished}
        """)
    assert any(':2:7: seed: expected an integer, got a string "seven"' in x for x in lines), lines
    assert any(':5:22: invoke[0].expect.status: got "finished"' in x and "completed" in x
               for x in lines), lines


def test_missing_required_fields(tmp_path: Path) -> None:
    lines = errors(tmp_path, "services: examples.payments:services\n")
    assert lines == [f"{tmp_path / 'bad.yaml'}:1:1: missing required field 'invoke'"]


def test_unknown_fault_kind_and_phase(tmp_path: Path) -> None:
    lines = errors(tmp_path, PAY + "faults:\n  - {kind: explode, phase: mid}\n")
    text = "\n".join(lines)
    assert "faults[0].kind: got \"explode\"" in text and "crash, fail, terminal" in text
    assert "faults[0].phase: got \"mid\"" in text and "effect-done" in text


def test_fault_fields_that_do_not_apply_to_the_kind(tmp_path: Path) -> None:
    lines = errors(tmp_path, PAY + "faults:\n  - {kind: crash, step: charge, exception: X}\n")
    assert lines == [f"{tmp_path / 'bad.yaml'}:8:33: faults[0].exception: 'exception' does not "
                     "apply to crash faults (it applies to: fail)"]


def test_a_bad_plan_string_is_located(tmp_path: Path) -> None:
    lines = errors(tmp_path, PAY + 'faults: "crash(step=charge"\n')
    assert lines[0].startswith(f"{tmp_path / 'bad.yaml'}:7:9: faults: cannot read the fault plan")


def test_bad_durations_and_targets(tmp_path: Path) -> None:
    lines = errors(tmp_path, """\
        services: x:y
        invoke:
          - {target: "Payments", delay: "soon"}
        """)
    text = "\n".join(lines)
    assert 'invoke[0].target: got "Payments"; expected "Service/handler"' in text
    assert 'invoke[0].delay: got "soon"; expected a duration like 250ms' in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services: [a\n", ":2:1: not valid YAML"),
        ("a: 1\na: 2\n", ":2:1: a: duplicate key 'a'"),
        ("- 1\n", "a scenario is a mapping"),
        ("", "the file is empty"),
        ("when: 2024-01-01\n", "reads as a date, which scenarios do not use; put it in quotes"),
        ("? [1, 2]\n: x\n", "a key must be a plain string"),
        ("1: x\n", "keys must be strings, got int 1"),
        ("a: &x {b: 1}\nc:\n  <<: *x\n", "merge keys (<<) are not supported"),
        ("a: !!python/object:os.system {}\n", "is not supported; scenarios use plain"),
        ("a: !!python/name:os.system x\n", "cannot read value"),
        ("a: !!set {x: null}\n", "is not supported"),
        ("a: .inf\n", "is not a finite number"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_malformed_yaml_is_one_clear_error(tmp_path: Path, text: str | bytes,
                                          expected: str) -> None:
    lines = errors(tmp_path, text)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "bad.yaml")) for line in lines)


def test_deep_nesting_is_refused_before_parsing(tmp_path: Path) -> None:
    deep = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
    lines = errors(tmp_path, deep)
    assert f"nested more than {MAX_DEPTH} levels deep" in lines[0]


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        bomb.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines = errors(tmp_path, "\n".join(bomb) + "\n")
    assert "aliases are expanded" in lines[0]


def test_recursive_aliases_are_refused(tmp_path: Path) -> None:
    lines = errors(tmp_path, "a: &a [*a]\n")
    assert "nested more than" in lines[0] or "not valid YAML" in lines[0]


def test_huge_files_are_refused(tmp_path: Path) -> None:
    lines = errors(tmp_path, "a: " + "x" * (MAX_BYTES + 10) + "\n")
    assert "scenarios are limited to" in lines[0]


def test_a_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    from simdurable._scenario import ScenarioError

    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "nope.yaml")


def test_events_need_exactly_one_action_and_known_invocations(tmp_path: Path) -> None:
    lines = errors(tmp_path, PAY + """\
events:
  - at: 1s
  - resolve_awakeable: {invocation: pya}
""")
    text = "\n".join(lines)
    assert "events[0]: an event does exactly one of" in text
    assert "events[1].resolve_awakeable.invocation: no invocation is named 'pya'" in text


def test_the_schema_ships_with_the_package_and_is_valid() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["faults"]["items"]["properties"]["kind"]["enum"] == [
        "crash", "fail", "terminal", "delay", "lose-response", "suspend", "restart"]


def test_parse_scenario_names_the_given_path() -> None:
    from simdurable._scenario import ScenarioError

    with pytest.raises(ScenarioError) as info:
        parse_scenario("invoke: 3\n", "inline.yaml")
    assert str(info.value).startswith("inline.yaml:1:1: missing required field 'services'")
