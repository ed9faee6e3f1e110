"""The SQLite store of the live executor: the ``Store`` protocol on one file.

Standard-library ``sqlite3`` in WAL mode. Every write outside ``atomic()`` is
committed (and, with ``durability="full"``, fsynced) before the method
returns; ``atomic()`` blocks nest (savepoints) and commit once, at the
outermost exit. The file is created owner-only (0600) and carries a schema
version: a file of another version, or one that is not a simdurable database,
is refused with an error that says which, and is never written to.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from ..runtime._errors import SimdurableError
from ..runtime._journal import Completion, Entry, Failure, Value
from ..runtime._store import InvocationRecord

SCHEMA_VERSION: Final = 1
FORMAT: Final = "simdurable"
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"

_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE invocations (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    service TEXT NOT NULL,
    handler TEXT NOT NULL,
    key TEXT,
    input BLOB NOT NULL,
    status TEXT NOT NULL,
    run_at_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    result_kind TEXT,
    result_data BLOB,
    result_code INTEGER,
    result_message TEXT,
    caller_id TEXT NOT NULL,
    caller_index INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    headers TEXT NOT NULL,
    last_failure TEXT NOT NULL,
    retry_index INTEGER NOT NULL,
    retry_count INTEGER NOT NULL,
    retry_started_ms INTEGER NOT NULL,
    cancelled INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL
);
CREATE INDEX invocations_seq ON invocations (seq);
CREATE TABLE journal (
    inv_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB,
    result_kind TEXT,
    result_data BLOB,
    result_code INTEGER,
    result_message TEXT,
    target INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    wake_ms INTEGER NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (inv_id, idx)
) WITHOUT ROWID;
CREATE TABLE state (
    service TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (service, key, name)
) WITHOUT ROWID;
CREATE TABLE promises (
    workflow TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
    result_kind TEXT NOT NULL, result_data BLOB, result_code INTEGER, result_message TEXT,
    PRIMARY KEY (workflow, key, name)
) WITHOUT ROWID;
CREATE TABLE idempotency (scope TEXT PRIMARY KEY, inv_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, arg TEXT NOT NULL
);
"""

# Pages of WAL before SQLite copies them into the database (see SqliteStore).
WAL_CHECKPOINT_PAGES: Final = 256

_INV_COLUMNS: Final = (
    "id, seq, service, handler, key, input, status, run_at_ms, created_ms, attempts, "
    "failures, result_kind, result_data, result_code, result_message, caller_id, "
    "caller_index, idempotency_key, headers, last_failure, retry_index, retry_count, "
    "retry_started_ms, cancelled, finished_ms"
)
_JOURNAL_COLUMNS: Final = (
    "kind, name, data, result_kind, result_data, result_code, result_message, target, "
    "at_ms, wake_ms, ref"
)


class StoreError(SimdurableError):
    """A database file that cannot be used, with the reason and the path."""


def _completion_columns(c: Completion | None) -> tuple[Any, Any, Any, Any]:
    if c is None:
        return None, None, None, None
    if isinstance(c, Value):
        return "value", c.data, None, None
    return "failure", None, c.code, c.message


def _completion(kind: str | None, data: Any, code: Any, message: Any) -> Completion | None:
    if kind is None:
        return None
    if kind == "value":
        return Value(bytes(data or b""))
    return Failure(int(code), str(message))


def _row_to_record(row: tuple[Any, ...]) -> InvocationRecord:
    (inv_id, seq, service, handler, key, input_, status, run_at_ms, created_ms, attempts,
     failures, rk, rd, rc, rm, caller_id, caller_index, ik, headers, last_failure,
     retry_index, retry_count, retry_started_ms, cancelled, finished_ms) = row
    return InvocationRecord(
        id=inv_id, service=service, handler=handler, key=key, input=bytes(input_), seq=seq,
        status=status, run_at_ms=run_at_ms, created_ms=created_ms, attempts=attempts,
        failures=failures, result=_completion(rk, rd, rc, rm), caller_id=caller_id,
        caller_index=caller_index, idempotency_key=ik, headers=json.loads(headers),
        last_failure=last_failure, retry_index=retry_index, retry_count=retry_count,
        retry_started_ms=retry_started_ms, cancelled=bool(cancelled), finished_ms=finished_ms,
    )


def _row_to_entry(row: tuple[Any, ...]) -> Entry:
    kind, name, data, rk, rd, rc, rm, target, at_ms, wake_ms, ref = row
    return Entry(
        kind=kind, name=name, data=None if data is None else bytes(data),
        result=_completion(rk, rd, rc, rm), target=target, at_ms=at_ms, wake_ms=wake_ms,
        ref=ref,
    )


