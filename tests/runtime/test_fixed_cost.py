"""What every Simulation and every invocation pays once is made once: the
handlers' specs per list of services (made anew when a service changes), an
invocation's id per its parts, a target's parse; and the memory store keeps
the records the engine writes instead of copying them. None of it may change
a run: ids, traces and results are those the plain way gives."""

from __future__ import annotations

import functools
import gc
import hashlib
import itertools
import sys
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import simdurable as sd
from simdurable._sim import handlers_and_specs, parse_target
from simdurable.runtime._ids import make_id
from simdurable.runtime._invocations import _IDS, _IDS_MAX, invocation_id, plain_invocation_id


def make_service(name: str) -> sd.Service:
    svc = sd.Service(name)

    @svc.handler()
    async def hello(ctx: sd.Context, who: str) -> str:
        return await ctx.run_typed("greet", lambda: f"hello {who}")

    return svc


def result_of(svc: sd.Service, target: str, arg: str) -> object:
    """A new Simulation of ``svc``'s invocation of ``target`` with ``arg``, run to its end."""
    sim = sd.Simulation([svc])
    h = sim.invoke(target, arg)
    sim.run()
    return h.result()


def test_the_specs_of_a_list_of_services_are_made_once():
    svc = make_service("Once")
    first, second = sd.Simulation([svc]), sd.Simulation([svc], seed=3)
    assert first.engine.handlers is second.engine.handlers
    assert first.engine.registry is second.engine.registry  # (it never changes)
    assert sd.Simulation([svc, make_service("Other")]).engine.handlers is not first.engine.handlers


def test_a_handler_added_or_replaced_after_a_simulation_is_served_by_the_next():
    svc = make_service("Grows")
    sim = sd.Simulation([svc])
    assert list(sim.engine.handlers) == [("Grows", "hello")]

    @svc.handler()
    async def bye(ctx: sd.Context, who: str) -> str:
        return f"bye {who}"

    assert result_of(svc, "Grows/bye", "ann") == "bye ann"

    del svc.handlers["bye"]

    @svc.handler(name="bye")
    async def bye_again(ctx: sd.Context, who: str) -> str:
        return f"see you, {who}"

    assert result_of(svc, "Grows/bye", "ann") == "see you, ann"
    handlers, specs = handlers_and_specs([svc])
    assert specs[("Grows", "bye")].fn is bye_again


def test_bad_services_are_still_refused():
    import pytest

    with pytest.raises(TypeError, match="services must be a list"):
        sd.Simulation("Greeter")  # type: ignore[arg-type]
    twins = [make_service("Twice"), make_service("Twice")]
    for _ in range(2):  # refused every time, not only when first seen
        with pytest.raises(ValueError, match="two handlers are named Twice/hello"):
            sd.Simulation(twins)


def test_ids_are_derived_as_before_and_remembered():
    svc = make_service("Ids")
    ids = []
    for _ in range(2):
        sim = sd.Simulation([svc])
        ids.append([sim.invoke("Ids/hello", "a").id, sim.invoke("Ids/hello", "b").id,
                    sim.invoke("Ids/hello", "c", idempotency_key="k").id])
    assert ids[0] == ids[1] == [make_id("inv", "Ids", None, "hello", 1),
                                make_id("inv", "Ids", None, "hello", 2),
                                make_id("inv", "ik", "Ids", None, "hello", "k")]
    assert invocation_id("Ids", None, "hello", 7) == make_id("inv", "Ids", None, "hello", 7)


