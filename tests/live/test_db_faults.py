"""Database faults, on real SQLite and real files: each is refused in words that
say what happened, and the file is left as it was found.

Truncated, emptied, a deleted or damaged WAL, a full disk, a read-only file, a
FIFO or device, a damaged row, a malformed file. The full-disk test mounts a
small tmpfs, so it runs only where mounting is allowed (root); ``explain`` is
checked everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, strategies as st

from simdurable._cli import main
from simdurable._live._sqlite import DamagedRowError, SqliteStore, StoreError, explain
from simdurable.runtime._journal import RUN, Entry, raw_entry
from simdurable.runtime._store import InvocationRecord

from ..fuzzing import fuzz

SERVE = ["serve", "tests.live.test_cli:SERVICES", "--port", "0"]

# Commits ``n`` invocations, one per transaction, then dies without closing:
# what it committed is in the WAL only (nothing checkpointed it yet).
WRITER = """
import os, signal, sys
from simdurable._live._sqlite import SqliteStore
from simdurable.runtime._store import InvocationRecord
store = SqliteStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    with store.atomic():
        store.put_invocation(InvocationRecord(
            id=f"inv_{i}", service="Tasks", handler="work", key=None, input=b"1", seq=i + 1))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "dev.db"


def record(i: int) -> InvocationRecord:
    return InvocationRecord(id=f"inv_{i}", service="Tasks", handler="work", key=None,
                            input=b"1", seq=i + 1)


def killed_writer(db: Path, n: int) -> None:
    done = subprocess.run([sys.executable, "-c", WRITER, str(db), str(n)], timeout=60,
                          capture_output=True, text=True, check=False)
    assert done.returncode == -9, done.stderr
    assert Path(f"{db}-wal").stat().st_size > 0


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_invocations(db: Path, n: int) -> None:
    store = SqliteStore(db)
    for i in range(n):
        with store.atomic():
            store.put_invocation(record(i))
    store.close()


