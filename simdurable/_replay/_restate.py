"""Restate's journals, read from a running server, as simdurable journal entries.

This module is the one place that maps Restate's protocol entries onto
simdurable's (``runtime/_journal.py``). It reads the admin API's SQL
introspection (``POST <admin>/query``): ``sys_invocation`` for each
invocation's target, status and result, and ``sys_journal`` for its entries,
whose ``entry_json`` column holds the entry as the server decoded it. Only
journal version 2 is read (service protocol 4 and later, Restate 1.4+; seen
on 1.7.12); an entry of another version is a ``JournalSourceError`` naming
the invocation and the entry.

The mapping (``map_journal``), Restate entry -> simdurable entry:

======================================  ===================================================
Restate (``entry_json``)                simdurable
======================================  ===================================================
Command Input {payload, headers}        no entry: the invocation's input and headers
Command Output {result}                 no entry: the invocation's end (its result)
Command Run {name, completion_id}       ``run`` name
Command Sleep {name, completion_id}     ``sleep`` name
Command Call {request, result_cid}      ``call`` "Service/handler" or "Object/key/handler",
                                        data = request.parameter, ref = the callee's
                                        invocation id (request.invocation_id)
Command OneWayCall {request}            ``send``, named and with data as a call
Command GetEagerState {key, result}     ``get`` key, result inline (Void -> empty value)
Command GetLazyState {key, cid}         ``get`` key, result taken from its notification
Command GetEagerStateKeys {state_keys}  ``state_keys``, result = JSON list of the keys, sorted
Command GetLazyStateKeys {cid}          ``state_keys``, result from its notification
Command SetState {key, value}           ``set`` key, data = value
Command ClearState {key}                ``clear`` key
Command ClearAllState                   ``clear_all``
Command GetPromise {key, cid}           ``promise`` key (completed by its notification)
Command PeekPromise {key, cid}          ``promise_peek`` key, result from its notification
Command CompletePromise {key, value}    ``promise_complete`` key, data = ``R``+value or
                                        ``J``+{"code","message"}; result from its
                                        notification
Command CompleteAwakeable {id, result}  ``resolve_awakeable`` id, data = value; a failure:
                                        ``reject_awakeable`` id, data = {"message","code"}
Command SendSignal {target, Index 1}    ``cancel_invocation`` target (the cancel signal)
Command SendSignal {target, Name n}     ``resolve_signal`` / ``reject_signal`` "target/n"
Command AttachInvocation {target, cid}  ``attach_invocation`` target id
Notification Completion X {cid, result} ``completion`` of the command that holds cid
                                        (Success -> value, Failure -> failure, Void ->
                                        empty value)
Notification CallInvocationId           no entry: simdurable knows a callee's id at once
Notification Signal {Index 1}           ``cancelled``
Notification Signal {Index n >= 17}     no entry here: kept in ``signals`` (the
                                        completion of the handler's (n-16)-th awakeable)
Notification Signal {Name s}            no entry here: kept in ``signals`` (the
                                        completion of a ``ctx.signal(s)``)
======================================  ===================================================

``ctx.awakeable()`` and ``ctx.signal()`` have no command on Restate (only
the signal notification that completes them), where simdurable journals an
``awakeable``/``signal`` command where it was called: their completions are
kept apart (``RecordedInvocation.signals``), and the replay puts each such
command where the current code makes it (``_core.Replayer``), as Restate's
own replay does, which does not check where they were made. The awakeable's
id is computed as Restate gives it (``_restate_ids.awakeable_id``), so that
code handing it on replays.

What has no counterpart makes the invocation *cannot be judged*, with the
entry named: ``GetInvocationOutput``, a signal of Restate's own (an index
from 2 to 16), and any entry type this table does not list. Ids differ
between the two otherwise: ``ctx.random()``/``ctx.uuid()`` are seeded
differently, so a payload built from them does not replay here. A journal of
version 1 is refused, saying why (``V1_WHY``).

``RecordedInvocation.source_indices`` keeps, for each simdurable entry, the
index of the Restate entry it came from, so that a divergence names both.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..runtime._ids import encode_promise
from ..runtime._journal import (
    ATTACH,
    CALL,
    CANCEL,
    CANCELLED,
    CLEAR,
    CLEAR_ALL,
    COMPLETION,
    GET,
    KEYS,
    PROMISE_COMPLETE,
    PROMISE_GET,
    PROMISE_PEEK,
    REJECT_AWAKEABLE,
    REJECT_SIGNAL,
    RESOLVE_AWAKEABLE,
    RESOLVE_SIGNAL,
    RUN,
    SEND,
    SET,
    SLEEP,
    Completion,
    Entry,
    Failure,
    Value,
)
from ..runtime._store import COMPLETED, PAUSED, PENDING, InvocationRecord
from ._core import FIRST_AWAKEABLE_SIGNAL, RecordedInvocation, SignalNote
from ._export import JournalSourceError
from ._restate_ids import awakeable_ids_of

JOURNAL_VERSION: Final = 2
# Why journal version 1 is refused rather than read.
V1_WHY: Final = (
    "Restate's admin API gives a version 1 entry only as the raw protobuf message of "
    "service protocol 1-3 (the column entry_json, which simdurable maps, is filled for "
    "version 2 only), and simdurable does not decode those messages. Such journals belong "
    "to invocations started by an SDK of service protocol 3 or older; Restate moves an "
    "invocation to version 2 only before its first entry after the input, so let them "
    "finish (or kill them) before the deploy, then replay the others.")
CANCEL_SIGNAL: Final = 1
QUERY_TIMEOUT_S: Final = 30.0

# Commands whose result arrives in a notification that simdurable keeps inline.
_INLINE: Final = frozenset({GET, KEYS, PROMISE_PEEK, PROMISE_COMPLETE})


class Unmapped(Exception):
    """An entry with no simdurable counterpart: the invocation cannot be judged."""


@dataclass
class MappedJournal:
    """A Restate journal as simdurable sees it.

    ``entries`` and ``source_indices`` (the Restate index of each entry) are
    the journal; ``input``/``headers`` come from the Input command, ``output``
    from the Output command (None while the invocation runs); ``unmapped``
    says why the journal cannot be judged, when an entry has no counterpart
    (the entries stop before it).
    """

    entries: list[Entry] = field(default_factory=list)
    source_indices: list[int] = field(default_factory=list)
    input: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    output: Completion | None = None
    unmapped: str = ""
    signals: list[SignalNote] = field(default_factory=list)


def _idempotency_key(row: Mapping[str, Any]) -> str | None:
    """A ``sys_invocation`` row's idempotency key: absent (null) for none, ``""``
    for an empty one, which restate-server 1.7.12 lists as a key."""
    key = row.get("idempotency_key")
    return None if key is None else str(key)


def _bytes(value: Any, where: str) -> bytes:
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    raise Unmapped(f"{where}: expected bytes, got {value!r:.60}")


def _result(value: Any, where: str) -> Completion:
    """A Restate result: {"Success": bytes}, {"Failure": {code, message}} or "Void"."""
    if value == "Void" or value is None:
        return Value(b"")
    if isinstance(value, dict) and len(value) == 1:
        (kind, body), = value.items()
        if kind == "Success":
            return Value(_bytes(body, where))
        if kind == "Failure" and isinstance(body, dict):
            return Failure(int(body.get("code", 500)), str(body.get("message", "")))
        if kind == "StateKeys" and isinstance(body, (dict, list)):
            keys = body.get("keys", []) if isinstance(body, dict) else body
            return Value(_keys(keys, where))
        if kind == "InvocationId":
            return Value(json.dumps(body).encode())
    raise Unmapped(f"{where}: a result of a shape simdurable does not know: {value!r:.80}")


def _keys(keys: Any, where: str) -> bytes:
    if not isinstance(keys, list):
        raise Unmapped(f"{where}: state keys are not a list")
    names = [k if isinstance(k, str) else _bytes(k, where).decode("utf-8", "replace")
             for k in keys]
    return json.dumps(sorted(names)).encode()


def _target_name(target: Any, where: str) -> str:
    if isinstance(target, dict) and len(target) == 1:
        (_, body), = target.items()
        if isinstance(body, dict) and "name" in body and "handler" in body:
            key = body.get("key")
            return (f"{body['name']}/{body['handler']}" if key is None
                    else f"{body['name']}/{key}/{body['handler']}")
    raise Unmapped(f"{where}: a call target simdurable does not know: {target!r:.80}")


def _command(kind: str, body: dict[str, Any], where: str) -> tuple[Entry, int | None]:
    """The simdurable command of a Restate command, and the completion id it waits on."""
    name = body.get("name") or ""
    cid = body.get("completion_id")
    if kind == "Run":
        return Entry(RUN, name), cid
    if kind == "Sleep":
        return Entry(SLEEP, name), cid
    if kind in ("Call", "OneWayCall"):
        request = body.get("request") or {}
        target = _target_name(request.get("invocation_target"), where)
        data = _bytes(request.get("parameter", []), where)
        callee = str(request.get("invocation_id") or "")
        if kind == "Call":
            return Entry(CALL, target, data=data, ref=callee), body.get("result_completion_id")
        return Entry(SEND, target, data=data, ref=callee), None
    if kind == "GetEagerState":
        return Entry(GET, str(body["key"]), result=_result(body.get("result"), where)), None
    if kind == "GetLazyState":
        return Entry(GET, str(body["key"])), cid
    if kind == "GetEagerStateKeys":
        return Entry(KEYS, result=Value(_keys(body.get("state_keys", []), where))), None
    if kind == "GetLazyStateKeys":
        return Entry(KEYS), cid
    if kind == "SetState":
        return Entry(SET, str(body["key"]), data=_bytes(body.get("value", []), where)), None
    if kind == "ClearState":
        return Entry(CLEAR, str(body["key"])), None
    if kind == "ClearAllState":
        return Entry(CLEAR_ALL), None
    if kind == "GetPromise":
        return Entry(PROMISE_GET, str(body["key"])), cid
    if kind == "PeekPromise":
        return Entry(PROMISE_PEEK, str(body["key"])), cid
    if kind == "CompletePromise":
        value = _result(body.get("value", body.get("completion")), where)
        return Entry(PROMISE_COMPLETE, str(body["key"]), data=encode_promise(value)), cid
    if kind == "CompleteAwakeable":
        value = _result(body.get("result"), where)
        if isinstance(value, Value):
            return Entry(RESOLVE_AWAKEABLE, str(body["id"]), data=value.data), None
        data = json.dumps({"message": value.message, "code": value.code}).encode()
        return Entry(REJECT_AWAKEABLE, str(body["id"]), data=data), None
    if kind == "SendSignal":
        target = str(body.get("target_invocation_id", ""))
        signal = body.get("signal_id")
        if signal == {"Index": CANCEL_SIGNAL}:
            return Entry(CANCEL, target), None
        if isinstance(signal, dict) and "Name" in signal:
            value = _result(body.get("result"), where)
            full = f"{target}/{signal['Name']}"
            if isinstance(value, Value):
                return Entry(RESOLVE_SIGNAL, full, data=value.data), None
            data = json.dumps({"message": value.message, "code": value.code}).encode()
            return Entry(REJECT_SIGNAL, full, data=data), None
        raise Unmapped(f"{where}: a signal to {signal!r:.60} (an awakeable completed by index)")
    if kind == "AttachInvocation":
        attached = body.get("target")
        inv = attached.get("InvocationId") if isinstance(attached, dict) else None
        if not isinstance(inv, str):
            raise Unmapped(f"{where}: attaching to {attached!r:.60}, not to an invocation id")
        return Entry(ATTACH, inv), cid
    raise Unmapped(f"{where}: no counterpart in simdurable's journal")


def map_journal(rows: Iterable[Mapping[str, Any]], invocation: str = "") -> MappedJournal:
    """Map one invocation's ``sys_journal`` rows (in index order) onto simdurable's entries.

    Each row needs ``index``, ``version`` and ``entry_json`` (a JSON string or
    the decoded object). Raises ``JournalSourceError`` for an entry of another
    journal version or one that is not JSON; an entry with no counterpart
    ends the mapping, with ``unmapped`` saying which and why.
    """
    out = MappedJournal()
    by_cid: dict[int, int] = {}  # completion id -> index of the simdurable command
    for row in rows:
        index = int(row.get("index", -1))
        where = f"Restate journal entry #{index}"
        if row.get("version") != JOURNAL_VERSION:
            raise JournalSourceError(
                f"invocation {invocation}: {where} ({row.get('entry_type')}) is of journal "
                f"version {row.get('version')!r}; simdurable reads version {JOURNAL_VERSION} "
                "(service protocol 4 and later, Restate 1.4+). "
                + (V1_WHY if row.get("version") == 1 else ""))
        raw = row.get("entry_json")
        try:
            entry = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as err:
            raise JournalSourceError(f"invocation {invocation}: {where}: entry_json is not "
                                     f"JSON ({err})") from None
        try:
            _map_entry(out, by_cid, entry, index, f"{where} ({row.get('entry_type')})")
        except (Unmapped, KeyError, TypeError, ValueError) as err:
            why = str(err) if isinstance(err, Unmapped) else f"{where}: malformed ({err!r:.80})"
            out.unmapped = why
            break
    return out


def _map_entry(out: MappedJournal, by_cid: dict[int, int], entry: Any, index: int,
               where: str) -> None:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise Unmapped(f"{where}: not a Command or a Notification")
    (family, inner), = entry.items()
    if not isinstance(inner, dict) or len(inner) != 1:
        raise Unmapped(f"{where}: not a Command or a Notification")
    (kind, body), = inner.items()
    if not isinstance(body, dict):
        raise Unmapped(f"{where}: malformed ({kind} holds {body!r:.40}, not an object)")
    if family == "Command":
        if kind == "Input":
            out.input = _bytes(body.get("payload", []), where)
            out.headers = {str(h["name"]): str(h["value"]) for h in body.get("headers", [])}
            return
        if kind == "Output":
            out.output = _result(body.get("result"), where)
            return
        command, cid = _command(kind, body, where)
        if isinstance(cid, int):
            by_cid[cid] = len(out.entries)
        out.entries.append(command)
        out.source_indices.append(index)
        return
    if family != "Notification":
        raise Unmapped(f"{where}: not a Command or a Notification")
    if kind == "Completion" and isinstance(body, dict) and len(body) == 1 and all(
            isinstance(v, dict) for v in body.values()):
        (what, detail), = body.items()
        if what == "CallInvocationId" or not isinstance(detail, dict):
            return
        cid = detail.get("completion_id")
        target = by_cid.get(cid) if isinstance(cid, int) else None
        if target is None:
            raise Unmapped(f"{where}: completes id {cid!r}, which no command holds")
        result = _result(detail.get("result", "Void"), where)
        command = out.entries[target]
        if command.kind in _INLINE and command.result is None:
            out.entries[target] = command._replace(result=result)
            return
        out.entries.append(Entry(COMPLETION, result=result, target=target))
        out.source_indices.append(index)
        return
    if kind == "Signal" and isinstance(body, dict) and body.get("id") == {"Index": CANCEL_SIGNAL}:
        out.entries.append(Entry(CANCELLED))
        out.source_indices.append(index)
        return
    if kind == "Signal" and isinstance(body, dict):
        signal = body.get("id")
        key: int | str | None = None
        if isinstance(signal, dict) and len(signal) == 1:
            (how, value), = signal.items()
            if how == "Index" and isinstance(value, int) and value >= FIRST_AWAKEABLE_SIGNAL:
                key = value
            elif how == "Name" and isinstance(value, str):
                key = value
        if key is None:
            raise Unmapped(f"{where}: a signal ({signal!r:.40}) of Restate's own, which no "
                           "handler can await")
        out.signals.append(SignalNote(len(out.entries), key,
                                      _result(body.get("result", "Void"), where), index))
        return
    raise Unmapped(f"{where}: no counterpart in simdurable's journal")


# -- reading a server ---------------------------------------------------------------------
def query(admin_url: str, sql: str) -> list[dict[str, Any]]:
    """The rows of one SQL query on the admin API at ``admin_url``."""
    url = admin_url.rstrip("/") + "/query"
    try:
        parts = urllib.parse.urlsplit(url)
        host, _ = parts.hostname or "", parts.port  # a port out of range is a ValueError
        problem = ("no host given" if not host else
                   f"{host!r} is not a host name" if any(c.isspace() or ord(c) < 32 for c in host)
                   else "")
    except ValueError as err:
        problem = str(err)
    if problem:
        raise JournalSourceError(f"{admin_url}: not a valid admin API URL ({problem}); pass "
                                 "one like http://127.0.0.1:9070")
    req = urllib.request.Request(url, data=json.dumps({"query": sql}).encode(), method="POST",
                                 headers={"content-type": "application/json",
                                          "accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=QUERY_TIMEOUT_S) as resp:  # noqa: S310
            raw = resp.read()
    except urllib.error.HTTPError as err:
        body = err.read()[:300].decode("utf-8", "replace")
        raise JournalSourceError(f"{url}: the admin API answered {err.code}: {body}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise JournalSourceError(f"{url}: cannot reach a Restate admin API there ({reason})"
                                 ) from None
    except (ValueError, http.client.HTTPException) as err:  # a URL urlsplit let through
        raise JournalSourceError(f"{admin_url}: not a valid admin API URL ({err}); pass one "
                                 "like http://127.0.0.1:9070") from None
    try:
        rows = json.loads(raw)["rows"]
    except (ValueError, KeyError, TypeError):
        raise JournalSourceError(f"{url}: not the answer of a Restate admin API "
                                 f"({raw[:100]!r})") from None
    if not isinstance(rows, list):
        raise JournalSourceError(f"{url}: not the answer of a Restate admin API")
    return [r for r in rows if isinstance(r, dict)]


_INVOCATIONS: Final = (
    "SELECT id, target_service_name, target_service_key, target_handler_name, status, "
    "completion_result, completion_failure, idempotency_key, retry_count, created_at "
    "FROM sys_invocation ORDER BY created_at, id")
_JOURNALS: Final = ('SELECT id, "index", entry_type, version, entry_json FROM sys_journal '
                    'ORDER BY id, "index"')


def _failure_of(text: Any) -> Failure:
    """``completion_failure`` as the server words it: "[409] cancelled"."""
    text = str(text or "")
    if text.startswith("[") and "]" in text:
        code, _, message = text[1:].partition("]")
        if code.isdigit():
            return Failure(int(code), message.strip())
    return Failure(500, text)


def read_server(admin_url: str) -> list[RecordedInvocation]:
    """Every invocation the server at ``admin_url`` still keeps, with its journal."""
    invocations = query(admin_url, _INVOCATIONS)
    journals: dict[str, list[dict[str, Any]]] = {}
    for row in query(admin_url, _JOURNALS):
        journals.setdefault(str(row.get("id")), []).append(row)
    out: list[RecordedInvocation] = []
    for seq, row in enumerate(invocations):
        inv_id = str(row.get("id"))
        mapped = map_journal(journals.get(inv_id, []), inv_id)
        status = str(row.get("status"))
        result: Completion | None = None
        if status == "completed":
            result = mapped.output
            if result is None:
                result = (Value(b"") if row.get("completion_result") == "success"
                          else _failure_of(row.get("completion_failure")))
        record = InvocationRecord(
            id=inv_id, service=str(row.get("target_service_name")),
            handler=str(row.get("target_handler_name")), key=row.get("target_service_key"),
            input=mapped.input, seq=seq,
            status=COMPLETED if status == "completed" else PAUSED if status == "paused"
            else PENDING,
            result=result, attempts=int(row.get("retry_count") or 0),
            headers=mapped.headers, idempotency_key=_idempotency_key(row),
        )
        unjudgeable = mapped.unmapped
        if not unjudgeable and inv_id not in journals:
            unjudgeable = ("the server keeps no journal of it any more (its journal "
                           "retention ran out)")
        out.append(RecordedInvocation(record, mapped.entries, origin=admin_url,
                                      unjudgeable=unjudgeable,
                                      source_indices=tuple(mapped.source_indices),
                                      signals=tuple(mapped.signals),
                                      awakeable_ids=awakeable_ids_of(inv_id),
                                      as_stored=True))
    return out
