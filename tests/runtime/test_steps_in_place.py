"""Running a lone step in place (inside the handler's ``await``) is only an
optimisation: with it on or off, every run is the same, task for task; and so
is its fused form (``runtime/_fast.py``'s ``lone_step``) against the general one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as sd
from simdurable.runtime import StuckError
from simdurable.runtime._store import MemoryStore

bank = sd.FakeExternal("bank")
flaky_calls: list[int] = []

seq = sd.Service("Seq")
obj = sd.VirtualObject("Counter")


def add(i: int) -> int:
    return i + 1


def sometimes_fails(i: int) -> int:
    flaky_calls.append(i)
    if len(flaky_calls) % 3 == 1:
        raise ConnectionError("flaky")
    return i


def refuses(i: int) -> int:
    raise sd.TerminalError(f"no {i}", 422)


@obj.handler()
async def bump(ctx: sd.ObjectContext, n: int) -> int:
    value = (await ctx.get("v") or 0) + n
    value = await ctx.run_typed("double", add, i=value)
    ctx.set("v", value)
    return value


@seq.handler()
async def chain(ctx: sd.Context, n: int) -> dict:
    x = n
    for i in range(4):
        x = await ctx.run_typed(f"s{i}", add, i=x)
    y = await ctx.run_typed("flaky", sometimes_fails, i=x)
    z = await ctx.run_typed(
        "backoff", sometimes_fails, sd.RunOptions(max_attempts=5,
                                                  initial_retry_interval=timedelta(milliseconds=10)), i=y)
    try:
        await ctx.run_typed("refuse", refuses, i=z)
    except sd.TerminalError as err:
        z += err.status_code
    key = str(ctx.uuid())
    paid = await ctx.run_typed("pay", lambda: bank.apply("pay", {"n": n}, idempotency_key=key))
    await ctx.sleep(timedelta(milliseconds=3))
    counted = await ctx.object_call(bump, f"k{n % 2}", n)
    both = [await f for f in await sd.gather(ctx.run_typed("a", add, i=1),
                                                ctx.run_typed("b", add, i=2))]
    return {"z": z, "paid": bool(paid), "counted": counted, "both": both}


# Steps whose closures make work for the loop while they run (as a test's
# closure might: it reaches the simulation through a global). Then the handler
# must not simply go on: its resume task waits its turn among the new work.
current: list[sd.Simulation] = []


@seq.handler()
async def waiter(ctx: sd.Context, n: int) -> int:
    awk, future = ctx.awakeable()
    await ctx.run_typed("post", lambda: current[0].send("Seq/poker", awk).id)
    got = await future
    return int(got) + await ctx.run_typed("after", add, i=n)


@seq.handler()
async def poker(ctx: sd.Context, awk: str) -> str:
    x = await ctx.run_typed("warm", add, i=1)
    await ctx.run_typed("poke", lambda: current[0].resolve_awakeable(awk, x))
    await ctx.run_typed("spawn", lambda: current[0].send("Seq/chain", x).id)
    victim = await ctx.run_typed("victim", lambda: current[0].send("Seq/sleeper", 0).id)
    await ctx.run_typed("cancel", lambda: current[0].cancel(victim))
    return await ctx.run_typed("last", lambda: "poked")


@seq.handler()
async def selfish(ctx: sd.Context, n: int) -> int:
    me = ctx.request().id

    def cancel_me_then_send() -> str:  # the handler's resume is due before the send
        current[0].cancel(me)
        return current[0].send("Seq/sleeper", n).id

    # The cancellation is journaled before the step's completion, so the wait
    # on the step sees it first and raises, in place or not, live or replayed.
    await ctx.run_typed("self-cancel", cancel_me_then_send)
    return await ctx.run_typed("never", add, i=n)


@seq.handler()
async def sleeper(ctx: sd.Context, n: int) -> int:
    await ctx.sleep(timedelta(hours=1))
    return await ctx.run_typed("woke", add, i=n)


@seq.handler()
async def forever(ctx: sd.Context, n: int) -> int:
    while True:
        n = await ctx.run_typed("tick", add, i=n)


class CopyingStore(MemoryStore):
    """The simulation's store, but not its type: attempts copy their journal
    from it and append each entry to both (``Attempt.own_journal``)."""


def run(plan: sd.FaultPlan | None, seed: int, in_place: bool, alone: bool = False,
        fused: bool = True, fused_command: bool = True, lane: bool = True,
        fused_tasks: bool = True, shared_journal: bool = True, express: bool = True,
        **options) -> tuple:
    bank.reset()
    flaky_calls.clear()
    if not shared_journal:  # every attempt journals into its own copy, as on other stores
        options["store"] = CopyingStore()
    sim = sd.Simulation([seq, obj], seed=seed, faults=plan, externals=[bank],
                        max_steps=20_000, **options)
    sim.engine.steps_in_place = in_place
    sim.engine.steps.express = express
    if not fused:
        sim.engine.run_lone_step = sim.engine.steps.run_lone_step  # type: ignore[method-assign]
    if not fused_command:
        sim.engine.issue_step = None
    if not lane:
        sim.engine.step_lane = None
    if not fused_tasks:  # every task through the parts' general methods (not _tasks)
        sim.engine.run_task = sim.engine.general_run_task
    current[:] = [sim]
    if alone:  # one at a time: their steps, and those of what they start, often run alone
        handles = [sim.invoke("Seq/selfish", 3),
                   sim.send("Seq/waiter", 7, delay=timedelta(seconds=1))]
    else:
        handles = [sim.invoke("Seq/chain", n) for n in range(3)]
        handles += [sim.invoke("Seq/waiter", n) for n in range(2)]
    sim.run()
    results = [h.result() if h.status == "completed" else h.status for h in sim.invocations()]
    journals = [[(e.kind, e.name, e.data, e.result, e.target, e.at_ms) for e in sim.journal(h)]
                for h in handles]
    return (sim.trace(), journals, results, sim.engine.tasks_run, sim.engine.step_run_log,
            sim.scheduler.decisions, sim.state("Counter", "k0"), sim.state("Counter", "k1"))


phases = st.sampled_from(["before", "effect-done", "after-store"])
faults = st.one_of(
    st.builds(lambda i, p: sd.Fault("crash", index=i, phase=p), st.integers(0, 20), phases),
    st.builds(lambda s, p: sd.Fault("crash", step=s, phase=p),
              st.sampled_from(["s0", "s2", "flaky", "pay", "double", "a", "post", "poke",
                               "spawn", "cancel", "self-cancel"]), phases),
    st.builds(lambda i: sd.Fault("suspend", index=i, phase="after-store"), st.integers(0, 20)),
    st.builds(lambda s: sd.Fault("fail", step=s), st.sampled_from(["s1", "s3", "pay"])),
    st.builds(lambda t: sd.Fault("restart", at_ms=t), st.integers(0, 200)),
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(faults, max_size=3), st.integers(0, 2**16), st.booleans(), st.booleans(),
       st.booleans())
def test_a_run_is_the_same_with_steps_in_place_or_not(plan_faults, seed, alone, strict,
                                                      suspend):
    plan = sd.FaultPlan(tuple(plan_faults))
    options = {"alone": alone, "strict": strict, "always_suspend": suspend}
    in_place = run(plan, seed, True, **options)
    queued = run(plan, seed, False, **options)
    assert in_place == queued
    assert run(plan, seed, True, fused_command=False, **options) == in_place
    assert run(plan, seed, True, lane=False, **options) == in_place
    assert run(plan, seed, True, express=False, **options) == in_place
    assert run(plan, seed, True, fused_tasks=False, **options) == in_place
    assert run(plan, seed, True, shared_journal=False, **options) == in_place
    assert run(plan, seed, False, fused_tasks=False, **options) == in_place
    # (the fused form takes the general way at a step a fault may fire at, only)
    assert run(plan, seed, True, fused=False, lane=False, **options) == in_place


def test_fused_steps_take_the_general_way_only_off_their_common_case():
    """The fused form is what runs a plain chain of steps (its general fallback
    does not), and both leave the same run."""
    runs = []
    for fused in (True, False):
        sim = sd.Simulation([seq, obj], seed=3)
        general = sim.engine.steps.run_lone_step
        calls: list[int] = []

        def counted(attempt, index, general=general, calls=calls):
            calls.append(index)
            return general(attempt, index)

        sim.engine.steps.run_lone_step = counted  # type: ignore[method-assign]
        sim.engine.step_lane = None  # (the lane would run the lone steps itself)
        if fused:
            from simdurable.runtime._fast import lone_step

            sim.engine.run_lone_step = lone_step(sim.engine.steps)  # type: ignore[method-assign]
        else:
            sim.engine.run_lone_step = counted  # type: ignore[method-assign]
        h = sim.invoke("Seq/chain", 5)
        sim.run()
        runs.append((h.result(), sim.trace(), sim.journal(h), sim.engine.tasks_run))
        # s0..s3 (journal #0, #2, #4, #6) are lone fresh steps: the fused form runs them
        first = {0, 2, 4, 6}
        assert first.isdisjoint(calls) if fused else first <= set(calls), calls
    assert runs[0] == runs[1]


def test_the_step_lane_runs_fresh_steps_and_replays_stored_ones_with_the_same_run(monkeypatch):
    """``_fast.step_lane`` gives a lone fresh step's value (no ``run_lone_step``)
    and a replayed step's (no ``Attempt.replayed_next``) in one call, replaying,
    ``_fast.step_command`` matches a plain step's command (no ``Attempt.issue``),
    and the run, and its replay over the same journal, are the same without them."""
    import dataclasses

    from simdurable.runtime import MemoryStore
    from simdurable.runtime._invocation import Attempt

    replayed: list[int] = []
    general_replay = Attempt.replayed_next

    def counted_replay(self, index):
        replayed.append(index)
        return general_replay(self, index)

    monkeypatch.setattr(Attempt, "replayed_next", counted_replay)
    issued: list[int] = []
    general_issue = Attempt.issue

    def counted_issue(self, entry, method):
        index = general_issue(self, entry, method)
        issued.append(index)
        return index

    monkeypatch.setattr(Attempt, "issue", counted_issue)
    runs = []
    for lane in (True, False):
        lone: list[int] = []

        def simulation(store=None, lone=lone, lane=lane):
            sim = sd.Simulation([seq, obj], seed=3, store=store)
            general = sim.engine.run_lone_step

            def counted(attempt, index, general=general, lone=lone):
                lone.append(index)
                return general(attempt, index)

            sim.engine.run_lone_step = counted  # type: ignore[method-assign]
            if not lane:
                sim.engine.step_lane = None
                sim.engine.issue_step = None
            return sim

        sim = simulation()
        h = sim.invoke("Seq/chain", 5)
        sim.run()
        # s0..s3 (journal #0, #2, #4, #6) run alone, fresh
        first = {0, 2, 4, 6}
        assert first.isdisjoint(lone) if lane else first <= set(lone), lone
        store = MemoryStore()
        for entry in sim.journal(h):
            store.append(h.id, entry)
        rec = sim.store.invocation(h.id)
        store.put_invocation(dataclasses.replace(rec, status="pending", result=None))
        replayed.clear()
        issued.clear()
        again = simulation(store)
        again.run()
        # ... and are replayed from the journal
        assert first.isdisjoint(replayed) if lane else first <= set(replayed), replayed
        assert first.isdisjoint(issued) if lane else first <= set(issued), issued
        runs.append((h.result(), sim.trace(), sim.journal(h), sim.engine.tasks_run,
                     sim.engine.step_run_log, again.trace(), again.journal(h),
                     again.engine.step_run_log))
@pytest.mark.parametrize("fault", [
    sd.Fault("crash", step="s3", phase="after-store"),
    sd.Fault("fail", step="s3"),
    sd.Fault("crash", step="s3", index=6, attempt=1, target="Seq/chain", phase="before"),
])
def test_a_fault_aimed_at_one_step_leaves_the_others_on_the_fused_path(fault):
    """A crash run takes the fault-free path at every step the fault cannot fire
    at (only the named step asks its fault points), and the run is the same as
    through the general path everywhere."""
    runs = []
    for fused in (True, False):
        sim = sd.Simulation([seq, obj], seed=3, faults=[fault])
        general_step, general_command = sim.engine.steps.run_lone_step, sim.engine.store_command
        steps: list[int] = []
        commands: list[str] = []

        def step(attempt, index, general=general_step, steps=steps):
            steps.append(index)
            return general(attempt, index)

        def command(attempt, entry, general=general_command, commands=commands):
            commands.append(entry[1])  # its name (a journal entry is an exact tuple)
            return general(attempt, entry)

        sim.engine.steps.run_lone_step = step  # type: ignore[method-assign]
        sim.engine.commands.store_command = command  # type: ignore[method-assign]
        sim.engine.store_command = command  # type: ignore[method-assign]
        if fused:
            from simdurable.runtime._fast import lone_step

            sim.engine.run_lone_step = lone_step(sim.engine.steps)  # type: ignore[method-assign]
        else:
            sim.engine.run_lone_step = step  # type: ignore[method-assign]
            sim.engine.issue_step = None
            sim.engine.step_lane = None
        h = sim.invoke("Seq/chain", 5)
        sim.run()
        assert sim.fault_plan().faults, "the fault fired"
        runs.append((h.result(), sim.trace(), sim.journal(h), sim.engine.tasks_run,
                     sim.engine.step_run_log))
        # s0..s2 (#0, #2, #4) come before the fault, s3 (#6) is where it fires
        if fused:
            assert {0, 2, 4}.isdisjoint(steps), steps
            assert (6 in steps) == (fault.phase != "before"), steps  # (before: never run)
            assert {"s0", "s1", "s2"}.isdisjoint(commands) and "s3" in commands, commands
        else:
            assert {0, 2, 4, 6} <= set(steps), steps
    assert runs[0] == runs[1]


def test_a_fresh_steps_command_is_stored_by_the_fused_form_with_the_same_run():
    """``_fast.step_command`` stores a plain step's command (``store_command`` is
    not called for it), and the run is the same as through ``store_command``."""
    runs = []
    for fused in (True, False):
        sim = sd.Simulation([seq, obj], seed=3)
        general = sim.engine.store_command
        kinds: list[str] = []

        def counted(attempt, entry, general=general, kinds=kinds):
            kinds.append(entry[1])  # its name (a journal entry is an exact tuple)
            return general(attempt, entry)

        sim.engine.store_command = counted  # type: ignore[method-assign]
        if not fused:
            sim.engine.issue_step = None
        h = sim.invoke("Seq/chain", 5)
        sim.run()
        runs.append((h.result(), sim.trace(), sim.journal(h), sim.engine.tasks_run,
                     sim.engine.step_run_log))
        plain = {"s0", "s1", "s2", "s3", "flaky"}  # no options: the fused form's
        assert plain.isdisjoint(kinds) if fused else plain <= set(kinds), kinds
        assert "backoff" in kinds  # a step with RunOptions takes the general way
    assert runs[0] == runs[1]


def test_steps_in_place_skip_the_loop():
    """Without faults, a chain of steps never goes back to the loop between
    steps, yet every step counts as the two tasks it would have been."""
    loop_tasks = []
    for in_place in (True, False):
        sim = sd.Simulation([seq, obj], seed=1, max_steps=101)
        sim.engine.steps_in_place = in_place
        run_task = sim.engine.run_task
        calls = []
        sim.engine.run_task = lambda c=calls, r=run_task: c.append(1) or r()  # type: ignore[method-assign]
        h = sim.invoke("Seq/forever", 0)
        with pytest.raises(StuckError):
            sim.run(stop=lambda: False)  # (a call a task: what it counts)
        assert sim.engine.tasks_run == 101
        assert sim.step_runs(h) == {"tick": 50}
        loop_tasks.append(len(calls))
    assert loop_tasks == [1, 101]  # in place, the loop only starts the handler


def test_a_runaway_handler_is_stopped_at_the_same_task_either_way():
    counts = []
    for in_place in (True, False):
        sim = sd.Simulation([seq, obj], seed=1, max_steps=1001)
        sim.engine.steps_in_place = in_place
        h = sim.invoke("Seq/forever", 0)
        with pytest.raises(StuckError):
            sim.run()
        counts.append((sim.engine.tasks_run, sim.step_runs(h), sim.trace()))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("suspend", [False, True])
def test_a_cancellation_journaled_before_a_steps_completion_interrupts_its_wait(in_place,
                                                                               suspend):
    sim = sd.Simulation([seq, obj], seed=0, always_suspend=suspend)
    sim.engine.steps_in_place = in_place
    current[:] = [sim]
    h = sim.invoke("Seq/selfish", 3)
    sim.run()
    kinds = [e.kind for e in sim.journal(h)]
    assert kinds == ["run", "cancelled", "completion"]  # "never" is not issued
    with pytest.raises(sd.TerminalError, match="cancelled"):
        h.result()


@seq.handler()
async def resolves_own(ctx: sd.Context, n: int) -> int:
    awk, future = ctx.awakeable()

    def resolve() -> int:  # a completion of its own invocation, journaled by its closure
        current[0].resolve_awakeable(awk, n)
        return n

    got = await ctx.run_typed("resolve-own", resolve)
    return got + await future + await ctx.run_typed("after", add, i=n)


@pytest.mark.parametrize("suspend", [False, True])
def test_a_completion_its_closure_journals_sends_the_step_the_general_way(monkeypatch, suspend):
    """The step lane stores a closure's value itself only when nothing reached
    the invocation meanwhile: here the closure resolves the invocation's own
    awakeable, so ``finish_step`` stores it, and the run is the same as
    without the lane and without steps in place."""
    from simdurable.runtime._steps import Steps

    finished: list[int] = []
    general_finish = Steps.finish_step

    def counted(self, attempt, index, spec, outcome):
        finished.append(index)
        return general_finish(self, attempt, index, spec, outcome)

    monkeypatch.setattr(Steps, "finish_step", counted)
    runs = []
    for lane, in_place in ((True, True), (False, True), (False, False)):
        finished.clear()
        sim = sd.Simulation([seq, obj], seed=5, always_suspend=suspend)
        sim.engine.steps_in_place = in_place
        if not lane:
            sim.engine.step_lane = None
        current[:] = [sim]
        h = sim.invoke("Seq/resolves_own", 4)
        sim.run()
        assert h.result() == 4 + 4 + 5
        if lane:  # "resolve-own" (#1) through finish_step, "after" (#4) by the lane
            assert finished == [1], finished
        runs.append((sim.trace(), sim.journal(h), sim.engine.tasks_run, sim.engine.step_run_log))
    assert runs[0] == runs[1] == runs[2]


# Steps the fused command does not take: it leaves them to ``run_typed``'s
# general way, having done nothing, and the general way says what is wrong.
@seq.handler()
async def misused(ctx: sd.Context, case: str) -> str:
    x = await ctx.run_typed("first", add, i=1)
    if case == "name":
        await ctx.run_typed(42, add, i=x)  # type: ignore[arg-type]
    elif case == "action":
        await ctx.run_typed("not-callable", x)  # type: ignore[arg-type]
    elif case == "future-arg":
        pending = ctx.run_typed("pending", add, i=x)
        await ctx.run_typed("uses-it", add, i=pending)
    elif case == "nested":
        await ctx.run_typed("outer", lambda: ctx.run_typed("inner", add, i=x))
    elif case == "lambda":  # a closure the serde cache has not seen: the general lookup
        x = await ctx.run_typed("fresh-lambda", lambda: x + 1)
    return str(await ctx.run_typed("last", add, i=x))


@pytest.mark.parametrize("case", ["name", "action", "future-arg", "nested", "lambda"])
def test_a_step_the_fused_command_does_not_take_goes_the_general_way_untouched(case):
    runs = []
    for fused in (True, False):
        sim = sd.Simulation([seq, obj], seed=2)
        if not fused:
            sim.engine.issue_step = None
        h = sim.invoke("Seq/misused", case)
        sim.run()
        try:
            outcome = h.result()
        except Exception as err:  # noqa: BLE001 - the refusal, compared below
            outcome = f"{h.status}: {type(err).__name__}: {err}"
        runs.append((outcome, sim.trace(), sim.journal(h), sim.engine.step_run_log))
    assert runs[0] == runs[1]
    if case == "lambda":
        assert runs[0][0] == "4"
    else:  # refused, saying why: the invocation stops at the bad step
        assert runs[0][0].startswith("paused: "), runs[0][0]


@seq.handler()
async def step_then_sleep(ctx: sd.Context, n: int) -> list:
    nap = ctx.sleep(timedelta(0))
    step = ctx.run_typed("during-nap", add, i=n)
    before = step.done()
    await nap  # the step may complete first: then its completion follows its command
    after = step.done()
    return [before, after, await step, await ctx.run_typed("then", add, i=n)]


def replay_counting_futures(sim: sd.Simulation, h: Any, services: list[Any], seed: int,
                            lane: bool) -> tuple[tuple[Any, Any, Any], list[type]]:
    """Replay ``h``'s finished journal in a new simulation, with the step lane or
    without: its result, trace and journal, and the type of each future the
    fused step command made."""
    from simdurable.runtime import MemoryStore

    store = MemoryStore()
    for entry in sim.journal(h):
        store.append(h.id, entry)
    store.put_invocation(dataclasses.replace(sim.store.invocation(h.id), status="pending",
                                             result=None))
    again = sd.Simulation(services, seed=seed, store=store)
    if not lane:
        again.engine.step_lane = None
    made: list[type] = []
    issue = again.engine.issue_step

    def counted(attempt: Any, *args: Any, **kwargs: Any) -> Any:
        future = issue(attempt, *args, **kwargs)
        made.append(type(future))
        return future

    again.engine.issue_step = counted
    again.run()
    (replayed,) = again.invocations()
    return (replayed.result(), again.trace(), again.journal(h)), made


def test_a_replayed_steps_own_await_takes_its_value_only_while_nothing_was_taken_since():
    """A plain step replayed with its value right after its command is a
    ``ReplayedStepFuture``: awaited at once it takes that value itself; here the
    handler waits on a sleep first, which takes the step's completion too, so
    its await goes the general way (and ``done()`` says what it said the first
    time, before and after). Replays with the lane and without, and the first
    run, give the same values, journals and traces."""

    from simdurable._api.futures import ReplayedPlainStepFuture

    orders = set()
    for seed in range(12):
        sim = sd.Simulation([seq, obj], seed=seed)
        h = sim.invoke("Seq/step_then_sleep", 1)
        sim.run()
        journal = sim.journal(h)
        orders.add(tuple((e.kind, e.target) for e in journal[:4]))
        replays = []
        for lane in (True, False):
            replay, made = replay_counting_futures(sim, h, [seq, obj], seed, lane)
            replays.append(replay)
            # "during-nap" (its await finds the sleep took its completion: the
            # general way) and "then" (awaited at once: its own)
            assert made == [ReplayedPlainStepFuture] * 2, made
        assert replays[0] == replays[1]
        assert replays[0][0] == h.result() == [False, True, 2, 2]
    # the step's completion is journaled right after its command, before the sleep's
    assert orders == {(("sleep", -1), ("run", -1), ("completion", 1), ("completion", 0))}, orders


named = sd.Service("Named")


@named.handler()
async def repeats(ctx: sd.Context, n: int) -> int:
    for _ in range(3):
        n = await ctx.run_typed("same", add, i=n)
    await ctx.sleep(timedelta(milliseconds=5))
    n = await ctx.run_typed("same", add, i=n)
    for i in range(600):  # more names than an engine keeps entries of, past journal #1024
        n = await ctx.run_typed(f"n{i % 270}", add, i=n)
    return await ctx.run_typed("same", add, i=n)


def test_steps_of_one_name_at_one_time_share_their_command_entry():
    """The fused command makes one command entry for the steps of one name at
    one time (entries are immutable): the journal says the same as through
    ``store_command``, a step at another time gets its own, stamped with it."""
    journals = []
    for fused in (True, False):
        sim = sd.Simulation([named], seed=1)
        if not fused:  # (and no lane: its wait past journal #1024 is made, not kept)
            sim.engine.issue_step = None
            sim.engine.step_lane = None
        h = sim.invoke("Named/repeats", 0)
        sim.run()
        assert h.result() == 605
        journal = sim.journal(h)
        journals.append((sim.trace(), [tuple(e) for e in journal]))
        first, second, third, after_sleep = (journal[i] for i in (0, 2, 4, 8))
        assert (first.name, after_sleep.name, first.at_ms, after_sleep.at_ms) == ("same", "same",
                                                                                 0, 5)
        stored = sim.store.raw_journal(h.id)  # (``journal`` makes an ``Entry`` of each)
        first, second, third, after_sleep = (stored[i] for i in (0, 2, 4, 8))
        assert (first is second is third) == fused
        assert after_sleep is not first
    assert journals[0] == journals[1]


seen_steps: list = []


def note_step(i: int) -> int:
    """A closure that reads the current step, here and from a copy of its context
    in another thread (as ``asyncio.to_thread`` would run a function)."""
    import concurrent.futures
    import contextvars

    from simdurable.runtime import current_step

    copied = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        elsewhere = pool.submit(copied.run, current_step.get).result()
    here = current_step.get()
    assert current_step.get("none") == here  # (a default only when no step runs)
    seen_steps.append((here, elsewhere))
    return i + 1


@named.handler()
async def noted(ctx: sd.Context, n: int) -> int:
    n = await ctx.run_typed("plain", note_step, i=n)
    n = await ctx.run_typed("optioned", note_step, sd.RunOptions(max_attempts=2), i=n)
    return await ctx.run_typed("plain", note_step, i=n)


def test_a_closure_sees_its_step_in_its_context_and_copies_of_it_either_way():
    """``current_step`` names the running step inside its closure (a plain step
    through the lane's holder, made into a ``StepInfo`` when asked), in a copy
    of its context run by another thread, and nothing after it: the same with
    the lane as through the general way."""
    from simdurable.runtime import StepInfo, current_step

    runs = []
    for lane in (True, False):
        seen_steps.clear()
        sim = sd.Simulation([named], seed=1)
        if not lane:
            sim.engine.step_lane = None
        h = sim.invoke("Named/noted", 0)
        sim.run()
        assert h.result() == 3
        assert current_step.get() is None and current_step.get("none") == "none"
        assert all(type(here) is StepInfo and here == there for here, there in seen_steps)
        runs.append([here[:5] + (here.engine is sim.engine,) for here, _ in seen_steps])
    assert runs[0] == runs[1] == [
        (h.id, "Named/noted", "plain", 0, 1, True),
        (h.id, "Named/noted", "optioned", 2, 1, True),
        (h.id, "Named/noted", "plain", 4, 1, True),
    ]


def meeting() -> tuple[Callable[[str], str], dict[str, list]]:
    """A step closure for two threads at once, ``meet(who)``: each waits until
    the other's runs too, then notes (in ``seen``, by ``who``) the invocation
    and step that ``current_step`` names for it."""
    import threading

    from simdurable.runtime import current_step

    both_inside = threading.Barrier(2, timeout=60)  # (a loaded machine: generous)
    seen: dict[str, list] = {}

    def meet(who: str) -> str:
        both_inside.wait()  # each closure runs while the other's does
        info = current_step.get()
        both_inside.wait()
        seen[who] = [info.invocation, info.step]
        return who

    return meet, seen


def test_simulations_in_threads_see_each_its_own_step():
    """Two simulations run at once in two threads that started from copies of
    one context (which already holds a step holder): each closure sees its own
    step while the other's runs too."""
    import contextvars
    import threading


    warm = sd.Simulation([named], seed=1)  # this context's holder, made here
    warm.invoke("Named/repeats", 0)
    warm.run()
    meet, seen = meeting()

    svc = sd.Service("Meeting")

    @svc.handler()
    async def run(ctx: sd.Context, who: str) -> str:
        return await ctx.run_typed(f"meet-{who}", meet, who=who)

    ids: dict[str, str] = {}

    def simulate(who: str) -> None:
        sim = sd.Simulation([svc], seed=1)
        h = sim.invoke("Meeting/run", who)
        ids[who] = h.id
        sim.run()
        assert h.result() == who

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(simulate, who))
               for who in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {"a": [ids["a"], "meet-a"], "b": [ids["b"], "meet-b"]}


