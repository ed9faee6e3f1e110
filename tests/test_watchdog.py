"""The wall-clock watchdog is woken only when a run's deadline is earlier than
the one it already waits for: short runs one after another cost it no thread
switch each (see ``simdurable/_watchdog.py``)."""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from typing import Any

import pytest

import simdurable as sd
import simdurable._watchdog as _watchdog_module
from simdurable._watchdog import Spinning, _watchdog

svc = sd.Service("Dog")


def add(i: int) -> int:
    return i + 1


@svc.handler()
async def two(ctx: sd.Context, x: int) -> int:
    x = await ctx.run_typed("a", add, i=x)
    return await ctx.run_typed("b", add, i=x)


def one_run(**options: float) -> int:
    sim = sd.Simulation([svc], seed=1, **options)
    h = sim.invoke("Dog/two", 1)
    sim.run()
    return h.result()


def test_runs_one_after_another_do_not_wake_the_watchdog():
    one_run()  # the watchdog thread is started, then sleeps a few seconds at a time
    limit = time.monotonic() + 20
    while not 2 < _watchdog.wake_at - time.monotonic() < float("inf") and time.monotonic() < limit:
        time.sleep(0.01)  # (until it has just gone to sleep)
    before = _watchdog.notified
    assert [one_run() for _ in range(30)] == [3] * 30
    assert _watchdog.notified == before  # 60 s budgets: the thread finds them when it wakes
    assert one_run(wall_budget=1.0) == 3  # a deadline before it wakes does wake it
    assert _watchdog.notified == before + 1


seen = sd.Service("Seen")
deadlines_seen: list[float | None] = []


@seen.handler()
async def look(ctx: sd.Context) -> int:
    deadlines_seen.append(_watchdog._deadlines.get(threading.get_ident()))
    return 1


spinner = sd.Service("Spinner")


@spinner.handler()
async def spin(ctx: sd.Context, ms: float) -> int:
    until = time.perf_counter() + ms / 1000  # plain Python for about ``ms``
    while time.perf_counter() < until:
        pass
    return 1


def test_a_budget_that_fires_as_its_run_ends_is_taken_before_run_returns():
    """Budgets begin and end without a lock; one that fires in the last moment
    of its run is taken there: it never interrupts the code after ``run()``.
    Runs as long as their budget, give or take, end either way."""
    outcomes = set()
    for i in range(40):
        sim = sd.Simulation([spinner], wall_budget=0.002)
        sim.invoke("Spinner/spin", 1.5 + (i % 5) * 0.25)
        try:
            sim.run()
            outcomes.add("finished")
        except sd.StuckError:
            outcomes.add("stopped")
        total = 0
        for k in range(100_000):  # a pending Spinning would be raised in here
            total += k
        assert total == 4_999_950_000
    assert outcomes <= {"finished", "stopped"} and not _watchdog._fired


def test_a_budget_that_fires_as_leave_begins_ends_the_run_as_finished(monkeypatch):
    """The watcher fires just as a finished run ends its budget, and the
    exception arrives at the first call of the run's epilogue: the run still
    returns, restores the collector and leaves no fired budget behind (before,
    ``Spinning`` escaped ``run()`` and the collector stayed off)."""
    real_leave = _watchdog.leave
    runner = threading.get_ident()
    fired = []

    def leave_as_it_fires(ident: int, outer: float | None, deadline: float) -> bool:
        if not fired:  # the watcher's part, from its thread: the run's own deadline
            fired.append(ident)
            _fire_at(runner, deadline)  # (raised in here, at this call or the next)
        return real_leave(ident, outer, deadline)

    monkeypatch.setattr(_watchdog, "leave", leave_as_it_fires)
    # (the watcher deciding meanwhile: ``run`` ends its budget through ``leave``)
    monkeypatch.setattr(_watchdog, "_busy", True)
    sim = sd.Simulation([seen], seed=1, wall_budget=60)
    h = sim.invoke("Seen/look")
    assert gc.isenabled()
    sim.run()
    assert fired == [runner]
    assert h.result() == 1
    assert gc.isenabled()
    assert not _watchdog._fired and runner not in _watchdog._deadlines


def _fire_at(runner: int, deadline: float | None = None) -> None:
    """The watcher's part (``_Watchdog._loop``) for ``runner``'s budget, done
    by hand (at ``deadline``, or the one it is due at now); its exception is
    raised in the caller, at this call or the next."""
    due = _watchdog._deadlines.pop(runner, None)
    if deadline is None:
        assert due is not None
        deadline = due
    _watchdog._fired[runner] = deadline
    done = threading.Lock()
    done.acquire()

    def fire() -> None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(runner),
                                                   ctypes.py_object(Spinning))
        done.release()

    threading.Thread(target=fire).start()
    done.acquire()


