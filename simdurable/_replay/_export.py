"""The journal export: recorded invocations as one JSON file, and reading it back.

``simdurable export-journals`` writes it; ``replay_journals`` and
``simdurable replay-journals`` read it. Format version 2::

    {
      "format": "simdurable-journals",
      "version": 2,
      "source": "<where the journals were read from>",
      "count": <number of invocations below>,
      "invocations": [
        {
          "id": "inv_...", "service": "Greeter", "handler": "greet",
          "key": null,                         # the object/workflow key, or null
          "input": <bytes>,
          "status": "pending" | "completed" | "paused",
          "result": null | {"value": <bytes>} | {"failure": {"code": 418, "message": "..."}},
                                               # a failure may add "metadata": {"name": "value"}
          "attempts": 1, "headers": {"name": "value"},
          "idempotency_key": null,             # null: none; "" is an empty key
                                               # (version 1 wrote "" for none)
          "journal": [
            {"kind": "run", "name": "charge",  # a kind of runtime/_journal.py
             "data": <bytes> | null,           # the command's payload
             "result": null | {"value": ...} | {"failure": ...},
             "target": -1,                     # a completion's command index
             "at_ms": 0, "wake_ms": -1, "ref": "",
             "source_index": 3}                # optional: the index in the source's
          ],                                   # own numbering (a Restate journal)
          "cannot_judge": "why",               # optional: the source could not give
                                               # the whole journal
          "unjournaled_signals": [             # optional: a source that journals no
            {"position": 4,                    # command for ctx.awakeable() and
             "signal": 17 | "name",            # ctx.signal() (Restate): the completions
             "result": {"value": ...},         # of awakeables (by Restate's signal index)
             "source_index": 9}                # and named signals, each before the
          ]                                    # journal index "position"
        }
      ]
    }

``<bytes>`` is a JSON string when the bytes are UTF-8 text (most journal
values are JSON), else ``{"base64": "..."}``. Every field is checked on
reading: a foreign file, a truncated one, another version, or a field of the
wrong type is a ``JournalSourceError`` naming the file, the invocation (index
and id) and the entry.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Sequence
from typing import Any, Final

from ..runtime._errors import SimdurableError
from ..runtime._journal import Completion, Entry, Failure, Value, metadata_pairs
from ..runtime._store import COMPLETED, PAUSED, PENDING, InvocationRecord
from ._core import KNOWN_KINDS, RecordedInvocation, SignalNote
from ._restate_ids import awakeable_ids_of

FORMAT: Final = "simdurable-journals"
# 2: ``idempotency_key`` "" is an empty key (Restate's ingress takes one), null
# none. Version 1 wrote "" for none, and is still read so.
VERSION: Final = 2
VERSIONS: Final = (1, 2)
STATUSES: Final = (PENDING, COMPLETED, PAUSED)


class JournalSourceError(SimdurableError):
    """Recorded journals that cannot be read: where, and what is wrong."""


# -- writing ----------------------------------------------------------------------------
def _bytes_out(data: bytes) -> Any:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _completion_out(c: Completion | None) -> Any:
    if c is None:
        return None
    if isinstance(c, Value):
        return {"value": _bytes_out(c.data)}
    failure: dict[str, Any] = {"code": c.code, "message": c.message}
    if c.metadata:
        failure["metadata"] = dict(c.metadata)
    return {"failure": failure}


def _entry_out(e: Entry, source_index: int | None) -> dict[str, Any]:
    out = {"kind": e.kind, "name": e.name,
           "data": None if e.data is None else _bytes_out(e.data),
           "result": _completion_out(e.result), "target": e.target, "at_ms": e.at_ms,
           "wake_ms": e.wake_ms, "ref": e.ref}
    if source_index is not None:
        out["source_index"] = source_index
    return out


def export_document(invocations: Sequence[RecordedInvocation], source: str) -> dict[str, Any]:
    """The export of ``invocations`` as a JSON-ready dict."""
    out = []
    for inv in invocations:
        rec = inv.record
        indices = inv.source_indices
        item: dict[str, Any] = {
            "id": rec.id, "service": rec.service, "handler": rec.handler, "key": rec.key,
            "input": _bytes_out(rec.input), "status": rec.status,
            "result": _completion_out(rec.result), "attempts": rec.attempts,
            "headers": dict(rec.headers), "idempotency_key": rec.idempotency_key,
            "journal": [_entry_out(e, None if indices is None else indices[i])
                        for i, e in enumerate(inv.journal)],
        }
        if inv.unjudgeable:
            item["cannot_judge"] = inv.unjudgeable
        if inv.as_stored:  # (its values as the server stored them: see RecordedInvocation)
            item["as_stored"] = True
        if inv.signals is not None:
            item["unjournaled_signals"] = [
                {"position": n.position, "signal": n.signal,
                 "result": _completion_out(n.result), "source_index": n.source_index}
                for n in inv.signals]
        out.append(item)
    return {"format": FORMAT, "version": VERSION, "source": source, "count": len(out),
            "invocations": out}


def write_export(invocations: Sequence[RecordedInvocation], path: str | os.PathLike[str],
                 source: str) -> None:
    """Write the export to ``path`` (through a temporary file, then renamed).
    A path that cannot be written is a ``JournalSourceError`` naming it, not
    the error of the temporary file's name."""
    text = json.dumps(export_document(invocations, source), indent=1, sort_keys=False)
    target = os.fspath(path)
    if not target or os.path.isdir(target):
        raise JournalSourceError(f"cannot write the export to {target!r}: "
                                 f"{'a directory' if target else 'an empty path'}; "
                                 f"name a file, like journals.json")
    _refuse_to_replace(target)
    tmp = f"{target}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, target)
    except OSError as err:
        if os.path.isfile(tmp):
            os.remove(tmp)
        raise JournalSourceError(f"cannot write the export to {target!r}: "
                                 f"{err.strerror or err}") from None


