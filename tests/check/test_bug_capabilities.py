"""The capabilities the bug corpus relies on, each shown on its own."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd
from simdurable import DidNotReproduce
from simdurable._check._chooser import DataExplorer, Swarm, step_attempts
from simdurable._check._workers import pool
from simdurable.runtime import FaultPoint
from simdurable.runtime._retry import step_backoff
from tests.corpus.pairs import all_pairs

PAIRS = {p.name: p for p in all_pairs()}


def test_hash_seeds_are_varied_by_default_in_workers_started_once():
    pair = PAIRS["set-iteration"]
    first = pair.check(fixed=False, max_examples=0)
    assert first.kinds == ["nondeterminism"]
    assert "PYTHONHASHSEED=1 and 2" in first.violations[0].message
    minus, plus = first.violations[0].journal_diff.splitlines()[-2:]
    assert minus.index("(PYTHONHASHSEED=1)") == plus.index("(PYTHONHASHSEED=2)")  # one column
    pids = {hs: w.proc.pid for hs, w in pool()._workers.items()}
    assert sorted(pids) == [1, 2]
    assert pair.check(fixed=True, max_examples=0).ok
    assert {hs: w.proc.pid for hs, w in pool()._workers.items()} == pids  # reused
    # Without other processes, no replay in this one shows the bug.
    assert pair.check(fixed=False, max_examples=0, hash_seeds=()).ok


svc = restate.Service("Ambient")


@svc.handler()
async def reads(ctx: restate.Context, folder: str) -> str:
    os.environ.get("HOME")
    os.listdir(folder)
    os.path.exists(folder)
    time.strftime("%H")
    os.getpid()
    sorted([object(), object()], key=lambda o: id(o))
    return "ok"


@svc.handler()
async def pure(ctx: restate.Context, folder: str) -> str:
    time.strftime("%H", time.gmtime(0))
    time.localtime(0)
    ctx.random().choice(["a", "b"])
    await ctx.run_typed("inside", lambda: (os.listdir(folder), os.getenv("HOME"))[1])
    return "ok"


def test_every_ambient_read_outside_a_step_is_reported_with_its_line():
    sim = sd.Simulation([svc], seed=0, strict=True)
    sim.invoke("Ambient/reads", ".")
    sim.run()
    found = {p.detail.split(" was called")[0]: p.source for p in sim.problems}
    assert set(found) == {"os.environ[...]", "os.listdir()", "os.path.exists()",
                          "time.strftime() without a time", "os.getpid()", "id()"}
    assert all(src and src.startswith("test_bug_capabilities.py:") for src in found.values())


def test_pure_calls_reads_inside_steps_and_ctx_random_are_not_reported():
    sim = sd.Simulation([svc], seed=0, strict=True)
    h = sim.invoke("Ambient/pure", ".")
    sim.run()
    assert h.result() == "ok" and sim.problems == []


@svc.handler()
async def lazy(ctx: restate.Context, module: str) -> str:
    __import__(module)  # as `import x` in the handler: imported on its first run
    return "ok"


@pytest.mark.parametrize(("top_level", "found"), [
    ("VALUE = 1\n", []),
    ("import time\nSTARTED = time.time()\n", ["time.time() was called outside a step"]),
])
def test_an_import_in_the_handler_is_judged_by_the_module_code_not_the_import_system(
        tmp_path, monkeypatch, top_level, found):
    # The import system's os.stat of the path entries was reported at the import's
    # line (a false alarm on every lazily imported module); the module's own code is not
    # the import system's.
    name = f"lazily_imported_{len(top_level)}"
    (tmp_path / f"{name}.py").write_text(top_level)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    sim = sd.Simulation([svc], seed=0, strict=True)
    h = sim.invoke("Ambient/lazy", name)
    sim.run()
    assert h.result() == "ok"
    assert [p.detail.split(";")[0] for p in sim.problems] == found
    assert all(p.source == f"{name}.py:2" for p in sim.problems)


HOOK = """
import importlib.machinery, os, time