def test_a_budget_that_fires_as_its_run_begins_is_taken_by_that_run(monkeypatch):
    """The watcher fires just after a run wrote its deadline in ``enter``
    (a thread that waits its turn longer than a short budget): the run ends in
    ``StuckError`` and leaves no fired budget behind. Before, ``Spinning``
    escaped ``run()`` from ``enter``, outside the run's ``try``, and the fired
    budget stayed behind for the thread's next run."""
    real_enter = _watchdog.enter
    runner = threading.get_ident()
    fired = []

    def enter_as_it_fires(deadline: float) -> tuple[int, float | None]:
        got = real_enter(deadline)
        if not fired:
            fired.append(runner)
            _fire_at(runner)
        return got

    monkeypatch.setattr(_watchdog, "enter", enter_as_it_fires)
    _watchdog.wake_at = float("inf")  # (the watcher deciding: ``run`` begins through ``enter``)
    sim = sd.Simulation([svc], seed=1, wall_budget=60)
    sim.invoke("Dog/two", 1)
    try:
        sim.run()
        outcome = "finished"
    except sd.StuckError as err:
        outcome = str(err)
    assert fired == [runner]
    assert outcome.startswith("stopped after 60 s of wall-clock time")
    assert gc.isenabled()
    assert not _watchdog._fired and runner not in _watchdog._deadlines
    assert one_run() == 3  # the thread's next run is not touched


def test_a_block_whose_budget_fires_as_it_begins_raises_spinning_and_cleans_up(monkeypatch):
    """As above for ``wall_budget``'s block: ``Spinning`` from its ``with``
    line (the block's budget ran out), and no fired budget left behind."""
    real_enter = _watchdog.enter
    runner = threading.get_ident()

    def enter_as_it_fires(deadline: float) -> tuple[int, float | None]:
        got = real_enter(deadline)
        _fire_at(runner)
        return got

    monkeypatch.setattr(_watchdog, "enter", enter_as_it_fires)
    entered = False
    try:
        with _watchdog_module.wall_budget(60):
            entered = True
    except Spinning:
        pass
    else:
        raise AssertionError("the budget's Spinning was lost")
    assert not entered
    assert not _watchdog._fired and runner not in _watchdog._deadlines


def test_a_run_takes_the_earlier_of_its_budget_and_the_one_around_it_then_gives_it_back():
    """``run`` begins and ends its budget without ``enter``'s and ``leave``'s
    calls when no budget is around it: with one around, it keeps the earlier
    deadline while it runs and leaves the outer one as it was."""
    me = threading.get_ident()
    deadlines_seen.clear()
    for budget, outer in ((60.0, None), (60.0, 600.0), (600.0, 60.0)):
        sim = sd.Simulation([seen], wall_budget=budget)
        h = sim.invoke("Seen/look")
        began = time.monotonic()
        if outer is None:
            sim.run()
            assert me not in _watchdog._deadlines
        else:
            with _watchdog_module.wall_budget(outer):
                before = _watchdog._deadlines[me]
                sim.run()
                assert _watchdog._deadlines[me] == before
            assert me not in _watchdog._deadlines
        assert h.result() == 1
        took = deadlines_seen[-1]
        assert took is not None and began + min(budget, outer or budget) - 1 < took
        assert took < time.monotonic() + min(budget, outer or budget)
    assert not _watchdog._fired


@pytest.mark.parametrize("at", ["get_ident", "disable"])
def test_a_budget_around_a_run_that_fires_as_the_run_begins_leaves_the_collector_on(
        monkeypatch, at):
    """A budget around ``run()`` fires at one of the run's first calls, as the
    collector goes off: the run ends in that budget's ``Spinning`` (not a
    ``StuckError`` naming the run's own budget, which had not begun), and the
    collector is on again. Before, it went off outside the run's ``try``, and a
    budget firing at the next call left it off."""
    import simdurable._sim as _sim_module

    runner = threading.get_ident()
    fired = []
    real = getattr(_sim_module.gc if at == "disable" else _sim_module, at)

    def as_it_fires():  # type: ignore[no-untyped-def]
        got = real()
        if not fired:
            fired.append(runner)
            _fire_at(runner)
        return got

    sim = sd.Simulation([svc], seed=1, wall_budget=60)
    sim.invoke("Dog/two", 1)
    assert gc.isenabled()
    monkeypatch.setattr(_sim_module.gc if at == "disable" else _sim_module, at, as_it_fires)
    try:
        with _watchdog_module.wall_budget(600):
            sim.run()
    except Spinning:
        pass
    else:
        raise AssertionError("the budget's Spinning was lost")
    finally:
        monkeypatch.undo()
        on = gc.isenabled()
        gc.enable()
    assert fired == [runner]
    assert on, "the collector stayed off"
    assert not _watchdog._fired and runner not in _watchdog._deadlines


