"""A fresh step awaited at once runs inside its call (``_fast.step_command``'s
express path) only as an optimisation: with it on or off, every run is the
same, task for task, whatever the handler does with its steps."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as sd
from simdurable.runtime import MemoryStore, _fast

ex = sd.Service("Express")
flaky_calls: list[int] = []
current: list[sd.Simulation] = []


def add(i: int) -> int:
    return i + 1


def hinted(i: int) -> int:
    return i + 1


def as_dict(i):  # no hint, a value the plain serde does not hand back as it is
    return {"i": i}


def fails_every_other(i: int) -> int:
    flaky_calls.append(i)
    if len(flaky_calls) % 2 == 1:
        raise ConnectionError("flaky")
    return i


def refuses(i: int) -> int:
    raise sd.TerminalError(f"no {i}", 409)


async def helper(ctx: sd.Context, x: int) -> int:
    return await ctx.run_typed("in-helper", add, i=x)


@ex.handler()
async def shapes(ctx: sd.Context, n: int) -> list:
    x = await ctx.run_typed("at-once", add, i=n)
    x = await ctx.run_typed("hinted", hinted, i=x)
    d = await ctx.run_typed("dict", as_dict, i=x)
    z = await ctx.run_typed("flaky", fails_every_other, i=x)
    try:
        await ctx.run_typed("refuse", refuses, i=z)
    except sd.TerminalError as err:
        z += err.status_code
    kept = ctx.run_typed("kept", add, i=x)  # awaited later: the present path
    y = await kept
    y = await helper(ctx, y)  # awaited at once inside a helper coroutine
    y = await functools.partial(ctx.run_typed, "partial", add)(i=y)
    f1, f2 = ctx.run_typed("g1", add, i=1), ctx.run_typed("g2", add, i=2)
    await sd.gather(f1, f2)
    z = await ctx.run("legacy", add, args=(z,))  # through a wrapper: not at once
    # a closure that makes other work ready: the handler's resume waits its turn
    sent = await ctx.run_typed("send", lambda: current[0].send("Express/short", z).id)
    await ctx.sleep(timedelta(milliseconds=1))
    return [x, d, y, await f1, await f2, z, bool(sent), await ctx.run_typed("last", add, i=z)]


@ex.handler()
async def short(ctx: sd.Context, n: int) -> int:
    return await ctx.run_typed("short", add, i=n)


def run(plan: sd.FaultPlan | None, seed: int, express: bool, strict: bool = False,
        store: MemoryStore | None = None) -> tuple:
    flaky_calls.clear()
    sim = sd.Simulation([ex], seed=seed, faults=plan, strict=strict, max_steps=20_000,
                        store=store)
    sim.engine.steps.express = express
    current[:] = [sim]
    handles = [sim.invoke("Express/shapes", n) for n in range(2)] if store is None else []
    sim.run()
    results = [h.result() if h.status == "completed" else h.status for h in sim.invocations()]
    journals = [sim.journal(h) for h in sim.invocations()]
    return (sim.trace(), journals, results, sim.engine.tasks_run, sim.engine.step_run_log,
            sim.scheduler.decisions, [h.id for h in handles])


def test_the_express_path_is_there_on_this_python():
    assert _fast.EXPRESS


def test_awaited_at_tells_a_call_awaited_at_once_from_a_kept_one():
    seen: list[bool] = []

    def step(*args: Any, **kwargs: Any) -> Any:
        seen.append(_fast._at_once())
        return _fast.ready(None)

    async def shapes(args: tuple) -> None:
        await step(1)
        await step(1, i=2)
        await step(*args)  # (a call that unpacks: never at once)
        future = step(1)
        await future
        await [step(1)][0]

    try:
        shapes((1,)).send(None)
    except StopIteration:
        pass
    assert seen == [True, True, False, False, False]


def test_express_steps_run_inside_their_call():
    """The steps awaited at once (while no other is unstarted and no other work
    is ready) never reach the step lane; the kept one and the gathered ones do."""
    laned: list[str] = []
    sim = sd.Simulation([ex], seed=1)
    lane = sim.engine.step_lane
    assert lane is not None

    def counted(future: Any) -> Any:
        laned.append(getattr(future, "name", "?"))
        return lane(future)

    sim.engine.step_lane = counted
    current[:] = [sim]
    flaky_calls.clear()
    h = sim.invoke("Express/shapes", 1)
    sim.run()
    assert h.status == "completed"
    assert {"at-once", "hinted", "dict", "in-helper", "partial"}.isdisjoint(laned), laned
    assert {"kept", "g1", "g2"} <= set(laned), laned


phases = st.sampled_from(["before", "effect-done", "after-store"])
names = st.sampled_from(["at-once", "hinted", "dict", "kept", "in-helper", "partial", "g1",
                         "flaky", "refuse", "send", "last", "short"])
faults = st.one_of(
    st.builds(lambda i, p: sd.Fault("crash", index=i, phase=p), st.integers(0, 30), phases),
    st.builds(lambda s, p: sd.Fault("crash", step=s, phase=p), names, phases),
    st.builds(lambda i: sd.Fault("suspend", index=i, phase="after-store"), st.integers(0, 30)),
    st.builds(lambda s: sd.Fault("fail", step=s), names),
    st.builds(lambda t: sd.Fault("restart", at_ms=t), st.integers(0, 3000)),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.booleans())
def test_a_run_is_the_same_with_express_steps_or_without(plan_faults, seed, strict):
    plan = sd.FaultPlan(tuple(plan_faults))
    express = run(plan, seed, True, strict=strict)
    assert run(plan, seed, False, strict=strict) == express


def _cut(first: sd.Simulation, h: Any, entries: int) -> MemoryStore:
    """A store holding the first ``entries`` of ``h``'s journal in ``first``,
    its invocation pending again: a crash there, for a new engine to replay."""
    store = MemoryStore()
    for entry in first.journal(h)[:entries]:
        store.append(h.id, entry)
    store.put_invocation(dataclasses.replace(first.store.invocation(h.id),
                                             status="pending", result=None))
    return store


def _replayed(first: sd.Simulation, h: Any, entries: int, express: bool) -> tuple[sd.Simulation, Any]:
    """A new engine (seed 1) that replays ``h`` from the first ``entries`` of its
    journal in ``first`` (``_cut``), and the invocation it ran to its end."""
    again = sd.Simulation([ex], seed=1, store=_cut(first, h, entries))
    again.engine.steps.express = express
    again.run()
    (replayed,) = again.invocations()
    return again, replayed


@pytest.mark.parametrize("seed", range(4))
def test_a_replay_of_express_steps_is_the_same_either_way(seed):
    """The journal an express run leaves replays alike with the express path and
    without (every step replayed, then the rest of the run)."""
    first = sd.Simulation([ex], seed=seed)
    current[:] = [first]
    flaky_calls.clear()
    h = first.invoke("Express/shapes", 3)
    first.run()
    runs = []
    for express in (True, False):
        store = _cut(first, h, len(first.journal(h)) // 2)  # a half-way crash
        runs.append(run(None, seed, express, store=store))
    assert runs[0] == runs[1]


@ex.handler()
async def misused(ctx: sd.Context, case: str) -> int:
    if case == "nested":  # a step's closure that issues a step
        return await ctx.run_typed("outer", lambda: ctx.run_typed("inner", add, i=1))
    kept: list[Any] = []
    await ctx.run_typed("keep", lambda: kept.append(ctx) or 1)
    return 1


@pytest.mark.parametrize("case", ["nested", "fine"])
def test_a_misuse_says_the_same_with_express_steps_or_without(case):
    outcomes = []
    for express in (True, False):
        sim = sd.Simulation([ex], seed=2)
        sim.engine.steps.express = express
        h = sim.invoke("Express/misused", case)
        sim.run()
        try:
            outcome = h.result()
        except Exception as err:  # noqa: BLE001 - the refusal, compared below
            outcome = f"{h.status}: {type(err).__name__}: {err}"
        outcomes.append((outcome, sim.trace(), sim.journal(h)))
    assert outcomes[0] == outcomes[1]
    if case == "nested":
        assert str(outcomes[0][0]).startswith("paused: "), outcomes[0][0]


seen_steps: list[Any] = []


def records_its_step(i: int) -> int:
    import threading

    from simdurable.runtime._invocation import current_step

    seen_steps.append(current_step.get())
    # a thread started by the closure sees the step its context was copied in
    import contextvars

    context = contextvars.copy_context()
    thread = threading.Thread(target=lambda: seen_steps.append(context.run(current_step.get)))
    thread.start()
    thread.join()
    return i + 1


@ex.handler()
async def labelled(ctx: sd.Context, n: int) -> int:
    n = await ctx.run_typed("first", records_its_step, i=n)
    kept = ctx.run_typed("kept", records_its_step, i=n)
    return await ctx.run_typed("third", records_its_step, i=await kept)


def test_an_express_steps_closure_sees_its_step_as_any_other():
    runs = []
    for express in (True, False):
        seen_steps.clear()
        sim = sd.Simulation([ex], seed=1)
        sim.engine.steps.express = express
        h = sim.invoke("Express/labelled", 1)
        sim.run()
        assert h.result() == 4
        runs.append([(s.invocation, s.handler, s.step, s.index, s.attempt) for s in seen_steps])
    assert runs[0] == runs[1]
    assert [r[2:4] for r in runs[0]] == [("first", 0), ("first", 0), ("kept", 2), ("kept", 2),
                                         ("third", 4), ("third", 4)]


@ex.handler()
async def seen(ctx: sd.Context, n: int) -> list:
    for _ in range(3):
        n = await ctx.run_typed("at-once", add, i=n)
    kept = ctx.run_typed("kept", add, i=n)  # awaited later, from its future
    await kept
    return sorted(ctx._attempt.done)  # (the indices whose completion it keeps)


@pytest.mark.parametrize("express", [True, False])
def test_an_attempt_keeps_no_completion_of_a_step_handed_its_value_at_once(express):
    """``Attempt.done`` keeps a completion for what may ask for it again (a
    future): none for an express step, run fresh or replayed after a reload."""
    kept = [6] if express else [0, 2, 4, 6]
    first = sd.Simulation([ex], seed=1)
    first.engine.steps.express = express
    h = first.invoke("Express/seen", 0)
    first.run()
    assert h.result() == kept
    _, replayed = _replayed(first, h, 6, express)  # its three steps, replayed
    assert replayed.result() == kept


bound_to: list[str] = []


@ex.handler()
async def watched(ctx: sd.Context, n: int) -> int:
    x = n
    for i in range(4):
        bound_to.append(getattr(ctx.run_typed, "__func__", ctx.run_typed).__name__)
        x = await ctx.run_typed(f"w{i}", add, i=x)
    return x


def test_a_replaying_context_has_the_replays_command_until_its_replay_ends(monkeypatch):
    """A context whose attempt replays is given the replay's own step command
    (``_fast.replay_command``); its first step past the replay binds the fresh
    one in its place. The run is the same as with the fresh command only."""
    first = sd.Simulation([ex], seed=5)
    h = first.invoke("Express/watched", 1)
    first.run()
    runs = []
    for own in (True, False):
        if not own:
            monkeypatch.setattr("simdurable._api.context.replay_command", lambda issue: None)
        store = _cut(first, h, 4)  # two steps replayed, two run
        bound_to.clear()
        runs.append((run(None, 5, True, store=store), list(bound_to)))
    assert runs[0][0] == runs[1][0]
    assert runs[0][0][2] == [5]
    assert runs[0][1] == ["replay", "replay", "express", "express"]
    assert runs[1][1] == ["issue"] * 4


# One call site, two actions of different serdes: the site's kept serde is its
# last action's, asked again for another action (``_fast.site_of``).
@dataclasses.dataclass
class Point:
    x: int


def as_point(i: int) -> Point:
    return Point(i)


def as_plain(i: int) -> dict:
    return {"x": i}


def hinted_by(hint: Any) -> Any:
    def made(i):  # (one code, each closure its own return hint)
        return Point(i) if hint is Point else {"x": i}
    made.__annotations__["return"] = hint  # (as ``-> hint`` without the module's future import)
    return made


@ex.handler()
async def one_site(ctx: sd.Context, n: int) -> list:
    seen = []
    for action in (as_point, as_plain, as_point, as_plain,
                   hinted_by(Point), hinted_by(dict), hinted_by(Point)):
        value = await ctx.run_typed("s", action, i=n)  # (the one site)
        seen.append(type(value).__name__)
    return seen


@pytest.mark.parametrize("express", [True, False])
def test_a_call_site_keeps_its_serde_for_its_own_action_only(express):
    kinds = ["Point", "dict", "Point", "dict", "Point", "dict", "Point"]
    first = sd.Simulation([ex], seed=1)
    first.engine.steps.express = express
    h = first.invoke("Express/one_site", 1)
    first.run()
    assert h.result() == kinds
    _, replayed = _replayed(first, h, 14, express)  # its seven steps, replayed
    assert replayed.result() == kinds


# One call site, good at its first calls and wrong later (its kept entry then
# names another action, or none): every wrong call still gets its refusal, and
# nothing of it reaches the journal (``_fast.site_of``: the site's entry is read
# only after the call's checks).
@ex.handler()
async def good_then_bad(ctx: sd.Context, n: int) -> list:
    kept = ctx.run_typed("kept", add, i=n)  # a future, passed by mistake below
    said: list[Any] = []
    calls: list[tuple[Any, Any, Any]] = [
        ("s", add, n), ("s", add, n), (7, add, n), ("s", 5, n), ("s", add, kept),
        ("s", add, n), ("s", lambda i: i * 2, n), ("s", None, n), ("s", add, n)]
    for name, action, arg in calls:
        try:
            said.append(await ctx.run_typed(name, action, i=arg))  # (the keyword site)
        except sd.HandlerError as err:
            said.append(str(err).split("\n")[0])
        try:
            said.append(await ctx.run_typed(name, action, None, arg))  # (the positional site)
        except sd.HandlerError as err:
            said.append(str(err).split("\n")[0])
    said.append(await kept)
    return said


@pytest.mark.parametrize("express", [True, False])
def test_a_call_site_good_once_and_wrong_later_is_refused_each_time(express):
    lines = inspect.getsource(good_then_bad).splitlines()
    start = good_then_bad.__code__.co_firstlineno - 1  # (its decorator's line)
    at = [f"handler Express/good_then_bad (test_express_steps.py:{start + i + 1}): ctx.run_typed()"
          for i, line in enumerate(lines) if "site)" in line]  # each site's line, named
    future = ('{} got a DurableFuture as argument {} of step "s": an `await` is missing where '
              'that value was made.')
    said = [2, 2, 2, 2, f"{at[0]} needs a step name (str) first, got 7",
            f"{at[1]} needs a step name (str) first, got 7",
            f"{at[0]} needs a callable for step 's', got int",
            f"{at[1]} needs a callable for step 's', got int",
            future.format(at[0], "i="), future.format(at[1], "0"), 2, 2, 2, 2,
            f"{at[0]} needs a callable for step 's', got NoneType",
            f"{at[1]} needs a callable for step 's', got NoneType", 2, 2, 2]
    first = sd.Simulation([ex], seed=1)
    first.engine.steps.express = express
    h = first.invoke("Express/good_then_bad", 1)
    first.run()
    assert h.result() == said, h.result()
    journal = first.journal(h)
    assert [entry.name for entry in journal if entry.kind == "run"] == ["kept"] + ["s"] * 10
    for cut in (3, 13, len(journal)):  # replayed from part of it, or all of it
        again, replayed = _replayed(first, h, cut, express)
        assert replayed.result() == said
        assert again.journal(replayed) == journal


@ex.handler()
async def argument_for_options(ctx: sd.Context, n: int) -> int:
    return await ctx.run_typed("s", add, n)  # (``n`` where the options go)


@pytest.mark.parametrize("express", [True, False])
def test_a_steps_argument_where_its_options_go_is_named(express):
    sim = sd.Simulation([ex], seed=1)
    sim.engine.steps.express = express
    h = sim.invoke("Express/argument_for_options", 1)
    sim.run()
    with pytest.raises(sd.HandlerError) as caught:
        h.result()
    said = str(caught.value)
    assert ("ctx.run_typed() takes RunOptions or None after the action of step 's', got int; "
            "the step's arguments come after it: ctx.run_typed('s', action, None, *args)"
            in said), said
    assert "test_express_steps.py:" in said
