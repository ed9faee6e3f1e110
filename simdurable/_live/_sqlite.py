"""The SQLite store of the live executor: the ``Store`` protocol on one file.

Standard-library ``sqlite3`` in WAL mode. Every write outside ``atomic()`` is
committed (and, with ``durability="full"``, fsynced) before the method
returns; ``atomic()`` blocks nest (savepoints) and commit once, at the
outermost exit. The file is created owner-only (0600) and carries a schema
version: a file of another version, or one that is not a simdurable database,
is refused with an error that says which, and is never written to.

A new database is made under a temporary name and moved into place once its
schema is committed, so a file at the path that is empty was emptied after
the fact: it is refused, never taken for a new one. Every ``atomic()`` commit
is numbered inside the database, and the number is written (without an fsync)
to ``<db>.commits`` after the commit: a database whose number is behind that
file lost commits (its WAL was deleted or damaged), and is refused.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..runtime._errors import SimdurableError
from ..runtime._invocations import key_scope
from ..runtime._journal import (
    COMPLETION,
    Completion,
    Entry,
    Failure,
    RawCompletion,
    RawEntry,
    Value,
)
from ..runtime._store import COMPLETED, PAUSED, PENDING, InvocationRecord

if TYPE_CHECKING:
    from .._codec import StoredValues

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

@functools.cache
def _schema_columns() -> dict[str, tuple[str, ...]]:
    """Each table of ``_SCHEMA`` and its columns, in order: what a database of
    this schema version must have (more is left alone)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_SCHEMA)
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {t: tuple(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        conn.close()


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
_NEXT_COMMIT: Final = (
    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commits' RETURNING value"
)


def is_sqlite_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file that begins as an SQLite database does:
    one a trace, an export or a Chrome trace must not be written over (a FIFO or
    a device is not opened)."""
    try:
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as f:
            return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _fsync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (where the OS allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class StoreError(SimdurableError):
    """A database file that cannot be used, with the reason and the path."""


class NotADatabasePath(StoreError):
    """A ``--db`` that names no place for a database (a directory, a device, a
    missing directory, a file of another kind): the argument is wrong, where
    a plain ``StoreError`` is a database found damaged."""


_DISK_FULL: Final = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE: Final = (errno.EROFS, errno.EACCES, errno.EPERM)


def explain(path: str | os.PathLike[str], err: BaseException) -> str:
    """What went wrong with the database at ``path``, said so that one knows what to do.

    For ``sqlite3`` errors and ``OSError``s met while opening or writing it.
    """
    # SQLite's primary result code: "SQLITE_IOERR_WRITE" is an IOERR.
    name = str(getattr(err, "sqlite_errorname", ""))
    primary = name.removeprefix("SQLITE_").split("_")[0] if name else None
    number = err.errno if isinstance(err, OSError) else None
    if primary == "FULL" or number in _DISK_FULL:
        return (f"the disk holding {path} is full ({_reason(err)}); free some space and "
                "start again: nothing committed is lost")
    if primary in ("CORRUPT", "NOTADB"):
        return (f"{path} is damaged: SQLite finds it malformed ({_reason(err)}); simdurable "
                f"will not write to it. See what is wrong with `sqlite3 {path} "
                f"'PRAGMA integrity_check'`; save what can still be read with `sqlite3 {path} "
                ".recover | sqlite3 recovered.db` and serve --db recovered.db, or restore "
                "a backup")
    if primary == "READONLY" or number in _NOT_WRITABLE:
        return (f"{path} (or its directory) is not writable ({_reason(err)}); simdurable "
                "needs to write the database and its WAL files beside it")
    if primary == "IOERR" or number == errno.EIO:
        return (f"reading or writing {path} failed ({_reason(err)}): the disk or its "
                "filesystem reported an error; check them, then start again")
    if primary == "CANTOPEN":
        return f"cannot open {path} ({_reason(err)})"
    if primary in ("BUSY", "LOCKED"):
        return (f"{path} is locked: another program holds a write transaction on it "
                f"({_reason(err)}, still after waiting for it); end that program's "
                "transaction (or the program), then start again: nothing committed is lost")
    return f"{path}: {_reason(err)}"


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


def _completion_columns(c: RawCompletion | None) -> tuple[Any, Any, Any, Any]:
    if c is None:
        return None, None, None, None
    if not isinstance(c, Failure):  # a ``Value``, or its fields (``RawCompletion``)
        return "value", c[0], None, None
    # a failure's metadata, if any, is kept as a JSON list of pairs in the data column
    meta = json.dumps(c.metadata).encode("utf-8") if c.metadata else None
    return "failure", meta, c.code, c.message


def _metadata(data: Any) -> tuple[tuple[str, str], ...] | None:
    """A failure's metadata from its data column, ``None`` if it is not what we write."""
    if data is None:
        return ()
    try:
        pairs = json.loads(bytes(data))
    except (ValueError, TypeError):
        return None
    if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in pairs):
        return None
    return tuple((k, v) for k, v in pairs)


def _completion(kind: str | None, data: Any, code: Any, message: Any) -> Completion | None:
    if kind is None:
        return None
    if kind == "value":
        return Value(bytes(data or b""))
    return Failure(int(code), str(message), _metadata(data) or ())


_N = type(None)
# What each column must hold, in the order of _INV_COLUMNS and _JOURNAL_COLUMNS: a row
# that holds anything else is reported by name, never decoded into a wrong record.
_INV_TYPES: Final[tuple[tuple[type, ...], ...]] = (
    (str,), (int,), (str,), (str,), (str, _N), (bytes,), (str,), (int,), (int,), (int,),
    (int,), (str, _N), (bytes, _N), (int, _N), (str, _N), (str,), (int,), (str,), (str,),
    (str,), (int,), (int,), (int,), (int,), (int,),
)
_JOURNAL_TYPES: Final[tuple[tuple[type, ...], ...]] = (
    (str,), (str,), (bytes, _N), (str, _N), (bytes, _N), (int, _N), (str, _N), (int,),
    (int,), (int,), (str,),
)
_STATUSES: Final = (PENDING, COMPLETED, PAUSED)
_TYPE_NAMES: Final = {str: "text", int: "an integer", bytes: "bytes", _N: "NULL",
                      float: "a real number"}


def _check_row(row: tuple[Any, ...], columns: str, types: tuple[tuple[type, ...], ...]
               ) -> str | None:
    """What is wrong with ``row`` (a column and what it holds), or None."""
    # The column types of rows already found right: reading a journal of many
    # entries spent most of its time checking each column of each row again.
    signature = (columns, *map(type, row))
    if signature in _GOOD_ROWS:
        return None
    for name, want, value in zip(columns.split(", "), types, row, strict=True):
        if type(value) not in want:
            wanted = " or ".join(_TYPE_NAMES[t] for t in want)
            return (f"column {name} holds {_TYPE_NAMES.get(type(value), type(value).__name__)}"
                    f", not {wanted}")
    _GOOD_ROWS.add(signature)
    return None


# Column-type signatures (the columns, then each value's type) that passed ``_check_row``:
# a few dozen at most, as each column allows one or two types.
_GOOD_ROWS: set[tuple[Any, ...]] = set()


def _completion_problem(kind: Any, data: Any, code: Any, message: Any) -> str | None:
    if kind not in (None, "value", "failure"):
        return f"column result_kind is {kind!r}, not 'value', 'failure' or NULL"
    if kind == "failure" and (code is None or message is None):
        return "a failed result without its code or message"
    if kind == "failure" and _metadata(data) is None:
        return "a failed result whose metadata (column result_data) is not a JSON list of pairs"
    return None


class CodecStoreError(StoreError):
    """The app's journal value codec failed on a value written or read."""


class DamagedRowError(StoreError):
    """A row of the database that cannot be read back: which one and what is wrong."""


def _row_to_record(row: tuple[Any, ...], path: Path) -> InvocationRecord:
    problem = _check_row(row, _INV_COLUMNS, _INV_TYPES)
    headers: Any = None
    if problem is None:
        if row[6] not in _STATUSES:
            problem = f"column status is {row[6]!r}, not one of {', '.join(_STATUSES)}"
        else:
            problem = _completion_problem(row[11], row[12], row[13], row[14])
    if problem is None:
        try:
            headers = json.loads(row[18])
        except ValueError as err:
            problem = f"column headers is not JSON ({err})"
        else:
            if not isinstance(headers, dict) or not all(
                    isinstance(v, str) for v in headers.values()):
                problem = "column headers is not a JSON object of strings"
    if problem is not None:
        raise DamagedRowError(f"{path}: the row of invocation {row[0]!r} is damaged: {problem}")
    (inv_id, seq, service, handler, key, input_, status, run_at_ms, created_ms, attempts,
     failures, rk, rd, rc, rm, caller_id, caller_index, ik, _, last_failure,
     retry_index, retry_count, retry_started_ms, cancelled, finished_ms) = row
    return InvocationRecord(
        id=inv_id, service=service, handler=handler, key=key, input=bytes(input_), seq=seq,
        status=status, run_at_ms=run_at_ms, created_ms=created_ms, attempts=attempts,
        failures=failures, result=_completion(rk, rd, rc, rm), caller_id=caller_id,
        caller_index=caller_index, idempotency_key=ik, headers=headers,
        last_failure=last_failure, retry_index=retry_index, retry_count=retry_count,
        retry_started_ms=retry_started_ms, cancelled=bool(cancelled), finished_ms=finished_ms,
    )


def _row_to_entry(row: tuple[Any, ...], path: Path, inv_id: str, index: int) -> Entry:
    problem = _check_row(row, _JOURNAL_COLUMNS, _JOURNAL_TYPES) or _completion_problem(
        row[3], row[4], row[5], row[6])
    if problem is not None:
        raise DamagedRowError(
            f"{path}: journal entry #{index} of invocation {inv_id!r} is damaged: {problem}")
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
      readonly: only read (``simdurable invocations``, ``journal``): works on a
        file or directory one cannot write, and writes nothing.
      codec: the app's journal value codec (``_codec.StoredValues``): the values
        restate-sdk passes through it are written encoded and read back decoded.

    Raises ``StoreError`` for a missing file (without ``create``), a file that
    is not a simdurable database, one of another schema version, one that
    was emptied, or one that lost commits. Opened ``readonly``, a database
    that lost commits is still read; ``lost_commits`` says how many.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 durability: str = "full", readonly: bool = False,
                 codec: StoredValues | None = None) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        self.path = Path(path)
        self.codec = codec
        self.readonly = readonly
        self.lost_commits = 0
        self._depth = 0
        self._savepoints = 0
        self._lengths: dict[str, int] = {}  # journal lengths; dropped on rollback
        self._commits_path = Path(f"{self.path}.commits")
        self._commits_fd: int | None = None
        self._conn = self._open(create and not readonly)
        if readonly:
            return
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
        try:
            info: os.stat_result | None = path.stat()
        except FileNotFoundError:
            info = None
        except OSError as err:
            raise StoreError(f"cannot read {path}: {err.strerror}") from None
        if info is None:
            if not create:
                raise NotADatabasePath(f"no simdurable database at {path}")
            self._create()
            info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise NotADatabasePath(f"{path} is a directory, not a simdurable database file")
        if not stat.S_ISREG(info.st_mode):
            raise NotADatabasePath(f"{path} is a {_file_kind(info.st_mode)}, not a database file; "
                             "pass --db the path of a regular file (or of a new one)")
        if info.st_size == 0:
            raise StoreError(
                f"{path} is empty (0 bytes), but simdurable never leaves a database empty, "
                "not even one killed while being created: this one was emptied (truncated) "
                "after it was made, and its invocations, journals and state are gone. It "
                "is left as it is: restore it from a backup, or move it away to start anew")
        try:
            with open(path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as err:
            raise StoreError(f"cannot read {path}: {err.strerror}") from None
        if head != _SQLITE_MAGIC:
            if _SQLITE_MAGIC.startswith(head):
                raise StoreError(f"{path} is cut short ({len(head)} bytes): it was truncated "
                                 "and its contents are gone; restore it from a backup, or "
                                 "move it away to start anew")
            raise NotADatabasePath(
                f"{path} is not a simdurable database (not an SQLite file); "
                "pass --db a new path or an existing simdurable database"
            )
        if not self.readonly and (not os.access(path, os.R_OK | os.W_OK)
                                  or not os.access(path.parent, os.W_OK)):
            raise StoreError(f"{path} (or its directory) is not writable; simdurable needs "
                             "to write the database and its WAL files beside it")
        # The checks read through a read-only connection: closing it never
        # checkpoints, so a database refused keeps its WAL as it was found.
        try:
            conn = self._connect_readonly()
        except sqlite3.Error as err:
            raise StoreError(explain(path, err)) from None
        try:
            self._check_schema(conn)
            numbered = self._check_commits(conn)
            if self.readonly:
                return conn
            conn.close()
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            if not numbered:  # made before commits were numbered: start at 0
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('commits', '0')")
        except sqlite3.Error as err:
            conn.close()
            raise StoreError(explain(path, err)) from None
        except StoreError:
            conn.close()
            raise
        return conn

    def _connect_readonly(self) -> sqlite3.Connection:
        path = self.path
        uri = path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False, timeout=10.0)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            # A WAL database in a directory one cannot write: SQLite cannot make
            # its shared-memory file. Without a WAL to read, the file alone is
            # the whole database, and can be read as unchanging.
            wal = Path(f"{path}-wal")
            if not self.readonly or (wal.exists() and wal.stat().st_size > 0):
                raise
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)

    def _create(self) -> None:
        """Make a new database under a temporary name, then move it into place."""
        path = self.path
        if not path.parent.is_dir():
            raise NotADatabasePath(f"cannot create {path}: directory {path.parent} does not exist")
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(
                f"{path} is missing, but its write-ahead log {wal} is there: the database was "
                "deleted or moved without it. Put the database back beside it, or delete "
                f"{wal} (and {path}-shm) to start a new database")
        meta = (f"INSERT INTO meta VALUES ('format', '{FORMAT}'), "
                f"('schema_version', '{SCHEMA_VERSION}'), ('commits', '0');")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".creating",
                                        dir=path.parent)
        except OSError as err:
            raise StoreError(f"cannot create {path}: {explain(path, err)}") from None
        os.close(fd)
        try:
            conn = sqlite3.connect(name, isolation_level=None)
            try:
                conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + meta + "COMMIT;")
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            # A number left by an earlier database at this path is not this one's.
            self._commits_path.unlink(missing_ok=True)
            try:
                os.link(name, path)  # never replaces a database made meanwhile
            except FileExistsError:
                pass
            except OSError:  # a filesystem without hard links
                if not path.exists():
                    os.rename(name, path)
            _fsync_dir(path.parent)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot create {path}: {explain(path, err)}") from None
        finally:
            for leftover in (name, f"{name}-wal", f"{name}-shm", f"{name}-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
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
        for table, columns in _schema_columns().items():
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in columns if c not in have]
            if missing:  # (altered by hand or by another program: every read would fail)
                what = (f"has no table {table}" if not have else
                        f"has no column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)} in its table {table}")
                raise StoreError(
                    f"{self.path} says it is a simdurable database of schema version "
                    f"{SCHEMA_VERSION}, but it {what}: it was altered after simdurable made "
                    "it; simdurable will not touch it (its data is left as it is)")

    def _check_commits(self, conn: sqlite3.Connection) -> bool:
        """Refuse a database that is behind the commit number recorded beside it.

        Returns whether the database numbers its commits.
        """
        recorded = self._recorded_commits()  # read first: the database only moves on
        row = conn.execute("SELECT value FROM meta WHERE key = 'commits'").fetchone()
        try:
            have = int(row[0]) if row is not None else 0
        except (TypeError, ValueError):
            raise StoreError(
                f"{self.path} says it is a simdurable database, but its meta table's commits "
                f"value {str(row[0])[:40]!r} is not a number: it was altered after simdurable "
                "made it; simdurable will not touch it (its data is left as it is)") from None
        if recorded is None or recorded <= have:
            return row is not None
        self.lost_commits = recorded - have
        if self.readonly:
            return row is not None
        raise StoreError(
            f"{self.path} lost its last {recorded - have} commit(s): it ends at commit "
            f"{have}, but commit {recorded} was made ({self._commits_path} says so). Its "
            f"write-ahead log {self.path}-wal was deleted or damaged (or the database was "
            "replaced by an older copy), and every invocation, step result and state change "
            "stored by those commits is gone. simdurable will not start over it: restore "
            f"the -wal (or the whole database) from a backup; to accept the loss and go on "
            f"from commit {have}, delete {self._commits_path}")

    def _recorded_commits(self) -> int | None:
        try:
            text = self._commits_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StoreError(f"cannot read {self._commits_path}: {err.strerror}") from None
        try:
            return int(text)
        except ValueError:
            return None  # not ours to judge: the next commit writes it again

    def _record_commit(self, number: int) -> None:
        """After a commit: its number, beside the database (no fsync: see the module)."""
        try:
            if self._commits_fd is None:
                self._commits_fd = os.open(self._commits_path, os.O_WRONLY | os.O_CREAT,
                                           0o600)
            os.pwrite(self._commits_fd, b"%20d\n" % number, 0)
        except OSError:
            pass  # only the check of the next start is weaker; nothing is lost

    def close(self) -> None:
        """Close; a writer first copies the WAL into the database (a lost WAL loses nothing)."""
        if not self.readonly:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA busy_timeout=1000")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        if self._commits_fd is not None:
            os.close(self._commits_fd)
            self._commits_fd = None

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
                counted = conn.execute(_NEXT_COMMIT).fetchone()
            except BaseException:
                self._depth = 0
                self._lengths.clear()
                conn.execute("ROLLBACK")
                raise
            self._depth = 0
            conn.execute("COMMIT")
            if counted is not None:
                self._record_commit(int(counted[0]))
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
        input_, result = rec.input, rec.result
        if self.codec is not None:
            encode = self._coded(self.codec.encode, f"invocation {rec.id!r}", "encode")
            input_ = encode(input_)
            result = self.codec.completion(result, encode)
        rk, rd, rc, rm = _completion_columns(result)
        self._conn.execute(
            f"INSERT OR REPLACE INTO invocations ({_INV_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.id, rec.seq, rec.service, rec.handler, rec.key, input_, rec.status,
             rec.run_at_ms, rec.created_ms, rec.attempts, rec.failures, rk, rd, rc, rm,
             rec.caller_id, rec.caller_index,
             "" if rec.idempotency_key is None else rec.idempotency_key,  # (see ``_record``)
             json.dumps(rec.headers, sort_keys=True), rec.last_failure, rec.retry_index,
             rec.retry_count, rec.retry_started_ms, int(rec.cancelled), rec.finished_ms),
        )

    def invocation(self, inv_id: str) -> InvocationRecord | None:
        row = self._conn.execute(
            f"SELECT {_INV_COLUMNS} FROM invocations WHERE id = ?", (inv_id,)
        ).fetchone()
        return None if row is None else self._record(row)

    def invocations(self) -> list[InvocationRecord]:
        rows = self._conn.execute(f"SELECT {_INV_COLUMNS} FROM invocations ORDER BY seq")
        return [self._record(r) for r in rows]

    def _record(self, row: tuple[Any, ...]) -> InvocationRecord:
        rec = _row_to_record(row, self.path)
        if rec.idempotency_key == "":
            # (no key and an empty key are both stored as ""; an empty key is a
            # key, and registered under its scope, as a database made before
            # it was told apart registered it too)
            scope = key_scope(rec.service, rec.key, rec.handler, "")
            rec.idempotency_key = "" if self.idempotency(scope) == rec.id else None
        if self.codec is not None:
            decode = self._coded(self.codec.decode, f"invocation {rec.id!r}", "decode")
            rec.input = decode(rec.input)
            rec.result = self.codec.completion(rec.result, decode)
        return rec

    def _coded(self, fn: Callable[[bytes], bytes], where: str, stage: str
               ) -> Callable[[bytes], bytes]:
        """``fn`` (the codec's ``encode`` or ``decode``), its failure a ``StoreError``
        naming the value: not a traceback from deep inside a turn."""

        codec = self.codec
        if stage == "encode" and codec is not None:
            def fn(data: bytes) -> bytes:
                return codec.stored(data, where)

        def coded(data: bytes) -> bytes:
            try:
                return fn(data)
            except Exception as err:  # noqa: BLE001 - the codec's own failure, told
                raise CodecStoreError(
                    f"{self.path}: the app's journal_value_codec.{stage} raised "
                    f"{type(err).__name__}: {err} on a value of {where}") from err

        return coded

    def readable_invocations(self) -> tuple[list[InvocationRecord], list[DamagedRowError]]:
        """Every invocation that can be read, and what is wrong with the others."""
        records, damaged = [], []
        for r in self._conn.execute(f"SELECT {_INV_COLUMNS} FROM invocations ORDER BY seq"):
            try:
                records.append(self._record(r))
            except DamagedRowError as err:
                damaged.append(err)
        return records, damaged

    # -- journals -------------------------------------------------------------
    def journal(self, inv_id: str) -> list[Entry]:
        rows = self._conn.execute(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE inv_id = ? ORDER BY idx", (inv_id,)
        )
        entries = [_row_to_entry(r, self.path, inv_id, i) for i, r in enumerate(rows)]
        if self.codec is not None:
            for i, e in enumerate(entries):
                command = entries[e.target].kind if 0 <= e.target < len(entries) else None
                decode = self._coded(self.codec.decode,
                                     f"journal entry #{i} of invocation {inv_id!r}", "decode")
                entries[i] = self.codec.entry(e, command, decode)
        return entries

    def journal_length(self, inv_id: str) -> int:
        length = self._lengths.get(inv_id)
        if length is None:
            row = self._conn.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM journal WHERE inv_id = ?", (inv_id,)
            ).fetchone()
            length = int(row[0])
        return length

    def append(self, inv_id: str, entry: RawEntry) -> int:
        index = self.journal_length(inv_id)
        if self.codec is not None:
            command = None
            if entry[0] == COMPLETION:
                row = self._conn.execute("SELECT kind FROM journal WHERE inv_id = ? AND idx = ?",
                                         (inv_id, entry[4])).fetchone()
                command = None if row is None else row[0]
            entry = self.codec.entry(entry, command, self._coded(
                self.codec.encode, f"journal entry #{index} of invocation {inv_id!r}", "encode"))
        kind, name, data, result, target, at_ms, wake_ms, ref = entry
        rk, rd, rc, rm = _completion_columns(result)
        self._conn.execute(
            f"INSERT INTO journal (inv_id, idx, {_JOURNAL_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (inv_id, index, kind, name, data, rk, rd, rc, rm, target, at_ms, wake_ms, ref),
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
        if self.codec is not None:
            decode = self._coded(self.codec.decode, f"the state of {service}/{key}", "decode")
            return {name: decode(bytes(value)) for name, value in rows}
        return {name: bytes(value) for name, value in rows}

    def state_keys_of(self, service: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT key FROM state WHERE service = ? ORDER BY key", (service,))
        return [r[0] for r in rows]

    def set_state(self, service: str, key: str, name: str, value: bytes) -> None:
        if self.codec is not None:
            value = self._coded(self.codec.encode, f"the state of {service}/{key}",
                                "encode")(value)
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
        if row is None:
            return None
        found = _completion(*row)
        if self.codec is not None:
            found = self.codec.completion(found, self._coded(
                self.codec.decode, f"promise {name!r} of {workflow}/{key}", "decode"))
        return found

    def set_promise(self, workflow: str, key: str, name: str, value: Completion) -> None:
        if self.codec is not None:
            value = self.codec.completion(value, self._coded(
                self.codec.encode, f"promise {name!r} of {workflow}/{key}", "encode"))
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