def test_a_budget_around_a_run_that_fires_as_the_run_ends_leaves_the_collector_on(monkeypatch):
    """As above at the run's end, as its collector is about to go on again."""
    import simdurable._sim as _sim_module

    runner = threading.get_ident()
    fired = []
    real_get_count = gc.get_count

    def get_count_as_it_fires() -> tuple[int, int, int]:
        if not fired and not gc.isenabled():
            fired.append(runner)
            _fire_at(runner)
        return real_get_count()

    sim = sd.Simulation([svc], seed=1, wall_budget=60)
    h = sim.invoke("Dog/two", 1)
    monkeypatch.setattr(_sim_module.gc, "get_count", get_count_as_it_fires)
    try:
        with _watchdog_module.wall_budget(600):
            sim.run()
    except Spinning:
        pass
    else:
        raise AssertionError("the budget's Spinning was lost")
    finally:
        monkeypatch.undo()
        on = gc.isenabled()
        gc.enable()
    assert fired == [runner]
    assert h.result() == 3
    assert on, "the collector stayed off"
    assert not _watchdog._fired and runner not in _watchdog._deadlines


def _outer_fires_as_inner_leaves(runner: int, fired: list[float]) -> Any:
    """``_watchdog.leave`` as it is, then, the first time an outer budget is
    given back, that outer deadline due again (noted in ``fired``)."""
    real_leave = _watchdog.leave

    def leave_then_outer_fires(ident: int, outer: float | None, deadline: float) -> bool:
        got = real_leave(ident, outer, deadline)
        if not fired and outer is not None:
            fired.append(outer)
            _fire_at(runner)  # (the outer deadline, due again)
        return got

    return leave_then_outer_fires


def test_a_budget_around_a_run_that_fires_as_the_run_ends_its_own_reaches_its_block(
        monkeypatch):
    """The budget around a run fires just after the run gave it back: its
    ``Spinning`` goes on to that budget's block once the run has cleaned up.
    Before, the run took it as its own budget firing as it ended, and the
    block around it went on as if it had time left."""
    runner = threading.get_ident()
    fired: list[float] = []
    leave_then_outer_fires = _outer_fires_as_inner_leaves(runner, fired)
    sim = sd.Simulation([svc], seed=1, wall_budget=60)
    h = sim.invoke("Dog/two", 1)
    monkeypatch.setattr(_watchdog, "leave", leave_then_outer_fires)
    after_run = False
    try:
        with _watchdog_module.wall_budget(600):
            sim.run()
            after_run = True
    except Spinning:
        pass
    else:
        raise AssertionError("the outer budget's Spinning was lost")
    finally:
        monkeypatch.undo()
    assert len(fired) == 1 and not after_run
    assert h.result() == 3
    assert gc.isenabled()
    assert not _watchdog._fired and runner not in _watchdog._deadlines


def test_a_block_around_a_block_that_fires_as_the_inner_one_ends_reaches_its_own(monkeypatch):
    """As above for ``wall_budget``'s blocks, one inside the other."""
    runner = threading.get_ident()
    fired: list[float] = []
    leave_then_outer_fires = _outer_fires_as_inner_leaves(runner, fired)
    monkeypatch.setattr(_watchdog, "leave", leave_then_outer_fires)
    after_inner = False
    try:
        with _watchdog_module.wall_budget(600):
            with _watchdog_module.wall_budget(60):
                pass
            after_inner = True
    except Spinning:
        pass
    else:
        raise AssertionError("the outer budget's Spinning was lost")
    assert len(fired) == 1 and not after_inner
    assert not _watchdog._fired and runner not in _watchdog._deadlines


fires = sd.Service("Fires")


@fires.handler()
async def now(ctx: sd.Context) -> int:
    _fire_at(threading.get_ident())  # the earliest budget on this thread runs out here
    for _ in range(10_000):
        pass
    return 1


@pytest.mark.parametrize("run_budget", [6000.0, None])
def test_a_budget_around_a_run_that_fires_inside_it_reaches_its_own_block(run_budget):
    """The budget around a run is the earlier one and runs out in a handler:
    the run ends in that budget's ``Spinning``, not a ``StuckError`` naming the
    run's own budget (before, a run with no budget of its own failed on
    formatting its ``None``)."""
    sim = sd.Simulation([fires], seed=1, wall_budget=run_budget)
    sim.invoke("Fires/now")
    try:
        with _watchdog_module.wall_budget(600):
            sim.run()
    except Spinning:
        pass
    else:
        raise AssertionError("the outer budget's Spinning was lost")
    assert gc.isenabled()
    assert not _watchdog._fired and threading.get_ident() not in _watchdog._deadlines


def test_a_run_whose_own_budget_fires_inside_one_around_it_names_its_own():
    """The run's budget is the earlier one and runs out: ``StuckError`` naming
    it, and the block around the run goes on untouched with nothing fired left."""
    sim = sd.Simulation([fires], seed=1, wall_budget=60)
    sim.invoke("Fires/now")
    with _watchdog_module.wall_budget(600):
        with pytest.raises(sd.StuckError, match="stopped after 60 s of wall-clock time"):
            sim.run()
        assert not _watchdog._fired
        total = sum(range(100_000))  # (a pending Spinning would be raised in here)
    assert total == 4_999_950_000
    assert not _watchdog._fired and threading.get_ident() not in _watchdog._deadlines
