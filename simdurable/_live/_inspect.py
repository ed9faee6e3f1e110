"""Reading a live database without running it: invocations and journals as text.

Used by ``simdurable invocations`` and ``simdurable journal``; they need no
handlers and are safe while an executor is running (SQLite WAL readers).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from ..runtime._ids import awakeable_id
from ..runtime._journal import (
    AWAKEABLE,
    CALL,
    COMPLETION,
    SEND,
    SLEEP,
    Completion,
    Entry,
    Failure,
    Value,
)
from ..runtime._store import COMPLETED, PAUSED, InvocationRecord
from ._sqlite import SqliteStore, StoreError

# Every status ``offline_status`` gives.
STATUSES: tuple[str, ...] = ("pending", "running", "scheduled", "backing-off", "cancelling",
                             "paused", "completed", "failed")


def offline_status(rec: InvocationRecord, now_ms: int) -> str:
    """The status of an invocation as far as the store alone can tell."""
    if rec.status == COMPLETED:
        return "failed" if isinstance(rec.result, Failure) else "completed"
    if rec.status == PAUSED:
        return "paused"
    if rec.cancelled:
        return "cancelling"
    if rec.run_at_ms > now_ms:
        return "backing-off" if rec.attempts else "scheduled"
    return "running" if rec.attempts else "pending"


def next_retry_ms(rec: InvocationRecord, now_ms: int) -> int | None:
    if rec.status == COMPLETED or rec.status == PAUSED or not rec.failures:
        return None
    return rec.run_at_ms if rec.run_at_ms > now_ms else None


def show_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def show_bytes(data: bytes | None, width: int = 60) -> str:
    if not data:
        return "(empty)"
    text = data.decode("utf-8", "replace")
    return text if len(text) <= width else text[: width - 3] + "..."


def show_completion(c: Completion | None) -> str:
    if c is None:
        return ""
    if isinstance(c, Value):
        return show_bytes(c.data)
    return f"failed {c.code}: {c.message}"


def invocation_rows(records: list[InvocationRecord], now_ms: int | None = None
                    ) -> list[dict[str, Any]]:
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    rows = []
    for rec in records:
        rows.append({
            "id": rec.id,
            "target": rec.target,
            "status": offline_status(rec, now),
            "attempts": rec.attempts,
            "next_retry_ms": next_retry_ms(rec, now),
            "created_ms": rec.created_ms,
            "finished_ms": rec.finished_ms if rec.finished_ms >= 0 else None,
            "last_failure": rec.last_failure or None,
            "result": show_completion(rec.result) if rec.result is not None else None,
        })
    return rows


def format_invocations(rows: list[dict[str, Any]], now_ms: int | None = None) -> str:
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    if not rows:
        return "no invocations"
    table = [("ID", "TARGET", "STATUS", "ATTEMPTS", "NEXT RETRY", "CREATED")]
    for r in rows:
        retry = r["next_retry_ms"]
        table.append((
            r["id"], r["target"], r["status"], str(r["attempts"]),
            "-" if retry is None else f"in {max(0, retry - now) / 1000:.1f}s",
            show_time(r["created_ms"]),
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def target_matches(target: str, wanted: str) -> bool:
    """Whether ``target`` ("Counter/a/add") is one ``wanted`` names: the whole
    target, a prefix of it ("Counter", "Counter/a") or service and handler
    without the key ("Counter/add")."""
    if target == wanted or target.startswith(wanted + "/"):
        return True
    parts = target.split("/")
    return len(parts) >= 3 and f"{parts[0]}/{parts[-1]}" == wanted


def state_rows(store: SqliteStore, service: str, key: str) -> dict[str, Any]:
    """An object's state: each value decoded as JSON where it is JSON."""
    out: dict[str, Any] = {}
    for name, raw in sorted(store.state(service, key).items()):
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = {"bytes": raw.decode("utf-8", "replace")}
    return out


def format_state(rows: dict[str, Any]) -> str:
    width = max(len(k) for k in rows)
    return "\n".join(f"{k.ljust(width)}  {json.dumps(v)}" for k, v in rows.items())


def find_invocation(store: SqliteStore, inv_id: str) -> InvocationRecord:
    """The invocation ``inv_id`` (or the one whose id starts with it)."""
    rec = store.invocation(inv_id)
    if rec is not None:
        return rec
    readable = store.readable_invocations()[0] if inv_id else []
    matches = [r for r in readable if r.id.startswith(inv_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise StoreError(f"{inv_id!r} names {len(matches)} invocations; give more of the id")
    raise StoreError(f"no invocation {inv_id!r} in {store.path}")


def entry_row(index: int, e: Entry, origin_ms: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "index": index, "kind": e.kind, "name": e.name, "at_ms": e.at_ms,
        "offset_s": round((e.at_ms - origin_ms) / 1000, 3),
    }
    if e.data is not None:
        row["data"] = e.data.decode("utf-8", "replace")
    if e.result is not None:
        row["result"] = (
            {"value": e.result.data.decode("utf-8", "replace")} if isinstance(e.result, Value)
            else {"code": e.result.code, "message": e.result.message}
        )
    if e.kind == COMPLETION:
        row["completes"] = e.target
    if e.wake_ms >= 0:
        row["wake_ms"] = e.wake_ms
    if e.ref:
        row["ref"] = e.ref
    return row


def with_awakeable_ids(inv_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        if row["kind"] == AWAKEABLE:
            row["awakeable_id"] = awakeable_id(inv_id, row["index"])
    return rows


def format_journal(rec: InvocationRecord, journal: list[Entry], now_ms: int | None = None
                   ) -> str:
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    origin = rec.created_ms
    head = (f"{rec.id}  {rec.target}  {offline_status(rec, now)}  attempts {rec.attempts}  "
            f"created {show_time(origin)}")
    lines = [head, f"  input: {show_bytes(rec.input)}"]
    for i, e in enumerate(journal):
        text = e.describe()
        if e.kind == COMPLETION:
            text += f" -> {show_completion(e.result)}"
        elif e.result is not None:
            text += f" -> {show_completion(e.result)}"
        if e.kind == SLEEP:
            text += f" until +{(e.wake_ms - origin) / 1000:.3f}s"
        if e.kind in (CALL, SEND) and e.ref:
            text += f" ({e.ref})"
        if e.kind == AWAKEABLE:
            text += f" id {awakeable_id(rec.id, i)}"
        offset = f"+{(e.at_ms - origin) / 1000:.3f}s"
        lines.append(f"  #{i:<3} {offset:>10}  {text}")
    if rec.result is not None:
        lines.append(f"  result: {show_completion(rec.result)}")
    if rec.last_failure:
        lines.append(f"  last failure: {rec.last_failure}")
    return "\n".join(lines)
