"""Replaying recorded journals against the current code (see ``_core``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ._core import (
    CANNOT_JUDGE,
    DIVERGES,
    REPLAYS,
    RecordedInvocation,
    Replayer,
    ReplayReport,
    ReplayResult,
)
from ._export import JournalSourceError, read_export, write_export
from ._sources import load


def replay_journals(services: Iterable[Any], source: Any) -> ReplayReport:
    """Replay every invocation recorded in ``source`` against ``services`` as they are now.

    ``source``: the path of a dev-executor database (``simdurable serve``,
    ``Executor``), of a JSON export (``simdurable export-journals``), the URL
    of a Restate server's admin API, or ``RecordedInvocation`` objects. No step
    closure runs. Raises ``JournalSourceError`` when the source cannot be read.
    """
    replayer = Replayer(services)
    invocations, name = load(source)
    return ReplayReport([replayer.replay(inv) for inv in invocations], source=name)


def export_journals(source: Any, path: str | os.PathLike[str]) -> int:
    """Write the journals of ``source`` (as ``replay_journals`` takes it) to a JSON
    export at ``path``; returns how many invocations it holds."""
    invocations, name = load(source)
    write_export(invocations, path, name)
    return len(invocations)


__all__ = [
    "CANNOT_JUDGE", "DIVERGES", "JournalSourceError", "REPLAYS", "RecordedInvocation",
    "ReplayReport", "ReplayResult", "export_journals", "read_export", "replay_journals",
]
