"""An app's ``journal_value_codec``, checked as a Restate server would use it.

restate-sdk (1.3) passes every success value it writes to the journal through
the codec's ``encode`` after the serde, and every one it reads back through
``decode`` before the serde: a handler's input and output, ``ctx.run``
results, state values, call and send arguments and call responses,
awakeable, signal and promise values. Failures never go through it. A codec
that does not give back what it encoded (a compression that truncates, an
encryption keyed per attempt, one that loses a type) hands the handler other
bytes than it stored, on the first execution as on replay.

The simulation keeps its journal as the serde made it and checks, once a run
ends, that each such value comes back from ``decode(encode(value))``
unchanged: the first that does not is a ``SerializationError`` naming the
handler, the entry (a step's name) and its journal index. With a codec,
restate-sdk turns its VM's payload checks off (an encoding may differ from
one attempt to the next, as an encryption's nonce does): a replayed command
is then matched without its payload here too.
"""

from __future__ import annotations

import base64
import inspect
import os
import pickle
import sys
import threading
from typing import Any, Final

from ._asyncio_steps import StepLoop
from .runtime._errors import SerializationError, TerminalError
from .runtime._journal import (
    ATTACH,
    AWAKEABLE,
    CALL,
    COMPLETION,
    GET,
    PROMISE_COMPLETE,
    PROMISE_GET,
    PROMISE_PEEK,
    RESOLVE_AWAKEABLE,
    RESOLVE_SIGNAL,
    RUN,
    SEND,
    SET,
    SIGNAL,
    Entry,
    Value,
)
from .runtime._store import Store

# Commands whose payload is an encoded value (a promise's: after its ``R``).
_ENCODED: Final = frozenset({SET, CALL, SEND, RESOLVE_AWAKEABLE, RESOLVE_SIGNAL})
# Commands whose completion's value the handler reads through ``decode``.
_DECODED: Final = frozenset({RUN, GET, CALL, AWAKEABLE, PROMISE_GET, PROMISE_PEEK, SIGNAL,
                             ATTACH})


# The header ``serve``'s ingress stores with an invocation whose body the app's
# journal value codec refused (a client's own header of that name is dropped): the
# invocation fails at its start, as on Restate, and replays so.
UNDECODABLE_INPUT: Final = "x-simdurable-undecodable-input"


def undecodable_input() -> TerminalError:
    """restate-sdk 1.3's failure of an input the codec cannot decode."""
    return TerminalError("Failed to decode input using journal value codec", 400)


class CodecError(SerializationError):
    """A stored value the app's journal value codec does not give back (or refuses):
    found as a run ends, after the handler ran (``Simulation.run`` raises it; a
    check reports it as the run's violation, with the faults that led to it)."""


class CodecServices(list[Any]):
    """Services hosted under an app's journal value codec: a list, for every host
    that takes one, that keeps the codec of the app they came from (``listed``)."""

    journal_value_codec: Any = None


def listed(services: Any, codec: Any = None) -> list[Any]:
    """``list(services)``, keeping the journal value codec of an app among them
    (or ``codec``) as a ``CodecServices``."""
    if codec is None:
        codec = journal_codec_of(services)
    out = list(services)
    if codec is None:
        return out
    carried = CodecServices(out)
    carried.journal_value_codec = codec
    return carried


def sent_codec(services: Any) -> str | None:
    """The journal value codec (or provider) ``services`` carry (``listed``), as a
    worker process gets it (``received``): pickled, so that a codec made inline in
    ``app(...)`` goes too. None without one; ``ValueError`` saying why it cannot go."""
    codec = getattr(services, "journal_value_codec", None)
    if codec is None:
        return None
    try:
        return base64.b64encode(pickle.dumps(codec)).decode("ascii")
    except Exception as err:  # noqa: BLE001 - whatever stops pickling, it cannot be sent
        raise ValueError(f"the app's journal_value_codec {codec!r} cannot be sent to "
                         f"another process ({type(err).__name__}: {err})") from None


def received(services: list[Any], codec: str | None) -> list[Any]:
    """In a worker: ``services`` under the codec ``sent_codec`` sent, if any."""
    if codec is None:
        return services
    return listed(services, pickle.loads(base64.b64decode(codec)))  # noqa: S301 - our own


def journal_codec_of(services: Any) -> Any:
    """The ``journal_value_codec`` (or provider) of the app among ``services``, if any:
    simdurable's ``app(...)``, or restate-sdk's (read from its ``Endpoint``)."""
    codec = _codec_attr(services)
    if codec is not None:
        return codec
    items = list(services) if isinstance(services, (list, tuple)) else [services]
    for item in items:
        codec = _codec_attr(item)
        if codec is None and callable(item) and "restate.endpoint" in sys.modules:
            endpoint = endpoint_of_app(item)
            if endpoint is not None:
                codec = endpoint.journal_value_codec
        if codec is not None:
            return codec
    return None


def _codec_attr(obj: Any) -> Any:
    """``obj.journal_value_codec``, or None: also for an object whose own
    ``__getattr__`` raises (a lazy proxy named as the services), which the
    loader then refuses in words as no service."""
    try:
        return getattr(obj, "journal_value_codec", None)
    except Exception:  # noqa: BLE001 - not an app, whatever it raised
        return None


