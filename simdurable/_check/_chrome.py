"""A run's trace as Chrome trace-event JSON, for Perfetto or chrome://tracing.

Each invocation is a track; attempts are slices from their start to the
crash, retry or end that stopped them; steps, faults and crashes are instant
events. Many events share one virtual instant, so each gets its own
microsecond after it, to keep their order visible.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_ENDS = {"done", "retry", "paused", "suspend", "killed"}


def chrome_trace(events: Sequence[tuple[int, str, str, str]], title: str = "") -> dict[str, Any]:
    tracks: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    open_attempt: dict[str, tuple[int, str]] = {}

    def tid(inv: str) -> int:
        if inv not in tracks:
            tracks[inv] = len(tracks) + 1
            out.append({"ph": "M", "name": "thread_name", "pid": 1, "tid": tracks[inv],
                        "args": {"name": inv or "server"}})
        return tracks[inv]

    for seq, (t_ms, kind, inv, text) in enumerate(events):
        ts = t_ms * 1000 + seq
        track = tid(inv)
        if kind == "attempt":
            open_attempt[inv] = (ts, text)
        elif kind in _ENDS and inv in open_attempt:
            start, name = open_attempt.pop(inv)
            out.append({"ph": "X", "name": name, "pid": 1, "tid": track, "ts": start,
                        "dur": max(1, ts - start), "args": {"ended": f"{kind}: {text}"}})
        if kind == "crash" or kind == "restart":
            for other, (start, name) in list(open_attempt.items()):
                out.append({"ph": "X", "name": name, "pid": 1, "tid": tid(other), "ts": start,
                            "dur": max(1, ts - start), "args": {"ended": f"{kind}: {text}"}})
                del open_attempt[other]
        out.append({"ph": "i", "s": "t" if inv else "g", "name": f"{kind}: {text}",
                    "cat": kind, "pid": 1, "tid": track, "ts": ts})
    end = (events[-1][0] * 1000 + len(events)) if events else 0
    for inv, (start, name) in open_attempt.items():
        out.append({"ph": "X", "name": name, "pid": 1, "tid": tid(inv), "ts": start,
                    "dur": max(1, end - start), "args": {"ended": "still running"}})
    return {"traceEvents": out, "displayTimeUnit": "ms", "otherData": {"title": title}}


def write_chrome_trace(events: Sequence[tuple[int, str, str, str]], path: str,
                       title: str = "") -> str:
    """Write the trace to ``path``; returns the path. An SQLite database there (a
    dev-executor database named by mistake) is refused, not overwritten."""
    from .._live._sqlite import is_sqlite_file

    if is_sqlite_file(path):
        raise ValueError(f"{path} is an SQLite database (a dev-executor database?), which the "
                         f"trace would overwrite; name another file, like trace.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(chrome_trace(events, title), f, indent=1)
    return path
