"""Tasks among many: a crowd of invocations takes the fused task runner
(``runtime/_tasks.py``) for each task's common case, and every run is the same,
task for task, as through the parts' general methods (``Engine.general_run_task``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from unittest.mock import patch

from hypothesis import HealthCheck, example, given, settings, strategies as st

import simdurable as sd
from simdurable import _sim
from simdurable.runtime import _fast, _tasks
from simdurable.runtime._invocation import Attempt
from simdurable.runtime._running import task_attempt
from simdurable.runtime._tasks import task_runner

from .test_steps_in_place import bank, current, flaky_calls, obj, seq

crowd = sd.Service("Crowd")


def add(i: int) -> int:
    return i + 1


@crowd.handler()
async def five(ctx: sd.Context, x: int) -> int:
    for _ in range(5):
        x = await ctx.run_typed("step", add, i=x)
    return x


@crowd.handler()
async def mixed(ctx: sd.Context, x: int) -> list:
    a = await ctx.run_typed("first", add, i=x)
    both = await sd.gather(ctx.run_typed("left", add, i=a), ctx.run_typed("right", add, i=a))
    await ctx.sleep(timedelta(milliseconds=x % 3))
    b = await ctx.run_typed("after-sleep", lambda: [a, x])
    return [await f for f in both] + b


@crowd.handler()
async def calls(ctx: sd.Context, x: int) -> int:
    """Waits on a service's handler in the crowd: its end wakes a caller."""
    return await ctx.service_call(five, arg=x) + await ctx.run_typed("after", add, i=x)


def half(i: int) -> float:
    return i // 2  # an int, through the serde of a float


@crowd.handler()
async def typed(ctx: sd.Context, x: int) -> list:
    a = await ctx.run_typed("half", half, i=x)
    b = await ctx.run_typed("even", lambda: x % 2 == 0)
    return [a, b]


def crowded(plan: sd.FaultPlan | None, seed: int, fused: bool, n: int = 12,
            hold_at: int | None = None, **options: object) -> tuple:
    bank.reset()
    flaky_calls.clear()
    sim = sd.Simulation([crowd, seq, obj], seed=seed, faults=plan, externals=[bank],
                        max_steps=20_000, **options)
    if hold_at is not None:
        sim.scheduler.hold_at = hold_at
    if not fused:
        sim.engine.run_task = sim.engine.general_run_task
    current[:] = [sim]
    handles = []
    for i in range(n):
        handles.append(sim.invoke(("Crowd/five", "Crowd/mixed", "Seq/chain", "Crowd/typed",
                                   "Crowd/calls")[i % 5], i))
    sim.run()
    results = [h.result() if h.status == "completed" else h.status for h in sim.invocations()]
    journals = [[(e.kind, e.name, e.data, e.result, e.target, e.at_ms) for e in sim.journal(h)]
                for h in handles]
    return (sim.trace(), journals, results, sim.engine.tasks_run, sim.engine.step_run_log,
            sim.scheduler.decisions)


phases = st.sampled_from(["before", "effect-done", "after-store"])
faults = st.one_of(
    st.builds(lambda i, p: sd.Fault("crash", index=i, phase=p), st.integers(0, 12), phases),
    st.builds(lambda s, p: sd.Fault("crash", step=s, phase=p),
              st.sampled_from(["step", "left", "after-sleep", "s2", "flaky", "pay"]), phases),
    st.builds(lambda i: sd.Fault("suspend", index=i, phase="after-store"), st.integers(0, 12)),
    st.builds(lambda s: sd.Fault("fail", step=s), st.sampled_from(["step", "right", "s1"])),
    st.builds(lambda s, ms: sd.Fault("delay", step=s, by_ms=ms),
              st.sampled_from(["step", "left"]), st.integers(1, 5)),
    st.builds(lambda t: sd.Fault("restart", at_ms=t), st.integers(0, 30)),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.booleans(), st.booleans())
def test_a_crowded_run_is_the_same_through_the_fused_tasks_or_the_general_ones(
        plan_faults, seed, strict, suspend):
    plan = sd.FaultPlan(tuple(plan_faults))
    options = {"strict": strict, "always_suspend": suspend}
    fused = crowded(plan, seed, True, **options)
    assert crowded(plan, seed, False, **options) == fused
    assert crowded(plan, seed, True, **options) == fused  # and the same seed, the same run


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.integers(1, 6), st.booleans())
def test_a_crowd_whose_older_ready_tasks_are_held_runs_as_with_one_ready_list(
        plan_faults, seed, hold_at, suspend):
    """The fused runner holds a long ready list's older tasks in a second list
    (``Scheduler.held``; long here: past ``hold_at``), taking the same task for
    the same draw: with faults that kill attempts and restart the engine
    (which drop ready tasks, held ones too), every run is the one the general
    tasks make with one ready list."""
    plan = sd.FaultPlan(tuple(plan_faults))
    options = {"always_suspend": suspend}
    general = crowded(plan, seed, False, n=16, **options)
    assert crowded(plan, seed, True, n=16, hold_at=hold_at, **options) == general


