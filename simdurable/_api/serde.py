"""Serdes: how values become journal bytes and back (JSON by default).

Mirrors ``restate.serde``: ``None`` is stored as empty bytes and empty bytes
read back as ``None``. ``DefaultSerde`` uses a type hint, when it has one, to
rebuild dataclasses from JSON objects.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import typing
from json.encoder import encode_basestring_ascii
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Serde(Generic[T]):
    """Turns values into bytes and back."""

    def serialize(self, obj: T | None) -> bytes:
        raise NotImplementedError

    def deserialize(self, buf: bytes) -> T | None:
        raise NotImplementedError


def _to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if hasattr(type(obj), "__struct_fields__"):  # a msgspec Struct
        return importlib.import_module("msgspec").to_builtins(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# ``json.dumps(obj, default=...)`` builds a new encoder on every call; this one
# has the same settings, so ``encode`` gives the same text, without that cost.
_ENCODER = json.JSONEncoder(default=_to_jsonable)
_DECODER = json.JSONDecoder()


def dumps(obj: Any) -> bytes:
    """``json.dumps(obj, default=_to_jsonable).encode()``, with one shared encoder.

    Ints and strings, the most common step results, skip the encoder: they
    come out as the encoder would write them.
    """
    kind = type(obj)
    if kind is int:
        return b"%d" % obj
    if kind is str:
        return encode_basestring_ascii(obj).encode()
    return _ENCODER.encode(obj).encode()


def loads(buf: bytes) -> Any:
    """``json.loads(buf)``, skipping its encoding sniffing for plain UTF-8.

    ``json.loads`` looks for a BOM or NUL bytes (UTF-16/32) first; a buffer
    that starts with a non-NUL ASCII byte followed by a non-NUL byte has none.
    """
    if type(buf) is bytes and buf and 0 < buf[0] < 0x80 and (len(buf) < 2 or buf[1]):
        if buf.isdigit() and (buf >= b"1" or buf == b"0"):
            return int(buf)  # a JSON natural number: no leading zero, ASCII digits only
        return _DECODER.decode(buf.decode("utf-8", "surrogatepass"))
    return json.loads(buf)


class JsonSerde(Serde[T]):
    """``json.dumps``/``json.loads``; dataclasses are written as objects."""

    def serialize(self, obj: T | None) -> bytes:
        if obj is None:
            return b""
        return dumps(obj)

    def deserialize(self, buf: bytes) -> T | None:
        if not buf:
            return None
        return loads(buf)  # type: ignore[no-any-return]


class BytesSerde(Serde[bytes]):
    """Bytes stored as they are."""

    def serialize(self, obj: bytes | None) -> bytes:
        return b"" if obj is None else bytes(obj)

    def deserialize(self, buf: bytes) -> bytes | None:
        return buf


class DefaultSerde(Serde[T]):
    """JSON, rebuilding a dataclass (or pydantic model, or msgspec Struct) named by
    ``type_hint``."""

    def __init__(self, type_hint: Any = None) -> None:
        self.type_hint = type_hint

    def with_maybe_type(self, type_hint: Any) -> DefaultSerde[T]:
        return DefaultSerde(type_hint)

    def serialize(self, obj: T | None) -> bytes:
        if obj is None:
            return b""
        return dumps(obj)

    def deserialize(self, buf: bytes) -> T | None:
        if not buf:
            return None
        hint = self.type_hint
        if (hint is None or hint is int) and type(buf) is bytes and buf.isdigit() and (
            buf >= b"1" or buf == b"0"
        ):  # loads()'s first case, without its call nor ``_rebuild``'s (which gives
            # an int back as it is): a replayed step's result, an ``int`` input or output
            # (``Handler._start`` and ``completed_value`` ask the same without a call)
            return int(buf)  # type: ignore[return-value]
        data = loads(buf)
        if hint is None:
            return data  # type: ignore[no-any-return]
        return _rebuild(hint, data)  # type: ignore[no-any-return]


# Hints that JSON already gives back as they are.
_AS_IS: frozenset[Any] = frozenset({int, str, float, bool, dict, list, bytes, type(None)})


def _rebuild(hint: Any, data: Any) -> Any:
    if hint is None or data is None or hint in _AS_IS:
        return data
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _rebuild(args[0], data) if len(args) == 1 else data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(data, dict):
        hints = typing.get_type_hints(hint)
        kwargs = {
            f.name: _rebuild(hints.get(f.name), data[f.name])
            for f in dataclasses.fields(hint)
            if f.name in data
        }
        unknown = set(data) - {f.name for f in dataclasses.fields(hint)}
        if unknown:
            raise TypeError(f"unexpected fields for {hint.__name__}: {sorted(unknown)}")
        return hint(**kwargs)
    validate = getattr(hint, "model_validate", None)
    if isinstance(hint, type) and callable(validate):
        return validate(data)
    if isinstance(hint, type) and hasattr(hint, "__struct_fields__"):  # a msgspec Struct
        return importlib.import_module("msgspec").convert(data, hint)
    return data


def serde_for_hint(hint: Any) -> Serde[Any]:
    """The serde restate-sdk gives a handler's input or output of type ``hint``.

    As restate-sdk does: a pydantic model (or ``Optional`` of one) gets
    ``PydanticJsonSerde`` and a msgspec ``Struct`` ``MsgspecJsonSerde``, so a
    plain dict where the handler takes a model fails to be written, as it does on
    Restate; anything else is JSON through ``DefaultSerde``.
    """
    core = hint
    args = typing.get_args(hint)
    if len(args) == 2 and type(None) in args:
        core = args[0] if args[1] is type(None) else args[1]
    if isinstance(core, type) and hasattr(core, "__struct_fields__"):
        return MsgspecJsonSerde(core)
    if is_pydantic(core):
        return PydanticJsonSerde(core)
    return DefaultSerde(hint)


def ingress_bytes(serde: Serde[Any], obj: Any) -> bytes:
    """An invocation's input from a test, a scenario or the executor, written with
    the handler's input serde; plain JSON data (a dict for a pydantic model) is taken
    as it is, as Restate's ingress takes a JSON body. Calls between handlers get no
    such leniency: they write with the serde alone, as restate-sdk does."""
    try:
        return bytes(serde.serialize(obj))
    except (AttributeError, TypeError, ValueError):
        if isinstance(obj, (dict, list, str, int, float, bool)):
            return dumps(obj)
        raise


def is_pydantic(annotation: Any) -> bool:
    """Whether ``annotation`` is a pydantic model class (False without pydantic)."""
    return isinstance(annotation, type) and callable(getattr(annotation, "model_validate_json",
                                                             None))


class PydanticJsonSerde(Serde[T]):
    """A pydantic model as JSON (needs pydantic)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def serialize(self, obj: T | None) -> bytes:
        if obj is None:
            return b""
        return obj.model_dump_json().encode()  # type: ignore[attr-defined,no-any-return]

    def deserialize(self, buf: bytes) -> T | None:
        if not buf:
            return None
        return self.model.model_validate_json(buf)  # type: ignore[no-any-return]


class MsgspecJsonSerde(Serde[T]):
    """A msgspec ``Struct`` as JSON (needs msgspec)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def serialize(self, obj: T | None) -> bytes:
        if obj is None:
            return b""
        return _msgspec_json().encode(obj)  # type: ignore[no-any-return]

    def deserialize(self, buf: bytes) -> T | None:
        if not buf:
            return None
        return _msgspec_json().decode(buf, type=self.model)  # type: ignore[no-any-return]


def _msgspec_json() -> Any:
    try:
        return importlib.import_module("msgspec.json")
    except ImportError:
        raise ImportError("MsgspecJsonSerde needs msgspec: pip install msgspec") from None
