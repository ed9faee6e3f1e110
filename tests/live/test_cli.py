"""``simdurable serve | invocations | journal | cancel | resume``: what a user sees."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest

import simdurable as restate
from simdurable._cli import main

tasks = restate.Service("Tasks")


def double(n: int) -> int:
    return n * 2


@tasks.handler()
async def work(ctx: restate.Context, n: int) -> int:
    x = await ctx.run_typed("double", double, n=n)
    await ctx.sleep(timedelta(milliseconds=n))
    return int(x)


# A bug to fix while the invocation it paused waits: the context used in a step.
broken = [True]
ran: list[int] = []


@tasks.handler()
async def fixable(ctx: restate.Context, n: int) -> int:
    def first() -> int:
        ran.append(n)
        return n

    x = await ctx.run_typed("first", first)

    def second() -> int:
        if broken[0]:
            ctx.set("oops", 1)
        return x + 1

    return await ctx.run_typed("second", second)


SERVICES = [tasks]


def _paused(ex: restate.Executor, n: int) -> restate.LiveInvocation:
    broken[0] = True
    h = ex.send("Tasks/fixable", n)
    deadline = time.monotonic() + 5
    while h.status != "paused":
        assert time.monotonic() < deadline, h.status
        time.sleep(0.01)
    return h


def test_resume_a_fixed_invocation(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran.clear()
    with restate.Executor(SERVICES, db=db) as ex:
        h = _paused(ex, 4)
        assert not ex.resume(ex.send("Tasks/work", 1_000).id)  # not paused: nothing to do
        broken[0] = False
        assert ex.resume(h)
        assert h.result(timeout=5) == 5
        assert not ex.resume(h)
        assert ran == [4]  # the stored step did not run again

        h = _paused(ex, 6)
        broken[0] = False
        assert main(["resume", h.id, "--db", str(db)]) == 0
        assert "the running executor applies it now" in capsys.readouterr().out
        deadline = time.monotonic() + 5
        while h.status == "paused":  # the executor looks for commands twice a second
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert h.result(timeout=5) == 7
        assert main(["resume", h.id, "--db", str(db)]) == 1
        assert "is not paused (completed)" in capsys.readouterr().err


def test_resume_while_stopped_applies_at_next_start(
    db: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = _paused(ex, 8)
    broken[0] = False  # fixed, as a new version of the code would be
    assert main(["resume", h.id, "--db", str(db)]) == 0
    assert "it applies when one starts" in capsys.readouterr().out
    with restate.Executor(SERVICES, db=db) as ex:
        assert [i.result(timeout=5) for i in ex.invocations() if i.id == h.id] == [9]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "dev.db"


def test_invocations_and_journal(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        inv = ex.invoke("Tasks/work", 5)
        assert inv.result(timeout=5) == 10
        pending = ex.send("Tasks/work", 60_000)
        deadline = time.monotonic() + 10  # a busy machine takes a while to start it
        while True:
            assert main(["invocations", "--db", str(db)]) == 0
            out = capsys.readouterr().out
            if f"{pending.id}  Tasks/work  running" in out or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert out.splitlines()[0].split() == ["ID", "TARGET", "STATUS", "ATTEMPTS", "NEXT",
                                               "RETRY", "CREATED"]
        assert f"{inv.id}  Tasks/work  completed" in out
        assert f"{pending.id}  Tasks/work  running" in out

        assert main(["journal", inv.id[:12], "--db", str(db)]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0].startswith(f"{inv.id}  Tasks/work  completed  attempts 1")
        assert 'run "double"' in out and "completion of #0 (ok) -> 10" in out
        # the 5 ms sleep, timed from the invocation's start: later than that on a busy machine
        assert re.search(r"sleep until \+\d+\.\d{3}s", out) and "result: 10" in out

        assert main(["journal", inv.id, "--db", str(db), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert [e["kind"] for e in data["entries"]] == ["run", "completion", "sleep",
                                                        "completion"]
        assert main(["invocations", "--db", str(db), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert {r["id"] for r in rows} == {inv.id, pending.id}


def test_cancel_while_running(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = ex.send("Tasks/work", 60_000)
        time.sleep(0.1)
        assert main(["cancel", h.id, "--db", str(db)]) == 0
        assert "the running executor applies it now" in capsys.readouterr().out
        with pytest.raises(restate.TerminalError, match="cancelled"):
            h.result(timeout=5)
        assert main(["cancel", h.id, "--db", str(db)]) == 1
        assert "has already finished" in capsys.readouterr().err


def test_kill_while_running(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = ex.send("Tasks/work", 60_000)
        time.sleep(0.1)
        assert main(["kill", h.id, "--db", str(db)]) == 0
        assert "killing" in capsys.readouterr().out
        with pytest.raises(restate.TerminalError, match="killed"):
            h.result(timeout=5)
        assert main(["kill", h.id, "--db", str(db)]) == 1
        assert "has already finished" in capsys.readouterr().err
        other = ex.send("Tasks/work", 60_000)
        assert ex.kill(other) is True
        with pytest.raises(restate.TerminalError, match="killed"):
            other.result(timeout=5)
        assert ex.kill(other) is False


def test_cancel_while_stopped_applies_at_next_start(
    db: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = ex.send("Tasks/work", 60_000)
        time.sleep(0.1)
    assert main(["cancel", h.id, "--db", str(db)]) == 0
    assert "it applies when one starts" in capsys.readouterr().out
    with restate.Executor(SERVICES, db=db) as ex:
        with pytest.raises(restate.TerminalError, match="cancelled"):
            ex.invocations()[0].result(timeout=5)


@pytest.mark.parametrize("args,message", [
    (["invocations"], "no simdurable database at"),
    (["journal", "inv_nope"], "no simdurable database at"),
    (["cancel", "inv_nope"], "no simdurable database at"),
])
def test_missing_database(db: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                          message: str) -> None:
    assert main([*args, "--db", str(db)]) == 2  # a bad argument
    assert message in capsys.readouterr().err
    assert not db.exists()


def test_unknown_invocation(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    restate.Executor(SERVICES, db=db).start().close()
    assert main(["journal", "inv_nope", "--db", str(db)]) == 1
    assert "no invocation 'inv_nope'" in capsys.readouterr().err
    assert main(["cancel", "inv_nope", "--db", str(db)]) == 1


def test_not_a_database(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db.write_text("hello")
    assert main(["invocations", "--db", str(db)]) == 2
    assert "not a simdurable database" in capsys.readouterr().err
    assert main(["serve", "tests.live.test_cli:SERVICES", "--db", str(db), "--port", "0"]) == 2
    assert "not a simdurable database" in capsys.readouterr().err
    assert db.read_text() == "hello"


@pytest.mark.parametrize("target,message", [
    ("nope_module:x", "cannot import module 'nope_module'"),
    ("tests.live.test_cli:nope", "has no attribute 'nope'"),
    ("tests.live.test_cli:double", "not a Service"),
    ("no-colon", "expected module:attribute"),
])
def test_serve_bad_targets(db: Path, capsys: pytest.CaptureFixture[str], target: str,
                           message: str) -> None:
    assert main(["serve", target, "--db", str(db)]) == 2
    assert message in capsys.readouterr().err


def test_serve_port_in_use(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "tests.live.test_cli:SERVICES", "--db", str(db),
                     "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_serve_bad_port(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "tests.live.test_cli:SERVICES", "--db", str(db),
                 "--port", "70000"]) == 2
    assert "--port must be 0..65535" in capsys.readouterr().err


def test_trace_file_reads_like_the_simulation(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    trace = tmp_path / "run.jsonl"
    with restate.Executor(SERVICES, db=db, trace=trace) as ex:
        h = ex.send("Tasks/work", 60_000)
        time.sleep(0.1)
    with restate.Executor(SERVICES, db=db, trace=trace) as ex:
        ex.cancel(h.id)
        with pytest.raises(restate.TerminalError):
            ex.invocations()[0].result(timeout=5)
    chrome = tmp_path / "run.json"
    assert main(["trace", str(trace), "--chrome", str(chrome)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["0.000s", "submit"]
    kinds = [line.split()[1] for line in lines]
    assert kinds.count("attempt") == 2 and "restart" in kinds and kinds[-1] == "done"
    events = json.loads(chrome.read_text())["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert [s["args"]["ended"].split(":")[0] for s in slices] == ["restart", "done"]
    assert main(["trace", str(trace), "--invocation", "inv_nope"]) == 1
    assert main(["trace", str(tmp_path / "none.jsonl")]) == 1
    # A --chrome file that cannot be written ended in a FileNotFoundError traceback;
    # the database named by mistake was overwritten.
    capsys.readouterr()
    assert main(["trace", str(trace), "--chrome", str(tmp_path / "no" / "run.json")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"simdurable trace: cannot write the Chrome trace {tmp_path / 'no' / 'run.json'}: "
        "No such file or directory")
    kept = db.read_bytes()
    assert main(["trace", str(trace), "--chrome", str(db)]) == 1
    assert "is an SQLite database (a dev-executor database?), which the trace would " \
           "overwrite" in capsys.readouterr().err
    assert db.read_bytes() == kept


@pytest.mark.parametrize("extra,code,message", [
    (["--grace", "-1"], 2, "--grace must be 0 or more"),
    # (taken, it stopped serve at Ctrl-C with "deadline must not be NaN", exit 1)
    (["--grace", "nan"], 2, "--grace must be 0 or more"),
    (["--max-body", "0"], 2, "max_body must be positive"),
    (["--body-timeout", "0"], 2, "body_timeout must be a positive number of seconds"),
    (["--body-timeout", "nan"], 2, "body_timeout must be a positive number of seconds"),
    (["--max-connections", "0"], 2, "max_connections must be at least 1"),
    (["--trace", "/nonexistent/dir/t.jsonl"], 1, "cannot write the trace file"),
])
def test_serve_bad_options(db: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                           code: int, message: str) -> None:
    assert main(["serve", "tests.live.test_cli:SERVICES", "--db", str(db), "--port", "0",
                 *extra]) == code
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("end", ["", "-wal"])
def test_a_trace_file_that_is_the_database_is_refused(
        db: Path, capsys: pytest.CaptureFixture[str], end: str) -> None:
    # --trace dev.db with --db dev.db appended trace lines to the database file (or,
    # for a new database, made it an empty file, which then read as one truncated).
    assert main(["serve", "tests.live.test_cli:SERVICES", "--db", str(db), "--port", "0",
                 "--trace", f"{db}{end}"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"simdurable serve: the trace file {db}{end} is the database or one of its files; "
        "name another file, like run.jsonl")
    assert not db.exists()


def test_a_trace_file_that_is_another_database_is_left_alone(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.db"
    with restate.Executor(SERVICES, db=other):
        pass
    kept = other.read_bytes()
    assert main(["serve", "tests.live.test_cli:SERVICES", "--db", str(db), "--port", "0",
                 "--trace", str(other)]) == 1
    assert (f"cannot write the trace file {other}: it is an SQLite database (the --db?), "
            "which trace lines appended to it would damage") in capsys.readouterr().err
    assert other.read_bytes() == kept


def test_an_executors_grace_that_is_not_seconds_is_refused(db: Path) -> None:
    for grace in (float("nan"), -1.0, "10"):
        with pytest.raises(ValueError, match="grace must be 0 or more seconds"):
            restate.Executor(SERVICES, db=db).serve(port=0, grace=grace)  # type: ignore[arg-type]


accounts = restate.VirtualObject("Accounts")


@accounts.handler()
async def deposit(ctx: restate.ObjectContext, amount: int) -> int:
    total = (await ctx.get("total") or 0) + amount

    def checked() -> int:
        if broken[0] and amount < 0:
            ctx.get("total")  # the bug
        return total

    total = await ctx.run_typed("check", checked)
    ctx.set("total", total)
    return total


def test_a_paused_invocation_keeps_its_key_across_restarts(db: Path) -> None:
    broken[0] = True
    with restate.Executor([accounts], db=db) as ex:
        bad = ex.send("Accounts/a/deposit", -5)
        good = ex.send("Accounts/a/deposit", 10)
        deadline = time.monotonic() + 5
        while bad.status != "paused":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        assert good.status == "queued"
    with restate.Executor([accounts], db=db) as ex:  # restarted: still paused, still first
        time.sleep(0.2)
        assert [(i.id, i.status) for i in ex.invocations()] == [(bad.id, "paused"),
                                                                 (good.id, "queued")]
        broken[0] = False
        assert ex.resume(bad.id)
        results = {i.id: i.result(timeout=5) for i in ex.invocations()}
        assert results == {bad.id: -5, good.id: 5}


def test_cancel_a_paused_invocation(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken[0] = True
    with restate.Executor([accounts], db=db) as ex:
        bad = ex.send("Accounts/b/deposit", -1)
        good = ex.send("Accounts/b/deposit", 3)
        deadline = time.monotonic() + 5
        while bad.status != "paused":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert main(["cancel", bad.id, "--db", str(db)]) == 0
        assert good.result(timeout=5) == 3
        with pytest.raises(restate.TerminalError, match="cancelled"):
            bad.result(timeout=5)