def test_the_held_tasks_are_back_in_the_ready_list_when_a_run_stops():
    """A run that stops with tasks left (``max_steps``) leaves every ready task
    in ``ready``, in order, none held; the run goes on from there as one
    that never held any."""
    runs = []
    for hold_at in (2, 1 << 30):
        sim = sd.Simulation([crowd], seed=3, max_steps=40)
        sim.scheduler.hold_at = hold_at
        handles = [sim.invoke("Crowd/five", i) for i in range(12)]
        try:
            sim.run()
        except sd.StuckError:
            pass
        assert sim.scheduler.held == ()
        left = [type(t).__name__ for t in sim.scheduler.ready]
        sim.scheduler.max_tasks = float("inf")
        sim.run()
        runs.append((left, sim.trace(), [h.result() for h in handles]))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) > 2


def test_plain_steps_in_a_crowd_take_the_fused_step_task():
    """Each step of a crowd of plain handlers runs as a fused "step" task (not
    ``Steps.step_task``); a step a fault may fire at goes the general way."""
    runs = []
    for fused in (True, False):
        sim = sd.Simulation([crowd], seed=5, faults=sd.FaultPlan((
            sd.Fault("fail", step="right", times=1),)))
        general = sim.engine.steps.step_task
        names: list[str] = []

        def counted(inv_id, number, index, general=general, names=names, sim=sim):
            names.append(sim.engine.running.attempts[inv_id].steps[index].name)
            return general(inv_id, number, index)

        sim.engine.steps.step_task = counted  # type: ignore[method-assign]
        resumes: list[str] = []
        general_resume = sim.engine.lifecycle.resume
        sim.engine.lifecycle.resume = (  # type: ignore[method-assign]
            lambda inv_id, number, r=general_resume, c=resumes: c.append(inv_id) or r(inv_id,
                                                                                       number))
        sim.engine.run_task = (task_runner(sim.engine) if fused
                               else sim.engine.general_run_task)
        handles = [sim.invoke("Crowd/five", i) for i in range(4)]
        handles += [sim.invoke("Crowd/mixed", i) for i in range(4)]
        sim.run()
        assert [h.result() for h in handles] == [i + 5 for i in range(4)] + [
            [i + 2, i + 2, i + 1, i] for i in range(4)]
        runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log))
        if fused:
            assert set(names) == {"right"}, names  # the step a fault may fire at
            assert resumes == []  # every resume task took the fused way
        else:
            assert {"step", "first", "left", "right"} <= set(names)
            assert len(resumes) >= 4 * 5
    assert runs[0] == runs[1]


def test_a_crowds_starts_open_in_one_call_and_a_keyed_one_through_open_attempt():
    """A crowd's "start" task opens its attempt with ``Lifecycle.start_alone``
    (``crowd=True``) in its common case; one for a key's lock (an exclusive
    handler) goes through ``open_attempt``, the general way. Both runs are
    those of the general tasks (above)."""
    sim = sd.Simulation([crowd, obj], seed=3)
    lifecycle = sim.engine.lifecycle
    general = lifecycle.open_attempt
    opened: list[str] = []

    def counted(inv_id: str) -> Attempt | None:
        opened.append(sim.engine.invocations.by_id[inv_id].service)
        return general(inv_id)

    lifecycle.open_attempt = counted  # type: ignore[method-assign]
    handles = [sim.invoke("Crowd/five", i) for i in range(6)]
    keyed = [sim.invoke(f"Counter/k{i % 2}/bump", 1) for i in range(2)]
    sim.run()
    assert [h.result() for h in handles] == [i + 5 for i in range(6)]
    assert all(h.status == "completed" for h in keyed)
    assert opened == ["Counter", "Counter"]