def _refuse_to_replace(target: str) -> None:
    """Refuse a target the export's rename would destroy: a device, FIFO or socket
    (``-o /dev/null`` replaced the device node with a file), or an SQLite database
    (``export-journals dev.db -o dev.db`` replaced the database it had just read)."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return  # nothing there (or nothing readable): the write says what is wrong
    if not stat.S_ISREG(mode):
        raise JournalSourceError(f"cannot write the export to {target!r}: it is not a regular "
                                 f"file (a device, FIFO or socket), which the export would "
                                 f"replace; name a file, like journals.json")
    from .._live._sqlite import is_sqlite_file

    if is_sqlite_file(target):
        raise JournalSourceError(f"cannot write the export to {target!r}: it is an SQLite "
                                 f"database (a dev-executor database?), which the export would "
                                 f"replace; name another file, like journals.json")


# -- reading ----------------------------------------------------------------------------
class _Reader:
    """Checks one export document field by field, naming where a problem is."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.version = VERSION  # (the document's, once read)

    def fail(self, where: str, problem: str) -> JournalSourceError:
        return JournalSourceError(f"{self.path}: {where}: {problem}")

    def field(self, obj: dict[str, Any], name: str, types: tuple[type, ...], where: str,
              *, default: Any = ...) -> Any:
        if name not in obj:
            if default is not ...:
                return default
            raise self.fail(where, f"field {name!r} is missing")
        value = obj[name]
        if type(value) not in types:
            wanted = " or ".join(_TYPE_NAMES[t] for t in types)
            raise self.fail(where, f"field {name!r} is {_json_type(value)}, not {wanted}")
        return value

    def bytes_(self, obj: dict[str, Any], name: str, where: str, *,
               nullable: bool = False) -> bytes | None:
        value = self.field(obj, name, (str, dict, type(None)) if nullable else (str, dict),
                           where)
        return self.decode_bytes(value, f"{where}: field {name!r}")

    def decode_bytes(self, value: Any, where: str) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value.encode("utf-8", "surrogatepass")
        if (not isinstance(value, dict) or set(value) != {"base64"}
                or not isinstance(value["base64"], str)):
            raise self.fail(where, 'expected a string or {"base64": "..."}')
        try:
            return base64.b64decode(value["base64"], validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(where, "is not valid base64") from None

    def completion(self, obj: dict[str, Any], name: str, where: str) -> Completion | None:
        value = self.field(obj, name, (dict, type(None)), where, default=None)
        if value is None:
            return None
        at = f"{where}: field {name!r}"
        if set(value) == {"value"}:
            data = self.decode_bytes(value["value"], at)
            if data is None:
                raise self.fail(at, "a value may not be null")
            return Value(data)
        if set(value) == {"failure"} and isinstance(value["failure"], dict):
            failure = value["failure"]
            code = self.field(failure, "code", (int,), at)
            message = self.field(failure, "message", (str,), at)
            metadata = self.field(failure, "metadata", (dict, type(None)), at, default=None)
            if metadata is not None and not all(
                    isinstance(v, str) for v in metadata.values()):
                raise self.fail(f"{at}: field 'metadata'", "must map names to strings")
            return Failure(code, message, metadata_pairs(metadata))
        raise self.fail(at, 'expected {"value": ...} or {"failure": {"code": ..., '
                            '"message": ...}}')

    def entry(self, obj: Any, where: str) -> Entry:
        fast = _fast_entry(obj)
        if fast is not None:
            return fast
        if not isinstance(obj, dict):
            raise self.fail(where, f"is {_json_type(obj)}, not an object")
        kind = self.field(obj, "kind", (str,), where)
        if kind not in KNOWN_KINDS:
            raise self.fail(where, f"kind {kind!r} is not a journal entry kind; known: "
                                   f"{', '.join(sorted(KNOWN_KINDS))}")
        return Entry(
            kind=kind,
            name=self.field(obj, "name", (str,), where, default=""),
            data=self.bytes_(obj, "data", where, nullable=True) if "data" in obj else None,
            result=self.completion(obj, "result", where),
            target=self.field(obj, "target", (int,), where, default=-1),
            at_ms=self.field(obj, "at_ms", (int,), where, default=0),
            wake_ms=self.field(obj, "wake_ms", (int,), where, default=-1),
            ref=self.field(obj, "ref", (str,), where, default=""),
        )

    def invocation(self, obj: Any, n: int, seq: int) -> RecordedInvocation:
        where = f"invocation #{n}"
        if not isinstance(obj, dict):
            raise self.fail(where, f"is {_json_type(obj)}, not an object")
        inv_id = self.field(obj, "id", (str,), where)
        where = f"invocation #{n} ({inv_id})"
        status = self.field(obj, "status", (str,), where)
        if status not in STATUSES:
            raise self.fail(where, f"field 'status' is {status!r}, not one of "
                                   f"{', '.join(STATUSES)}")
        headers = self.field(obj, "headers", (dict,), where, default={})
        if not all(isinstance(v, str) for v in headers.values()):
            raise self.fail(where, "field 'headers' is not an object of strings")
        entries = self.field(obj, "journal", (list,), where)
        journal = [self.entry(e, f"{where}: journal entry #{i}") for i, e in enumerate(entries)]
        for i, e in enumerate(journal):
            if e.kind == "completion" and not (0 <= e.target < i and e.result is not None):
                raise self.fail(f"{where}: journal entry #{i}",
                                "a completion needs a result and the index of an earlier "
                                "command as its target")
        input_ = self.bytes_(obj, "input", where)
        assert input_ is not None
        key: str | None = self.field(obj, "idempotency_key", (str, type(None)), where,
                                     default=None)
        if key == "" and self.version == 1:
            key = None  # (version 1 wrote "" for none)
        record = InvocationRecord(
            id=inv_id,
            service=self.field(obj, "service", (str,), where),
            handler=self.field(obj, "handler", (str,), where),
            key=self.field(obj, "key", (str, type(None)), where, default=None),
            input=input_, seq=seq, status=status,
            result=self.completion(obj, "result", where),
            attempts=self.field(obj, "attempts", (int,), where, default=0),
            headers=headers,
            idempotency_key=key,
        )
        unjudgeable = self.field(obj, "cannot_judge", (str,), where, default="")
        indices = [e.get("source_index") for e in entries if isinstance(e, dict)]
        source_indices: tuple[int, ...] | None = None
        if any(i is not None for i in indices):
            if not all(type(i) is int for i in indices):
                raise self.fail(where, "field 'source_index' is given for some journal "
                                       "entries only, or is not an integer")
            source_indices = tuple(int(i) for i in indices if i is not None)
        signals = self.signals(obj, where, len(journal))
        as_stored = self.field(obj, "as_stored", (bool,), where, default=False)
        return RecordedInvocation(record, journal, origin=self.path, unjudgeable=unjudgeable,
                                  source_indices=source_indices, signals=signals,
                                  awakeable_ids=None if signals is None
                                  else awakeable_ids_of(inv_id), as_stored=as_stored)

    def signals(self, obj: dict[str, Any], where: str, length: int
                ) -> tuple[SignalNote, ...] | None:
        """``unjournaled_signals``: the completions of awakeables and named signals
        of a source that journals no command for them (Restate)."""
        notes = self.field(obj, "unjournaled_signals", (list, type(None)), where, default=None)
        if notes is None:
            return None
        out = []
        for i, note in enumerate(notes):
            at = f"{where}: unjournaled signal #{i}"
            if not isinstance(note, dict):
                raise self.fail(at, f"is {_json_type(note)}, not an object")
            position = self.field(note, "position", (int,), at)
            if not 0 <= position <= length:
                raise self.fail(at, f"field 'position' is {position}, not a journal index "
                                    f"from 0 to {length}")
            result = self.completion(note, "result", at)
            if result is None:
                raise self.fail(at, "field 'result' is missing")
            out.append(SignalNote(position, self.field(note, "signal", (int, str), at), result,
                                  self.field(note, "source_index", (int, type(None)), at,
                                             default=None)))
        return tuple(out)

    def document(self, doc: Any) -> list[RecordedInvocation]:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise JournalSourceError(
                f"{self.path}: not a simdurable journal export (no \"format\": \"{FORMAT}\" "
                "at its top); write one with `simdurable export-journals`")
        version = doc.get("version")
        if version not in VERSIONS or type(version) is not int:
            raise JournalSourceError(
                f"{self.path}: a journal export of version {version!r}; this simdurable "
                f"reads versions {' and '.join(map(str, VERSIONS))}")
        self.version = version
        items = self.field(doc, "invocations", (list,), "the top level")
        count = self.field(doc, "count", (int,), "the top level")
        if count != len(items):
            raise JournalSourceError(
                f"{self.path}: the export says it holds {count} invocations but holds "
                f"{len(items)}: it was cut short or edited")
        out = [self.invocation(obj, n, n) for n, obj in enumerate(items)]
        seen: set[str] = set()
        for n, inv in enumerate(out):
            if inv.id in seen:
                raise self.fail(f"invocation #{n} ({inv.id})", "the same id appears twice")
            seen.add(inv.id)
        return out


def _fast_entry(obj: Any) -> Entry | None:
    """An entry as this module writes it (text values), read without naming fields;
    None for anything else, which the field-by-field reader then checks."""
    if type(obj) is not dict:
        return None
    kind, name, data = obj.get("kind"), obj.get("name", ""), obj.get("data")
    result, target = obj.get("result"), obj.get("target", -1)
    at_ms, wake_ms, ref = obj.get("at_ms", 0), obj.get("wake_ms", -1), obj.get("ref", "")
    if not (type(kind) is str and kind in KNOWN_KINDS and type(name) is str
            and type(target) is int and type(at_ms) is int and type(wake_ms) is int
            and type(ref) is str):
        return None
    if data is not None:
        if type(data) is not str:
            return None
        data = data.encode("utf-8", "surrogatepass")
    if result is not None:
        if type(result) is not dict or len(result) != 1 or type(result.get("value")) is not str:
            return None
        result = Value(result["value"].encode("utf-8", "surrogatepass"))
    return Entry(kind, name, data, result, target, at_ms, wake_ms, ref)


_TYPE_NAMES: Final = {str: "a string", int: "an integer", dict: "an object", list: "a list",
                      type(None): "null", bool: "a boolean", float: "a number"}


def _json_type(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def parse_export(text: str, path: str = "<export>") -> list[RecordedInvocation]:
    """The invocations of an export's text; ``JournalSourceError`` says what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        cut = err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string")
        raise JournalSourceError(
            f"{path}:{err.lineno}:{err.colno}: "
            + ("the export ends too early: it was cut short (truncated)" if cut
               else f"not valid JSON: {err.msg}")) from None
    except RecursionError:
        raise JournalSourceError(f"{path}: nested too deeply to be a journal export") from None
    return _Reader(path).document(doc)


def read_export(path: str | os.PathLike[str]) -> list[RecordedInvocation]:
    """Read the export at ``path``."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise JournalSourceError(f"cannot read {name}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise JournalSourceError(f"{name}: byte {err.start} is not UTF-8: not a journal "
                                 "export") from None
    return parse_export(text, name)
