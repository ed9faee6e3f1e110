"""``simdurable.Executor``: the live host from a script, on the real clock."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import simdurable as restate
from simdurable._live import _host
from simdurable._live._host import LiveHost
from simdurable._live._sqlite import SqliteStore, StoreError
from simdurable._live._trace import format_event, read_trace
from simdurable.runtime._journal import COMPLETION, RUN

svc = restate.Service("Jobs")
counter = restate.VirtualObject("Tally")
runs: dict[str, int] = {}
gate = threading.Event()
flaky_failures: dict[str, int] = {}


def count(name: str) -> str:
    runs[name] = runs.get(name, 0) + 1
    return name


def slow_step(name: str) -> str:
    gate.wait(5)
    return count(name)


def flaky(name: str) -> str:
    flaky_failures[name] = flaky_failures.get(name, 0) + 1
    if flaky_failures[name] <= 2:
        raise ConnectionError("service unavailable")
    return count(name)


async def async_step(name: str) -> str:
    import asyncio

    await asyncio.sleep(0.01)  # a closure on asyncio, as on Restate's SDK
    return count(name)


@svc.handler()
async def two_steps(ctx: restate.Context, tag: str) -> list[str]:
    a = await ctx.run_typed("first", count, name=f"{tag}-first")
    b = await ctx.run_typed("second", async_step, name=f"{tag}-second")
    return [a, b]


@svc.handler()
async def wrapped(ctx: restate.Context, tag: str) -> str:
    # A plain function that returns a coroutine: restate-sdk stores what a plain
    # function returns, and a coroutine cannot be stored (its body never runs).
    return await ctx.run_typed("wrapped", lambda: async_step(f"{tag}-wrapped"))


@svc.handler()
async def gated(ctx: restate.Context, tag: str) -> str:
    await ctx.run_typed("slow", slow_step, name=f"{tag}-slow")
    await ctx.run_typed("after", count, name=f"{tag}-after")
    return "done"


@svc.handler()
async def napper(ctx: restate.Context, ms: int) -> float:
    t0 = await ctx.time()
    await ctx.sleep(timedelta(milliseconds=ms))
    t1 = await ctx.time()
    return t1 - t0


@svc.handler()
async def retrying(ctx: restate.Context, tag: str) -> str:
    opts: restate.RunOptions[str] = restate.RunOptions(
        max_attempts=5, initial_retry_interval=timedelta(milliseconds=20))
    return str(await ctx.run_typed("flaky", flaky, opts, name=tag))


@svc.handler()
async def refuses(ctx: restate.Context) -> str:
    raise restate.TerminalError("no way", 422)


@svc.handler()
async def misuses(ctx: restate.Context) -> str:
    return str(await ctx.run_typed("bad", lambda: ctx.uuid()))


@svc.handler()
async def concurrent(ctx: restate.Context, n: int) -> list[str]:
    futures = [ctx.run_typed(f"s{i}", count, name=f"conc-{i}") for i in range(n)]
    return [str(await f) for f in await restate.gather(*futures)]


@counter.handler()
async def bump(ctx: restate.ObjectContext) -> int:
    n = (await ctx.get("n")) or 0
    await ctx.run_typed("pause", time.sleep, None, 0.01)
    ctx.set("n", n + 1)
    return int(n + 1)


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext) -> str:
    name, future = ctx.awakeable()
    ctx.set("awakeable", name)
    confirmed = await ctx.promise("confirmed").value()
    return f"{await future} {confirmed}"


@svc.handler()
async def timer_then_slow_step(ctx: restate.Context) -> str:
    await ctx.run_typed("quick", count, name="quick")
    # The turn that stores "quick" runs on in its worker thread: it arms this
    # timer and starts "slow" there. The loop must still fire the timer on time.
    timer = ctx.sleep(timedelta(milliseconds=20))
    slow = ctx.run_typed("slow", time.sleep, None, 1.0)
    winner, _ = await restate.select(timer=timer, slow=slow)
    return str(winner)


brief = restate.Service("Brief", idempotency_retention=timedelta(seconds=1))


@brief.handler()
async def once(ctx: restate.Context, tag: str) -> str:
    return await ctx.run_typed("count", count, name=tag)


SERVICES = [svc, counter, signup, brief]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "dev.db"


def test_call_send_state_journal(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        assert ex.call("Jobs/two_steps", "t1", timeout=5) == ["t1-first", "t1-second"]
        h = ex.send("Tally/k/bump")
        assert h.result(timeout=5) == 1
        assert h.status == "completed" and h.done
        assert ex.state("Tally", "k") == {"n": 1}
        inv = ex.invocations()[0]
        kinds = [(e.kind, e.name) for e in ex.journal(inv)]
        assert kinds == [("run", "first"), ("completion", ""), ("run", "second"),
                         ("completion", "")]
        assert inv.target == "Jobs/two_steps"


@pytest.mark.parametrize("timeout", [-1, float("nan"), "5"])
def test_a_timeout_that_is_no_number_of_seconds_is_refused_before_any_invocation(
        db: Path, timeout: Any) -> None:
    # trio's "`seconds` must be non-negative" named no argument, and came after the
    # invocation was made.
    with restate.Executor(SERVICES, db=db) as ex:
        with pytest.raises(ValueError, match=r"^timeout must be a number of seconds, 0 or "
                                             r"more \(or None: as long as it takes\), not "):
            ex.call("Jobs/two_steps", "t1", timeout=timeout)
        assert ex.invocations() == []


def test_a_plain_step_returning_a_coroutine_fails_as_on_restates_sdk(db: Path) -> None:
    # restate-sdk awaits a step's function only if inspect.iscoroutinefunction says
    # it is one (restatedev/sdk-python#222): the step fails on every attempt and
    # the coroutine never runs, here as in a simulation.
    few = restate.InvocationRetryPolicy(initial_interval=timedelta(milliseconds=5),
                                        max_attempts=3)
    with restate.Executor(SERVICES, db=db, retry_policy=few) as ex:
        h = ex.send("Jobs/wrapped", "w")
        with pytest.raises(restate.NotFinishedError, match="paused after 3 failed attempts") as info:
            h.result(timeout=10)
    assert "is not an async function but returned coroutine async_step" in str(info.value)
    assert "w-wrapped" not in runs


def test_objects_are_exclusive_per_key(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        handles = [ex.send("Tally/x/bump") for _ in range(10)]
        handles += [ex.send("Tally/y/bump") for _ in range(5)]
        results = sorted(h.result(timeout=10) for h in handles)
        assert results == sorted(list(range(1, 11)) + list(range(1, 6)))
        assert ex.state("Tally", "x") == {"n": 10}


def test_steps_run_concurrently_in_threads(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        assert ex.call("Jobs/concurrent", 8, timeout=5) == [f"conc-{i}" for i in range(8)]


def test_sleep_uses_the_real_clock(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        t0 = time.monotonic()
        elapsed = ex.call("Jobs/napper", 250, timeout=5)
        assert time.monotonic() - t0 >= 0.25
        assert 0.25 <= elapsed < 1.0


def test_step_retries_follow_its_options(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        assert ex.call("Jobs/retrying", "r1", timeout=5) == "r1"
    assert flaky_failures["r1"] == 3


def test_terminal_error_and_timeout(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        with pytest.raises(restate.TerminalError) as info:
            ex.call("Jobs/refuses", timeout=5)
        assert (info.value.message, info.value.status_code) == ("no way", 422)
        h = ex.send("Jobs/napper", 10_000)
        with pytest.raises(TimeoutError, match="did not finish within 0.1s"):
            h.result(timeout=0.1)
        ex.cancel(h)
        with pytest.raises(restate.TerminalError, match="cancelled"):
            h.result(timeout=5)


def test_context_misuse_in_a_worker_thread_pauses(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = ex.send("Jobs/misuses")
        with pytest.raises(restate.NotFinishedError, match="ctx.uuid\\(\\) was called inside"):
            h.result(timeout=5)
        assert h.status == "paused"


def test_unknown_target_and_bad_input(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        with pytest.raises(restate.InvalidTargetError, match="no handler Jobs/nope"):
            ex.call("Jobs/nope")
        with pytest.raises(restate.InvalidTargetError, match="need a key"):
            ex.call("Tally/bump")
        with pytest.raises(restate.SerializationError):
            ex.send("Jobs/two_steps", object())


def test_not_running(db: Path) -> None:
    ex = restate.Executor(SERVICES, db=db)
    with pytest.raises(RuntimeError, match="not running"):
        ex.call("Jobs/two_steps", "x")


def test_bad_arguments(db: Path) -> None:
    with pytest.raises(TypeError, match="not a service"):
        restate.Executor([object()], db=db)
    with pytest.raises(ValueError, match="durability"):
        restate.Executor(SERVICES, db=db, durability="maybe")


def test_one_executor_per_database(db: Path) -> None:
    with restate.Executor(SERVICES, db=db):
        with pytest.raises(StoreError, match="another simdurable executor"):
            restate.Executor(SERVICES, db=db).start()


def test_refuses_a_database_with_work_for_handlers_not_served(db: Path) -> None:
    gate.clear()
    with restate.Executor(SERVICES, db=db) as ex:
        ex.send("Jobs/napper", 60_000)
        time.sleep(0.1)
    with pytest.raises(ValueError, match="not being served: Jobs/napper \\(1\\)"):
        restate.Executor([counter], db=db).start()


def test_graceful_stop_lands_on_a_step_boundary_and_restart_resumes(db: Path) -> None:
    gate.clear()
    ex = restate.Executor(SERVICES, db=db).start()
    h = ex.send("Jobs/gated", "g1")
    time.sleep(0.2)  # the slow step is in flight, blocked on the gate
    threading.Timer(0.2, gate.set).start()
    ex.close()  # waits for the step in flight, stores it, runs nothing after it
    store = SqliteStore(db, create=False)
    journal = store.journal(h.id)
    store.close()
    assert [e.kind for e in journal] == [RUN, COMPLETION]
    assert runs.get("g1-slow") == 1 and "g1-after" not in runs
    with restate.Executor(SERVICES, db=db) as ex2:
        assert ex2.invocations()[0].result(timeout=5) == "done"
    assert runs["g1-slow"] == 1 and runs["g1-after"] == 1


def test_sleep_survives_a_restart(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = ex.send("Jobs/napper", 400)
        time.sleep(0.1)
    t0 = time.monotonic()
    with restate.Executor(SERVICES, db=db) as ex2:
        elapsed = ex2.invocations()[0].result(timeout=5)
    assert 0.4 <= elapsed < 1.5
    assert time.monotonic() - t0 < 1.5
    assert h.id


def test_trace_file_in_the_simulation_format(db: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    with restate.Executor(SERVICES, db=db, trace=trace) as ex:
        ex.call("Jobs/two_steps", "tr", timeout=5)
    events = list(read_trace(trace))
    kinds = [k for _, k, _, _ in events]
    assert kinds[:2] == ["submit", "attempt"] and "step" in kinds and kinds[-1] == "done"
    for line in trace.read_text().splitlines():
        assert set(json.loads(line)) == {"t_ms", "kind", "inv", "text"}
    origin = events[0][0]
    line = format_event(events[-1], origin)
    sim_style = f"{(events[-1][0] - origin) / 1000:>10.3f}s  {'done':<8} "
    assert line.startswith(sim_style) and "Jobs/two_steps -> " in line


def test_same_lines_as_the_simulation() -> None:
    sim = restate.Simulation([svc], seed=1)
    sim.invoke("Jobs/two_steps", "sim")
    sim.run()
    assert [format_event(e) for e in sim.trace_events()] == sim.trace()


def test_many_invocations(db: Path) -> None:
    with restate.Executor(SERVICES, db=db, durability="normal") as ex:
        handles = [ex.send("Jobs/two_steps", f"m{i}") for i in range(100)]
        assert [h.result(timeout=20) for h in handles] == [
            [f"m{i}-first", f"m{i}-second"] for i in range(100)]




def test_awakeables_and_promises(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = ex.send("Signup/w1/run")
        deadline = time.monotonic() + 5
        while "awakeable" not in ex.state("Signup", "w1"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        awk = ex.state("Signup", "w1")["awakeable"]
        with pytest.raises(restate.InvalidTargetError, match="no awakeable"):
            ex.resolve_awakeable(awk[:-1] + "9", "x")
        ex.resolve_awakeable(awk, "hi")
        assert ex.resolve_promise("Signup", "w1", "confirmed", "yes") is True
        assert ex.resolve_promise("Signup", "w1", "confirmed", "again") is False
        assert h.result(timeout=5) == "hi yes"


@svc.handler()
async def two_signals(ctx: restate.Context) -> list[str]:
    await ctx.sleep(timedelta(milliseconds=50))
    first = await ctx.signal("first")
    try:
        await ctx.signal("second")
    except restate.TerminalError as err:
        return [first, err.message]
    return [first]


def test_signals(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        h = ex.send("Jobs/two_signals")
        ex.signal(h, "first", "early")  # before the handler asks: kept
        time.sleep(0.1)
        ex.reject_signal(h.id, "second", "refused", 409)
        assert h.result(timeout=5) == ["early", "refused"]


def test_a_timer_armed_in_a_worker_threads_turn_fires_on_time(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loop's own wake-up pushed past the 1 s step: a timer it was not told of
    # would fire only when the step ends, far from the bound even on a busy machine.
    monkeypatch.setattr(_host, "INBOX_POLL_S", 5.0)
    with restate.Executor(SERVICES, db=db) as ex:
        t0 = time.monotonic()
        assert ex.call("Jobs/timer_then_slow_step", timeout=10) == "timer"
        # Due 20 ms after it was armed.
        assert time.monotonic() - t0 < 0.8


@contextlib.contextmanager
def commits_failing(monkeypatch: pytest.MonkeyPatch) -> object:
    """Every outermost commit of the store fails, as on a disk that broke."""
    atomic = SqliteStore.atomic

    @contextlib.contextmanager
    def failing(self: SqliteStore):  # type: ignore[no-untyped-def]
        with atomic(self):
            yield
            if self._depth == 1:
                raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as m:
        m.setattr(SqliteStore, "atomic", failing)
        yield


@pytest.mark.parametrize("turn", ["taken by the request", "taken by the loop"])
def test_a_failed_commit_stops_the_executor_with_a_clear_error(
    db: Path, monkeypatch: pytest.MonkeyPatch, turn: str
) -> None:
    if turn == "taken by the loop":
        monkeypatch.setattr(LiveHost, "_may_turn_here", lambda self: False)
    ex = restate.Executor(SERVICES, db=db).start()
    assert ex.call("Jobs/two_steps", "kept", timeout=5) == ["kept-first", "kept-second"]
    with commits_failing(monkeypatch), pytest.raises(restate.ExecutorStoppedError) as info:
        ex.call("Jobs/two_steps", "lost", timeout=5)
    assert "disk I/O error" in str(info.value)
    assert "Nothing committed is lost" in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(restate.ExecutorStoppedError, match="disk I/O error"):
        ex.call("Jobs/two_steps", "late")
    ex.close()  # already reported: no further error
    # What was committed before is all there, and the executor serves again.
    with restate.Executor(SERVICES, db=db) as again:
        assert [i.target for i in again.invocations()] == ["Jobs/two_steps"]
        assert again.call("Jobs/two_steps", "again", timeout=5) == ["again-first",
                                                                    "again-second"]


def test_close_reports_an_error_no_call_reported(db: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    ex = restate.Executor(SERVICES, db=db).start()
    handle = ex.send("Jobs/gated", "g")
    try:
        with commits_failing(monkeypatch):
            gate.set()  # the step ends; storing its result fails, in the worker's turn
            thread = ex._thread
            assert thread is not None
            thread.join(timeout=5)
            assert not thread.is_alive()
        with pytest.raises(restate.ExecutorStoppedError, match="disk I/O error"):
            ex.close()
        with restate.Executor(SERVICES, db=db) as again:  # the invocation resumes
            assert again.call("Jobs/gated", "g2", timeout=5) == "done"
            resumed = next(i for i in again.invocations() if i.id == handle.id)
            assert resumed.result(timeout=5) == "done"
    finally:
        gate.clear()


def test_requests_that_arrive_together_share_one_turn(db: Path) -> None:
    import trio

    async def burst(host: LiveHost) -> tuple[int, list[int]]:
        while not host._asleep:  # the loop waits for work: a request may take its turn
            await trio.sleep(0.001)
        before = host.turns
        answers: list[int] = []

        async def request(i: int) -> None:
            answers.append(await host.call(lambda: i))

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(request, i)
        return host.turns - before, sorted(answers)

    with restate.Executor(SERVICES, db=db) as ex:
        turns, answers = ex._portal(burst)
    assert answers == list(range(8))
    assert turns == 1  # one commit for all eight, as the loop's own turn would be


def test_an_idempotency_key_is_free_again_after_its_retention(db: Path) -> None:
    with restate.Executor(SERVICES, db=db) as ex:
        first = ex.invoke("Brief/once", "ret", idempotency_key="k")
        assert first.result(timeout=5) == "ret"
        assert ex.invoke("Brief/once", "ret", idempotency_key="k").id == first.id
        assert runs["ret"] == 1
        time.sleep(1.1)  # the 1 s retention ends
        renewed = ex.invoke("Brief/once", "ret", idempotency_key="k")
        assert renewed.id != first.id
        assert renewed.result(timeout=5) == "ret"
        assert runs["ret"] == 2