def test_a_step_awaited_in_a_crowd_waits_without_asking_to_run_in_place():
    """With other work ready, the step lane tells the future to wait at once
    (``LANE_WAITS``): ``run_lone_step`` is not asked, and the run is the same."""
    runs = []
    for lane in (True, False):
        sim = sd.Simulation([crowd], seed=2)
        asked: list[int] = []
        lone = sim.engine.run_lone_step
        sim.engine.run_lone_step = (  # type: ignore[method-assign]
            lambda attempt, index, lone=lone, asked=asked: asked.append(index) or lone(attempt,
                                                                                      index))
        if not lane:
            sim.engine.step_lane = None
        handles = [sim.invoke("Crowd/five", i) for i in range(3)]
        sim.run()
        assert [h.result() for h in handles] == [5, 6, 7]
        runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log))
        # (once alone, the last handler's steps run in place, asked or through the lane)
        assert len(asked) < 5 if lane else len(asked) >= 10, asked
    assert runs[0] == runs[1]


def test_a_crowds_step_waits_without_calling_the_step_lane():
    """A fresh step issued lone and awaited while other work is ready waits
    from its future's ``__await__`` without the lane's call (whose answer is
    then always ``LANE_WAITS``); the lane is asked only once a handler is
    alone, and the run is the one without the lane at all."""
    runs = []
    for lane in (True, False):
        sim = sd.Simulation([crowd], seed=2)
        sim.engine.steps.express = False  # (else a step awaited alone skips the lane too)
        asked: list[int] = []
        if lane:
            step_lane = sim.engine.step_lane
            sim.engine.step_lane = (
                lambda fut, asked=asked, step_lane=step_lane: asked.append(fut._index)
                or step_lane(fut))
        else:
            sim.engine.step_lane = None
        handles = [sim.invoke("Crowd/five", i) for i in range(3)]
        sim.run()
        assert [h.result() for h in handles] == [5, 6, 7]
        runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log,
                     sim.scheduler.decisions))
        if lane:  # (15 steps awaited, in a crowd but for the last handler's last ones)
            assert 0 < len(asked) < 5, asked
    assert runs[0] == runs[1]


callers: list[tuple[str, str]] = []


def first(i: int) -> int:
    callers.append(("first", sys._getframe(1).f_code.co_name))
    return i + 1


def second(j: int = 0, i: int = 0) -> int:
    callers.append(("second", sys._getframe(1).f_code.co_name))
    return i + j


def only_by_position(i: int = 0, /, **rest: int) -> int:
    return i + sum(rest.values())


def by_keyword_only(*, i: int) -> int:
    return i + 2


async def awaited(i: int) -> int:
    return i * 2


def fails(i: int) -> int:
    raise sd.TerminalError(f"no {i}")


@crowd.handler()
async def keywords(ctx: sd.Context, x: int) -> list:
    out = [await ctx.run_typed("first", first, i=x), await ctx.run_typed("second", second, i=x),
           await ctx.run_typed("posonly", only_by_position, i=x),
           await ctx.run_typed("kwonly", by_keyword_only, i=x),
           await ctx.run_typed("async", awaited, i=x), await ctx.run_typed("first", first, i=x)]
    try:
        await ctx.run_typed("fails", fails, i=x)
    except sd.TerminalError as err:
        out.append(str(err))
    return out


def test_a_crowds_step_whose_keyword_is_its_functions_first_parameter_gets_it_by_position():
    """A step task passes the one keyword's value by position, with no closure
    caller's frame, when it names its function's first parameter
    (``_tasks.first_name``, as ``_fast.express`` does at a ``FIRST`` site), and
    by its name otherwise: every run the same as through the general tasks."""
    runs = []
    for fused in (True, False):
        callers.clear()
        sim = sd.Simulation([crowd], seed=4)
        if not fused:
            sim.engine.run_task = sim.engine.general_run_task
        handles = [sim.invoke("Crowd/keywords", i) for i in range(6)]
        sim.run()
        runs.append((sim.trace(), [h.result() for h in handles], sim.engine.tasks_run))
        firsts = [caller for fn, caller in callers if fn == "first"]
        seconds = {caller for fn, caller in callers if fn == "second"}
        assert ("tasks" in firsts) == fused and "tasks" not in seconds, callers
        if fused:  # (most are step tasks': the last handler's run in place, by ``express``)
            assert firsts.count("tasks") > 6, firsts
    assert runs[0] == runs[1]
    assert runs[0][1][0] == [1, 0, 0, 2, 0, 1, "no 0"]


@crowd.handler()
async def long(ctx: sd.Context, x: int) -> int:
    for _ in range(530):
        x = await ctx.run_typed("step", add, i=x)
    return x


