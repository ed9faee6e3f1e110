"""Generated bad scenario files: always a ScenarioError at file:line:col (or a result).

Longer runs: ``SIMDURABLE_FUZZ_SCALE=50 pytest tests/scenario/test_fuzz.py`` (see
tests/fuzzing.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from simdurable._scenario import ScenarioError, parse_scenario, run_scenario
from tests.fuzzing import fuzz

VALID: dict[str, Any] = {
    "name": "pay",
    "services": "examples.payments:services",
    "externals": ["examples.payments:bank"],
    "seed": 3,
    "invoke": [{"target": "Payments/pay", "input": {"amount": 10},
                "expect": {"result": {"receipt": "bank-1", "amount": 10},
                           "steps": {"executed": {"charge": 2}}}}],
    "faults": [{"kind": "crash", "step": "charge", "phase": "effect-done"}],
    "events": [],
    "expect": {"effects": {"bank": 1}, "time": {"at_most": "1s"}, "problems": []},
}

FAST = fuzz(300)

# Values that once escaped as tracebacks, or sit at a limit.
NASTY = st.sampled_from([
    "9" * 5000, 10**19, -(10**19), 1.0e308, 1e300, "1.0e+308", 1.0, -1, 0, "999999999999999999999d",
    "100001d", "0.0001ms", "\U0010ffff", "crash(step=x", 'crash(message="a)',
    "fail(exception=KeyboardInterrupt)", "fail(exception=Nope)", "restart(at=99999999999999d)",
    "Payments/pay", "Nope/x", "x" * 300,
])
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
                      st.text(max_size=12), NASTY)
json_any = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=20)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """The valid scenario with a few fields dropped, renamed or replaced by junk."""
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = draw(st.sampled_from(["drop", "junk", "rename"]))
        if action == "drop":
            del parent[last]
        elif action == "junk":
            parent[last] = draw(json_any)
        elif isinstance(parent, dict):
            parent[last + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(last)
    return doc


def _outcome(text: str | bytes) -> str:
    try:
        sc = parse_scenario(text, "fuzz.yaml")
    except ScenarioError as err:
        assert err.problems, "a ScenarioError without problems"
        for p in err.problems:
            assert p.mark is not None, f"no line:col for {p.message!r}"
        for line in str(err).splitlines():
            assert line.startswith("fuzz.yaml:"), line
        return "error"
    try:
        result = run_scenario(sc, max_examples=3)
    except ScenarioError as err:
        assert err.problems and str(err).startswith("fuzz.yaml"), str(err)
        return "error"
    return "ok" if result.ok else "failed"


REPOSITORY = [p.read_text("utf-8") for p in
              sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))]
EDITS = st.one_of(st.text(max_size=4), st.sampled_from([
    "'", '"', "\x00", "\ufeff", "\udcff", "\t", "\n  ", ": ", "- ", "{", "]", "&a ", "*a", "!!binary ",
    "9" * 5000, "1.0e+308", "1.0", '"\\U00110000"', '"\\UFFFFFFFF"', "~", "<<: ", "? ",
]))


@st.composite
def edited_text(draw: st.DrawFn) -> str:
    """A repository scenario with a few characters inserted, deleted or replaced."""
    text = draw(st.sampled_from(REPOSITORY))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 6)))
        new = draw(EDITS)
        text = text[:i] + new + text[j if draw(st.booleans()) else i:]
    return text


@fuzz(150)
@given(edited_text())
def test_edited_repository_scenarios_give_errors_at_a_position(text: str) -> None:
    _outcome(text)


@fuzz(50)
@given(edited_text())
def test_edited_scenarios_as_bytes_give_errors_at_a_position(text: str) -> None:
    _outcome(text.encode("utf-8", "surrogatepass"))


BASE = "services: examples.payments:services\ninvoke:\n  - target: Payments/pay\n"


@pytest.mark.parametrize("text,where,message", [
    (BASE + "    delay: 999999999999999999d\n", "4:12", "invoke.0..delay: duration .* too long"),
    (BASE + "    delay: 1.0e+308\n", "4:12", "invoke.0..delay: got 1e.308 seconds; a duration is at most "
     "8640000000 seconds .100000d."),
    (BASE + "seed: " + "5" * 5000 + "\n", "4:7", "seed: cannot read value .* far too large"),
    (BASE + "seed: 99999999999999999999\n", "4:7", "seed: the integer .* too large"),
    (BASE + "seed: 1.0\n", "4:7", "seed: expected an integer, got a number 1.0"),
    (BASE + "expect: {effects: {bank: 1.0}}\n", "4:26", "expect.effects.bank: expected an integer"),
    (BASE + "faults: crash(step=charge, message=\"x)\n", "4:36", "faults: .* never closed"),
    (BASE + "faults: 'fail(exception=KeyboardInterrupt)'\n", "4:9", "not an Exception type"),
    (BASE + "faults:\n  - {kind: fail, exception: Nope}\n", "5:29",
     "faults.0..exception: unknown exception type 'Nope'"),
    (BASE + "faults:\n  - {kind: restart, at: 200000d}\n", "5:25", "faults.0..at: duration .* the limit is 100000d"),
    (BASE + 'name: "\\U00110000"\n', "4:", "not valid YAML: an escape sequence that is no character"),
    (BASE + "name: a\x00b\n", "4:8", "the character #x0000 is not allowed"),
    (BASE.encode() + b"name: caf\xe9\n", "4:10", "not UTF-8 text: the byte 0xe9"),
    (BASE + 'name: "abc\n', "5:1", "found unexpected end of stream .while scanning a quoted "
                                   "scalar at 4:7"),
    ("", "1:1", "the file is empty"),
    (BASE + "explore: {max_examples: 1000001}\n", "4:25",
     "explore.max_examples: got 1000001; must be at most 1000000"),
])
def test_each_kind_of_bad_input_is_refused_at_its_position(
    text: str | bytes, where: str, message: str,
) -> None:
    with pytest.raises(ScenarioError, match=message) as caught:
        parse_scenario(text, "bad.yaml")
    assert str(caught.value).startswith(f"bad.yaml:{where}"), str(caught.value)


def test_a_scenario_explores_as_many_examples_as_the_command_line_allows() -> None:
    from simdurable._check._parallel import MAX_EXAMPLES

    sc = parse_scenario(BASE + f"explore: {{max_examples: {MAX_EXAMPLES}}}\n", "big.yaml")
    assert sc.explore_examples == MAX_EXAMPLES


def test_explore_runs_check_once_per_distinct_target_and_input(monkeypatch: Any) -> None:
    import simdurable._check as check_module

    calls: list[tuple[str, Any]] = []
    real = check_module.check

    def counting(**kwargs: Any) -> Any:
        calls.append((kwargs["invoke"], kwargs["input"]))
        return real(**kwargs)

    monkeypatch.setattr(check_module, "check", counting)
    text = ("services: examples.payments:services\nexternals: [examples.payments:bank]\n"
            "invoke:\n" + "  - {target: Payments/pay, input: {amount: 10}}\n" * 30
            + "  - {target: Payments/pay, input: {amount: 11}}\n"
            + "explore: {max_examples: 2}\n")
    result = run_scenario(parse_scenario(text, "many.yaml"))
    assert calls == [("Payments/pay", {"amount": 10}), ("Payments/pay", {"amount": 11})]
    assert len(result.explored) == 2


def test_the_unmutated_scenario_passes() -> None:
    assert _outcome(yaml.safe_dump(VALID)) == "ok"


@fuzz(150)
@given(mutated())
def test_mutated_scenarios_give_errors_not_crashes(doc: dict[str, Any]) -> None:
    _outcome(yaml.safe_dump(doc, sort_keys=False))


@FAST
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`,? \n\t0123456789")),
               max_size=200))
def test_random_yaml_ish_text_gives_errors_not_crashes(text: str) -> None:
    assert _outcome(text) in ("error", "ok", "failed")


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_give_errors_not_crashes(data: bytes) -> None:
    assert _outcome(data) == "error"


@settings(max_examples=20, deadline=None, database=None)
@given(st.integers(60, 5000), st.sampled_from(["[", "{a: ", "- "]))
def test_deep_documents_are_refused_quickly(depth: int, opener: str) -> None:
    if opener == "- ":
        text = "".join("  " * i + "- \n" for i in range(min(depth, 400)))
    else:
        closer = "]" if opener == "[" else "}"
        text = "a: " + opener * depth + "1" + closer * depth
    assert _outcome(text) == "error"