@pytest.mark.parametrize("how", ["resumed", "started"])
def test_a_simulation_continued_in_another_thread_finds_that_threads_holder(how):
    """The lane finds the current step's holder once a drive of a handler
    (``Running.step_holder``): a simulation whose handler ran a step here and
    is resumed in another thread (started from a copy of this context, which
    holds this thread's holder) names its step in that thread's own holder,
    while a closure runs here at the same time."""
    import contextvars
    import threading


    meet, seen = meeting()

    svc = sd.Service("Continued")

    @svc.handler()
    async def run(ctx: sd.Context, who: str) -> str:
        await ctx.run_typed("first", add, i=0)
        if who == "warm":
            return who
        if who == "there" and how == "resumed":
            await ctx.sleep(timedelta(seconds=1))  # (the rest: in the other thread)
        return await ctx.run_typed(f"meet-{who}", meet, who=who)

    there = sd.Simulation([svc], seed=1)
    if how == "resumed":
        h_there = there.invoke("Continued/run", "there")
    else:  # started there, after a handler of the same simulation ran a step here
        there.invoke("Continued/run", "warm")
        h_there = there.send("Continued/run", "there", delay=timedelta(seconds=1))
    there.run(until=timedelta(milliseconds=500))  # a step ran here
    thread = threading.Thread(target=contextvars.copy_context().run, args=(there.run,))
    thread.start()
    here = sd.Simulation([svc], seed=1)
    h_here = here.invoke("Continued/run", "here")
    here.run()
    thread.join(20)
    assert h_here.result() == "here" and h_there.result() == "there"
    assert seen == {"here": [h_here.id, "meet-here"], "there": [h_there.id, "meet-there"]}