def test_a_crowds_resume_past_the_made_waits_is_the_general_runs():
    """A resume whose handler waits on its one issued step is told by the wait
    itself (``_fast.waits``' for its index, ``_tasks``); past the indices those
    cover (a journal of more than 1,024 entries) it goes the general test's
    way: the same run, task for task, as through the general tasks."""
    runs = []
    for fused in (True, False):
        sim = sd.Simulation([crowd], seed=6)
        if not fused:
            sim.engine.run_task = sim.engine.general_run_task
        handles = [sim.invoke("Crowd/long", i) for i in range(3)]
        sim.run()
        runs.append((sim.trace(), [h.result() for h in handles], sim.engine.tasks_run,
                     sim.scheduler.decisions))
    assert runs[0] == runs[1]
    assert runs[0][1] == [530, 531, 532]
    assert len(sim.journal(handles[0])) > len(_fast.waits)


def test_the_plain_serdes_write_an_int_as_its_digits_whatever_their_hint():
    """What the fused step task writes for a closure's int without calling its
    serde, when the serde is of the plain one's class."""
    for hint in (None, int, float, str, list[int], object):
        for n in (0, 7, -12, 2**70):
            assert sd.DefaultSerde(hint).serialize(n) == b"%d" % n



handing = sd.Service("Handing")
made: dict[int, str] = {}
same: list[bool] = []


def make_text(i: int) -> str:
    made[i] = "".join(["text-", str(i)])  # (a new string each time: not interned)
    return made[i]


@dataclass
class Point:
    x: int


def make_point(i: int) -> Point:
    return {"x": i}  # type: ignore[return-value]  # (a dict, read back as a Point)


@handing.handler()
async def kept(ctx: sd.Context, x: int) -> list:
    text = await ctx.run_typed("text", make_text, i=x)
    pair = await ctx.run_typed("pair", lambda: (x, x))
    point = await ctx.run_typed("point", make_point, i=x)
    same.append(text is made[x])  # (not in its result: the runs' outputs are compared)
    return [text, type(pair).__name__, type(point).__name__]


def test_a_crowds_resume_hands_the_handler_its_steps_value_when_it_reads_back_as_is():
    """The fused step task's resume sends the closure's value itself to the
    awaiting future when the plain serde reads such a value back unchanged (a
    str: the same object, not decoded); any other value is decoded as the
    general way decodes it (a tuple: a list; a dict through the serde of a
    dataclass: the dataclass), and the run is the same through the general
    tasks."""
    runs = []
    for fused in (True, False):
        sim = sd.Simulation([handing], seed=3)
        if not fused:
            sim.engine.run_task = sim.engine.general_run_task
        handles = [sim.invoke("Handing/kept", i) for i in range(6)]
        same.clear()
        sim.run()
        runs.append((sim.trace(), [sim.journal(h) for h in handles]))
        assert [h.result() for h in handles] == [[f"text-{i}", "list", "Point"]
                                                 for i in range(6)]
        assert same == [fused] * 6
    assert runs[0] == runs[1]


def test_a_run_takes_its_ready_tasks_in_one_call_as_it_would_one_call_each():
    """``Simulation.run`` without ``stop`` hands the fused runner every ready
    task at once (``run_task(until_idle=True)``); the run, and where
    ``max_steps`` stops it, is the one a call a task gives."""
    for seed in range(3):
        for max_steps in (20_000, 40, 7):
            runs = []
            for one_call in (True, False):
                sim = sd.Simulation([crowd], seed=seed, max_steps=max_steps)
                runner = task_runner(sim.engine)
                calls: list[tuple] = []
                sim.engine.run_task = (  # type: ignore[method-assign]
                    lambda *a, c=calls, r=runner: c.append(a) or r(*a))
                handles = [sim.invoke(("Crowd/five", "Crowd/mixed", "Crowd/typed")[i % 3], i)
                           for i in range(9)]
                try:
                    sim.run() if one_call else sim.run(stop=lambda: False)
                    ended = "done"
                except sd.StuckError as err:
                    ended = str(err)
                runs.append((sim.trace(), ended, sim.engine.tasks_run, sim.scheduler.decisions,
                             [h.status for h in handles]))
                if one_call:  # (a call at each time the clock moves, and none a task)
                    assert len(calls) < 6 and all(a == (True,) for a in calls), calls
                else:
                    # (a step run in place counts as a task too)
                    assert 6 < len(calls) <= sim.engine.tasks_run and set(calls) == {()}
            assert runs[0] == runs[1]
            assert (runs[0][1] == "done") == (max_steps == 20_000)