class Finder:
    # A third party's import hook (as pytest's assertion rewriter, or a tracer's):
    # it looks at the file of every module imported.
    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.origin and os.path.exists(spec.origin):
            self.seen = time.time()
        return None
"""


def test_an_import_hook_run_for_the_handlers_import_is_not_the_handlers_call(
        tmp_path, monkeypatch):
    # pytest's assertion rewriter asks os.path.exists() of a test_*.py module imported
    # the first time in a handler: that was reported at rewrite.py's line.
    packages = tmp_path / "site-packages"
    packages.mkdir()
    (packages / "import_hook_of_a_library.py").write_text(HOOK)
    (tmp_path / "test_imported_by_a_handler.py").write_text("VALUE = 1\n")
    (tmp_path / "lazily_imported_under_a_hook.py").write_text(
        "import time\nSTARTED = time.time()\n")
    monkeypatch.syspath_prepend(str(packages))
    monkeypatch.syspath_prepend(str(tmp_path))
    import import_hook_of_a_library

    monkeypatch.setattr(sys, "meta_path", [import_hook_of_a_library.Finder(), *sys.meta_path])
    assert any(type(f).__name__ == "AssertionRewritingHook" for f in sys.meta_path)
    found = []
    for name in ("test_imported_by_a_handler", "lazily_imported_under_a_hook"):
        monkeypatch.delitem(sys.modules, name, raising=False)
        sim = sd.Simulation([svc], seed=0, strict=True)
        h = sim.invoke("Ambient/lazy", name)
        sim.run()
        assert h.result() == "ok"
        found += [(p.detail.split(";")[0], p.source) for p in sim.problems]
    # The module's own top-level code is still judged.
    assert found == [("time.time() was called outside a step", "lazily_imported_under_a_hook.py:2")]


def test_a_lossy_step_result_is_reported_at_the_step_and_its_line():
    report = PAIRS["int-keys-result"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "serialization")
    assert 'step "levels" returned a dict with int keys' in v.message
    assert "{'101': 3" in v.message and v.step == "levels"
    # The handler gets the stored form on its first run too (as from restate-sdk).
    assert "on the first run as on every replay" in v.message
    assert v.source and v.source.startswith("journal.py:")


def test_a_key_minted_inside_the_step_is_a_duplicate_effect():
    report = PAIRS["fresh-uuid-key-per-attempt"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "duplicate-effect")
    assert "bank.refund" in v.message and "each attempt used a new idempotency key" in v.message


def test_a_step_is_delayed_past_the_handlers_longest_timer():
    report = PAIRS["timeout-race-15min"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "invariant")
    assert "delay(step=capture" in str(v.fault_plan) and "by=901s" in str(v.fault_plan)


race = restate.Service("Deadline")


@race.handler()
async def stamp(ctx: restate.Context, x: int) -> str:
    now = await ctx.time()
    await ctx.sleep(timedelta(seconds=1))
    return f"{x}@{int(now)}"


def test_an_outcome_a_slow_machine_reaches_is_not_blamed_on_the_faults():
    report = sd.check(services=[race], invoke="Deadline/stamp", input=1, max_examples=30)
    assert report.ok, report.render()


def test_every_attempt_of_a_step_with_a_retry_limit_loses_its_response_as_one_fault():
    """A step that gives up after its effect: every attempt's response lost,
    tried once per step in the single-fault phase (no generated example needed)."""
    pair = PAIRS["undo-registered-after-step"]
    report = pair.check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "invariant")
    assert v.found_by.startswith("the single-fault phase")
    assert [(f.kind, f.step, f.attempt) for f in v.fault_plan.faults] == [
        ("lose-response", "charge", n) for n in (1, 2, 3)]
    assert pair.check(fixed=True, max_examples=0).ok
    assert pair.check(fixed=False, max_examples=0).render() == report.render()  # same seed


def test_only_a_steps_own_retry_limit_bounds_the_responses_lost_in_a_row():
    assert step_attempts(None) is None  # the invocation's policy: no step gives up
    assert step_attempts(step_backoff(4, None, None, None, None)) == 4
    # 50 ms, then 100, 200, 400: the fifth failure is 750 ms after the first
    assert step_attempts(step_backoff(None, timedelta(milliseconds=700), None, None, None)) == 5


def test_a_step_value_no_serde_can_store_ends_the_check_after_the_reference_run():
    """It fails every attempt the same way: exploring faults would only repeat
    its 70 retries in every run (seconds, for a verdict known at once)."""
    report = PAIRS["set-result"].check(fixed=False)
    assert report.kinds == ["retry-loop", "serialization"]
    v = next(v for v in report.violations if v.kind == "retry-loop")
    assert v.message.startswith('Tags/label step "tags" (#0) failed: SerializationError(')
    assert report.single_faults == 0 and report.examples == 0
    assert PAIRS["set-result"].check(fixed=True, max_examples=0).ok


def test_a_step_that_gave_up_is_the_runs_one_failure_for_good():
    """After a step with a retry limit lost the response of every attempt, its
    compensation is not failed for good as well (that is a fault to ask for)."""
    def point(phase: str, index: int, attempt: int, name: str) -> FaultPoint:
        return FaultPoint(phase, "inv", "Undo/order", index, name, "pay.charge", attempt, 0)

    def explorer(bounds: dict) -> DataExplorer:
        return DataExplorer(lambda n: n - 1, Swarm(frozenset({"lose-response", "terminal"}),
                                                   0.3, 6), bounds=bounds)

    for bound, refund in ((3, None), (4, "terminal")):
        e = explorer({("Undo/order", 0): bound})
        assert [e(point("lose-response", 0, n, "charge")).kind for n in (1, 2, 3)] == [
            "lose-response"] * 3
        fault = e(point("step", 2, 4, "refund"))
        assert (fault and fault.kind) == refund


def test_a_cancelled_invocations_compensation_is_not_failed_for_good_too():
    """A cancellation is the invocation's failure for good: the steps after it
    are its compensation, where neither the single faults nor the generated
    examples inject a terminal failure by default (the bug stays found)."""
    pair = PAIRS["compensation-skipped-on-cancel"]
    assert pair.check(fixed=True, max_examples=0).ok
    assert "invariant" in pair.check(fixed=False, max_examples=0).kinds

    def point(invocation: str) -> FaultPoint:
        return FaultPoint("step", invocation, "Trip/book", 4, "release", "run", 1, 0)

    swarm = Swarm(frozenset({"terminal"}), 0.3, 6)
    e = DataExplorer(lambda n: n - 1, swarm, compensating=lambda p: p.invocation == "gone")
    assert e(point("gone")) is None
    e = DataExplorer(lambda n: n - 1, swarm, compensating=lambda p: p.invocation == "gone")
    assert (e(point("live")) or sd.Fault("crash")).kind == "terminal"


def test_a_callee_late_on_a_slow_machine_is_not_blamed_on_the_faults():
    """A crash, then the callee's step late past the caller's timer: the timer
    wins, as it does on a machine that is merely slow in the callee (the
    fault-free run with the callee's step as late ends the same way)."""
    plan = "crash(step=reserve, index=0, phase=before, attempt=1); " \
           "delay(step=reserve, index=0, attempt=2, by=60s)"
    pair = PAIRS["timer-beats-call-effect-left"]
    with pytest.raises(DidNotReproduce):  # (it was outcome-changed)
        pair.check(fixed=True, replay=plan, seed=4294967295)
    assert pair.check(fixed=False, replay=plan, seed=4294967295).kinds == ["invariant"]


def test_world_callers_finishing_in_another_order_after_a_crash_is_not_blamed_on_it():
    """Approve and reject race to complete one promise; a crash changes which
    starts first. A fault-free run with the world's calls in the other order
    ends the same way, so the correct twin is not flagged; the bug is still."""
    pair = PAIRS["decision-told-before-promise-completed"]
    for seed in (1, 2):
        report = pair.check(fixed=True, seed=seed)
        assert report.ok, report.render()
    assert "invariant" in pair.check(fixed=False, seed=1, max_examples=0).kinds


def test_a_step_a_cancellation_beat_is_late_on_a_slow_machine_too():
    """A restart, then the job's step late: the pipeline's cancellation reaches
    the job before the step ran, as it does when the step is merely slow
    (the fault-free run with the step late past the run's end ends the same)."""
    plan = ("restart(step=status, index=0, phase=after-store, attempt=1); "
            "delay(step=submit, index=1, attempt=2, by=10ms)")
    pair = PAIRS["cancel-leaves-callee-half-done"]
    with pytest.raises(DidNotReproduce):  # (it was outcome-changed)
        pair.check(fixed=True, replay=plan, seed=7596)
    assert "invariant" in pair.check(fixed=False, max_examples=0).kinds


def test_a_terminal_error_the_handler_raises_itself_makes_the_steps_it_handles_compensation():
    """A saga refuses on its own (``raise TerminalError`` inside its ``try``)
    and compensates in ``except TerminalError``: its compensation steps are
    not failed for good as well, as after a step that failed; the refusal
    raised outside the ``try`` is still found."""
    pair = PAIRS["own-terminal-error-not-compensated"]
    assert pair.check(fixed=True, max_examples=0).ok
    assert pair.check(fixed=False, max_examples=0).kinds == ["invariant"]


def test_a_terminal_error_kept_after_its_except_block_makes_the_undo_steps_compensation():
    """Restate's Go saga ported to Python keeps the failure in a variable and
    runs its undo steps after the ``except`` block: they are not failed for
    good as well; the twin that drops the failure once undone is still found."""
    pair = PAIRS["compensated-saga-ends-as-success"]
    assert pair.check(fixed=True, max_examples=0).ok
    assert pair.check(fixed=False, max_examples=0).kinds == ["invariant"]


def test_the_steps_a_handler_runs_after_its_compensation_may_fail_for_good_again():
    """A handler refuses on its own, undoes its flight, and carries on by
    train: only the undo step is compensation. Paying the fare may fail for
    good, which the handler that leaves its train booked then does not undo."""
    pair = PAIRS["fallback-after-compensation-not-undone"]
    report = pair.check(fixed=False, max_examples=0)
    assert report.kinds == ["invariant"]
    assert str(report.violations[0].fault_plan).startswith("terminal(step=pay-train,")
    assert pair.check(fixed=True, max_examples=0).ok


class StepFailed:
    """A failure record, as saga libraries keep one (the step and its error)."""

    def __init__(self, step: str, error: Exception) -> None:
        self.step = step
        self.error = error


def kept_saga(keep: object) -> object:
    from tests.corpus.pairs import sagas

    service = restate.Service("KeptIn")

    @service.handler()
    async def book(ctx: restate.Context, trip: str) -> str:
        kept = None
        try:
            await ctx.run_typed("book-flight", sagas.book, what="flight", trip=trip)
            raise restate.TerminalError("no hotel left", 409)
        except restate.TerminalError as err:
            kept = keep(err)  # type: ignore[operator]
        if kept is not None:
            await ctx.run_typed("cancel-flight", sagas.cancel, what="flight", trip=trip)
            raise restate.TerminalError("trip undone", 409)
        return "booked"

    return service


@pytest.mark.parametrize("keep", [
    pytest.param(lambda err: err, id="variable"),
    pytest.param(lambda err: [err], id="list"),
    pytest.param(lambda err: {"hotel": err}, id="dict"),
    pytest.param(lambda err: StepFailed("hotel", err), id="record"),
])
def test_a_terminal_error_the_handler_keeps_makes_the_steps_it_runs_compensation(keep):
    from tests.corpus.pairs import sagas

    report = sd.check(services=[kept_saga(keep)], invoke="KeptIn/book", input="t1",
                      externals=[sagas.travel], invariant=sagas.nothing_left_booked_on_failure,
                      max_examples=0)
    assert report.ok, report.render()


try:
    import restate as r_sdk
    from restate.exceptions import TerminalError as RestateTerminalError
except ImportError:  # restate-sdk is a dev extra: its test is skipped without it
    r_sdk = None


def hosted_budget() -> object:
    """Restate's saga example as a restate-sdk service, refusing on its own."""
    from tests.corpus.pairs import sagas

    service = r_sdk.Service("HostedBudget")

    @service.handler()
    async def book(ctx: r_sdk.Context, trip: str) -> str:
        undo = []
        try:
            undo.append("flight")
            await ctx.run_typed("book-flight", sagas.book, what="flight", trip=trip)
            if await ctx.run_typed("quote-hotel", sagas.quote, what="hotel", trip=trip) > 500:
                raise RestateTerminalError("over budget", 402)
        except RestateTerminalError:
            for what in reversed(undo):
                await ctx.run_typed(f"cancel-{what}", sagas.cancel, what=what, trip=trip)
            raise
        return "booked"

    return service


@pytest.mark.skipif(r_sdk is None, reason="restate-sdk is not installed")
def test_restates_own_terminal_error_raised_by_a_hosted_saga_makes_its_compensation():
    from tests.corpus.pairs import sagas

    report = sd.check(services=[hosted_budget()], invoke="HostedBudget/book", input="t1",
                      externals=[sagas.travel], invariant=sagas.nothing_left_booked_on_failure,
                      max_examples=0)
    assert report.ok, report.render()


def test_a_step_failing_on_every_attempt_says_its_exception_never_reaches_the_handler():
    """An ``except ConnectionError`` around a step's await never runs: the report
    says why, and what reaches the handler instead."""
    pair = PAIRS["step-error-caught-by-type"]
    report = pair.check(fixed=False, max_examples=0)
    assert report.kinds == ["retry-loop"]
    assert report.violations[0].message.endswith(
        "retrying cannot fix it; its exception never reaches the handler's except (the "
        "attempt ends, and the step runs again): give the step RunOptions(max_attempts=...) "
        "and catch the TerminalError it raises when they run out")
    assert pair.check(fixed=True, max_examples=0).ok
    unstorable = PAIRS["set-result"].check(fixed=False, max_examples=0)
    assert "never reaches" not in unstorable.render()


def test_invocations_at_once_that_never_finish_are_stuck_not_a_lost_update():
    """Two transfers waiting on each other's key: the deadlock is the finding;
    what the unfinished invocations left is no ending to compare with the
    one-at-a-time orders (it was also reported not-serializable)."""
    pair = PAIRS["cross-call-deadlock"]
    report = pair.check(fixed=False, max_examples=0)
    assert report.kinds == ["invariant", "stuck"]
    assert "a deadlock" in next(v for v in report.violations if v.kind == "stuck").details
    assert pair.check(fixed=True, max_examples=0).ok


def test_a_race_on_a_generated_schedule_is_not_the_faults_doing():
    # Two reservations in flight: the broker numbers them in the order it sees
    # them. A generated schedule ran the hotel first, then a crash; the seed's
    # own fault-free schedule never does, and the twin was flagged
    # `outcome-changed` (seed 1). A fault-free run on the faulty run's own
    # schedule ends the same way: a race the handler allows.
    pair = PAIRS["asyncio-gather-over-steps"]
    assert pair.check(fixed=True, seed=1, max_examples=30).ok


def test_steps_run_in_the_faulty_runs_order_without_faults():
    # Three welcome mails in flight, numbered by the mail service in the order
    # their closures ran: a crash's retries and replays make other decisions
    # than a fault-free run, so the schedule's decisions alone do not give that
    # order; each step late by a millisecond more than the one before does.
    pair = PAIRS["lambda-captures-loop-variable"]
    assert pair.check(fixed=True, seed=1, max_examples=30).ok
    assert pair.check(fixed=False, seed=1, max_examples=0).kinds == ["late-binding"]


@pytest.mark.parametrize(("name", "detail"), [
    ("closure-list-cleared-under-step", "ran with part=[], but part was ['"),
    ("object-argument-changed-under-step", "ran with notice.order='o-3', but notice.order "
                                           "was 'o-"),
])
def test_what_a_closure_holds_or_an_argument_object_changed_in_place_is_late_binding(
        name: str, detail: str) -> None:
    # A list a step's closure holds and an object handed to it, changed by the
    # handler before the step ran: before, the closure's variables were
    # compared by identity (the same list) and only lists and dicts among the
    # arguments were copied. The twins bind a copy, or make a new object.
    pair = PAIRS[name]
    report = pair.check(fixed=False, max_examples=0)
    assert report.kinds == ["late-binding"], report.render()
    assert detail in report.violations[0].message, report.violations[0].message
    assert pair.check(fixed=True, max_examples=0).ok


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a forked child")
def test_a_module_cache_that_decides_a_step_is_caught_warm():
    # Without the setup that empties it, the cache is warm from the first
    # check on: every run and replay of a check agrees, and only the first
    # check of a process found it. The reference run in a child with the
    # user's modules imported anew, then again there, differs.
    pair = dataclasses.replace(PAIRS["process-cache-decides-step"], setup=None)
    for _ in range(3):
        report = pair.check(fixed=False, max_examples=0)
        assert report.kinds == ["nondeterminism"], report.render()
        assert pair.check(fixed=True, max_examples=0).ok
    violation = report.violations[0]
    assert violation.found_by == "the reference run in a new process, then again in the same process"
    assert violation.journal_diff.splitlines() == [
        '  - #0   run "fetch-rate"   (the first run in a new process)',
        '  + #0   run "book"         (the next run in the same process)']
    # Turned off with the hash-seed runs.
    assert pair.check(fixed=False, max_examples=0, hash_seeds=()).ok



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a forked child")
def test_the_new_process_is_imported_once_and_again_when_a_file_changes():
    # The new-process runs fork a process that imported the user's modules
    # anew and ran nothing; it is kept for the next checks of the same services
    # (each run in a child of it, so each still starts as a new process) and
    # made again once one of the files it imported changes.
    from simdurable._check import _process
    from simdurable._check._workers import can_fork

    if not can_fork():
        pytest.skip("no child process can be forked here")
    pair = PAIRS["process-cache-decides-step"]
    base = "tests.corpus.pairs.determinism."
    spec = {"services": [base + "convert_bug"], "externals": [base + "bank", base + "mail"],
            "setup": None, "invoke": pair.invoke, "input": pair.input, "seed": 0,
            "max_steps": 1000}
    first = ['run "fetch-rate"', 'run "book"']
    try:
        for _ in range(2):  # the second time from the same process, as fresh
            [[[_, ops, _, _]], [[_, again, _, _]]] = _process.new_process_operations(spec)["ok"]
            assert (ops, again) == (first, ['run "book"'])
        [fresh] = _process._FRESH.values()
        fresh.files = {path: [0, 0] for path in fresh.files}  # as if edited since
        assert not fresh.current()
        assert _process.new_process_operations(spec)["ok"][0][0][1] == first
        [renewed] = _process._FRESH.values()
        assert renewed.pid != fresh.pid and renewed.current()
    finally:
        for fresh in _process._FRESH.values():
            fresh.close()
        _process._FRESH.clear()



leaving = restate.Service("Leaving")


@leaving.handler()
async def leave(ctx: restate.Context, code: int) -> int:
    os._exit(code)  # a handler that ends its process without a word


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a forked child")
def test_a_new_process_run_that_ends_its_process_is_told_not_waited_for():
    from simdurable._check import _process
    from simdurable._check._workers import can_fork

    if not can_fork():
        pytest.skip("no child process can be forked here")
    spec = {"services": [f"{__name__}.leaving"], "externals": [], "setup": None,
            "invoke": "Leaving/leave", "input": 0, "seed": 0, "max_steps": 1000}
    try:
        for _ in range(2):  # and the next check is not left waiting either
            assert _process.new_process_operations(spec) == {
                "error": "the forked child died without an answer"}
    finally:
        for fresh in _process._FRESH.values():
            fresh.close()
        _process._FRESH.clear()


def test_asyncio_gather_over_context_futures_is_a_handler_error_alone():
    # asyncio reads PYTHONASYNCIODEBUG as it makes the event loop the handler
    # asked for: its own setting, not an environment read of the handler's.
    report = PAIRS["asyncio-gather-over-steps"].check(fixed=False, max_examples=0)
    assert report.kinds == ["handler-error"], report.render()
    assert "_GatheringFuture" in report.violations[0].message


def test_time_sleep_in_a_handler_is_reported_and_ends_the_check():
    # Each run would block for real: 200 generated examples of a half-second
    # wait were minutes of a check that found nothing.
    report = PAIRS["time-sleep-in-handler"].check(fixed=False)
    assert report.kinds == ["nondeterministic-call"], report.render()
    assert report.violations[0].message.startswith("time.sleep() was called outside a step")
    assert "ctx.sleep(timedelta(...))" in report.violations[0].message
    assert report.violations[0].source.startswith("waiting.py:")
    assert any("blocks in time.sleep()" in n for n in report.notes)
    assert report.runs <= 2


# What the step reads decides whether the handler trusts a module-level set of
# keys seen: in "remember" mode a process that ran it before skips a step.
moody = restate.Service("Moody")
_MOODY_SEEN: set[str] = set()


def _mode() -> str:
    return os.environ.get("SIMDURABLE_TEST_MODE", "plain")


def _greet(key: str) -> str:
    return f"hello {key}"


@moody.handler()
async def welcome(ctx: restate.Context, key: str) -> str:
    mode = await ctx.run_typed("mode", _mode)
    if mode == "remember" and key in _MOODY_SEEN:
        return "again"
    _MOODY_SEEN.add(key)
    return await ctx.run_typed("greet", _greet, key=key)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a forked child")
def test_the_new_process_is_made_again_when_the_environment_changes(monkeypatch):
    # The variable is changed between checks; the new-process runs read it as
    # the checking process has it now, not as the worker had it when it started
    # or as the kept new process had it when it was made. (Warm here, the set
    # hides the bug from every in-process run: only the new process shows it.)
    _MOODY_SEEN.add("k")
    for mode, ok in (("remember", False), ("plain", True), ("remember", False)):
        monkeypatch.setenv("SIMDURABLE_TEST_MODE", mode)
        report = restate.check([moody], "Moody/welcome", "k", max_examples=0,
                               hash_seeds=(1,))
        assert report.ok is ok, (mode, report.render())
        if not ok:
            assert report.violations[0].found_by == (
                "the reference run in a new process, then again in the same process")


# What a step reads of the environment decides which step follows.
routed = restate.Service("Routed")


def _route() -> str:
    return os.environ.get("SIMDURABLE_TEST_ROUTE", "mail")


@routed.handler()
async def send(ctx: restate.Context, to: str) -> str:
    route = await ctx.run_typed("route", _route)
    return await ctx.run_typed(f"by-{route}", _greet, key=to)


def test_a_worker_started_before_the_environment_changed_is_started_again(monkeypatch):
    # A hash-seed worker started while a variable had its old value, and one
    # started after it changed: their runs differed, a false alarm blamed on
    # the hash seeds. A worker is started again once the environment changes.
    pool().close()
    monkeypatch.setenv("SIMDURABLE_TEST_ROUTE", "mail")
    assert restate.check([routed], "Routed/send", "ann", max_examples=0, hash_seeds=(1,)).ok
    monkeypatch.setenv("SIMDURABLE_TEST_ROUTE", "sms")
    report = restate.check([routed], "Routed/send", "ann", max_examples=0, hash_seeds=(1, 2))
    assert report.ok, report.render()
    assert not report.notes, report.notes


def test_a_call_made_again_after_its_timeout_is_a_duplicate_effect(monkeypatch):
    pair = PAIRS["call-made-again-after-timeout"]
    v = next(v for v in pair.check(fixed=False, max_examples=0).violations
             if v.kind == "duplicate-effect")
    assert 'Till/pay called Payments/charge("o1") again with the same argument' in v.message
    assert "card.charge" in v.message and "(calls #0 and #3)" in v.message
    assert "delay(step=charge" in str(v.fault_plan)
    assert not pair.check(fixed=True, max_examples=0).violations  # one key: the call attaches
    # Without the callers' records compared, the second charge passed.
    import simdurable._check._explore as explore
    monkeypatch.setattr(explore, "repeated_call_violations", lambda run, ref: [])
    assert not pair.check(fixed=False, max_examples=0).violations


tickets = sd.FakeExternal("tickets")
box = restate.Service("BoxOffice")


@box.handler()
async def issue(ctx: restate.Context, show: str) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("issue", lambda: str(tickets.apply(
        "issue", {"show": show}, idempotency_key=key)["id"]))


buyer = restate.Service("Buyer")


@buyer.handler()
async def two_seats(ctx: restate.Context, show: str) -> list[str]:
    return [await ctx.service_call(issue, show), await ctx.service_call(issue, show)]


def test_a_call_made_twice_on_purpose_is_not_a_duplicate():
    """Two calls with one argument in the reference run too: two tickets are meant."""
    report = sd.check(services=[buyer, box], invoke="Buyer/two_seats", input="hamlet",
                      externals=[tickets], max_examples=30)
    assert not report.violations, report


def test_a_promise_completed_under_another_name_is_named_where_the_workflow_waits():
    report = PAIRS["promise-name-mismatch"].check(fixed=False, max_examples=0,
                                                 single_faults=False, hash_seeds=())
    assert [v.kind for v in report.violations] == ["stuck"]
    assert report.violations[0].message.endswith(
        "waits on #0 promise \"approval\" (a promise 'approved' of this workflow was "
        "completed by Leave/l1/approve (#0), which nothing of it reads: another name for "
        "'approval'?)")
    assert PAIRS["promise-name-mismatch"].check(fixed=True, max_examples=0).ok


def test_a_value_changed_after_ctx_set_is_late_binding_at_the_set(monkeypatch):
    pair = PAIRS["state-changed-after-set"]
    report = pair.check(fixed=False, max_examples=0)
    assert report.kinds == ["late-binding"], report
    v = report.violations[0]
    assert v.message.startswith("ctx.set('items', ...) stored [] (#1), and the handler changed "
                                "that list in place afterwards (it ended as ['tea'])")
    assert v.source == "keyed.py:45" and v.journal_index == 1
    assert pair.check(fixed=True, max_examples=0).ok
    # Without the values compared when the handler returns, it passed.
    import simdurable._api.service as service
    monkeypatch.setattr(service, "state_changed_after_set", lambda ctx: None)
    assert pair.check(fixed=False, max_examples=0).ok


import restate as rsdk  # noqa: E402 - restate-sdk itself, as its users write handlers

tags_sdk = rsdk.VirtualObject("Tags")
tags_sd = restate.VirtualObject("Tags")


@tags_sdk.handler()
async def tag(ctx: rsdk.ObjectContext, label: str) -> list[str]:
    labels: list[str] = await ctx.get("labels") or []
    ctx.set("labels", labels)
    labels.append(label)  # lost: set stored the list before
    return labels


async def _retag(ctx: restate.ObjectContext, label: str) -> list[str]:
    labels: list[str] = await ctx.get("labels") or []
    ctx.set("labels", labels)
    labels.append(label)
    ctx.set("labels", labels)  # stored again after the change
    seen = {"n": 1}
    ctx.set("seen", seen)
    seen["n"] = 2
    ctx.clear("seen")  # cleared: nothing of it is read later
    return labels


tags_sd.handler(name="tag")(_retag)


def test_a_value_changed_after_set_is_found_in_restate_sdk_handlers_and_not_once_set_again():
    hosted = sd.check(services=[tags_sdk], invoke="Tags/t1/tag", input="urgent",
                      max_examples=0, single_faults=False, hash_seeds=())
    assert hosted.kinds == ["late-binding"]
    assert "ctx.set('labels', ...) stored [] (#1)" in hosted.violations[0].message
    quiet = sd.check(services=[tags_sd], invoke="Tags/t1/tag", input="urgent",
                     max_examples=0, single_faults=False, hash_seeds=())
    assert quiet.ok, quiet