def test_ids_past_the_remembered_ones_are_derived_as_before():
    """Past the first ``_IDS_MAX`` submissions of a run, an unkeyed handler's
    ids are hashed from the text its spec made once, and a keyed one's as
    before: both the ids ``make_id`` gives, the first of them remembered;
    submitted by ``Lifecycle.submit`` (a str's input) or by ``invoke`` itself
    (an int's, to a target submitted to before)."""
    svc, obj = make_service("Far"), sd.VirtualObject("FarObj")

    @svc.handler()
    async def twice(ctx: sd.Context, n: int) -> int:
        return 2 * n

    @obj.handler()
    async def add(ctx: sd.ObjectContext, n: int) -> int:
        return n + 1

    sd.Simulation([svc, obj]).invoke("Far/twice", 1)  # (the target resolved)
    sim = sd.Simulation([svc, obj])
    sim.engine.invocations.seq = _IDS_MAX - 2
    got = [sim.invoke("Far/hello", "a").id, sim.invoke("Far/hello", "b").id,
           sim.invoke("Far/twice", 3).id, sim.invoke("FarObj/k/add", 1).id]
    assert got == [make_id("inv", "Far", None, "hello", _IDS_MAX - 1),
                   make_id("inv", "Far", None, "hello", _IDS_MAX),
                   make_id("inv", "Far", None, "twice", _IDS_MAX + 1),
                   make_id("inv", "FarObj", "k", "add", _IDS_MAX + 2)]
    assert _IDS[("Far", None, "hello", _IDS_MAX - 1)] == got[0]
    assert ("Far", None, "hello", _IDS_MAX) not in _IDS
    sim.run()
    assert [h.result() for h in sim.invocations()] == ["hello a", "hello b", 6, 2]


def test_an_int_input_is_submitted_as_its_digits_and_a_bool_as_json():
    svc = sd.Service("Inputs")

    @svc.handler()
    async def echo(ctx: sd.Context, x: Any) -> Any:
        return x

    sim = sd.Simulation([svc])
    handles = [sim.invoke("Inputs/echo", x) for x in (7, -3, 10**30, True, False, 7.5, None)]
    sim.run()
    records = [sim.engine.record(h.id) for h in handles]
    assert [rec.input for rec in records] == [b"7", b"-3", b"1" + b"0" * 30, b"true",
                                             b"false", b"7.5", b""]
    assert [h.result() for h in handles] == [7, -3, 10**30, True, False, 7.5, None]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(), st.none() | st.text(), st.text(), st.integers())
def test_a_plain_submissions_id_is_the_sha256_of_its_parts_as_before(service, key, handler, seq):
    """A new invocation's id, written out in one expression (and hashed by
    CPython's own SHA-256 where it has one), is the id ``make_id`` gave with
    ``hashlib``: the same parts, the same id, so every trace names the same
    invocations as before."""
    before = "inv_" + hashlib.sha256(
        "\x1f".join(map(str, (service, key, handler, seq))).encode()).hexdigest()[:20]
    _IDS.pop((service, key, handler, seq), None)
    assert plain_invocation_id(service, key, handler, seq) == before
    assert plain_invocation_id(service, key, handler, seq) == before  # (remembered)
    assert make_id("inv", service, key, handler, seq) == before


def test_targets_parse_the_same_from_memory_and_bad_ones_are_refused():
    import pytest

    from simdurable.runtime import InvalidTargetError

    for _ in range(2):
        assert parse_target("Counter/a/b/add") == ("Counter", "a/b", "add")
        assert parse_target("Greeter/greet") == ("Greeter", None, "greet")
        with pytest.raises(InvalidTargetError, match="bad target"):
            parse_target("Greeter")
    with pytest.raises(InvalidTargetError, match="bad target"):
        parse_target(42)  # type: ignore[arg-type]


def test_the_memory_store_keeps_the_engines_records_and_hands_out_copies():
    svc = make_service("Kept")
    sim = sd.Simulation([svc])
    h = sim.invoke("Kept/hello", "ann")
    sim.run()
    rec = sim.engine.record(h.id)
    assert sim.store._invocations[h.id] is rec  # type: ignore[attr-defined]
    copy = sim.store.invocation(h.id)
    assert copy is not rec and copy == rec
    copy.attempts = 99
    copy.headers["x"] = "y"
    assert sim.store.invocation(h.id).attempts == 1
    assert sim.store.invocation(h.id).headers == {}
    # a second simulation over the same store replays from copies of them
    again = sd.Simulation([svc], store=sim.store)
    assert again.engine.record(h.id) is not rec and again.engine.record(h.id) == rec


def sleepy_service(name: str) -> sd.Service:
    from datetime import timedelta

    svc = sd.Service(name)

    @svc.handler()
    async def nap(ctx: sd.Context, n: int) -> int:
        n = await ctx.run_typed("before", lambda: n + 1)
        await ctx.sleep(timedelta(milliseconds=10))
        return await ctx.run_typed("after", lambda: n * 2)

    return svc