class SqliteStore:
    """``Store`` on a SQLite file; see the module docstring.

    Args:
      path: the database file.
      create: create the file when missing (else ``StoreError``).
      durability: ``"full"`` fsyncs every commit; ``"normal"`` survives a killed
        process but not a power loss.

    Raises ``StoreError`` for a missing file (without ``create``), a file that
    is not a simdurable database, or one of another schema version.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 durability: str = "full") -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        self.path = Path(path)
        self._depth = 0
        self._savepoints = 0
        self._lengths: dict[str, int] = {}  # journal lengths; dropped on rollback
        self._conn = self._open(create)
        self._conn.execute(f"PRAGMA synchronous={durability.upper()}")
        # Checkpoint the WAL at 1 MiB rather than SQLite's 4 MiB: once checkpointed,
        # the WAL is written again from its start, and an fsync that does not
        # grow the file costs about half as much. With every step's result
        # fsynced, a fresh database pays that growth for far fewer commits; the
        # checkpoints, smaller, cost no throughput.
        self._conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")

    # -- opening ------------------------------------------------------------
    def _open(self, create: bool) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a simdurable database file")
        fresh = False
        if not path.exists():
            if not create:
                raise StoreError(f"no simdurable database at {path}")
            if not path.parent.is_dir():
                raise StoreError(f"cannot create {path}: directory {path.parent} does not exist")
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                pass
            except OSError as err:
                raise StoreError(f"cannot create {path}: {err.strerror}") from None
            else:
                os.close(fd)
                fresh = True
        try:
            with open(path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as err:
            raise StoreError(f"cannot read {path}: {err.strerror}") from None
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK):
            raise StoreError(f"{path} (or its directory) is not writable; simdurable needs "
                             "to write the database and its WAL files beside it")
        if head and head != _SQLITE_MAGIC:
            raise StoreError(
                f"{path} is not a simdurable database (not an SQLite file); "
                "pass --db a new path or an existing simdurable database"
            )
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {path}: {err}") from None
        try:
            self._check_or_init(conn, fresh or not head)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as err:
            conn.close()
            raise StoreError(f"cannot use {path}: {err}") from None
        except StoreError:
            conn.close()
            raise
        return conn

    def _check_or_init(self, conn: sqlite3.Connection, empty_file: bool) -> None:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and empty_file:
            meta = (f"INSERT INTO meta VALUES ('format', '{FORMAT}'), "
                    f"('schema_version', '{SCHEMA_VERSION}');")
            try:
                conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + meta + "COMMIT;")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return
        if "meta" not in tables:
            shown = ", ".join(sorted(tables)[:5]) or "none"
            raise StoreError(
                f"{self.path} is an SQLite database but not a simdurable one "
                f"(its tables: {shown}); simdurable will not touch it"
            )
        info = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if info.get("format") != FORMAT:
            raise StoreError(
                f"{self.path} is an SQLite database but not a simdurable one "
                "(no simdurable format marker); simdurable will not touch it"
            )
        version = info.get("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StoreError(
                f"{self.path} has simdurable schema version {version}, but this simdurable "
                f"reads version {SCHEMA_VERSION}; use a simdurable release that matches "
                "the file, or a new --db path"
            )

    def close(self) -> None:
        self._conn.close()

    # -- transactions ---------------------------------------------------------
    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """All writes inside are committed together, or none; blocks nest."""
        conn = self._conn
        if self._depth == 0:
            conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._lengths.clear()
                conn.execute("ROLLBACK")
                raise
            self._depth = 0
            conn.execute("COMMIT")
            return
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._lengths.clear()
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1
        conn.execute(f"RELEASE {name}")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # -- invocations ----------------------------------------------------------
    def put_invocation(self, rec: InvocationRecord) -> None:
        rk, rd, rc, rm = _completion_columns(rec.result)
        self._conn.execute(
            f"INSERT OR REPLACE INTO invocations ({_INV_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.id, rec.seq, rec.service, rec.handler, rec.key, rec.input, rec.status,
             rec.run_at_ms, rec.created_ms, rec.attempts, rec.failures, rk, rd, rc, rm,
             rec.caller_id, rec.caller_index, rec.idempotency_key,
             json.dumps(rec.headers, sort_keys=True), rec.last_failure, rec.retry_index,
             rec.retry_count, rec.retry_started_ms, int(rec.cancelled), rec.finished_ms),
        )

    def invocation(self, inv_id: str) -> InvocationRecord | None:
        row = self._conn.execute(
            f"SELECT {_INV_COLUMNS} FROM invocations WHERE id = ?", (inv_id,)
        ).fetchone()
        return None if row is None else _row_to_record(row)

    def invocations(self) -> list[InvocationRecord]:
        rows = self._conn.execute(f"SELECT {_INV_COLUMNS} FROM invocations ORDER BY seq")
        return [_row_to_record(r) for r in rows]

    # -- journals -------------------------------------------------------------
    def journal(self, inv_id: str) -> list[Entry]:
        rows = self._conn.execute(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE inv_id = ? ORDER BY idx", (inv_id,)
        )
        return [_row_to_entry(r) for r in rows]

    def journal_length(self, inv_id: str) -> int:
        length = self._lengths.get(inv_id)
        if length is None:
            row = self._conn.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM journal WHERE inv_id = ?", (inv_id,)
            ).fetchone()
            length = int(row[0])
        return length

    def append(self, inv_id: str, entry: Entry) -> int:
        index = self.journal_length(inv_id)
        rk, rd, rc, rm = _completion_columns(entry.result)
        self._conn.execute(
            f"INSERT INTO journal (inv_id, idx, {_JOURNAL_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (inv_id, index, entry.kind, entry.name, entry.data, rk, rd, rc, rm, entry.target,
             entry.at_ms, entry.wake_ms, entry.ref),
        )
        if len(self._lengths) > 10_000:
            self._lengths.clear()
        self._lengths[inv_id] = index + 1
        return index

    # -- state ------------------------------------------------------------------
    def state(self, service: str, key: str) -> dict[str, bytes]:
        rows = self._conn.execute(
            "SELECT name, value FROM state WHERE service = ? AND key = ? ORDER BY name",
            (service, key),
        )
        return {name: bytes(value) for name, value in rows}

    def state_keys_of(self, service: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT key FROM state WHERE service = ? ORDER BY key", (service,))
        return [r[0] for r in rows]

    def set_state(self, service: str, key: str, name: str, value: bytes) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO state (service, key, name, value) VALUES (?, ?, ?, ?)",
            (service, key, name, value),
        )

    def clear_state(self, service: str, key: str, name: str) -> None:
        self._conn.execute(
            "DELETE FROM state WHERE service = ? AND key = ? AND name = ?", (service, key, name))

    def clear_all_state(self, service: str, key: str) -> None:
        self._conn.execute("DELETE FROM state WHERE service = ? AND key = ?", (service, key))

    # -- promises and idempotency -----------------------------------------------
    def promise(self, workflow: str, key: str, name: str) -> Completion | None:
        row = self._conn.execute(
            "SELECT result_kind, result_data, result_code, result_message FROM promises "
            "WHERE workflow = ? AND key = ? AND name = ?", (workflow, key, name),
        ).fetchone()
        return None if row is None else _completion(*row)

    def set_promise(self, workflow: str, key: str, name: str, value: Completion) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO promises VALUES (?, ?, ?, ?, ?, ?, ?)",
            (workflow, key, name, *_completion_columns(value)),
        )

    def clear_promises(self, workflow: str, key: str) -> None:
        self._conn.execute("DELETE FROM promises WHERE workflow = ? AND key = ?",
                           (workflow, key))

    def idempotency(self, scope: str) -> str | None:
        row = self._conn.execute(
            "SELECT inv_id FROM idempotency WHERE scope = ?", (scope,)).fetchone()
        return None if row is None else str(row[0])

    def set_idempotency(self, scope: str, inv_id: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO idempotency (scope, inv_id) VALUES (?, ?)", (scope, inv_id))

    # -- the inbox: commands left by other processes (``simdurable cancel``) ----
    def post(self, command: str, arg: str) -> None:
        """Leave a command for the server that owns this database."""
        self._conn.execute("INSERT INTO inbox (command, arg) VALUES (?, ?)", (command, arg))

    def take_inbox(self) -> list[tuple[str, str]]:
        """Remove and return the commands left so far, oldest first."""
        with self.atomic():
            rows = self._conn.execute(
                "SELECT id, command, arg FROM inbox ORDER BY id").fetchall()
            if rows:
                self._conn.execute("DELETE FROM inbox WHERE id <= ?", (rows[-1][0],))
        return [(command, arg) for _, command, arg in rows]

    def has_inbox(self) -> bool:
        return self._conn.execute("SELECT 1 FROM inbox LIMIT 1").fetchone() is not None