@dataclasses.dataclass
class Box:
    n: int


def boxed(n: int) -> Box:
    return Box(n)


def plain_value(v):  # no return hint: the plain JSON serde
    return v


@named.handler()
async def values(ctx: sd.Context, n: int) -> list:
    out = []
    for v in (0, 7, 10, 2**70, -3, "12", "", None, 1.5, True, [1, 2], {"a": "0"}):
        out.append(await ctx.run_typed("value", plain_value, v=v))
    out.append(await ctx.run_typed("typed", add, i=n))
    out.append((await ctx.run_typed("boxed", boxed, n=n)).n)
    return out


def test_a_replayed_plain_steps_value_is_read_as_its_serde_reads_it():
    """A replayed plain step through the plain JSON serde reads a natural number
    with ``int()`` itself (``ReplayedPlainStepFuture``); every value reads back
    as through the serde, with the lane and without, as in the first run; a
    step with its own serde (a dataclass's) keeps its decoder."""
    from simdurable._api.futures import ReplayedPlainStepFuture, ReplayedStepFuture

    sim = sd.Simulation([named], seed=1)
    h = sim.invoke("Named/values", 5)
    sim.run()
    first = h.result()
    assert first == [0, 7, 10, 2**70, -3, "12", "", None, 1.5, True, [1, 2], {"a": "0"}, 6, 5]
    replays = []
    for lane in (True, False):
        replay, made = replay_counting_futures(sim, h, [named], 1, lane)
        replays.append(replay)
        assert made == [ReplayedPlainStepFuture] * 13 + [ReplayedStepFuture], made
    assert replays[0] == replays[1]
    assert replays[0][0] == first