def run_naps(svc: sd.Service, faults: object) -> tuple[list[str], list[object]]:
    sim = sd.Simulation([svc], seed=4, faults=faults)  # type: ignore[arg-type]
    handles = [sim.invoke(f"{svc.name}/nap", i) for i in range(3)]
    sim.run()
    return sim.trace(), [h.result() for h in handles]


def test_a_new_simulation_skips_its_first_load_and_runs_as_with_it(monkeypatch):
    """A new simulation's own store holds nothing to rebuild: only the plan's
    timed faults get their timers. The run is the one a full load gives."""
    import simdurable.runtime._engine as engine
    import simdurable.runtime._recovery as recovery
    from simdurable.runtime._faults import Fault
    from simdurable.runtime._invocations import Invocations

    svc = sleepy_service("Naps")
    plans = [None, "crash(step=after)", [Fault("restart", at_ms=5), Fault("crash", at_ms=12)]]
    reloads: list[int] = []
    real_reload = Invocations.reload

    def reload(self: Invocations) -> list:
        reloads.append(1)
        return real_reload(self)

    monkeypatch.setattr(Invocations, "reload", reload)
    skipped = [run_naps(svc, plan) for plan in plans[:2]]
    assert reloads == []  # nothing read back from the store (a crash reloads nothing either)
    skipped.append(run_naps(svc, plans[2]))
    assert len(reloads) == 1  # the restart's
    loads: list[bool] = []
    real_load = recovery.Recovery.load

    def load(self: recovery.Recovery, *, fresh: bool = False) -> None:
        loads.append(fresh)
        real_load(self, fresh=fresh)

    monkeypatch.setattr(engine, "nothing_to_load", lambda store, scheduler: False)
    monkeypatch.setattr(engine, "load_plain", lambda e: False)  # (the full load's own way)
    monkeypatch.setattr(recovery.Recovery, "load", load)
    loaded = [run_naps(svc, plan) for plan in plans]
    assert loaded == skipped
    assert loads.count(True) == 3 and loads.count(False) >= 1  # the restart's reload
    assert any("restart" in line for line in skipped[2][0])
    assert sum("crash" in line for line in skipped[2][0]) >= 1


def test_a_run_without_timers_never_builds_the_timer_part():
    sim = sd.Simulation([make_service("NoTimer")])
    h = sim.invoke("NoTimer/hello", "ann")
    sim.run()
    assert h.result() == "hello ann"
    assert "timers" not in vars(sim.engine) and "_status" not in vars(sim.engine)
    assert h.status == "completed" and "_status" in vars(sim.engine)
    naps = sd.Simulation([sleepy_service("Timer")])
    handle = naps.invoke("Timer/nap", 1)
    naps.run()
    assert handle.result() == 4 and naps.now() == 0.01
    assert "timers" in vars(naps.engine)


def test_a_target_is_resolved_once_per_list_of_services_and_bad_ones_are_refused_each_time():
    import pytest

    from simdurable._sim import collected
    from simdurable.runtime import InvalidTargetError

    svc = make_service("Resolved")
    ids = []
    for seed in range(2):
        sim = sd.Simulation([svc], seed=seed)
        h = sim.invoke("Resolved/hello", "ann")
        sim.run()
        assert h.result() == "hello ann"
        ids.append(h.id)
        for bad in ("Resolved/nope", "Resolved/k/hello", "Resolved"):
            with pytest.raises(InvalidTargetError):
                sim.invoke(bad, "ann")
    assert ids[0] == ids[1] == make_id("inv", "Resolved", None, "hello", 1)
    _, registry, targets = collected([svc])
    assert list(targets) == ["Resolved/hello"]  # the bad ones are not kept
    assert targets["Resolved/hello"][4] is registry.handlers[("Resolved", "hello")]


def test_a_specs_key_and_lock_are_derived_once_and_again_when_replaced():
    import dataclasses

    from simdurable.runtime._registry import HandlerSpec

    async def start(ctx: object, data: bytes) -> bytes:
        return data

    shared = HandlerSpec("Cart", "peek", "object", "shared", start)
    assert shared.keyed and not shared.exclusive
    assert dataclasses.replace(shared, kind=None).exclusive
    assert not HandlerSpec("Greeter", "hi", "service", None, start).keyed
    flow = HandlerSpec("Flow", "run", "workflow", "workflow", start)
    assert flow.keyed and flow.exclusive
    assert flow == HandlerSpec("Flow", "run", "workflow", "workflow", start)