def test_a_crowds_draw_count_past_many_draws_is_the_general_runs():
    """The fused runner counts its draws in blocks (``_tasks.DRAW_BLOCK``):
    past several blocks, and with a call ending inside one (``max_steps``),
    the scheduler's count is the general tasks' count."""
    for max_steps in (20_000, 1_000):
        runs = []
        for fused in (True, False):
            sim = sd.Simulation([crowd], seed=5, max_steps=max_steps)
            if not fused:
                sim.engine.run_task = sim.engine.general_run_task
            for i in range(90):
                sim.invoke("Crowd/five", i)
            try:
                sim.run()
            except sd.StuckError:
                pass
            runs.append((sim.trace(), sim.engine.tasks_run, sim.scheduler.decisions))
        assert runs[0] == runs[1]
        assert runs[0][2] > 3 * _tasks.DRAW_BLOCK


limiting = sd.Service("Limiting")


def lower_the_limit(i: int) -> int:
    """Lowers the run's task limit from inside a step's closure."""
    sim = current[0]
    sim.engine.max_tasks = sim.engine.tasks_run + 3
    return i


@limiting.handler()
async def limited(ctx: sd.Context, x: int) -> int:
    for _ in range(3):
        x = await ctx.run_typed("step", add, i=x)
    if x == 33:
        x = await ctx.run_typed("lower", lower_the_limit, i=x)
    return await ctx.run_typed("last", add, i=x)


@limiting.handler()
async def sends(ctx: sd.Context, x: int) -> int:
    for i in range(4):
        ctx.service_send(limited, arg=i)
        x = await ctx.run_typed("step", add, i=x)
    return x


def test_a_limit_lowered_in_a_task_stops_a_crowd_at_the_same_task():
    """A task that lowers the run's task limit (``Engine.max_tasks``) or
    passes ``max_invocations`` (``Scheduler.stop``) stops the run where the
    general tasks stop it: the fused runner tests the limits only at the task
    ``Scheduler.check_at`` names, which both set to the next."""
    for name, options in (("Limiting/limited", {}), ("Limiting/sends", {"max_invocations": 60})):
        runs = []
        for fused in (True, False):
            sim = sd.Simulation([limiting], seed=2, **options)
            if not fused:
                sim.engine.run_task = sim.engine.general_run_task
            current[:] = [sim]
            for i in range(40):
                sim.invoke(name, i)
            try:
                sim.run()
                ended = "done"
            except sd.StuckError as err:
                ended = str(err).split("\n")[0]
            runs.append((sim.trace(), ended, sim.engine.tasks_run,
                         sorted(h.status for h in sim.invocations())))
        assert runs[0] == runs[1]
        assert runs[0][1] != "done" and set(runs[0][3]) != {"completed"}, runs[0][1:]


def test_a_crowds_start_tasks_drive_the_first_segment_as_a_resume_does():
    """The fused runner opens a started invocation's attempt
    (``Lifecycle.open_attempt``) and drives its first segment as it resumes a
    handler: no ``Running.drive`` for a plain handler's start (strict mode
    drives it, for its guard); the run is the one the general tasks give."""
    runs = []
    for fused, strict in ((True, False), (False, False), (True, True)):
        sim = sd.Simulation([crowd], seed=4, strict=strict)
        drives: list[int] = []
        general_drive = sim.engine.running.drive
        sim.engine.running.drive = (  # type: ignore[method-assign]
            lambda attempt, throw, d=drives, g=general_drive: d.append(1) or g(attempt, throw))
        sim.engine.run_task = (task_runner(sim.engine) if fused  # type: ignore[method-assign]
                               else sim.engine.general_run_task)
        handles = [sim.invoke("Crowd/five", i) for i in range(5)]
        sim.run()
        assert [h.result() for h in handles] == [i + 5 for i in range(5)]
        runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log))
        assert (len(drives) == 0) == (fused and not strict), drives
    assert runs[0] == runs[1] == runs[2]



def taking_turns(sim: sd.Simulation, mode: str, queued: set[str]) -> object:
    """``run_task`` doing each task through the fused runner ("fused"), the
    general tasks ("general") or each in turn ("alternate"), noting the types
    of the tasks it finds ready in ``queued``."""
    engine, scheduler = sim.engine, sim.scheduler
    fused, general = task_runner(engine), engine.general_run_task
    turn = [0]

    def run_task(until_idle: bool = False) -> object:
        while True:
            queued.update(type(t).__name__ for t in scheduler.ready)
            turn[0] += 1
            runner = fused if mode == "fused" or (mode == "alternate" and turn[0] % 2) else general
            request = runner()
            if (request is not None or not until_idle or not scheduler.ready
                    or scheduler.tasks_run >= scheduler.max_tasks):
                return request

    return run_task