def endpoint_of_app(app: Any) -> Any:
    """The ``Endpoint`` a ``restate.app(...)`` value closes over, or None if
    ``app`` is not one: restate-sdk's ``app()`` returns an ASGI function closing
    over it (its services, its ``journal_value_codec``). Only ``restate.endpoint``
    is imported, which simdurable's own ``restate`` provides too."""
    from restate.endpoint import Endpoint

    for cell in getattr(app, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, Endpoint):
            return value
    return None


def resolve_codec(codec: Any) -> Any:
    """The codec itself: ``codec``, or what its provider (``async def`` or plain,
    called with no arguments, once) makes. ``TypeError`` for anything else."""
    if not (callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None))):
        if not callable(codec):
            raise TypeError(f"journal_value_codec must be a JournalValueCodec (encode and "
                            f"decode) or a provider of one, not {codec!r}")
        try:
            made = codec()
            if inspect.isawaitable(made):
                made = StepLoop().run(made, "journal_value_codec")
        except Exception as err:
            raise TypeError(f"journal_value_codec's provider {codec!r} raised "
                            f"{type(err).__name__}: {err}") from err
        if not (callable(getattr(made, "encode", None))
                and callable(getattr(made, "decode", None))):
            raise TypeError(f"journal_value_codec's provider {codec!r} made {made!r}, not a "
                            "JournalValueCodec (encode and decode)")
        codec = made
    return codec


class Checker:
    """Checks stored values through one codec (see the module docstring)."""

    def __init__(self, codec: Any) -> None:
        self.codec = codec
        self._loop = StepLoop()

    def check(self, store: Store) -> CodecError | None:
        """The first stored value the codec does not give back, in invocation order."""
        for rec in sorted(store.invocations(), key=lambda r: r.seq):
            target = rec.target
            if rec.input:
                found = self._value(rec.input, "its input", target, None, None)
                if found is not None:
                    return found
            journal = store.journal(rec.id)
            for index, entry in enumerate(journal):
                found = self._entry(journal, index, entry, target)
                if found is not None:
                    return found
            output = _value_of(rec.result)
            if output is not None:
                found = self._value(output, "its output", target, None, None)
                if found is not None:
                    return found
        return None

    def _entry(self, journal: list[Entry], index: int, entry: Entry, target: str
               ) -> CodecError | None:
        kind, data = entry.kind, entry.data
        step = entry.name if kind == RUN else None
        if kind in _ENCODED and data is not None:
            return self._value(data, f"{entry.kind} {entry.name!r}'s value", target, step, index)
        if kind == PROMISE_COMPLETE and data is not None and data[:1] == b"R":
            return self._value(data[1:], f"promise {entry.name!r}'s value", target, step, index)
        if kind == COMPLETION and 0 <= entry.target < len(journal):
            command = journal[entry.target]
            value = _value_of(entry.result)
            if command.kind in _DECODED and value is not None:
                what = (f'step "{command.name}"\'s result' if command.kind == RUN
                        else f"{command.kind} {command.name!r}'s result")
                return self._value(value, what, target,
                                   command.name if command.kind == RUN else None, entry.target)
        elif kind in _DECODED and (value := _value_of(entry.result)) is not None:
            return self._value(value, f"{kind} {entry.name!r}'s result", target, step,
                               index)
        return None

    def _value(self, data: bytes, what: str, target: str, step: str | None,
               index: int | None) -> CodecError | None:
        codec = self.codec
        stage = "encode"
        try:
            encoded = codec.encode(data)
            stage = "decode"
            pending = codec.decode(encoded)
            if not inspect.isawaitable(pending):
                return CodecError(
                    f"the app's journal_value_codec.decode returned {type(pending).__name__}, "
                    f"not an awaitable, for {what}: restate-sdk awaits it (JournalValueCodec's "
                    f"decode is `async def`), and on Restate that await raises TypeError. "
                    f"Make decode `async def`.",
                    handler=target, step=step, journal_index=index,
                    source=_source(codec, "decode"))
            decoded = self._loop.run(pending, "journal_value_codec.decode")
        except Exception as err:  # noqa: BLE001 - the codec's own failure, reported
            return CodecError(
                f"the app's journal_value_codec.{stage} raised {type(err).__name__}: {err} on "
                f"{what} ({_shown(data)}). On Restate the SDK passes it through the codec "
                f"as it stores or reads it, and the attempt fails there.",
                handler=target, step=step, journal_index=index, source=_source(codec, stage),
            )
        if decoded == data:
            return None
        return CodecError(
            f"the app's journal_value_codec does not give back what it encoded: {what} "
            f"{_shown(data)} decodes to {_shown(decoded)}. On Restate the handler reads the "
            f"decoded bytes (on its first execution as on replay): decode(encode(value)) must "
            f"be the value.",
            handler=target, step=step, journal_index=index, source=_source(codec, "decode"),
        )