def test_a_scheduler_makes_its_timer_list_at_its_first_timer():
    from simdurable.runtime._scheduler import FirstChooser, Scheduler

    first, second = Scheduler(FirstChooser()), Scheduler(FirstChooser())
    assert first._timers is second._timers  # none made yet: both share the empty one
    assert first.next_deadline() is None and first.peek_timer() is None
    assert first.pop_due() == [] and first.timers() == []
    first.clear_timers()
    first.add_timer(30, ("start", "b"))
    first.add_timer(10, ("start", "a"))
    first.add_timer(10, ("start", "c"))
    assert second.timers() == [] and second.next_deadline() is None  # its own list, untouched
    assert first.timers() == [(10, ("start", "a")), (10, ("start", "c")), (30, ("start", "b"))]
    first.jump_to(10)
    assert first.pop_due() == [("start", "a"), ("start", "c")]
    first.clear_timers()
    assert first.timers() == [] and second.timers() == []
    second.add_timer(5, ("start", "x"))
    assert second.next_deadline() == 5 and first.next_deadline() is None


def stepper(name: str) -> sd.Service:
    svc = sd.Service(name)

    @svc.handler()
    async def run(ctx: sd.Context, n: int) -> int:
        for i in range(3):
            n = await ctx.run_typed(f"s{i}", lambda n=n: n + 1)
        return n

    return svc


def run_steppers(svc: sd.Service, count: int, seed: int, faults: str | None,
                 built_first: bool) -> tuple[list[str], list[object], bool, bool]:
    """``count`` invocations run to their end; with ``built_first`` the fused task
    runner and lone step are built before the run, as they used to be. Also
    whether the run built them itself."""
    from simdurable.runtime._fast import lone_step
    from simdurable.runtime._tasks import task_runner

    sim = sd.Simulation([svc], seed=seed, faults=faults)
    engine = sim.engine
    if built_first:
        engine.run_task = task_runner(engine)  # type: ignore[method-assign]
        engine.run_lone_step = lone_step(engine.steps)  # type: ignore[method-assign]
    handles = [sim.invoke(f"{svc.name}/run", i) for i in range(count)]
    sim.run()
    results: list[object] = []
    for h in handles:
        try:
            results.append(h.result())
        except sd.TerminalError as err:
            results.append(repr(err))
    return (sim.trace(), results, "run_task" in vars(engine), "run_lone_step" in vars(engine))


def test_the_fused_task_runner_and_lone_step_are_built_when_first_needed():
    """A handler awaiting its steps one at a time runs them all in its start
    task, through the step lane: neither the fused task runner nor the lone
    step is built. A crowd builds the runner at its first task; a step run in
    place without the lane builds the lone step. Either way the run is the one
    they give when built from the start."""
    svc = stepper("Lazy")
    alone = run_steppers(svc, 1, 1, None, built_first=False)
    assert alone[1] == [3] and alone[2:] == (False, False)
    assert alone[:2] == run_steppers(svc, 1, 1, None, built_first=True)[:2]
    for seed in range(4):
        for faults in (None, "crash(step=s1)", "fail(step=s0, times=2)", "terminal(step=s2)"):
            crowd = run_steppers(svc, 3, seed, faults, built_first=False)
            assert crowd[2] is True  # three start tasks ready at once
            assert crowd[:2] == run_steppers(svc, 3, seed, faults, built_first=True)[:2]
    sim = sd.Simulation([svc])
    sim.engine.step_lane = None  # the general await: the step runs in place by the lone step
    h = sim.invoke("Lazy/run", 0)
    sim.run()
    assert h.result() == 3 and "run_lone_step" in vars(sim.engine)
    assert "run_task" not in vars(sim.engine)


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's object layout")
def test_the_fused_task_runner_is_set_without_the_engines_dict():
    """A crowd's runner is set as the engine's attribute, not written into its
    ``__dict__``: asking for that makes the engine a dict sharing its class's
    keys, where the interpreter (3.11) then misses its specialised read of
    every engine attribute (a crowd reads some at each step). Told by what the
    collector sees of the engine: its attributes one by one, not a dict of
    them. A runner a caller put there stays."""
    svc = stepper("Own")
    sim = sd.Simulation([svc], seed=1)
    handles = [sim.invoke("Own/run", i) for i in range(3)]
    sim.run()
    engine = sim.engine
    runner = engine.run_task
    assert [h.result() for h in handles] == [3, 4, 5]
    assert getattr(runner, "__self__", None) is not engine  # the fused runner
    referents = gc.get_referents(engine)
    assert any(r is runner for r in referents)
    assert not any(type(r) is dict and "run_task" in r for r in referents)
    sim = sd.Simulation([svc], seed=1)
    own = sim.engine.general_run_task
    sim.engine.run_task = own  # type: ignore[method-assign]
    handles = [sim.invoke("Own/run", i) for i in range(3)]
    sim.run()
    assert sim.engine.run_task == own and [h.result() for h in handles] == [3, 4, 5]


