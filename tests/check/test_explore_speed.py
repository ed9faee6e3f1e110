"""What makes exploration cheaper must not change what it finds, nor the report."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis.strategies._internal.core import DataObject

import simdurable as sd
from examples import shop
from simdurable._check import _chooser, _explore
from simdurable.runtime._faults import FaultPlan, FaultPoint

ORDER = {"item": "book", "amount": 10}


def check_shop(handler: str, **kw: Any) -> sd.Report:
    return sd.check(services=shop.services, invoke=f"Shop/{handler}", input=ORDER,
                    externals=shop.externals, **kw)


def test_examples_run_on_hypothesis_engine_as_given_would_run_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples skip ``@given`` (and ``st.data()``'s draw), with the same
    examples, shrinking and report as through ``@given``."""
    calls = {"n": 0}
    draw = DataObject.draw

    def counted(self: DataObject, *a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return draw(self, *a, **kw)

    def refuse(*args: Any) -> None:
        raise AssertionError("the examples went through @given")

    kw: dict[str, Any] = {"single_faults": False, "max_examples": 40, "hash_seeds": ()}
    with monkeypatch.context() as m:
        m.setattr(DataObject, "draw", counted)
        m.setattr(_explore, "_run_given", refuse)
        engine = check_shop("checkout_unsafe", **kw)
    assert calls["n"] == 0
    v = next(v for v in engine.violations if v.kind == "duplicate-effect")
    assert "Hypothesis, shrunk" in v.found_by and len(v.fault_plan) == 1
    monkeypatch.setattr(_explore, "_run_engine", lambda *args: False)
    given = check_shop("checkout_unsafe", **kw)
    assert engine.to_json() == given.to_json()
    assert (engine.runs, engine.examples) == (given.runs, given.examples)


def test_span_draws_give_what_conjecture_data_draw_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    kw: dict[str, Any] = {"single_faults": False, "max_examples": 40, "hash_seeds": ()}
    lean = check_shop("checkout_unsafe", **kw)
    monkeypatch.setattr(_chooser, "_span_draw", lambda conjecture: None)
    full = check_shop("checkout_unsafe", **kw)
    assert not lean.ok
    assert lean.to_json() == full.to_json()
    assert (lean.runs, lean.examples) == (full.runs, full.examples)


def test_a_runs_faults_are_formatted_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    formatted = {"n": 0}
    to_text = FaultPlan.__str__

    def counted(self: FaultPlan) -> str:
        formatted["n"] += 1
        return to_text(self)

    monkeypatch.setattr(FaultPlan, "__str__", counted)
    kw: dict[str, Any] = {"max_examples": 0, "hash_seeds": ()}
    assert check_shop("checkout", **kw).ok
    assert formatted["n"] == 0
    seen: list[str] = []
    assert check_shop("checkout", invariant=lambda outcome: seen.append(outcome.faults),
                      **kw).ok
    assert seen[0] == "no faults"
    assert any(text.startswith("crash(") for text in seen)
    assert all(text == "no faults" or "(" in text for text in seen)


def test_only_an_engine_of_the_expected_shape_runs_the_examples() -> None:
    from hypothesis.internal.conjecture.engine import ConjectureRunner

    class Older:  # Hypothesis 6.100's shape: a case replayed from its bytes
        def __init__(self, test_function: Any, *, settings: Any = None, random: Any = None,
                     database_key: Any = None) -> None:
            pass

        def new_conjecture_data(self, prefix: bytes, max_length: int = 0) -> Any:
            return None

        def run(self) -> None:
            pass

    assert _explore._engine_fits(ConjectureRunner)
    assert not _explore._engine_fits(Older)
    assert not _explore._engine_fits(object)


def _points(op: str, phases: tuple[str, ...], index: int = 0, attempt: int = 1
            ) -> list[FaultPoint]:
    return [FaultPoint(p, "inv", "Shop/checkout", index, "charge", op, attempt, 0)
            for p in phases]


STEP_POINTS = ("before", "step", "effect-done", "after-store")


def test_one_draw_decides_the_fault_points_of_a_command() -> None:
    draws: list[int] = []

    def draw(n: int) -> int:
        draws.append(n)
        return 0  # no fault

    every_kind = _chooser.Swarm(frozenset(_chooser.KINDS_AT["before"] + _chooser.KINDS_AT["step"]
                                          + ("lose-response",)), 0.3, 6)
    e = _chooser.DataExplorer(draw, every_kind)
    assert [e(p) for p in _points("run", STEP_POINTS)] == [None] * 4
    assert draws == [256]  # a step's four points: one draw
    assert [e(p) for p in _points("set", ("before", "after-store"), index=2)] == [None] * 2
    assert draws == [256, 256]
    # A step run again in a later attempt (its command is in the journal):
    # its points from the step on are one more decision, of that attempt.
    assert [e(p) for p in _points("run", STEP_POINTS[1:], attempt=2)] == [None] * 3
    assert len(draws) == 3
    # A lost response is drawn at its own point.
    assert e(_points("pay.charge", ("lose-response",))[0]) is None
    assert len(draws) == 4
    assert len(e.log) == 10  # every point is logged, for the self-check's twin


def test_the_drawn_fault_fires_at_its_point_of_the_command_and_nowhere_else() -> None:
    crashes = _chooser.Swarm(frozenset({"crash"}), 0.3, 6)
    # A step's points with a crash kind: before, effect-done, after-store (the
    # step itself has none). Each fires at 0.3: the command at 1 - 0.7**3.
    threshold = 256 - round(256 * (1 - 0.7 ** 3))
    for offset, where in ((0, "before"), (1, "effect-done"), (2, "after-store"),
                          (3, "before")):
        e = _chooser.DataExplorer(lambda n, v=threshold + offset: v, crashes)
        fired = [(p.phase, f.kind) for p in _points("run", STEP_POINTS)
                 if (f := e(p)) is not None]
        assert fired == [(where, "crash")], (offset, fired)
        assert e.used == 1
    # Under the threshold nothing fires; the budget is spent on faults only.
    e = _chooser.DataExplorer(lambda n: threshold - 1, crashes)
    assert all(e(p) is None for p in _points("run", STEP_POINTS)) and e.used == 0


@pytest.mark.parametrize("lean", [True, False], ids=["lean draw", "Hypothesis's own draw"])
def test_a_draw_after_the_test_case_overran_stops_it_again(
        lean: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler whose ``finally:`` awaits swallows the StopTest of an
    overrun (it suspends there): the next draw, in the scheduler or at a
    fault point, must stop the test case again, not fail on frozen data;
    with the lean draw, and with ``ConjectureData.draw`` where a Hypothesis
    lacks the lean draw's parts."""
    from hypothesis import strategies as st
    from hypothesis.errors import StopTest
    from hypothesis.internal.conjecture.data import ConjectureData

    if not lean:
        monkeypatch.setattr(_chooser, "_span_draw", lambda conjecture: None)

    data = ConjectureData.for_choices([3])
    draw = _chooser.fast_draw(data)
    assert draw(st.integers(0, 9)) == 3
    for _ in range(2):
        with pytest.raises(StopTest) as stopped:
            draw(st.integers(0, 9))
        assert stopped.value.testcounter == data.testcounter and data.frozen


def test_a_step_with_no_fault_planned_runs_in_place_with_the_same_report(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``DataExplorer.quiet_at``: the runtime runs such a step in place,
    without its round trip through the loop; the twins (``ScriptedExplorer``)
    follow. The same examples, runs and report as on the general path."""
    quiet = {"n": 0}
    ask = _chooser.DataExplorer.quiet_at

    def counted(self: _chooser.DataExplorer, point: FaultPoint) -> bool:
        answer = ask(self, point)
        quiet["n"] += answer
        return answer

    kw: dict[str, Any] = {"max_examples": 60, "hash_seeds": ()}
    with monkeypatch.context() as m:
        m.setattr(_chooser.DataExplorer, "quiet_at", counted)
        in_place = check_shop("checkout_unsafe", **kw)
    assert quiet["n"] > 20
    monkeypatch.delattr(_chooser.DataExplorer, "quiet_at")
    monkeypatch.delattr(_chooser.ScriptedExplorer, "quiet_at")
    general = check_shop("checkout_unsafe", **kw)
    assert not in_place.ok
    assert in_place.to_json() == general.to_json()
    assert (in_place.runs, in_place.examples) == (general.runs, general.examples)


def test_a_twin_runs_in_place_the_steps_its_run_ran_in_place() -> None:
    before, step, done = _points("run", STEP_POINTS[:3])
    in_place = _chooser.ScriptedExplorer([(before, None), (done, None)])
    assert in_place(before) is None and in_place.quiet_at(step)
    general = _chooser.ScriptedExplorer([(before, None), (step, None), (done, None)])
    assert general(before) is None and not general.quiet_at(step)
    assert general(step) is None and general.diverged is None


def test_a_check_collects_garbage_less_often_while_it_explores() -> None:
    """The collector's first threshold is ``CHECK_GC_THRESHOLD`` during the
    runs of a check (each run's setup sees it), and put back after; a higher
    one, or collections turned off (0), are left as they are."""
    import gc

    before = gc.get_threshold()
    try:
        for start, during in ((700, _explore.CHECK_GC_THRESHOLD), (500_000, 500_000), (0, 0)):
            gc.set_threshold(start, *before[1:])
            seen: list[int] = []

            def setup(seen: list[int] = seen) -> None:
                seen.append(gc.get_threshold()[0])

            assert check_shop("checkout", max_examples=3, hash_seeds=(), setup=setup).ok
            assert seen and set(seen) == {during}
            assert gc.get_threshold() == (start, *before[1:])
    finally:
        gc.set_threshold(*before)


def test_a_run_explored_leaves_no_cycle_behind() -> None:
    """An explorer asks the run's engine whether an invocation was cancelled,
    and the engine holds the explorer: once the run is over the question is
    dropped, so that a run's engine is freed as soon as its facts are, not
    at the next collection (a check of 200 examples ran 15 % slower so)."""
    import gc
    import weakref

    t = _explore.make_target(shop.services, "Shop/checkout", ORDER, shop.externals, None, None,
                             False, None, None, 10_000)
    every_kind = _chooser.Swarm(frozenset(_chooser.KINDS_AT["step"]), 0.3, 6)
    explorers = [_chooser.RecordingExplorer(),
                 _chooser.DataExplorer(lambda n: n - 1, every_kind)]
    _explore.execute(t, 0)  # imports and caches warmed up
    gc.collect()
    gc.disable()
    try:
        for explorer in explorers:
            facts = _explore.execute(t, 0, chooser=_chooser.RecordingChooser(0), explorer=explorer)
            assert facts.fired or explorer is explorers[0]
            engine = weakref.ref(facts.sim.engine)
            del facts
            assert engine() is None, type(explorer).__name__
    finally:
        gc.enable()


def test_a_judged_run_reads_its_step_log_and_events_once(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Judging a run (its outcome, its account, the exactly-once self-check,
    whether its faults were transparent) read the run's step log off its trace
    four or five times, and its events twice: once each now (the log's runs
    read out of the trace once, not counted first as ``list`` of the log
    would; the events but the steps' where no step's are asked for)."""
    from benchmarks.bench_sim import named_steps_service
    from simdurable import _sim
    from simdurable.runtime import _trace

    reads = {"log": 0, "runs": 0, "events": 0}
    log, runs, events, plain = (_trace.RunLog.__iter__, _trace.runs, _sim.events,
                                _sim.plain_events)

    def log_read(self: _trace.RunLog) -> Any:
        reads["log"] += 1
        return log(self)

    def runs_read(flat: Any) -> Any:
        reads["runs"] += 1
        return runs(flat)

    def events_read(flat: Any) -> Any:
        reads["events"] += 1
        return events(flat)

    def plain_read(flat: Any) -> Any:
        reads["events"] += 1
        return plain(flat)

    monkeypatch.setattr(_trace.RunLog, "__iter__", log_read)
    monkeypatch.setattr(_trace, "runs", runs_read)
    monkeypatch.setattr(_sim, "events", events_read)
    monkeypatch.setattr(_sim, "plain_events", plain_read)
    twenty = named_steps_service(20, "ReadOnce")
    report = sd.check([twenty], f"{twenty.name}/run", 0, max_examples=0, hash_seeds=(),
                      strict=False)
    assert report.ok and report.runs == 106
    assert reads["log"] == reads["runs"] == report.runs
    assert 0 < reads["events"] <= report.runs


def _drawing_service() -> sd.Service:
    """``Draws/run``: three steps, each drawing from the global RNG."""
    import random

    svc = sd.Service("Draws")

    def draw(i: int) -> float:
        return i + random.random()

    @svc.handler()
    async def run(ctx: sd.Context, x: float) -> float:
        for name in ("a", "b", "c"):
            x = await ctx.run_typed(name, draw, i=x)
        return x

    return svc


def test_the_single_fault_phase_saves_the_callers_rng_once_not_each_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``caller_rng``: the phase's runs seed the global RNG without saving and
    giving back the caller's state each; it is saved once and given back once.
    What the runs draw, the report, and the caller's state after are the same
    as with each run saving it."""
    import contextlib
    import random

    svc = _drawing_service()
    saves = {"n": 0}
    getstate = random.getstate

    def counted() -> Any:
        saves["n"] += 1
        return getstate()

    def run() -> tuple[str, Any, int]:
        random.seed(1234)
        saves["n"] = 0
        report = sd.check([svc], "Draws/run", 0.0, max_examples=0, hash_seeds=(),
                          strict=False)
        return report.to_json(), random.getstate(), saves["n"]

    monkeypatch.setattr(random, "getstate", counted)
    kept, kept_state, kept_saves = run()
    monkeypatch.setattr(_explore, "caller_rng", lambda t: contextlib.nullcontext())
    each, each_state, each_saves = run()
    assert kept == each and kept_state == each_state
    assert each_saves > 10 and kept_saves < 5, (kept_saves, each_saves)


def test_a_pinned_fault_is_the_fault_with_where_it_fired_and_nothing_else_changed() -> None:
    """``pin`` makes the pinned fault with every field given (not
    ``dataclasses.replace``): the same fault as ``replace`` makes, and a field
    added to ``Fault`` must be given there too."""
    from dataclasses import fields, replace

    from simdurable.runtime._faults import Fault

    assert [f.name for f in fields(Fault)] == [
        "kind", "step", "index", "phase", "attempt", "target", "times", "exception",
        "message", "status", "at_ms", "by_ms", "external", "operation"]
    point = FaultPoint(phase="before", invocation="inv_1", target="Shop/checkout", index=4,
                       name="charge", op="run", attempt=2, time_ms=7)
    fault = Fault("fail", step="other", index=1, phase="before", attempt=1, target="T/x",
                  times=3, exception="ValueError", message="no", status=503, by_ms=5,
                  external="bank", operation="charge")
    for many in (False, True):
        pinned = _explore.pin(point, fault, many)
        assert pinned == replace(fault, step="charge", index=4, attempt=2, times=1,
                                 target="Shop/checkout" if many else None)


def test_a_path_is_described_once_for_the_same_commands(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """``Exploration._path``: a journal's commands described once for each
    kind, name and payload of its entries (a run crashed and recovered ends
    with the reference run's commands at other times), and its commands for
    the self-check alike (``Exploration._commands``); the paths a check
    counts, the runs the self-check runs again and the report are the same
    as with each run's read again."""
    from simdurable.runtime._journal import COMMAND_KINDS, KIND, describe
    from simdurable.runtime._store import stored_journal

    described = {"n": 0}
    counted = _explore.describe

    def count(entry: Any) -> str:
        described["n"] += 1
        return counted(entry)

    monkeypatch.setattr(_explore, "describe", count)
    kw: dict[str, Any] = {"max_examples": 20, "hash_seeds": ()}
    once = check_shop("checkout", **kw)
    described_once = described["n"]

    def each(self: _explore.Exploration, facts: Any) -> tuple[str, ...]:
        journal = stored_journal(facts.sim.store, facts.handle.id)
        return tuple(describe(e) for e in journal if e[KIND] in COMMAND_KINDS)

    def commands(self: _explore.Exploration, facts: Any) -> Any:
        return _explore._commands(facts)

    monkeypatch.setattr(_explore.Exploration, "_path", each)
    monkeypatch.setattr(_explore.Exploration, "_commands", commands)
    again = check_shop("checkout", **kw)
    assert once.paths == again.paths > 1
    assert once.to_json() == again.to_json()
    assert 0 < described_once < once.runs