def _value_of(result: Any) -> bytes | None:
    """A success completion's value (``(data,)``); None for a ``Failure`` or no result."""
    if type(result) in (tuple, Value) and len(result) == 1 and type(result[0]) is bytes:
        return bytes(result[0])
    return None


def _shown(data: Any) -> str:
    if type(data) is not bytes:
        return f"a {type(data).__name__}, not bytes"
    text = repr(data[:60])
    return text + (f" ... ({len(data)} bytes)" if len(data) > 60 else "")


def _source(codec: Any, method: str) -> str | None:
    """``file.py:line`` of the codec's ``method``, if it is Python code."""
    fn = getattr(type(codec), method, None)
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"



class StoredValues:
    """A live store's values through the app's journal value codec, as restate-sdk
    passes them: what is written to the database is ``encode``'s, what is read
    back is ``decode``'s (the values of ``Checker``: a handler's input and output,
    state, the payloads of ``_ENCODED`` commands and a promise's value, and the
    results of ``_DECODED`` commands). Failures and every other value are stored
    as they are. ``decode`` is ``async def`` (awaited here, to its end)."""

    def __init__(self, codec: Any, tell: Any = None) -> None:
        self.codec = resolve_codec(codec)
        self._loop = StepLoop()
        self._lock = threading.Lock()
        # Told (once) of the first value the codec does not give back.
        self._tell = tell
        # The last value ``read_back`` encoded, its encoding and what that
        # decodes to: a step's value, stored next (``stored``), is not encoded again.
        self._encoded: tuple[bytes, bytes, bytes] | None = None

    def stored(self, data: bytes, where: str) -> bytes:
        """``encode(data)``, checked to decode back to ``data`` until one does not
        (a step's value ``read_back`` encoded and checked, or what the handler
        was handed of it, its decoding: that encoding, as restate-sdk stores it)."""
        encoded = self._encoded
        if encoded is not None:
            self._encoded = None
            if data == encoded[0] or data == encoded[2]:
                return encoded[1]
        out = self.encode(data)
        if self._tell is not None:
            self._check(data, self.decode(out), where)
        return out

    def read_back(self, data: bytes, where: str) -> bytes:
        """``decode(encode(data))``: what restate-sdk hands a handler of a value it
        made (a step's result), at once; told once if it is not ``data``. The
        encoding is what ``stored`` stores of ``data`` next: the handler reads
        what is stored, and the codec encodes a value once, as restate-sdk does."""
        out = self.encode(data)
        back = self.decode(out)
        self._encoded = (data, out, back)  # (one decode refused: encoded again, and told)
        if self._tell is not None:
            self._check(data, back, where)
        return back

    def _check(self, data: bytes, back: bytes, where: str) -> None:
        if back != data and self._tell is not None:
            tell, self._tell = self._tell, None
            tell(f"simdurable: warning: the app's journal_value_codec does not give back "
                 f"what it encoded: {where}: {_shown(data)} decodes to {_shown(back)}. A "
                 f"running handler reads a step's result and state decoded at once, as on "
                 f"Restate, but holds its own of a call's argument or response and of an "
                 f"awakeable's or promise's value until a restart. `simdurable check` names "
                 f"every such value.")

    def encode(self, data: bytes) -> bytes:
        out = self.codec.encode(data)
        if not isinstance(out, (bytes, bytearray, memoryview)):
            raise TypeError(f"the app's journal_value_codec.encode returned "
                            f"{type(out).__name__}, not bytes")
        return bytes(out)

    def decode(self, data: bytes) -> bytes:
        pending = self.codec.decode(data)
        if not inspect.isawaitable(pending):
            raise TypeError(f"the app's journal_value_codec.decode returned "
                            f"{type(pending).__name__}, not an awaitable: restate-sdk awaits "
                            f"it (make decode `async def`)")
        with self._lock:  # (the ingress's thread and a step's worker share the loop)
            out = self._loop.run(pending, "journal_value_codec.decode")
        if not isinstance(out, (bytes, bytearray, memoryview)):
            raise TypeError(f"the app's journal_value_codec.decode gave "
                            f"{type(out).__name__}, not bytes")
        return bytes(out)

    def completion(self, result: Any, how: Any) -> Any:
        """``result`` with a success value passed through ``how``; others as they are."""
        value = _value_of(result)
        return result if value is None else Value(how(value))

    def entry(self, entry: Any, command_kind: str | None, how: Any) -> Any:
        """A journal entry (an ``Entry`` or its tuple) with its coded values passed
        through ``how``; ``command_kind``: the kind of the command a completion completes."""
        kind, data, result = entry[0], entry[2], entry[3]
        if kind in _ENCODED and data is not None:
            data = how(data)
        elif kind == PROMISE_COMPLETE and data is not None and data[:1] == b"R":
            data = b"R" + how(data[1:])
        if result is not None and (kind in _DECODED or (
                kind == COMPLETION and command_kind in _DECODED)):
            result = self.completion(result, how)
        if data is entry[2] and result is entry[3]:
            return entry
        if isinstance(entry, Entry):
            return entry._replace(data=data, result=result)
        return (entry[0], entry[1], data, result, *entry[4:])