# A process's simulations, each with one invocation whose steps run in place
# (none builds the fused runner, none leaves its engine to the next: strict),
# the last asked for an invocation's status (a part built on use); then a crowd.
_KEY_BUDGET = """
import gc
import simdurable as sd

svc = sd.Service("Budget")


@svc.handler()
async def run(ctx: sd.Context, n: int) -> int:
    for i in range(3):
        n = await ctx.run_typed(f"s{i}", lambda n=n: n + 1)
    return n


for seed in range(40):
    sim = sd.Simulation([svc], seed=seed, strict=True)
    handle = sim.invoke("Budget/run", seed)
    sim.run()
assert handle.status == "completed", handle.status
sim = sd.Simulation([svc], seed=1)
handles = [sim.invoke("Budget/run", i) for i in range(3)]
sim.run()
engine = sim.engine
sleeper = engine.timers  # (another part built on use, after the runner)
assert getattr(engine.run_task, "__self__", None) is not engine  # (the fused runner)
print([type(r) is dict and "registry" in r for r in gc.get_referents(engine)].count(True))
"""


def test_the_engines_attributes_stay_its_own_after_many_simulations():
    """An engine's names set after ``__init__`` (the fused runner, its parts
    built on use) have their keys in those engines share from the start
    (``_lazy.own_keys``): the interpreter (3.11) lets each new instance shrink
    a class's room for names, so a runner first set in a process that made a
    dozen engines (after another such name took the last) made every crowd's
    engine a dict of its attributes, each later read unspecialised, for the
    rest of the process. Run in a process of its own: which names this one
    set first depends on the tests before."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _KEY_BUDGET], capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["0"]


_STORE_KEY_BUDGET = """
import gc
from simdurable.runtime._store import MemoryStore

for _ in range(40):
    MemoryStore()
store = MemoryStore()
store._state, store._promises, store._idempotency  # (its parts built on use)
print([type(r) is dict and "_journals" in r for r in gc.get_referents(store)].count(True))
"""


def test_a_memory_stores_attributes_stay_its_own_after_many_stores():
    """The simulation's store, as the engine (``_lazy.own_keys``): its parts
    built on use (keyed state, promises, idempotency keys) first used in a
    process that made dozens of stores would make its attributes a dict, the
    crowd's reads of its journals by id unspecialised. In a process of its own."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _STORE_KEY_BUDGET], capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["0"]