# -- an emptied database is not a new one ---------------------------------------------
def test_an_emptied_database_is_refused_and_kept(db: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with_invocations(db, 3)
    os.truncate(db, 0)
    with pytest.raises(StoreError, match=r"is empty \(0 bytes\).*emptied \(truncated\)"):
        SqliteStore(db)
    assert main([*SERVE, "--db", str(db)]) == 1
    assert "was emptied (truncated)" in capsys.readouterr().err
    assert db.exists() and db.stat().st_size == 0


def test_a_creation_that_never_finished_leaves_no_file(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed while being made, a database leaves nothing at its path: the next
    start makes it anew (an empty file there can only be an emptied database)."""
    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "link", killed)
        with pytest.raises(KeyboardInterrupt):
            SqliteStore(db)
    assert not db.exists()
    assert os.listdir(db.parent) == []  # its temporary file is gone too
    with_invocations(db, 2)
    store = SqliteStore(db)
    assert [r.id for r in store.invocations()] == ["inv_0", "inv_1"]
    store.close()


def test_a_file_cut_short_is_refused(db: Path) -> None:
    with_invocations(db, 1)
    os.truncate(db, 10)
    with pytest.raises(StoreError, match=r"is cut short \(10 bytes\): it was truncated"):
        SqliteStore(db)
    assert db.stat().st_size == 10


# -- a lost or damaged WAL --------------------------------------------------------------
def test_a_deleted_wal_is_detected_and_nothing_is_written(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    killed_writer(db, 20)
    Path(f"{db}-wal").unlink()
    before = digest(db)
    with pytest.raises(StoreError) as info:
        SqliteStore(db)
    message = str(info.value)
    assert "lost its last 20 commit(s): it ends at commit 0, but commit 20 was made" in message
    assert f"{db}-wal was deleted or damaged" in message and "delete " in message
    assert main([*SERVE, "--db", str(db)]) == 1
    assert "lost its last 20 commit(s)" in capsys.readouterr().err
    assert digest(db) == before

    # Inspecting still works, and says that what it lists is what is left.
    assert main(["invocations", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "lost its last 20 commit(s)" in captured.err and "no invocations" in captured.out

    # Accepting the loss is a choice: delete the number kept beside the database.
    Path(f"{db}.commits").unlink()
    SqliteStore(db).close()


def test_a_damaged_wal_is_detected_and_kept(db: Path) -> None:
    killed_writer(db, 20)
    wal = Path(f"{db}-wal")
    data = bytearray(wal.read_bytes())
    data[-100] = (data[-100] + 1) % 256  # the last frame: its checksum fails
    wal.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"lost its last 1 commit\(s\): it ends at commit 19"):
        SqliteStore(db)
    assert wal.read_bytes() == bytes(data)  # refused: the WAL is left as found


def test_a_killed_writer_with_its_wal_loses_nothing(db: Path) -> None:
    """The twin of the two above: the same kill, the WAL intact, no refusal."""
    killed_writer(db, 20)
    store = SqliteStore(db)
    assert len(store.invocations()) == 20
    store.close()


def test_a_clean_close_leaves_nothing_in_the_wal(db: Path) -> None:
    """Even with a reader open (``simdurable invocations``), which keeps SQLite
    from checkpointing on its own when the writer closes."""
    with_invocations(db, 1)
    reader = SqliteStore(db, readonly=True)
    with_invocations(db, 20)
    assert reader.invocations()[-1].id == "inv_19"
    assert Path(f"{db}-wal").stat().st_size == 0
    Path(f"{db}-wal").unlink()
    reader.close()
    store = SqliteStore(db)
    assert len(store.invocations()) == 20
    store.close()


def test_a_missing_database_beside_its_wal_is_not_made_anew(db: Path) -> None:
    killed_writer(db, 5)
    db.unlink()
    with pytest.raises(StoreError, match="its write-ahead log .* is there"):
        SqliteStore(db)
    assert not db.exists()


def test_a_deleted_database_starts_anew(db: Path) -> None:
    """The number kept beside a database deleted on purpose does not outlive it."""
    with_invocations(db, 5)
    db.unlink()
    store = SqliteStore(db)
    assert store.invocations() == []
    store.close()
    SqliteStore(db).close()


# -- damaged rows and malformed files -------------------------------------------------
def test_a_damaged_row_is_named_and_the_rest_listed(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_invocations(db, 3)
    store = SqliteStore(db)
    store.append("inv_2", Entry(RUN, "a"))
    store.append("inv_2", Entry(RUN, "b"))
    store.close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE invocations SET headers = '{oops' WHERE id = 'inv_1'")
    conn.execute("UPDATE journal SET at_ms = 'soon' WHERE inv_id = 'inv_2' AND idx = 1")
    conn.commit()
    conn.close()

    assert main(["invocations", "--db", str(db)]) == 1
    captured = capsys.readouterr()
    assert "inv_0" in captured.out and "inv_2" in captured.out and "inv_1" not in captured.out
    assert "the row of invocation 'inv_1' is damaged: column headers is not JSON" in (
        captured.err)
    assert "Traceback" not in captured.err

    assert main(["journal", "inv_2", "--db", str(db)]) == 1
    assert ("journal entry #1 of invocation 'inv_2' is damaged: column at_ms holds text, "
            "not an integer") in capsys.readouterr().err

    assert main([*SERVE, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "the row of invocation 'inv_1' is damaged" in err and "Traceback" not in err


@pytest.mark.parametrize("column,value,problem", [
    ("status", "'done'", "column status is 'done', not one of pending, completed, paused"),
    ("input", "'text'", "column input holds text, not bytes"),
    ("headers", "'[1]'", "column headers is not a JSON object of strings"),
    ("result_kind", "'maybe'", "column result_kind is 'maybe'"),
    ("result_kind", "'failure'", "a failed result without its code or message"),
])
def test_each_damage_is_said(db: Path, column: str, value: str, problem: str) -> None:
    with_invocations(db, 1)
    conn = sqlite3.connect(db)
    conn.execute(f"UPDATE invocations SET {column} = {value}")
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    with pytest.raises(DamagedRowError, match="invocation 'inv_0' is damaged: ") as info:
        store.invocations()
    assert problem in str(info.value)
    store.close()


def test_a_failures_metadata_that_is_not_pairs_is_said(db: Path) -> None:
    with_invocations(db, 1)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE invocations SET result_kind = 'failure', result_code = 402, "
                 "result_message = 'no', result_data = x'5b315d'")  # [1]
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    with pytest.raises(DamagedRowError, match="invocation 'inv_0' is damaged: a failed result "
                                              "whose metadata"):
        store.invocations()
    store.close()


def test_a_malformed_database_is_called_damaged(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_invocations(db, 30)
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # page 1's b-tree: the schema
    db.write_bytes(bytes(data))
    assert main([*SERVE, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"{db} is damaged: SQLite finds it malformed" in err
    assert "PRAGMA integrity_check" in err and ".recover" in err
    assert "disk space, permissions" not in err
    assert db.read_bytes() == bytes(data)


@pytest.mark.parametrize("alter,problem", [
    (["ALTER TABLE invocations DROP COLUMN headers"],
     "it has no column headers in its table invocations"),
    (["ALTER TABLE journal DROP COLUMN ref", "ALTER TABLE journal DROP COLUMN wake_ms"],
     "it has no columns wake_ms, ref in its table journal"),
    (["DROP TABLE inbox"], "it has no table inbox"),
])
@pytest.mark.parametrize("command", [["invocations"], SERVE])
def test_a_database_altered_by_hand_is_refused_naming_what_it_lacks(
        db: Path, capsys: pytest.CaptureFixture[str], alter: list[str], problem: str,
        command: list[str]) -> None:
    """Its version said 1, so it was opened, and the first read of a dropped column
    ended ``serve`` with "the database failed: no such column" and ``invocations``
    with an sqlite3 traceback."""
    with_invocations(db, 3)
    conn = sqlite3.connect(db)
    for statement in alter:
        conn.execute(statement)
    conn.commit()
    conn.close()
    before = digest(db)
    assert main([*command, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert (f"{db} says it is a simdurable database of schema version 1, but {problem}: it "
            "was altered after simdurable made it; simdurable will not touch it") in err, err
    assert "Traceback" not in err
    assert digest(db) == before


def test_a_database_another_program_holds_locked_is_said_so(db: Path) -> None:
    """``serve`` waits for a writer's lock, then said "the database failed: ...:
    database is locked", as if it were damaged."""
    with_invocations(db, 1)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        other = sqlite3.connect(db, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError) as info:
            other.execute("BEGIN IMMEDIATE")
        other.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert explain(db, info.value) == (
        f"{db} is locked: another program holds a write transaction on it (database is "
        "locked, still after waiting for it); end that program's transaction (or the "
        "program), then start again: nothing committed is lost")


def test_a_table_or_column_added_by_hand_is_left_alone(db: Path) -> None:
    with_invocations(db, 2)
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE journal ADD COLUMN note TEXT")
    conn.execute("CREATE TABLE mine (a)")
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    assert [r.id for r in store.invocations()] == ["inv_0", "inv_1"]
    store.close()


# -- not a regular file ------------------------------------------------------------------
@pytest.mark.parametrize("command", [["invocations"], SERVE])
def test_a_fifo_is_refused_at_once(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "dev.db"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "simdurable", *command, "--db", str(fifo)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2  # a bad argument, as for check and soak
    assert f"{fifo} is a FIFO (named pipe), not a database file" in done.stderr


def test_a_device_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SERVE, "--db", os.devnull]) == 2
    assert f"{os.devnull} is a character device, not a database file" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("command", [["invocations"], SERVE])
def test_a_db_that_names_no_place_for_a_database_is_a_bad_argument(
        tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Exit status 2, as check and soak give for bad arguments; 1 stays for a
    database found damaged (the tests above)."""
    other = tmp_path / "notes.txt"
    other.write_text("not a database")
    for db, says in [(tmp_path, "is a directory"), (other, "not an SQLite file"),
                     (tmp_path / "missing" / "dev.db", "does not exist" if command == SERVE
                      else "no simdurable database")]:
        assert main([*command, "--db", str(db)]) == 2, db
        assert says in capsys.readouterr().err


# -- read-only ------------------------------------------------------------------------------
@pytest.fixture
def readonly_db(tmp_path: Path) -> Iterator[Path]:
    """A database with two invocations in a directory no one may write to:
    a read-only bind mount for root (whom permissions do not stop), else modes."""
    src = tmp_path / "src"
    src.mkdir()
    with_invocations(src / "dev.db", 2)
    store = SqliteStore(src / "dev.db")
    store.append("inv_1", Entry(RUN, "charge"))
    store.close()
    if os.geteuid() != 0:
        (src / "dev.db").chmod(0o400)
        src.chmod(0o500)
        yield src / "dev.db"
        src.chmod(0o700)
        return
    view = tmp_path / "ro"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(src), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        yield view / "dev.db"
    finally:
        subprocess.run(["umount", "--lazy", str(view)], check=True)


def test_a_readonly_database_can_be_inspected(readonly_db: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(os.listdir(readonly_db.parent))
    assert main(["invocations", "--db", str(readonly_db)]) == 0
    out = capsys.readouterr().out
    assert "inv_0" in out and "inv_1" in out
    assert main(["journal", "inv_1", "--db", str(readonly_db)]) == 0
    assert 'run "charge"' in capsys.readouterr().out
    assert main(["state", "Counter/a", "--db", str(readonly_db)]) == 1
    assert "Counter/a has no state" in capsys.readouterr().err
    assert main([*SERVE, "--db", str(readonly_db)]) == 1
    assert "is not writable" in capsys.readouterr().err
    assert sorted(os.listdir(readonly_db.parent)) == before


# -- a full disk --------------------------------------------------------------------------
def test_explain_names_the_disk_and_the_database() -> None:
    full = explain("dev.db", OSError(errno.ENOSPC, "No space left on device"))
    assert full.startswith("the disk holding dev.db is full (No space left on device)")
    err = sqlite3.OperationalError("database or disk is full")
    err.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    assert explain("dev.db", err).startswith("the disk holding dev.db is full")
    err = sqlite3.DatabaseError("database disk image is malformed")
    err.sqlite_errorname = "SQLITE_CORRUPT"  # type: ignore[attr-defined]
    assert explain("dev.db", err).startswith("dev.db is damaged")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("mounting a small filesystem needs root; explain() is checked above")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space"):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


@pytest.mark.parametrize("existing", [True, False])
def test_a_full_disk_at_start_is_said(small_disk: Path, existing: bool,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    db = small_disk / "dev.db"
    if existing:
        with_invocations(db, 3)
    before = digest(db) if existing else None
    fill(small_disk)
    assert main([*SERVE, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"the disk holding {db} is full" in err and "cannot listen" not in err
    (small_disk / "filler").unlink()
    if existing:
        assert digest(db) == before
        store = SqliteStore(db)
        assert len(store.invocations()) == 3
        store.close()
    else:
        assert not db.exists()


def test_a_disk_that_fills_while_serving_loses_nothing_committed(small_disk: Path) -> None:
    import simdurable as restate
    from tests.live.test_cli import SERVICES

    db = small_disk / "dev.db"
    ex = restate.Executor(SERVICES, db=db).start()
    done = ex.invoke("Tasks/work", 1)
    assert done.result(timeout=10) == 2
    fill(small_disk)
    with pytest.raises(restate.ExecutorStoppedError) as info:
        for n in range(2, 200):  # until a commit no longer fits
            ex.invoke("Tasks/work", n).result(timeout=10)
    cause = info.value.__cause__
    assert cause is not None
    assert explain(db, cause).startswith(f"the disk holding {db} is full"), repr(cause)
    ex.close()  # the error was told once, above
    (small_disk / "filler").unlink()
    with restate.Executor(SERVICES, db=db) as again:
        assert again.invocations()[0].id == done.id
        assert again.invocations()[0].result(timeout=10) == 2


# -- a schema edited by hand, fuzzed -----------------------------------------------------
_EDITS = st.sampled_from([
    *(f"ALTER TABLE {t} DROP COLUMN {c}" for t, cols in {
        "invocations": ["key", "input", "status", "headers", "finished_ms", "result_data"],
        "journal": ["name", "data", "target", "ref", "result_kind"],
        "state": ["value"], "promises": ["result_message"], "inbox": ["arg"]}.items()
      for c in cols),
    *(f"DROP TABLE {t}" for t in ("journal", "state", "promises", "idempotency", "inbox")),
    "ALTER TABLE invocations RENAME COLUMN status TO state",
    "ALTER TABLE journal RENAME TO journal_old",
    "ALTER TABLE journal ADD COLUMN note TEXT",
    "CREATE TABLE extra (a)",
    "UPDATE meta SET value = 'x' WHERE key = 'commits'",
    "UPDATE invocations SET status = 'zzz', headers = 'not json'",
    "UPDATE journal SET kind = 'bogus', target = 'x'",
])


@fuzz(25)
@given(edits=st.lists(_EDITS, min_size=1, max_size=3))
@example(edits=["UPDATE meta SET value = 'x' WHERE key = 'commits'"])  # (a ValueError once)
def test_fuzz_a_schema_edited_by_hand_is_read_or_refused_never_a_traceback(
        tmp_path_factory: pytest.TempPathFactory, edits: list[str]) -> None:
    db = tmp_path_factory.mktemp("edited") / "dev.db"
    store = SqliteStore(db)
    with store.atomic():
        store.put_invocation(record(0))
        store.append("inv_0", raw_entry(RUN, "charge"))
        store.set_state("Tasks", "k", "n", b"1")
    store.close()
    conn = sqlite3.connect(db)
    for edit in edits:
        with contextlib.suppress(sqlite3.Error):  # (an edit that an earlier one made moot)
            conn.execute(edit)
    conn.commit()
    conn.close()
    try:
        store = SqliteStore(db)
    except StoreError:
        return
    try:
        store.readable_invocations()
        with contextlib.suppress(DamagedRowError):
            store.journal("inv_0")
        store.state("Tasks", "k")
    finally:
        store.close()
