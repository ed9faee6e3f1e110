"""Validate a scenario against the JSON Schema shipped in the package.

The schema (``simdurable/scenario.schema.json``) is the one editors use for
completion. Its errors are rewritten here for people: the field, the value
received, the values allowed, and a "did you mean" for misspelt keys.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from ._yaml import Document, Path, Problem

SCHEMA_FILE = "scenario.schema.json"
MAX_PROBLEMS = 20


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The scenario JSON Schema, as shipped in the package."""
    text = resources.files("simdurable").joinpath(SCHEMA_FILE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # type: ignore[import-untyped]

    base = jsonschema.Draft202012Validator
    # JSON Schema takes 1.0 for an integer; a count or a seed must be written as one.
    strict_int = base.TYPE_CHECKER.redefine(
        "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(base, type_checker=strict_int)(schema())


def show(value: Any, limit: int = 60) -> str:
    """A value as the user wrote it, cut short when long."""
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_MISSING = object()


def json_difference(got: Any, want: Any, path: str = "") -> str | None:
    """Where two JSON values first differ, as a JSON path and both sides
    (``.items[2].price: got 5, expected 4``); None when they are equal.

    A long result that differs in one field is then read at a glance."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want), key=str):
            sub = f"{path}.{key}" if _plain(key) else f"{path}[{json.dumps(key)}]"
            a, b = got.get(key, _MISSING), want.get(key, _MISSING)
            if a is _MISSING:
                return f"{sub}: missing, expected {show(b, 80)}"
            if b is _MISSING:
                return f"{sub}: got {show(a, 80)}, not expected"
            found = json_difference(a, b, sub)
            if found is not None:
                return found
        return None
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        for i, (a, b) in enumerate(zip(got, want, strict=False)):
            found = json_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        if len(got) != len(want):
            return (f"{path or '$'}: {len(got)} item(s), expected {len(want)}"
                    f" ({'extra' if len(got) > len(want) else 'missing'} from "
                    f"[{min(len(got), len(want))}])")
        return None
    if json.dumps(got, sort_keys=True, default=repr) == json.dumps(want, sort_keys=True,
                                                                      default=repr):
        return None
    return f"{path or '$'}: got {show(got, 80)}, expected {show(want, 80)}"


def _plain(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier()


_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "null",
}


def _got(value: Any) -> str:
    """A value as a problem shows what it got: its kind, then itself ("null" once)."""
    return "null" if value is None else f"{type_name(value)} {show(value)}"


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _problems_for(err: Any, doc: Document) -> list[Problem]:
    path: Path = tuple(err.absolute_path)
    v = err.validator
    inst = err.instance
    if v in ("anyOf", "oneOf") and err.context:
        import jsonschema

        best = jsonschema.exceptions.best_match(err.context)
        if best.validator in ("type", "anyOf", "oneOf"):
            kinds = []
            for sub in err.validator_value:
                t = sub.get("type")
                if t is not None:
                    kinds += t if isinstance(t, list) else [t]
            allowed = " or ".join(str(_TYPE_NAMES.get(k, k)) for k in dict.fromkeys(kinds))
            return [doc.problem(path, f"expected {allowed}, got {_got(inst)}")]
        return _problems_for(best, doc)
    if v == "additionalProperties":
        props = sorted(err.schema.get("properties", {}))
        out = []
        for key in sorted(inst):
            if key in props:
                continue
            hint = did_you_mean(key, props)
            allowed = f" (allowed: {', '.join(props)})" if props else ""
            out.append(doc.problem(path + (key,), f"unknown key {key!r}{hint}{allowed}", key=True))
        return out
    if v == "required":
        missing = [k for k in err.validator_value if k not in inst]
        return [doc.problem(path, f"missing required field {k!r}") for k in missing]
    if v == "type":
        want = err.validator_value
        kinds = want if isinstance(want, list) else [want]
        allowed = " or ".join(str(_TYPE_NAMES.get(k, k)) for k in kinds)
        return [doc.problem(path, f"expected {allowed}, got {_got(inst)}")]
    if v == "enum":
        allowed_values = [str(x) for x in err.validator_value]
        hint = did_you_mean(str(inst), allowed_values) if isinstance(inst, str) else ""
        return [doc.problem(
            path, f"got {show(inst)}{hint} (allowed: {', '.join(allowed_values)})"
        )]
    if v == "pattern":
        field = path[-1] if path else ""
        if err.schema.get("description", "").startswith("A duration"):
            return [doc.problem(path, f"got {show(inst)}; expected a duration like 250ms, "
                                      "5s, 2m, 1h, 30d (or a number of seconds)")]
        if field == "target":
            return [doc.problem(path, f"got {show(inst)}; expected \"Service/handler\" or "
                                      "\"Object/<key>/handler\"")]
        return [doc.problem(path, f"got {show(inst)}; it must match {err.validator_value}")]
    if v in ("minimum", "maximum"):
        word = "at least" if v == "minimum" else "at most"
        if err.schema.get("description", "").startswith("A duration"):
            return [doc.problem(path, f"got {show(inst)} seconds; a duration is {word} "
                                      f"{err.validator_value} seconds"
                                      + (" (100000d)" if v == "maximum" else ""))]
        return [doc.problem(path, f"got {show(inst)}; must be {word} {err.validator_value}")]
    if v == "minItems":
        return [doc.problem(path, f"needs at least {err.validator_value} item(s), got none")]
    if v == "minLength":
        return [doc.problem(path, "must not be empty")]
    return [doc.problem(path, f"got {show(inst)}: {err.message}")]


def validate(doc: Document) -> list[Problem]:
    """Every schema violation of ``doc``, located, in document order."""
    problems: list[Problem] = []
    for err in _validator().iter_errors(doc.data):
        problems += _problems_for(err, doc)
    seen: set[tuple[Path, str]] = set()
    unique = []
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            unique.append(p)

    def order(p: Problem) -> tuple[int, int, str]:
        return (p.mark.line, p.mark.col, p.message) if p.mark else (0, 0, p.message)

    return sorted(unique, key=order)[:MAX_PROBLEMS]