def test_a_new_context_is_of_the_class_class_for_chooses():
    """``new_context`` writes ``_class_for``'s common case (a live attempt's
    express steps) out: whatever the engine's step settings, a new live
    attempt's context is of the class ``_class_for`` chooses for it."""
    from simdurable._api.context import InvocationContext, _class_for, new_context

    svc = stepper("Classes")
    kinds = set()
    for express, in_place, lane, wrapped in itertools.product((True, False), repeat=4):
        sim = sd.Simulation([svc], seed=1, faults="crash(step=s1)")
        engine = sim.engine
        engine.steps.express = express
        engine.steps.in_place = in_place
        if not lane:
            engine.step_lane = None
        if wrapped:
            engine.issue_step = functools.partial(engine.issue_step)
        seen: list[tuple[type, type]] = []

        def made(attempt: Any, spec: Any, seen: list[tuple[type, type]] = seen) -> Any:
            live = attempt.state == "live"
            ctx = new_context(attempt, spec)
            if live:
                chosen = _class_for(attempt)
                seen.append((type(ctx), InvocationContext if chosen is None else chosen))
            return ctx

        engine.running.make_context = made
        handles = [sim.invoke("Classes/run", i) for i in range(3)]
        sim.run()
        assert [h.result() for h in handles] == [3, 4, 5]
        assert seen and all(made_as == chosen for made_as, chosen in seen)
        kinds.update(chosen for _, chosen in seen)
    assert len(kinds) == 3  # express, fresh and a wrapped command's


def test_submit_and_done_events_read_as_the_texts_written_at_once_did():
    """"submit" and "done" keep the record's own strings and bytes and are
    formatted when read: the same lines as the texts made at once."""
    from datetime import timedelta

    svc = sd.VirtualObject("Texts")

    @svc.handler()
    async def say(ctx: sd.ObjectContext, text: str) -> str:
        return text

    sim = sd.Simulation([svc])
    long_text = "x" * 100  # cut at 80 bytes
    handles = [sim.invoke("Texts/a/say", long_text),
               sim.send("Texts/b/say", "hi", delay=timedelta(milliseconds=7))]
    sim.run()
    submits, dones = [], []
    for h, delay in zip(handles, ("", " delay=7ms"), strict=True):
        rec = sim.engine.record(h.id)
        assert isinstance(rec.result, sd.runtime.Value)
        shown = rec.result.data[:80].decode("utf-8", "replace")
        submits.append(("submit", h.id, f"{rec.target}{delay}"))
        dones.append(("done", h.id, f"{rec.target} -> {shown}"))
    got = [(kind, inv, text) for _, kind, inv, text in sim.trace_events({"submit", "done"})]
    assert got == submits + dones
    assert got[2][2] == 'Texts/a/say -> "' + "x" * 79


def waiting_services(name: str) -> list[object]:
    """A plain service, an object (its handler takes its key's lock) and a
    workflow waiting on its promise, which its shared handler resolves."""
    plain, counter, flow = sd.Service(f"{name}S"), sd.VirtualObject(f"{name}O"), sd.Workflow(
        f"{name}W")

    @plain.handler()
    async def hello(ctx: sd.Context, who: str) -> str:
        return await ctx.run_typed("greet", lambda: f"hello {who}")

    @counter.handler()
    async def add(ctx: sd.ObjectContext, n: int) -> int:
        total = (await ctx.get("total") or 0) + await ctx.run_typed("n", lambda: n)
        ctx.set("total", total)
        return total

    @flow.main()
    async def run(ctx: sd.WorkflowContext, x: int) -> int:
        return x + await ctx.promise("p").value()

    @flow.handler()
    async def click(ctx: sd.WorkflowSharedContext, x: int) -> None:
        await ctx.promise("p").resolve(x)

    return [plain, counter, flow]


def run_waiting(services: list[object], calls: list[tuple[str, object]], faults: str | None,
                built_first: bool) -> tuple[list[str], list[object], set[str]]:
    """Run ``calls``; the trace, the results and the lazy parts built by the end
    (all of them from the start when ``built_first``)."""
    sim = sd.Simulation(services, seed=2, faults=faults)  # type: ignore[arg-type]
    engine = sim.engine
    if built_first:
        assert engine.locks is not None and engine.promises is not None
        assert engine.recovery is not None and engine.commands is not None
        assert engine.built_command_parts() and engine.built_lane_parts()
    handles = [sim.invoke(target, arg) for target, arg in calls]
    sim.run()
    built = {name for name in ("locks", "promises") if name in vars(engine.lifecycle)}
    if "crashes" in vars(engine.steps):
        built |= {"fault_points"}
        built |= {"recovery"} if "recovery" in vars(engine.fault_points) else set()
    built |= {"commands"} if "commands" in vars(engine) else set()
    built |= {name for name in ("command_parts", "lane_parts") if getattr(engine, name) is not None}
    return sim.trace(), [h.result() for h in handles], built


