"""``check(jobs=N)``: the same report whatever N, with the work done in workers."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import simdurable as sd
from examples import shop, signup
from simdurable._check import _parallel, _workers
from simdurable._check._explore import Exploration, example_blocks
from simdurable._cli import main

ORDER = {"item": "book", "amount": 10}


def check_shop(handler: str, **kw: Any) -> sd.Report:
    return sd.check(services=shop.services, invoke=f"Shop/{handler}", input=ORDER,
                    externals=shop.externals, **kw)


class Ran(list[str]):
    """The parts run in this process outside its share (none when the lanes ran them),
    and in ``shared`` the parts it ran as one of the lanes."""

    shared: list[str]


@pytest.fixture
def here() -> Iterator[Ran]:
    """The parts of a phase run in this process."""
    ran = Ran()
    ran.shared = []
    single, block = Exploration.run_single_faults, Exploration.hypothesis_block
    mine = _parallel.Lanes._mine
    lane = [False]

    def as_a_lane(self: _parallel.Lanes, *a: Any) -> Any:
        lane[0] = True
        try:
            return mine(self, *a)
        finally:
            lane[0] = False

    def run_single_faults(self: Exploration, *a: Any) -> None:
        (ran.shared if lane[0] else ran).append("single")
        single(self, *a)

    def hypothesis_block(self: Exploration, *a: Any, **kw: Any) -> int:
        (ran.shared if lane[0] else ran).append("examples")
        return block(self, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(Exploration, "run_single_faults", run_single_faults)
    mp.setattr(Exploration, "hypothesis_block", hypothesis_block)
    mp.setattr(_parallel.Lanes, "_mine", as_a_lane)
    yield ran
    mp.undo()


def test_examples_come_in_blocks_whatever_the_number_of_workers():
    assert example_blocks(20) == [20]
    assert example_blocks(60) == [25, 25, 10]
    assert example_blocks(0) == []


def test_a_passing_check_is_the_same_in_one_and_two_processes(here: Ran):
    one = check_shop("checkout", max_examples=60, jobs=1)
    assert here == ["single", "examples", "examples", "examples"]
    here.clear()
    two = check_shop("checkout", max_examples=60, jobs=2)
    assert here == []  # every part ran in a worker
    assert one.ok and two.ok
    assert one.render() == two.render()
    assert one.to_json() == two.to_json()
    assert (one.runs, one.examples) == (two.runs, two.examples)


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_failure_shrunk_by_hypothesis_is_the_same_in_one_and_more_processes(
        here: Ran, jobs: int):
    kw: dict[str, Any] = {"single_faults": False, "max_examples": 75}
    one = check_shop("checkout_unsafe", jobs=1, **kw)
    here.clear()
    two = check_shop("checkout_unsafe", jobs=jobs, **kw)
    assert "examples" not in here
    v = next(v for v in two.violations if v.kind == "duplicate-effect")
    assert "Hypothesis, shrunk" in v.found_by and len(v.fault_plan) == 1
    assert one.render() == two.render()
    assert one.to_json() == two.to_json()


def test_a_check_with_the_world_counts_its_runs_alike_in_one_and_more_processes():
    """Runs at the world's other moments are judged by the fault-free run at
    those moments, made once and kept: a worker that makes it again does not
    count it again (it did, two runs more for each worker)."""
    kw: dict[str, Any] = {"services": signup.services, "invoke": "Signup/ada/run",
                          "input": "ada@example.com", "externals": signup.externals,
                          "max_examples": 50,
                          "world": [sd.world.resolve_promise("email-link", "s3cret")]}
    one = sd.check(jobs=1, **kw)
    assert one.ok and one.moment_runs == 2
    for jobs in (2, 3):
        more = sd.check(jobs=jobs, **kw)
        assert more.render() == one.render()
        assert more.to_json() == one.to_json()


def test_single_faults_found_in_workers_are_the_first_of_their_kind():
    one = check_shop("checkout_unsafe", max_examples=0, jobs=1)
    three = check_shop("checkout_unsafe", max_examples=0, jobs=3)
    assert not one.ok and one.render() == three.render()


def test_a_target_the_workers_cannot_import_runs_here_with_a_note(here: Ran):
    local = sd.Service("Local")

    @local.handler()
    async def hello(ctx: sd.Context, name: str) -> str:
        return await ctx.run_typed("greet", lambda: f"hi {name}")

    kw: dict[str, Any] = {"services": [local], "invoke": "Local/hello", "input": "ada",
                          "max_examples": 10}
    one = sd.check(**kw)
    here.clear()
    two = sd.check(jobs=2, **kw)
    assert here == ["single", "examples"]
    assert two.notes == [*one.notes, "jobs=2: ran in one process, not in worker processes: "
                         "service 'Local' is not a module global a worker can import "
                         "(defined inside a function?)"]
    assert two.ok and two.runs == one.runs


def test_a_worker_whose_reference_run_differs_leaves_its_parts_here(
        monkeypatch: pytest.MonkeyPatch, here: Ran):
    # As a handler whose path follows the hash seed would in a warm worker (a fork
    # has this process's exploration itself): its parts run here, it is given no more.
    monkeypatch.setattr(_workers, "can_fork", lambda: False)
    monkeypatch.setattr(_parallel, "reference_digest", lambda ex, cases: f"pid {id(ex)}")
    one = check_shop("checkout", max_examples=30, jobs=1)
    here.clear()
    here.shared.clear()
    two = check_shop("checkout", max_examples=30, jobs=2)
    assert here and set(here) == {"single"}  # what the worker was sent, run again here
    assert here.shared.count("examples") == 2  # the rest: this process's share
    assert one.render() == two.render()


def test_jobs_must_be_a_positive_count():
    with pytest.raises(ValueError, match="jobs must be an integer"):
        check_shop("checkout", jobs=0)


def test_auto_is_one_worker_per_core_this_process_may_use(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert _parallel.jobs_from("jobs", "auto") == 3  # the affinity mask, not the machine
    assert _parallel.jobs_from("jobs", " AUTO ") == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(1000)), raising=False)
    assert _parallel.jobs_from("jobs", "auto") == _parallel.MAX_JOBS
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    assert _parallel.jobs_from("jobs", "auto") == 64
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert _parallel.jobs_from("jobs", "auto") == 1
    assert _parallel.jobs_from("jobs", "7") == 7  # a flag's text
    for bad in (0, 257, 2.0, True, "2.5", "many", None, "-3"):
        with pytest.raises(ValueError, match='jobs must be an integer from 1 to 256 or "auto"'):
            _parallel.jobs_from("jobs", bad)


def test_auto_shares_the_check_among_the_cores_and_leaves_the_report_as_it_was(
        here: Ran, monkeypatch: pytest.MonkeyPatch):
    one = check_shop("checkout_unsafe", max_examples=30, jobs=1)
    assert here == ["single", "examples", "examples"]
    here.clear()
    monkeypatch.setattr(_parallel, "usable_cores", lambda: 2)
    auto = check_shop("checkout_unsafe", max_examples=30, jobs="auto")
    assert here == []  # every part ran in a worker
    assert not one.ok and one.render() == auto.render()


def test_the_command_line_takes_jobs(capsys: pytest.CaptureFixture[str]):
    args = ["check", "examples.shop:checkout_unsafe", "--input", json.dumps(ORDER),
            "--max-examples", "30", "--json"]
    assert main(args) == 1
    one = capsys.readouterr().out
    assert main([*args, "-j", "2"]) == 1
    assert capsys.readouterr().out == one
    assert main([*args, "-j", "auto"]) == 1
    assert capsys.readouterr().out == one


def test_the_examples_of_a_seed_do_not_follow_the_modules_imported(tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch):
    # Hypothesis draws constants from the project's imported modules; a check must not.
    before = check_shop("checkout_unsafe", max_examples=30, hash_seeds=())
    (tmp_path / "lots_of_constants.py").write_text(
        "VALUES = [" + ", ".join(str(n) for n in range(3, 400, 7)) + "]\n"
        "NAMES = [" + ", ".join(f"'n{n}'" for n in range(60)) + "]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lots_of_constants  # noqa: F401

    after = check_shop("checkout_unsafe", max_examples=30, hash_seeds=())
    assert before.render() == after.render()


def test_scenarios_take_jobs(capsys: pytest.CaptureFixture[str]):
    args = ["scenario", "scenarios/payment-unsafe-double-charge.yaml", "--max-examples", "30"]
    status = main(args)
    one = capsys.readouterr().out
    assert main([*args, "-j", "2"]) == status
    assert capsys.readouterr().out == one
    assert main([*args, "-j", "auto"]) == status
    assert capsys.readouterr().out == one


def test_a_block_that_found_nothing_new_is_not_run_again(monkeypatch: pytest.MonkeyPatch):
    # Blocks run at once; when one finds a kind, those sent before it was known are
    # run again with it, unless they found nothing new (then they run the same).
    from simdurable._check import _workers
    from tests.corpus.pairs import all_pairs

    pair = next(p for p in all_pairs() if p.name == "random-branch")
    sent: list[int] = []
    found: dict[int, list[list[str]]] = {}
    send, receive = _workers.Worker.send, _workers.Worker.receive
    parts: dict[_workers.Worker, list[int | None]] = {}  # in the order sent

    def sending(self: _workers.Worker, task: str, module: str, args: Any) -> None:
        block = args["part"][1] if args["part"][0] == "examples" else None
        parts.setdefault(self, []).append(block)
        if block is not None:
            sent.append(block)
        send(self, task, module, args)

    def receiving(self: _workers.Worker, timeout: float) -> Any:
        answer = receive(self, timeout)
        block = parts[self].pop(0)
        if block is not None:
            tally = _parallel._undump(answer["tally"])
            found.setdefault(block, []).append([v.kind for v in tally["found"]])
        return answer

    mine = _parallel.Lanes._mine

    def own_share(self: _parallel.Lanes, part: Any, known: Any, *rest: Any) -> Any:
        answer = mine(self, part, known, *rest)
        if part[0] == "examples":
            sent.append(part[1])
            found.setdefault(part[1], []).append([v.kind for v in answer[1]["found"]])
        return answer

    one = pair.check(fixed=False, hash_seeds=())
    monkeypatch.setattr(_workers.Worker, "send", sending)
    monkeypatch.setattr(_workers.Worker, "receive", receiving)
    monkeypatch.setattr(_parallel.Lanes, "_mine", own_share)
    two = pair.check(fixed=False, hash_seeds=(), jobs=2)
    assert one.render() == two.render()
    assert sorted(set(sent)) == list(range(len(example_blocks(200))))
    for block, answers in found.items():
        assert all(answers[:-1]), f"block {block} found nothing new, yet ran again: {answers}"


def test_the_workers_start_as_the_check_begins(monkeypatch: pytest.MonkeyPatch):
    # Their start (an interpreter and imports) overlaps the check's own work, rather
    # than delaying its first part or coming after it for the hash-seed runs.
    from simdurable._check._workers import pool

    running: list[list[int]] = []
    reference = Exploration.reference

    def spying(self: Exploration) -> Any:
        running.append(sorted(hs for hs, w in pool()._workers.items() if w.alive()))
        return reference(self)

    monkeypatch.setattr(Exploration, "reference", spying)
    local = sd.Service("Local")

    @local.handler()
    async def hello(ctx: sd.Context, name: str) -> str:
        return await ctx.run_typed("greet", lambda: f"hi {name}")

    pool().close()
    # (under pytest-xdist another thread runs: no fork, the warm workers take the parts)
    sd.check(services=[local], invoke="Local/hello", input="ada", max_examples=5, jobs=3)
    check_shop("checkout", max_examples=5)  # jobs=1: the hash-seed workers
    check_shop("checkout", max_examples=5, jobs=3)  # parts in workers forked from here
    monkeypatch.setattr(_workers, "can_fork", lambda: False)
    check_shop("checkout", max_examples=5, jobs=4)  # here and in 3 warm workers
    # none for services they cannot import
    assert running == [[], [1, 2], [1, 2], [1, 2, 3]]


def test_a_worker_started_for_another_import_path_is_replaced(tmp_path, monkeypatch):
    """A warm worker imports from the sys.path it was started with: kept for another
    project's check, it would not find that project's modules (the check then ran
    in one process), or would run its own stale copies of same-named ones."""
    from simdurable._check._workers import WorkerPool

    workers = WorkerPool()
    try:
        with workers.reserve([7]) as (first,):
            pass
        with workers.reserve([7]) as (same,):
            assert same is first  # the same path: warm, reused
        monkeypatch.syspath_prepend(str(tmp_path))
        with workers.reserve([7]) as (second,):
            assert second is not first and second.alive()
        assert first.proc.poll() is not None  # the old one was closed, not leaked
    finally:
        workers.close()


def test_a_check_that_fails_leaves_no_answer_behind_in_the_warm_workers(
        monkeypatch: pytest.MonkeyPatch):
    # Sent two parts ahead, a warm worker may owe answers when the check fails here;
    # kept as it was, it would hand them to the next check's hash-seed comparison.
    monkeypatch.setattr(_workers, "can_fork", lambda: False)
    mine = _parallel.Lanes._mine

    def failing(self: _parallel.Lanes, *a: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(_parallel.Lanes, "_mine", failing)
    with pytest.raises(KeyboardInterrupt):
        check_shop("checkout", max_examples=100, jobs=2)
    monkeypatch.setattr(_parallel.Lanes, "_mine", mine)
    again = check_shop("checkout", max_examples=0)  # the hash-seed comparison: workers 1, 2
    assert again.ok and again.render() == check_shop("checkout", max_examples=0).render()


def test_a_worker_never_used_is_not_waited_for_when_closed():
    # Started ahead for a check that then failed (a target that does not import), it
    # may still be importing simdurable: the command ends without waiting for that.
    import signal

    from simdurable._check._workers import WorkerPool

    workers = WorkerPool()
    try:
        workers.start([9])
        unused = workers._workers[9]
    finally:
        workers.close()
    assert unused.proc.poll() == -signal.SIGKILL  # ended at once, holding nothing
    # (one that served requests is told to stop and ends by itself: the test of a
    # forked worker that ends when told)


def test_the_parts_go_to_workers_forked_from_this_process(here: Ran,
                                                          monkeypatch: pytest.MonkeyPatch):
    # A fork has the interpreter and the imports already: no second of start-up per
    # worker before the first part, as a fresh interpreter has.
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        assert _workers.can_fork(), f"another thread runs here: {threading.enumerate()}"
    else:  # pytest-xdist's own thread runs here, waiting on its channel: fork anyway
        monkeypatch.setattr(_workers, "can_fork", lambda: True)
    forked: list[int] = []
    init = _workers.ForkedWorker.__init__

    def forking(self: _workers.ForkedWorker) -> None:
        init(self)
        forked.append(self.proc.pid)  # type: ignore[attr-defined]

    monkeypatch.setattr(_workers.ForkedWorker, "__init__", forking)
    one = check_shop("checkout_unsafe", max_examples=60, hash_seeds=())
    here.clear()
    here.shared.clear()
    two = check_shop("checkout_unsafe", max_examples=60, hash_seeds=(), jobs=3)
    # Two workers for the whole check, and this process: nothing falls back here.
    assert len(forked) == 2 and here == [] and here.shared
    assert one.render() == two.render()
    assert not _workers._FORKED  # the check's workers are gone when it ends


def test_the_workers_are_fed_between_the_runs_of_this_process_s_parts(
        monkeypatch: pytest.MonkeyPatch):
    # A worker that ends its parts while this process runs one of its own is sent
    # more at the next run's end, not when this process's part ends.
    mine = _parallel.Lanes._mine
    calls: list[tuple[int, int]] = []

    def counting(self: _parallel.Lanes, part: Any, known: Any, between: Any) -> Any:
        fed = [0]

        def feed() -> None:
            fed[0] += 1
            between()

        answer = mine(self, part, known, feed)
        calls.append((fed[0], answer[1]["runs"]))
        return answer

    monkeypatch.setattr(_parallel.Lanes, "_mine", counting)
    one = check_shop("checkout", max_examples=60, hash_seeds=())
    two = check_shop("checkout", max_examples=60, hash_seeds=(), jobs=2)
    # After each run of the part (a twin run, counted with its run, is not another)
    assert calls and all(0 < fed <= runs for fed, runs in calls)
    assert sum(fed for fed, _ in calls) > len(calls)  # not only as a part ends
    assert one.render() == two.render()


def test_a_forked_worker_explores_with_this_process_s_reference_run(
        here: Ran, monkeypatch: pytest.MonkeyPatch):
    # It neither imports the target nor runs the reference run again: it has them.
    def no_import(spec: Any) -> Any:
        raise ImportError("a forked worker imported the target")

    monkeypatch.setattr(_parallel, "target_of", no_import)
    one = check_shop("checkout_unsafe", max_examples=60, hash_seeds=())
    here.clear()
    two = check_shop("checkout_unsafe", max_examples=60, hash_seeds=(), jobs=2)
    assert here == []  # no worker failed, no part fell back here
    assert one.render() == two.render()
    assert not _parallel._CURRENT  # this process keeps no worker's state


def test_without_forking_the_parts_go_to_the_warm_workers(here: Ran,
                                                          monkeypatch: pytest.MonkeyPatch):
    # Another thread runs (or not Linux): fresh interpreters, PYTHONHASHSEED 1 to N.
    monkeypatch.setattr(_workers, "can_fork", lambda: False)
    monkeypatch.setattr(_workers, "ForkedWorker", None)
    one = check_shop("checkout_unsafe", max_examples=30, hash_seeds=())
    here.clear()
    two = check_shop("checkout_unsafe", max_examples=30, hash_seeds=(), jobs=2)
    assert here == []
    assert one.render() == two.render()


@_workers.task
def shout(args: Any) -> int:
    """In a worker: print, as a handler may."""
    print("loud", args)
    return 1


def test_a_forked_worker_answers_apart_from_what_it_prints(capfd: pytest.CaptureFixture[str]):
    w = _workers.ForkedWorker()
    try:
        w.send("shout", __name__, "out")
        assert w.receive(30) == 1
    finally:
        w.close()
    assert "loud" not in capfd.readouterr().out  # in the worker's log, not this output


def test_a_worker_sent_several_requests_answers_each_in_order():
    # Answers read together from the pipe wait in this process: ``select`` would
    # not see the second one, ``ready`` does.
    import fcntl
    import termios

    w = _workers.ForkedWorker()
    try:
        w.send("shout", __name__, "one")
        w.send("shout", __name__, "two")
        both = 2 * len(json.dumps({"ok": 1}) + "\n")
        waiting = bytearray(4)
        for _ in range(10_000):  # until both answers are in the pipe (at most 10 s)
            fcntl.ioctl(w.fileno(), termios.FIONREAD, waiting)
            if int.from_bytes(waiting, sys.byteorder) >= both:
                break
            _workers.ready([w], 0.001)
        assert w.receive(30) == 1
        assert w.has_answer() and _workers.ready([w], 0) == [w]
        assert w.receive(0) == 1
        assert not w.has_answer() and _workers.ready([w], 0) == []
    finally:
        w.close()


def test_a_forked_worker_ends_when_told_whatever_was_forked_after_it():
    # A later fork holds copies of this process's pipes; it lets go of the earlier
    # workers' ones, or they would wait for it to end before seeing their requests end.
    first = _workers.ForkedWorker()
    second = _workers.ForkedWorker()
    try:
        first.close()
        assert first.proc.poll() == 0  # ended by itself, not killed after a timeout
    finally:
        second.close()
    assert second.proc.poll() == 0


def test_the_watchdog_thread_stops_only_when_idle():
    from simdurable import _watchdog

    with _watchdog.wall_budget(60):
        assert not _watchdog.stop_idle()  # a budget runs: the thread watches it
        assert any(t.name == "simdurable-watchdog" for t in threading.enumerate())
    assert _watchdog.stop_idle()
    assert not any(t.name == "simdurable-watchdog" for t in threading.enumerate())
    with _watchdog.wall_budget(60):  # the next budget starts it again
        assert any(t.name == "simdurable-watchdog" for t in threading.enumerate())