# Random handlers: what runs between a step's ``run_typed`` and its ``await``
# (nothing, other steps, a command, work reaching the invocation from outside)
# decides whether the lane may trust what the fused command checked. Every
# program runs the same with the lane, without it, without the fused command
# and with attempts that copy their journal.
mixer = sd.Service("Mixer")


def fails_once(i: int) -> int:
    flaky_calls.append(i)
    if len(flaky_calls) % 2 == 1:
        raise ConnectionError("flaky")
    return i + 1


def refuse(i: int) -> int:
    raise sd.TerminalError(f"no {i}", 422)


@mixer.handler()
async def program(ctx: sd.Context, ops: list) -> list:
    me = ctx.request().id
    out: list = []
    later: list = []
    for n, op in enumerate(ops):
        name = f"s{n % 3}"  # (names repeat: shared command entries)
        if op == "now":
            out.append(await ctx.run_typed(name, add, i=n))
        elif op == "later":  # awaited after the next operation
            later.append(ctx.run_typed(name, add, i=n))
        elif op == "flush":
            out.extend([await f for f in later])
            later.clear()
        elif op == "gather":
            fs = [ctx.run_typed(name, add, i=n), ctx.run_typed("g", add, i=-n)]
            await sd.gather(*fs)
            out.extend([await f for f in fs])
        elif op == "fail":
            try:
                out.append(await ctx.run_typed(name, refuse, i=n))
            except sd.TerminalError as err:
                out.append(err.status_code)
        elif op == "flaky":
            out.append(await ctx.run_typed(name, fails_once, i=n))
        elif op == "sleep-between":  # a command between the step and its await
            f = ctx.run_typed(name, add, i=n)
            timer = ctx.sleep(timedelta(milliseconds=1))
            out.append(await f)
            await timer
        elif op == "send-between":  # other work made ready between them
            f = ctx.run_typed(name, add, i=n)
            current[0].send("Seq/sleeper", n)
            out.append(await f)
        elif op == "cancel-between":  # its own cancellation, journaled between them
            f = ctx.run_typed(name, add, i=n)
            current[0].cancel(me)
            out.append(await f)
        elif op == "gather-one":  # waited on by a combinator, not by its own await
            await ctx.sleep(timedelta(milliseconds=1))  # (from a resume task, in a crowd)
            f = ctx.run_typed(name, add, i=n)
            await sd.gather(f)
            out.append(await f)
        elif op == "sleep-first":  # another command awaited first
            f = ctx.run_typed(name, add, i=n)
            await ctx.sleep(timedelta(milliseconds=1))
            out.append(await f)
        elif op == "never":  # never awaited
            ctx.run_typed(name, add, i=n)
        elif op == "twice":  # the same future awaited again
            f = ctx.run_typed(name, add, i=n)
            out.append(await f)
            out.append(await f)
    out.extend([await f for f in later])
    return out


