"""Whether an input a user wrote (a request body, ``simdurable check --input``, a
scenario's ``input:``, a ``[tool.simdurable.inputs]`` example) fits the handler."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Final

from ._api.serde import DefaultSerde
from ._api.service import Handler

# The JSON types a plain type hint admits ("a float" also takes an integer).
_JSON_TYPES: Final[dict[Any, tuple[type, ...]]] = {
    int: (int,), float: (int, float), str: (str,), bool: (bool,), dict: (dict,),
    list: (list,),
}


def input_problem(handler: Handler, body: bytes, where: str) -> str | None:
    """Why ``body`` (the input as JSON bytes; ``where`` names it) is not a valid
    input for ``handler``, or None if it is (or the handler takes none).

    JSON decoding alone lets ``"abc"`` through to ``n: int``, and the handler
    then fails on every attempt: a client would wait on it, a check would
    explore nothing but that failure. The handler's serde refuses what it cannot
    read (a model's validation error); then plain hints are judged (``int``,
    ``str``, ``float``, ``bool``, ``dict``, ``list``, ``list[X]``,
    ``dict[str, X]``, ``X | None``); anything else is taken as it is.
    """
    if handler.arity < 2:
        return None
    serde = handler.handler_io.input_serde
    try:
        value = serde.deserialize(body)
    except Exception as err:  # noqa: BLE001 - any parse failure is the input's
        return _refusal(err)
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as err:  # noqa: BLE001 - sys.exit() in a serde: named, not exited
        shown = (f"SystemExit({err.code!r}) (sys.exit())" if isinstance(err, SystemExit)
                 else f"{type(err).__name__}, a BaseException that is not an Exception,")
        return (f"the handler's input serde ({type(serde).__name__}.deserialize) raised "
                f"{shown} on it: it should raise an Exception for an input it refuses")
    if type(serde) is not DefaultSerde and not getattr(serde, "plain_json", False):
        return None  # a custom serde: its bytes, its business
    hint = getattr(handler.handler_io.input_type, "annotation", None)
    return _mismatch(hint, value, where)


def _refusal(err: Exception) -> str:
    """A serde's refusal on one line; a model's validation errors field by field."""
    errors = getattr(err, "errors", None)
    try:
        found = errors() if callable(errors) else None
    except Exception:  # noqa: BLE001 - not pydantic's errors() after all
        found = None
    if isinstance(found, list) and found and all(isinstance(e, dict) for e in found):
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'the input'}: {e.get('msg')}"
            + (f" (got {json.dumps(e['input'], default=repr)})" if "input" in e else "")
            for e in found)
    return " ".join(str(err).split())


def value_problem(handler: Handler, value: Any) -> str | None:
    """``input_problem`` for an input given as JSON data (a flag's, a file's or a
    setting's value); a value that is no JSON (a date from YAML) is not judged.
    A value for a handler that takes none is refused, as Restate's ingress
    refuses a body for it."""
    if handler.arity < 2:
        return None if value is None else (
            "the handler takes no input (Restate's ingress refuses a body for it)")
    try:
        body = json.dumps(value).encode()
    except (TypeError, ValueError):
        return None
    return input_problem(handler, body, "the input")


def _mismatch(hint: Any, value: Any, where: str) -> str | None:
    if hint is None or hint is Any:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        return _mismatch(rest[0], value, where) if len(rest) == 1 else None
    base = origin if origin in (list, dict) else hint
    accepted = _JSON_TYPES.get(base)
    if accepted is None:
        return None
    if not isinstance(value, accepted) or (base is not bool and isinstance(value, bool)):
        text = json.dumps(value)
        shown = text if len(text) <= 60 else text[:56] + " ..."
        name = getattr(hint, "__name__", str(hint)) if origin is None else str(hint)
        what = _json_kind(value) if value is None else f"{_json_kind(value)}, {shown}"
        return f"{where} is {what}, but the handler takes {name}"
    if origin is list and len(args) == 1 and isinstance(value, list):
        for i, item in enumerate(value):
            wrong = _mismatch(args[0], item, f"{where}[{i}]")
            if wrong is not None:
                return wrong
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        for k, item in value.items():
            wrong = _mismatch(args[1], item, f"{where}[{json.dumps(k)}]")
            if wrong is not None:
                return wrong
    return None


def _json_kind(value: Any) -> str:
    kinds = {bool: "a JSON boolean", int: "a JSON number", float: "a JSON number",
             str: "a JSON string", list: "a JSON array", dict: "a JSON object"}
    return kinds.get(type(value), "JSON null" if value is None else "a JSON value")
