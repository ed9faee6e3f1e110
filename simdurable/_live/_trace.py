"""Traces of live runs, in the simulation's format.

A live host appends one JSON object per engine event to a trace file
(``{"t_ms", "kind", "inv", "text"}``, the tuple of ``Simulation.trace_events``,
with ``t_ms`` in Unix milliseconds). ``format_event`` renders an event as the
line ``Simulation.trace`` prints, with time counted from ``origin_ms``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import IO, Any

TraceEvent = tuple[int, str, str, str]


def format_event(event: TraceEvent, origin_ms: int = 0) -> str:
    """One trace line, as ``Simulation.trace()`` prints it."""
    t, kind, inv, text = event
    return f"{(t - origin_ms) / 1000:>10.3f}s  {kind:<8} {inv[:16]:<16} {text}"


class TraceWriter:
    """Appends events to a JSONL file; ``flush`` after each durable commit."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as err:
            raise ValueError(f"cannot write the trace file {self.path}: {err.strerror}"
                             ) from None
        from ._sqlite import is_sqlite_file

        if is_sqlite_file(self.path):  # (a database: appended lines would damage it)
            os.close(fd)
            raise ValueError(f"cannot write the trace file {self.path}: it is an SQLite "
                             f"database (the --db?), which trace lines appended to it would "
                             f"damage; name another file, like run.jsonl")
        self._file: IO[str] = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, t_ms: int, kind: str, inv: str, text: str) -> None:
        record = {"t_ms": t_ms, "kind": kind, "inv": inv, "text": text}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TraceFileError(ValueError):
    """A file given as a trace that is not one: the message names file and line."""


def _event(record: Any) -> TraceEvent:
    """The event of one decoded line; ValueError saying which field is wrong."""
    if not isinstance(record, dict):
        raise ValueError(f"expected an object {{\"t_ms\", \"kind\", \"inv\", \"text\"}}, "
                         f"got {type(record).__name__}")
    for field in ("t_ms", "kind", "inv", "text"):
        if field not in record:
            raise ValueError(f"field {field!r} is missing")
    t = record["t_ms"]
    if not isinstance(t, int) or isinstance(t, bool):
        raise ValueError(f"field 't_ms' must be an integer (Unix milliseconds), got {t!r}")
    for field in ("kind", "inv", "text"):
        if not isinstance(record[field], str):
            raise ValueError(f"field {field!r} must be a string, got {record[field]!r}")
    return (t, record["kind"], record["inv"], record["text"])


def read_trace(path: str | os.PathLike[str]) -> Iterator[TraceEvent]:
    """The events of a trace file; a torn last line (killed writer) is skipped.

    Any other line that is not an event is a ``TraceFileError`` naming
    ``file:line`` and the field, so a wrong file is not printed as empty.
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        last = number == len(lines)  # no newline after it: the writer was killed mid-line
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            if last:
                continue
            raise TraceFileError(f"{name}:{number}:{err.start + 1}: not UTF-8 "
                                 "(not a trace file written by serve --trace)") from None
        try:
            record = json.loads(line)
        except ValueError as err:
            if last:
                continue
            col = getattr(err, "colno", 1)
            raise TraceFileError(f"{name}:{number}:{col}: not a JSON trace event "
                                 "(not a trace file written by serve --trace)") from None
        try:
            yield _event(record)
        except ValueError as err:
            raise TraceFileError(f"{name}:{number}: {err}") from None