ops = st.sampled_from(["now", "now", "now", "later", "flush", "gather", "fail", "flaky",
                       "sleep-between", "send-between", "cancel-between", "twice",
                       "gather-one", "sleep-first", "never"])


def run_program(program_ops: list, plan: sd.FaultPlan, seed: int, *, lane: bool = True,
                fused_command: bool = True, shared_journal: bool = True) -> tuple:
    flaky_calls.clear()
    options: dict[str, Any] = {} if shared_journal else {"store": CopyingStore()}
    sim = sd.Simulation([mixer, seq, obj], seed=seed, faults=plan, max_steps=20_000,
                        **options)
    if not lane:
        sim.engine.step_lane = None
    if not fused_command:
        sim.engine.issue_step = None
    current[:] = [sim]
    handles = [sim.invoke("Mixer/program", program_ops),
               sim.invoke("Mixer/program", program_ops[::-1])]
    sim.run()
    results = [h.result() if h.status == "completed" else h.status for h in sim.invocations()]
    return (sim.trace(), [sim.journal(h) for h in handles], results, sim.engine.tasks_run,
            sim.engine.step_run_log)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=8), st.lists(faults, max_size=2), st.integers(0, 2**16))
def test_a_random_handler_runs_the_same_with_the_lane_trusting_the_fused_command(
        program_ops, plan_faults, seed):
    plan = sd.FaultPlan(tuple(plan_faults))
    fast = run_program(program_ops, plan, seed)
    assert run_program(program_ops, plan, seed, lane=False) == fast
    assert run_program(program_ops, plan, seed, fused_command=False) == fast
    assert run_program(program_ops, plan, seed, shared_journal=False) == fast
    assert run_program(program_ops, plan, seed, lane=False, fused_command=False,
                       shared_journal=False) == fast


