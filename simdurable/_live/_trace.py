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
        self._file: IO[str] = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, t_ms: int, kind: str, inv: str, text: str) -> None:
        record = {"t_ms": t_ms, "kind": kind, "inv": inv, "text": text}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_trace(path: str | os.PathLike[str]) -> Iterator[TraceEvent]:
    """The events of a trace file; a torn last line (killed writer) is skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record: dict[str, Any] = json.loads(line)
                yield (int(record["t_ms"]), str(record["kind"]), str(record["inv"]),
                       str(record["text"]))
            except (ValueError, KeyError, TypeError):
                continue