def test_a_crowds_step_and_resume_tasks_are_its_futures_and_attempts():
    """The fused runner queues a plain step's task as the step's future and a
    resume task as the attempt itself (no tuple a task); the general tasks take
    them too: a run that alternates the two runners task by task is the run
    either gives alone, with and without faults."""
    plan = sd.FaultPlan((sd.Fault("fail", step="left", times=1),
                         sd.Fault("crash", step="step", phase="after-store")))
    for seed, faults in ((1, None), (2, plan), (3, plan)):
        runs = []
        for mode in ("fused", "general", "alternate"):
            bank.reset()
            sim = sd.Simulation([crowd], seed=seed, faults=faults)
            queued: set[str] = set()
            sim.engine.run_task = taking_turns(sim, mode, queued)  # type: ignore[method-assign]
            handles = [sim.invoke(("Crowd/five", "Crowd/mixed")[i % 2], i) for i in range(10)]
            sim.run()
            runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log,
                         sim.scheduler.decisions, [h.status for h in handles]))
            if mode == "fused":
                assert {"StepFuture", "Attempt"} <= queued, queued
            elif mode == "general":
                assert "StepFuture" not in queued, queued
        assert runs[0] == runs[1] == runs[2]


def test_a_crowds_lone_step_is_registered_and_queued_in_one_go(monkeypatch):
    """In a crowd the step lane leaves a lone fresh step unregistered
    (``Attempt.issued``) when its handler yields to wait on it; the fused runner
    queues it in one go (no ``register_issued``, no ``_unscheduled`` list to
    fill and go through), the general way registers it through
    ``pending_steps``: the same run."""
    registered: list[int] = []
    general_register = Attempt.register_issued

    def counted(attempt: Attempt) -> None:
        if attempt.issued is not None:
            registered.append(attempt.issued._index)
        general_register(attempt)

    monkeypatch.setattr(Attempt, "register_issued", counted)
    runs = []
    for fused in (True, False):
        registered.clear()
        sim = sd.Simulation([crowd], seed=6)
        if not fused:
            sim.engine.run_task = sim.engine.general_run_task  # type: ignore[method-assign]
        handles = [sim.invoke("Crowd/five", i) for i in range(6)]
        sim.run()
        assert [h.result() for h in handles] == [i + 5 for i in range(6)]
        runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log))
        if fused:
            assert registered == [], registered
        else:
            assert registered, registered  # (each handler's first step, at least)
    assert runs[0] == runs[1]


def test_a_crowds_queued_lone_step_stays_unregistered_until_a_general_task_takes_it():
    """The fused runner queues a crowd's lone step without registering it in
    ``Attempt.steps`` (its task is its future; a dict's table an attempt less):
    no attempt of a crowd of plain handlers has a registered step between two
    tasks. A task that goes the general way registers it first (a fault aimed
    at a step; every task of the general runner; the two runners in turn), and
    each run is the one the general tasks give."""
    plan = sd.FaultPlan((sd.Fault("fail", step="step", times=1),))
    for faults in (None, plan):
        runs = []
        for mode in ("fused", "general", "alternate"):
            sim = sd.Simulation([crowd], seed=8, faults=faults)
            inner = taking_turns(sim, mode, set())
            seen: list[int] = []

            def each(until_idle: bool = False, sim: sd.Simulation = sim,
                     inner: object = inner, seen: list[int] = seen) -> object:
                request = inner(False)  # type: ignore[operator]
                seen.append(sum(len(a.steps) for a in sim.engine.running.attempts.values()))
                while (until_idle and request is None and sim.scheduler.ready
                       and sim.scheduler.tasks_run < sim.scheduler.max_tasks):
                    request = inner(False)  # type: ignore[operator]
                    seen.append(sum(len(a.steps)
                                    for a in sim.engine.running.attempts.values()))
                return request

            sim.engine.run_task = each  # type: ignore[method-assign]
            handles = [sim.invoke("Crowd/five", i) for i in range(6)]
            sim.run()
            runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log,
                         sim.scheduler.decisions, [h.status for h in handles]))
            if mode == "fused" and faults is None:
                assert max(seen) == 0, seen
            else:
                assert max(seen) > 0, seen
        assert runs[0] == runs[1] == runs[2]


