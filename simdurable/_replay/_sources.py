"""Where recorded journals come from: a dev-executor database or an export file.

``load(source)`` takes a path (an SQLite database written by ``simdurable
serve`` / ``Executor``, told apart by its first bytes, or a JSON export
written by ``simdurable export-journals``) or recorded invocations already
read, and returns them with a description of the source for messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ._core import RecordedInvocation
from ._export import JournalSourceError, read_export


def read_database(path: str | os.PathLike[str]) -> list[RecordedInvocation]:
    """Every invocation of a dev-executor database, with its journal (read only)."""
    from .._live._sqlite import SqliteStore, StoreError

    name = os.fspath(path)
    try:
        store = SqliteStore(name, create=False, readonly=True)
    except StoreError as err:
        raise JournalSourceError(str(err)) from None
    try:
        out = []
        try:
            records = store.invocations()
            for rec in records:
                out.append(RecordedInvocation(rec, store.journal(rec.id), origin=name,
                                              as_stored=True))
        except StoreError as err:
            raise JournalSourceError(str(err)) from None
        return out
    finally:
        store.close()


def load(source: Any) -> tuple[list[RecordedInvocation], str]:
    """The recorded invocations of ``source``, and how to name it.

    Also takes a ``Simulation`` (its store) or a ``Store``: what tests record in.
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if isinstance(name, bytes):  # pragma: no cover - PathLike of bytes
            name = name.decode()
        if name.startswith(("http://", "https://")):
            from ._restate import read_server

            return read_server(name), name
        if not os.path.exists(name):
            raise JournalSourceError(f"{name}: no such file (a dev-executor database or a "
                                     "journal export was expected)")
        if os.path.isdir(name):
            raise JournalSourceError(f"{name} is a directory, not a database or an export")
        from .._live._sqlite import is_sqlite_file

        if is_sqlite_file(name):
            return read_database(name), name
        return read_export(name), name
    store = getattr(source, "store", source)  # a Simulation, or a Store itself
    if callable(getattr(store, "invocations", None)) and callable(getattr(store, "journal", None)):
        return [RecordedInvocation(rec, store.journal(rec.id), origin=type(source).__name__)
                for rec in store.invocations()], f"a {type(source).__name__}"
    if isinstance(source, Iterable):
        items = list(source)
        for i, item in enumerate(items):
            if not isinstance(item, RecordedInvocation):
                raise TypeError(f"source item #{i} is a {type(item).__name__}, not a "
                                "RecordedInvocation")
        return items, "recorded invocations"
    raise TypeError("source must be the path of a dev-executor database or of a journal "
                    f"export, or recorded invocations, not {type(source).__name__}")