def test_locks_promises_recovery_and_commands_are_built_when_first_needed():
    """A service's run of plain steps takes no key, waits on no promise,
    never restarts and stores no command but its steps': it builds none of the
    four, nor the fault points. An object's handler builds the locks, a
    workflow's promise the promises, a restart (or a store that holds
    something) the recovery, a state read or a fault armed at a step the
    commands, a fault that may fire the fault points, the first step the fused
    step paths' parts; every run is the one they give built up front."""
    services = waiting_services("Lazy")
    plain = [("LazyS/hello", "ann"), ("LazyS/hello", "bob")]
    keyed = [("LazyO/k/add", 1), ("LazyO/k/add", 2)]
    flow = [("LazyW/w/run", 1), ("LazyW/w/click", 5)]
    every = {"locks", "promises", "fault_points", "recovery", "commands", "command_parts",
             "lane_parts"}
    # (a lone step awaited at once runs inside its call, one awaited in a crowd
    # waits without the lane: no lane; the commands hold the fault points)
    cases = [
        (plain[:1], None, {"command_parts"}, ["hello ann"]),
        (plain, None, {"command_parts"}, ["hello ann", "hello bob"]),
        (plain, "crash(step=greet)", {"fault_points", "commands", "command_parts"},
         ["hello ann", "hello bob"]),
        (keyed, None, {"locks", "fault_points", "commands", "command_parts"}, None),
        (flow, None, {"locks", "promises", "fault_points", "commands", "lane_parts"}, [6, None]),
        (plain + keyed + flow, "restart(step=n)", every, None),
    ]
    for calls, faults, built, results in cases:
        lazily = run_waiting(services, calls, faults, built_first=False)
        assert lazily[2] == built, (calls, faults)
        if results is not None:
            assert lazily[1] == results
        up_front = run_waiting(services, calls, faults, built_first=True)
        assert up_front[2] == every
        assert lazily[:2] == up_front[:2]
    # a new simulation over a store that holds something reads it back
    sim = sd.Simulation(services, seed=2)  # type: ignore[arg-type]
    sim.invoke("LazyW/w/run", 1)
    sim.run()
    again = sd.Simulation(services, seed=2, store=sim.store)  # type: ignore[arg-type]
    assert "recovery" in vars(again.engine.fault_points)
    again.resolve_promise("LazyW", "w", "p", 2)
    again.run()
    assert again.invocations()[0].result() == 3


def test_the_errors_a_run_that_goes_well_never_writes_are_made_when_first_read():
    """Misuse, paused errors, raised tracebacks and retried failures: none is
    made by a run without them; read, each is empty; a run with a bug and a
    retry writes them as ever."""
    lazy = ("misuse", "paused_errors", "raised", "retried")
    sim = sd.Simulation([make_service("Well")])
    h = sim.invoke("Well/hello", "ann")
    sim.run()
    assert h.result() == "hello ann" and not any(n in vars(sim.engine.lifecycle) for n in lazy)
    assert sim.problems == [] and sim.engine.raised == {} and sim.engine.retried == {}
    assert sim.engine.paused_errors == {}

    flaky, failed = sd.Service("Flaky"), []

    @flaky.handler()
    async def once(ctx: sd.Context) -> int:
        if not failed:
            failed.append(1)
            raise ValueError("the first attempt fails")
        return 1

    @flaky.handler()
    async def misuses(ctx: sd.Context) -> int:
        return await ctx.run_typed("inner", lambda: ctx.set("k", 1))  # type: ignore[func-returns-value]

    sim = sd.Simulation([flaky])
    ok, bad = sim.invoke("Flaky/once"), sim.invoke("Flaky/misuses")
    sim.run()
    assert ok.result() == 1 and ok.attempts == 2
    assert list(sim.engine.retried) == [ok.id] and list(sim.engine.raised) == [ok.id]
    assert bad.status == "paused" and list(sim.engine.paused_errors) == [bad.id]
    assert len(sim.problems) == 1