def test_a_crowds_handler_that_returns_completes_its_invocation_in_the_runner():
    """The fused runner ends the invocation of a handler that returned
    (``Running.kill`` and ``Lifecycle.complete``, as ``Lifecycle.finish``
    does outside strict mode) without ``Running.ended`` and
    ``Lifecycle.segment_ended``; strict mode and the general tasks go through
    them, and the run is the same."""
    runs = []
    for fused, strict in ((True, False), (False, False), (True, True)):
        sim = sd.Simulation([crowd], seed=7, strict=strict)
        ends: list[str] = []
        general_end = sim.engine.lifecycle.segment_ended
        sim.engine.lifecycle.segment_ended = (  # type: ignore[method-assign]
            lambda attempt, coro, how, detail, e=ends, g=general_end: e.append(how) or g(
                attempt, coro, how, detail))
        sim.engine.run_task = (task_runner(sim.engine) if fused  # type: ignore[method-assign]
                               else sim.engine.general_run_task)
        handles = [sim.invoke(("Crowd/five", "Crowd/typed")[i % 2], i) for i in range(6)]
        sim.run()
        runs.append((sim.trace(), sim.engine.tasks_run, sim.engine.step_run_log,
                     [h.result() for h in handles]))
        finished = ends.count("finished")
        # (the last handler may end inside a step run in place: the general way)
        assert finished <= 1 if fused and not strict else finished == 6, ends
    assert runs[0] == runs[1] == runs[2]


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.integers(2, 40), st.booleans())
def test_an_attempts_queued_count_is_its_tasks_in_the_ready_lists_between_tasks(
        plan_faults, seed, hold_at, suspend):
    """``Attempt.queued`` (what ``Running.kill`` reads to know whether to drop
    an attempt's ready tasks) counts, between any two tasks of the fused
    runner, the attempt's tasks in the ready lists (held ones too): the runner
    leaves a task's count on its attempt while the task runs, for the task it
    queues next, and takes it off on every other way out, faults and restarts
    included. A count too low would leave a killed attempt's task to be drawn.
    Checked where the runner collects cycles, made due at every task."""
    sim = sd.Simulation([crowd, seq, obj], seed=seed, faults=sd.FaultPlan(tuple(plan_faults)),
                        externals=[bank], max_steps=20_000, always_suspend=suspend)
    bank.reset()
    flaky_calls.clear()
    current[:] = [sim]
    engine, scheduler = sim.engine, sim.scheduler
    scheduler.hold_at = hold_at
    checked = [0]

    def check(generation: int) -> None:
        tasks = [*scheduler.held, *scheduler.ready]
        for attempt in engine.running.attempts.values():
            assert attempt.queued == sum(task_attempt(t) is attempt for t in tasks), (
                attempt.rec.id, attempt.queued, tasks)
            checked[0] += 1

    for i in range(16):
        sim.invoke(("Crowd/five", "Crowd/mixed", "Seq/chain", "Crowd/typed", "Crowd/calls")[i % 5],
                   i)
    with patch.object(_tasks, "gc", SimpleNamespace(collect=check)), \
            patch.object(_sim, "_RUN_COLLECT_EVERY", 1):
        sim.run()
    assert checked[0] > 100


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.booleans())
@example([], 1, False)
@example([sd.Fault("crash", step="right", phase="before")], 2, False)
def test_an_attempt_holding_an_issued_step_is_live_after_each_segment(
        plan_faults, seed, suspend):
    """After the handler yields, the fused runner's resume tells by its issued
    step alone (``Attempt.issued``) that its attempt is alive and not
    replaying, and that the step has no completion: a step is issued only by
    a live attempt that is not replaying, at its journal's end, nothing runs
    it while it is issued, and every end of an attempt lets go of it. Checked
    after every segment the runner drives, with faults that crash, suspend
    and restart."""
    from simdurable.runtime._invocation import LIVE

    sim = sd.Simulation([crowd, seq, obj], seed=seed, faults=sd.FaultPlan(tuple(plan_faults)),
                        externals=[bank], max_steps=20_000, always_suspend=suspend)
    bank.reset()
    flaky_calls.clear()
    current[:] = [sim]
    checked = [0]
    send = _tasks.coroutine_send

    def checked_send(coro: object, value: object) -> object:
        attempt = next((a for a in sim.engine.running.attempts.values() if a.coro is coro),
                       None)
        try:
            return send(coro, value)  # type: ignore[arg-type]
        finally:
            if attempt is not None and attempt.issued is not None:
                assert attempt.alive and attempt.state is LIVE, attempt.rec.id
                assert attempt.issued._index not in attempt.done, attempt.rec.id
                checked[0] += 1

    for i in range(16):
        sim.invoke(("Crowd/five", "Crowd/mixed", "Seq/chain", "Crowd/typed", "Crowd/calls")[i % 5],
                   i)
    with patch.object(_tasks, "coroutine_send", checked_send):
        sim.run()
    # (a fault that may fire at a step's command sends it the general way,
    # which issues nothing: counted where none is armed)
    assert checked[0] > 10 or plan_faults, checked


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.integers(0, 7), st.booleans())
def test_an_attempts_plain_flag_is_its_four_fields_between_tasks(
        plan_faults, seed, cancel_every, suspend):
    """``Attempt.plain``, the fused runner's one test for its common case, is
    ``alive and state is LIVE and not cancel_pending and failure is None``
    for every attempt between any two tasks, live or ended, with faults that
    crash, suspend and restart, and cancellations and kills mid-run; and a
    live attempt's record is PENDING (the fused step task tests ``plain``
    for both after its closure)."""
    from simdurable.runtime._invocation import LIVE
    from simdurable.runtime._store import PENDING

    sim = sd.Simulation([crowd, seq, obj], seed=seed, faults=sd.FaultPlan(tuple(plan_faults)),
                        externals=[bank], max_steps=20_000, always_suspend=suspend)
    bank.reset()
    flaky_calls.clear()
    current[:] = [sim]
    seen: dict[int, Attempt] = {}
    checked = [0]

    def check(generation: int) -> None:
        for attempt in sim.engine.running.attempts.values():
            seen[id(attempt)] = attempt
        for attempt in seen.values():
            assert attempt.plain == (attempt.alive and attempt.state is LIVE
                                     and not attempt.cancel_pending
                                     and attempt.failure is None), attempt.rec.id
            assert not attempt.alive or attempt.rec.status == PENDING, attempt.rec.id
            checked[0] += 1

    run_checking_each_task(sim, ("Crowd/five", "Crowd/mixed", "Seq/chain", "Crowd/typed",
                                 "Crowd/calls"), check, cancel_every)
    assert checked[0] > 100


