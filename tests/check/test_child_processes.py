"""The processes a check starts end with the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import simdurable as sd
from simdurable._check._workers import Worker, can_fork, task

hangs = sd.Service("Hangs")


@hangs.handler()
async def hang(ctx: sd.Context) -> int:
    # In the run's own process: say who it is and who made it, then wait in a
    # C call that never returns (no wall-clock budget interrupts one).
    with open(os.environ["SIMDURABLE_TEST_HANG_FILE"], "w") as f:
        f.write(f"{os.getpid()} {os.getppid()}")
    time.sleep(3600)
    return 1


def _gone(pid: int) -> bool:
    """Ended (a zombie no process reaps counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _wait_for(cond: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked children")
def test_a_new_process_run_hung_in_user_code_ends_with_its_killed_worker(tmp_path, monkeypatch):
    # A worker runs the new-process runs in a child of a child of its own; the
    # run hangs in the user's handler, and the worker is killed (as a timeout
    # or an interrupted check kills it). Before, the hung run and the process it
    # was forked from stayed behind for good.
    if not can_fork():
        pytest.skip("no child process can be forked here")
    marker = tmp_path / "pids"
    monkeypatch.setenv("SIMDURABLE_TEST_HANG_FILE", str(marker))
    worker = Worker(1)
    pids: list[int] = []
    try:
        worker.send("new_process_operations", "simdurable._check._process",
                    {"services": [f"{__name__}.hangs"], "externals": [], "setup": None,
                     "invoke": "Hangs/hang", "input": None, "seed": 0, "max_steps": 1000})
        assert _wait_for(lambda: marker.exists() and marker.read_text().count(" ") == 1, 60)
        pids = [int(p) for p in marker.read_text().split()]
        run, fresh = pids
        assert not _gone(run) and not _gone(fresh)
        assert fresh != worker.proc.pid
        worker.proc.kill()
        worker.proc.wait()
        assert _wait_for(lambda: _gone(run) and _gone(fresh), 30), \
            "the hung run's processes outlived their worker"
    finally:
        worker.close()
        for pid in pids:  # (none are left once it works)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@task
def sleep_for_good(path: str) -> None:
    """A task hung in a C call, after saying which process runs it."""
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(3600)


_CHECKER = textwrap.dedent("""
    import sys
    from simdurable._check._workers import ForkedWorker, Worker
    forked, fresh = ForkedWorker(), Worker(1)
    for w, path in ((forked, sys.argv[1]), (fresh, sys.argv[2])):
        w.send("sleep_for_good", "tests.check.test_child_processes", path)
    print("sent", flush=True)
    sys.stdin.read()
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked children")
def test_workers_hung_in_a_task_end_with_the_killed_process_that_started_them(tmp_path):
    # A checking process (here a child of the test) has a forked worker and a
    # hash-seed worker, each hung in a task, and is killed as a user's
    # interrupted command may be: neither worker stays behind.
    files = [tmp_path / "forked", tmp_path / "fresh"]
    checker = subprocess.Popen([sys.executable, "-c", _CHECKER, *map(str, files)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    pids: list[int] = []
    try:
        assert checker.stdout is not None and checker.stdout.readline() == "sent\n"
        assert _wait_for(lambda: all(f.exists() and f.read_text() for f in files), 60)
        pids = [int(f.read_text()) for f in files]
        assert not any(_gone(p) for p in pids)
        checker.kill()
        checker.wait()
        assert _wait_for(lambda: all(_gone(p) for p in pids), 30), \
            "a worker outlived the process that started it"
    finally:
        checker.kill()
        checker.wait()
        for pid in pids:  # (none are left once it works)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
