"""Generated bad scenario files: always a ScenarioError (or a result), never a crash."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from simdurable._scenario import ScenarioError, parse_scenario, run_scenario

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

FAST = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
                      st.text(max_size=12))
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
        result = run_scenario(sc)
    except ScenarioError as err:
        assert err.problems, "a ScenarioError without problems"
        for line in str(err).splitlines():
            assert line.startswith("fuzz.yaml"), line
        return "error"
    return "ok" if result.ok else "failed"


def test_the_unmutated_scenario_passes() -> None:
    assert _outcome(yaml.safe_dump(VALID)) == "ok"


@FAST
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