def run_checking_each_task(sim: sd.Simulation, targets: tuple[str, ...],
                           check: Callable[[int], None],
                           cancel_every: int) -> None:
    """Run 16 invocations of ``targets`` in turn with ``check(generation)``
    between any two tasks (as the fused runner's collection, made one a task),
    cancelling and killing some after the 40th task when ``cancel_every``."""
    handles = [sim.invoke(targets[i % len(targets)], i) for i in range(16)]
    with patch.object(_tasks, "gc", SimpleNamespace(collect=check)), \
            patch.object(_sim, "_RUN_COLLECT_EVERY", 1):
        sim.run(stop=lambda: sim.engine.tasks_run >= 40)
        if cancel_every:
            for i, handle in enumerate(handles):
                if i % cancel_every == 0:
                    sim.cancel(handle)
                elif i % cancel_every == 1:
                    sim.kill(handle)
        sim.run()


@crowd.handler()
async def keeps_its_futures(ctx: sd.Context, x: int) -> list:
    """Keeps each step's future past its await, and asks it again."""
    out = []
    for _ in range(3):
        future = ctx.run_typed("kept", add, i=x)
        x = await future
        out.append([future.done(), await future])
    return out


def test_a_crowds_attempt_records_no_completion_its_resume_hands_the_handler():
    """A crowd's step whose resume hands the handler its value, its future held
    by its step task alone, is not recorded in ``Attempt.done``: every attempt
    of a crowd of plain handlers keeps the one shared empty ``NO_DONE`` between
    two tasks (no dict an attempt). A handler that keeps its step's future has
    it recorded (the future asks: ``done()``, and its await again), and a
    resume the general tasks take records it then (``Attempt.unhand``): each
    run, fused, general or the two in turn, is the same."""
    from simdurable.runtime._invocation import NO_DONE

    for target in ("Crowd/five", "Crowd/keeps_its_futures"):
        runs = []
        for mode in ("fused", "general", "alternate"):
            sim = sd.Simulation([crowd], seed=4)
            inner = taking_turns(sim, mode, set())
            shared: list[bool] = []

            def each(until_idle: bool = False, sim: sd.Simulation = sim,
                     inner: object = inner, shared: list[bool] = shared) -> object:
                while True:
                    request = inner(False)  # type: ignore[operator]
                    shared.extend(a.done is NO_DONE
                                  for a in sim.engine.running.attempts.values())
                    if (not until_idle or request is not None or not sim.scheduler.ready
                            or sim.scheduler.tasks_run >= sim.scheduler.max_tasks):
                        return request

            sim.engine.run_task = each  # type: ignore[method-assign]
            handles = [sim.invoke(target, i) for i in range(8)]
            sim.run()
            results = [h.result() for h in handles]
            runs.append((sim.trace(), sim.engine.tasks_run, sim.scheduler.decisions, results))
            if target == "Crowd/five":
                assert results == [i + 5 for i in range(8)]
                assert all(shared) if mode == "fused" else not all(shared), (mode, shared)
            else:
                assert results == [[[True, i + 1], [True, i + 2], [True, i + 3]]
                                   for i in range(8)]
                assert not all(shared)
        assert runs[0] == runs[1] == runs[2]