def test_the_memory_store_makes_state_promises_and_idempotency_keys_at_their_first_use():
    lazy = ("_state", "_promises", "_idempotency")
    services = waiting_services("Stored")
    plain = sd.Simulation(services)  # type: ignore[arg-type]
    h = plain.invoke("StoredS/hello", "ann")
    plain.run()
    assert h.result() == "hello ann" and not any(n in vars(plain.store) for n in lazy)
    sim = sd.Simulation(services)  # type: ignore[arg-type]
    first, again = (sim.invoke("StoredO/k/add", 2, idempotency_key="once") for _ in range(2))
    flow, click = sim.invoke("StoredW/w/run", 1), sim.invoke("StoredW/w/click", 5)
    sim.run()
    assert first.id == again.id and first.result() == 2 and sim.state("StoredO", "k") == {
        "total": 2}
    assert flow.result() == 6 and click.result() is None
    assert all(vars(sim.store)[n] for n in lazy)


def test_the_attempts_of_an_unkeyed_handler_share_its_target():
    """An attempt's target is the record's ``target``; for a service's handler,
    the one string its spec made, not a new one an attempt (10,000 in flight
    kept 10,000 copies)."""
    seen: list[str] = []
    services = waiting_services("Shared")
    sim = sd.Simulation(services)  # type: ignore[arg-type]
    real_context = sim.engine.running.make_context

    # (every new attempt gets its context: ``Running.open``, ``Lifecycle.start_alone``)
    def opened(attempt: Any, spec: object) -> object:
        assert attempt.handler == attempt.rec.target
        seen.append(attempt.handler)
        return real_context(attempt, spec)  # type: ignore[arg-type]

    sim.engine.running.make_context = opened  # type: ignore[method-assign]
    calls = [("SharedS/hello", "ann"), ("SharedS/hello", "bob"), ("SharedO/k/add", 1),
             ("SharedO/j/add", 2)]
    handles = [sim.invoke(target, arg) for target, arg in calls]
    sim.run()
    assert [h.result() for h in handles] == ["hello ann", "hello bob", 1, 2]
    plain = [t for t in seen if t == "SharedS/hello"]
    assert len(plain) == 2 and plain[0] is plain[1]
    assert sorted(t for t in seen if t != "SharedS/hello") == ["SharedO/j/add", "SharedO/k/add"]
    assert sim.engine.handlers[("SharedS", "hello")].plain_target is plain[0]
    assert sim.engine.handlers[("SharedO", "add")].plain_target is None


def test_an_attempt_makes_its_step_registrations_at_its_first():
    """An attempt whose steps are all awaited at once (in place, or a crowd's
    one at a time) registers none: its ``steps`` and ``_unscheduled`` stay the
    shared empty ones, which refuse a write; one that gathers two steps makes
    its own at the first registration."""
    import pytest

    from simdurable.runtime._errors import InternalError
    from simdurable.runtime._invocation import NO_STEPS

    svc = sd.Service("Registrations")
    seen: list[tuple[str, bool, bool]] = []

    def add(i: int) -> int:
        return i + 1

    def registrations(ctx: sd.Context, name: str) -> None:
        attempt = ctx._attempt  # type: ignore[attr-defined]
        seen.append((name, attempt.steps is NO_STEPS, type(attempt._unscheduled) is list))

    @svc.handler()
    async def one_at_a_time(ctx: sd.Context, x: int) -> int:
        for _ in range(3):
            x = await ctx.run_typed("step", add, i=x)
        registrations(ctx, "one")
        return x

    @svc.handler()
    async def gathered(ctx: sd.Context, x: int) -> int:
        both = await sd.gather(ctx.run_typed("l", add, i=x), ctx.run_typed("r", add, i=x))
        registrations(ctx, "gathered")
        return sum([await f for f in both])

    sim = sd.Simulation([svc], seed=1)
    handles = [sim.invoke("Registrations/one_at_a_time", 1)]
    sim.run()
    handles += [sim.invoke("Registrations/one_at_a_time", i) for i in range(3)]  # a crowd
    handles.append(sim.invoke("Registrations/gathered", 1))
    sim.run()
    assert [h.result() for h in handles] == [4, 3, 4, 5, 4]
    assert sorted(seen) == [("gathered", False, True)] + [("one", True, False)] * 4
    with pytest.raises(InternalError):
        NO_STEPS[0] = None
    with pytest.raises(InternalError):
        NO_STEPS.setdefault(0, None)
    assert not NO_STEPS