# A step ``run_typed`` issued alone is registered only once something needs
# it (``Attempt.issued``): when its handler waits on anything else first, in
# a crowd's resume task as well, it is queued as if registered at its issue.
@mixer.handler()
async def waits_first(ctx: sd.Context, how: str) -> list:
    await ctx.sleep(timedelta(milliseconds=1))  # (the rest runs in a resume task)
    f = ctx.run_typed("early", add, i=1)
    if how == "sleep":
        await ctx.sleep(timedelta(milliseconds=1))
    else:
        await sd.gather(f)
    return [await f, await ctx.run_typed("after", add, i=2)]


@pytest.mark.parametrize("how", ["sleep", "gather"])
def test_a_step_issued_alone_and_waited_on_by_other_means_runs_as_registered(how):
    def one(fused_command: bool) -> tuple:
        sim = sd.Simulation([mixer], seed=3)
        if not fused_command:
            sim.engine.issue_step = None
        handles = [sim.invoke("Mixer/waits_first", how) for _ in range(3)]
        sim.run()
        return (sim.trace(), [sim.journal(h) for h in handles],
                [h.result() for h in handles], sim.engine.tasks_run)

    fast = one(True)
    assert fast[2] == [[2, 3]] * 3
    assert one(False) == fast


# The fused command finds a step's serde as ``_step_serde`` does: a function
# with no return hint has the plain one, a hinted one its cached serde while
# its hint is the same object; any other callable (unhashable too) asks.
class Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __call__(self, i: int) -> int:
        return i + 1


def hinted(i: int) -> int:
    return i + 1


@mixer.handler()
async def serdes(ctx: sd.Context, n: int) -> list:
    out = [await ctx.run_typed("unhashable", Unhashable(), i=n),
           await ctx.run_typed("lambda", lambda: n + 1),
           await ctx.run_typed("hinted", hinted, i=n)]
    hinted.__annotations__["return"] = str  # (changed between two steps)
    out.append(await ctx.run_typed("rehinted", hinted, i=n))
    hinted.__annotations__["return"] = int
    return out


def test_the_fused_command_finds_each_callables_serde_as_the_general_way():
    def one(fused_command: bool) -> tuple:
        sim = sd.Simulation([mixer], seed=1)
        if not fused_command:
            sim.engine.issue_step = None
        h = sim.invoke("Mixer/serdes", 1)
        sim.run()
        return sim.trace(), sim.journal(h), h.status, h.result()

    fast = one(True)
    assert fast[2:] == ("completed", [2, 2, 2, 2])
    assert one(False) == fast
