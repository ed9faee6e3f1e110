"""The SQLite store: the ``Store`` protocol round-trips, transactions, refusals."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from simdurable._live._sqlite import SCHEMA_VERSION, SqliteStore, StoreError
from simdurable.runtime._journal import CALL, COMPLETION, RUN, SLEEP, Entry, Failure, Value
from simdurable.runtime._store import COMPLETED, InvocationRecord, MemoryStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "dev.db"


def record(**kw: object) -> InvocationRecord:
    base: dict[str, object] = dict(id="inv_1", service="Counter", handler="add", key="a",
                                   input=b"1", seq=1)
    base.update(kw)
    return InvocationRecord(**base)  # type: ignore[arg-type]


def test_invocation_records_round_trip(db: Path) -> None:
    store = SqliteStore(db)
    recs = [
        record(),
        record(id="inv_2", seq=2, key=None, service="Greeter", handler="greet",
               input=b'"bob"', headers={"x-a": "1", "b": "\u00e9"}, idempotency_key="k1",
               caller_id="inv_1", caller_index=3, cancelled=True, last_failure="boom"),
        record(id="inv_3", seq=3, status=COMPLETED, result=Value(b'{"ok": true}'),
               finished_ms=99, attempts=2, failures=1, retry_index=4, retry_count=2,
               retry_started_ms=7, run_at_ms=12, created_ms=5),
        record(id="inv_4", seq=4, status=COMPLETED, result=Failure(418, "teapot \u2615")),
        record(id="inv_5", seq=5, result=Value(b"")),
        # a terminal error's metadata, which Restate passes on to the caller
        record(id="inv_6", seq=6, status=COMPLETED,
               result=Failure(402, "declined", (("reason", "funds"), ("\u00e9", "x")))),
    ]
    for rec in reversed(recs):
        store.put_invocation(rec)
    assert store.invocations() == recs  # in seq order
    assert store.invocation("inv_2") == recs[1]
    assert store.invocation("nope") is None
    store.put_invocation(record(attempts=7))
    assert store.invocation("inv_1") == record(attempts=7)
    store.close()
    reopened = SqliteStore(db)
    assert reopened.invocations()[1:] == recs[1:]
    reopened.close()


def test_journal_entries_round_trip(db: Path) -> None:
    store = SqliteStore(db)
    entries = [
        Entry(RUN, "charge", at_ms=3),
        Entry(COMPLETION, target=0, result=Value(b'"r1"'), at_ms=4),
        Entry(SLEEP, "", wake_ms=1000, at_ms=5),
        Entry(CALL, "Counter/a/add", data=b"1", ref="inv_9", at_ms=6),
        Entry(COMPLETION, target=3, result=Failure(500, "no")),
        Entry(COMPLETION, target=0, result=Failure(402, "no", (("id", "p-1"),))),
        Entry(RUN, "empty", data=b""),
    ]
    assert [store.append("inv_1", e) for e in entries] == list(range(len(entries)))
    assert store.append("inv_2", Entry(RUN, "other")) == 0
    assert store.journal("inv_1") == entries
    assert store.journal("inv_2") == [Entry(RUN, "other")]
    assert store.journal("none") == []
    # a step's value as the runtime keeps it, ``(data,)``, is read back a ``Value``
    raw = (COMPLETION, "", None, (b"7",), 0, 9, -1, "")
    assert store.append("inv_3", raw) == 0
    (back,) = store.journal("inv_3")
    assert type(back.result) is Value and back.result.data == b"7" and back == raw


def test_state_promises_idempotency(db: Path) -> None:
    store = SqliteStore(db)
    store.set_state("Counter", "a", "count", b"1")
    store.set_state("Counter", "a", "name", b'"x"')
    store.set_state("Counter", "b", "count", b"2")
    store.set_state("Counter", "a", "count", b"3")
    assert store.state("Counter", "a") == {"count": b"3", "name": b'"x"'}
    assert store.state_keys_of("Counter") == ["a", "b"]
    store.clear_state("Counter", "a", "name")
    assert store.state("Counter", "a") == {"count": b"3"}
    store.clear_all_state("Counter", "a")
    assert store.state("Counter", "a") == {}
    assert store.state("Counter", "b") == {"count": b"2"}

    assert store.promise("Wf", "k", "p") is None
    store.set_promise("Wf", "k", "p", Value(b"1"))
    store.set_promise("Wf", "k", "q", Failure(409, "no"))
    assert store.promise("Wf", "k", "p") == Value(b"1")
    assert store.promise("Wf", "k", "q") == Failure(409, "no")

    store.set_promise("Wf", "other", "p", Value(b"2"))
    store.clear_promises("Wf", "k")  # a workflow's retention ended
    assert store.promise("Wf", "k", "p") is None and store.promise("Wf", "k", "q") is None
    assert store.promise("Wf", "other", "p") == Value(b"2")

    assert store.idempotency("scope") is None
    store.set_idempotency("scope", "inv_1")
    assert store.idempotency("scope") == "inv_1"
    store.set_idempotency("scope", "inv_2")  # renewed after its retention
    assert store.idempotency("scope") == "inv_2"


def test_behaves_like_the_memory_store(db: Path) -> None:
    """The same calls on both stores read back the same."""
    stores = [SqliteStore(db), MemoryStore()]
    for s in stores:
        s.put_invocation(record())
        s.append("inv_1", Entry(RUN, "x"))
        s.set_state("O", "k", "n", b"1")
        s.set_idempotency("sc", "inv_1")
        s.set_promise("W", "k", "p", Value(b"1"))
        s.set_promise("W", "j", "p", Value(b"2"))
        s.clear_promises("W", "k")
    sq, mem = stores
    assert [sq.promise("W", k, "p") for k in "kj"] == [mem.promise("W", k, "p") for k in "kj"]
    assert sq.invocations() == mem.invocations()
    assert sq.journal("inv_1") == mem.journal("inv_1")
    assert sq.state("O", "k") == mem.state("O", "k")
    assert sq.idempotency("sc") == mem.idempotency("sc")


def test_atomic_commits_together_or_not_at_all(db: Path) -> None:
    store = SqliteStore(db)
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.put_invocation(record())
            store.append("inv_1", Entry(RUN, "a"))
            raise RuntimeError("crash")
    assert store.invocations() == [] and store.journal("inv_1") == []

    with store.atomic():
        store.put_invocation(record())
        with pytest.raises(ValueError):
            with store.atomic():  # a nested block rolls back alone
                store.append("inv_1", Entry(RUN, "lost"))
                raise ValueError
        store.append("inv_1", Entry(RUN, "kept"))
        other = SqliteStore(db)  # another connection sees nothing until commit
        assert other.invocations() == []
    assert [e.name for e in store.journal("inv_1")] == ["kept"]
    assert other.invocations() == [record()]
    other.close()


def test_new_file_is_owner_only_and_wal(db: Path) -> None:
    store = SqliteStore(db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    mode = store._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 256
    store.close()


def test_the_wal_stays_small(db: Path) -> None:
    """Checkpointed at 1 MiB, the WAL is then rewritten from its start, not grown."""
    store = SqliteStore(db)
    for i in range(3000):
        with store.atomic():
            store.put_invocation(record(id=f"inv_{i}", seq=i + 1))
    wal = db.with_name(db.name + "-wal")
    assert 0 < wal.stat().st_size < 2 * 1024 * 1024
    store.close()


def test_missing_file_without_create(db: Path) -> None:
    with pytest.raises(StoreError, match="no simdurable database at"):
        SqliteStore(db, create=False)
    assert not db.exists()


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        SqliteStore(tmp_path / "nope" / "dev.db")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        SqliteStore(tmp_path)


def test_non_sqlite_file_is_refused_and_untouched(db: Path) -> None:
    db.write_bytes(b"my precious notes\n" * 100)
    with pytest.raises(StoreError, match="not a simdurable database \\(not an SQLite file\\)"):
        SqliteStore(db)
    assert db.read_bytes() == b"my precious notes\n" * 100


def test_other_sqlite_database_is_refused_and_untouched(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ann')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a simdurable one \\(its tables: users\\)"):
        SqliteStore(db)
    assert db.read_bytes() == before
    assert not Path(f"{db}-wal").exists()


def test_other_schema_version_is_refused(db: Path) -> None:
    SqliteStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info:
        SqliteStore(db)
    assert f"schema version 99, but this simdurable reads version {SCHEMA_VERSION}" in str(
        info.value)


def test_meta_without_marker_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="no simdurable format marker"):
        SqliteStore(db)


def test_bad_durability(db: Path) -> None:
    with pytest.raises(ValueError, match="durability must be"):
        SqliteStore(db, durability="sometimes")


def test_inbox(db: Path) -> None:
    store = SqliteStore(db)
    assert not store.has_inbox()
    store.post("cancel", "inv_1")
    other = SqliteStore(db)
    other.post("cancel", "inv_2")
    assert store.has_inbox()
    assert store.take_inbox() == [("cancel", "inv_1"), ("cancel", "inv_2")]
    assert store.take_inbox() == []
    other.close()
