"""A finished simulation built with the defaults leaves its engine, made as new,
to the next simulation over the same services (``Simulation.__del__``,
``Engine.renew``). Only an optimisation: every run over a taken engine is the
run a newly built one makes, event for event; and an engine anything else may
still reach (a handle, a context, a caller of ``sim.engine``) is never taken."""

from __future__ import annotations

import contextvars
import dataclasses
import gc
import threading
import types
import weakref
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as sd
from simdurable import _sim
from simdurable._asyncio_steps import StepLoop
from simdurable.runtime import _fast
from simdurable.runtime._faults import Injector
from simdurable.runtime._invocation import StepHolder, current_step
from simdurable.runtime._store import PENDING, MemoryStore
from simdurable.runtime._trace import RunLog

svc = sd.Service("Spare")
obj = sd.VirtualObject("SpareObj")
kept: list[Any] = []


def add(i: int) -> int:
    return i + 1


@svc.handler()
async def steps(ctx: sd.Context, n: int) -> int:
    for i in range(n % 4):
        n = await ctx.run_typed(f"s{i}", add, i=n)
    return n


@svc.handler()
async def sleeps(ctx: sd.Context, n: int) -> int:
    await ctx.sleep(timedelta(milliseconds=n % 7 + 1))
    return await ctx.run_typed("after", add, i=n)


@svc.handler()
async def fails(ctx: sd.Context, n: int) -> int:
    if n % 2:
        raise sd.TerminalError(f"no {n}", 422)
    return await ctx.run_typed("one", add, i=n)


@svc.handler()
async def calls(ctx: sd.Context, n: int) -> int:
    return await ctx.object_call(bump, f"k{n % 2}", n) + await ctx.service_call(steps, n)


@svc.handler()
async def keeps(ctx: sd.Context, n: int) -> int:
    kept.append(ctx)  # (a context kept after its run: its engine must stay its own)
    return await ctx.run_typed("one", add, i=n)


@obj.handler()
async def bump(ctx: sd.ObjectContext, n: int) -> int:
    value = (await ctx.get("v") or 0) + n
    ctx.set("v", value)
    return value


SERVICES = [svc, obj]
HANDLERS = ["steps", "sleeps", "fails", "calls", "keeps"]
HELD = ["", "store", "scheduler", "injector"]  # (a part of a simulation kept, or none)


def run(sim: sd.Simulation, handler: str, inputs: list[int]) -> tuple[Any, ...]:
    """What a run shows: its trace, results, journals, step runs and state."""
    handles = [sim.invoke(f"Spare/{handler}", n) for n in inputs]
    sim.run()
    results = []
    for h in handles:
        try:
            results.append(h.result())
        except sd.TerminalError as err:
            results.append(str(err))
    # (the state read only where a run has any: a read builds the store's
    # state part, and a store with a part built is not reset in place)
    return (sim.trace(), results, [sim.describe_journal(h) for h in handles],
            [sim.step_runs(h) for h in handles],
            sim.state("SpareObj", "k0") if handler == "calls" else None)


def new(seed: int, **options: Any) -> sd.Simulation:
    """A simulation over an engine built anew (no spare taken)."""
    saved = dict(_sim._SPARES)
    _sim._SPARES.clear()
    try:
        return sd.Simulation(SERVICES, seed=seed, **options)
    finally:
        _sim._SPARES.update(saved)


def spare() -> int | None:
    """The id of the engine kept for the next simulation over SERVICES."""
    found = _sim._SPARES.get(_sim.collected(SERVICES)[1])
    return None if found is None else id(found[0])


def test_a_finished_simulation_leaves_its_engine_to_the_next() -> None:
    _sim._SPARES.clear()
    sim = sd.Simulation(SERVICES, seed=3)
    engine = id(sim._engine)  # (not the engine: a reference to it would keep it)
    run(sim, "steps", [5])
    assert spare() is None  # (not while the simulation is alive)
    del sim
    assert spare() == engine
    again = sd.Simulation(SERVICES, seed=4)
    assert id(again._engine) == engine and spare() is None
    assert run(again, "steps", [6]) == run(new(4),
                                           "steps", [6])


def test_an_engine_something_else_may_reach_is_not_taken() -> None:
    _sim._SPARES.clear()
    # its engine handed out
    sim = sd.Simulation(SERVICES, seed=1)
    run(sim, "steps", [1])
    assert sim.engine is not None
    del sim
    assert spare() is None
    # a context of its run kept
    sim = sd.Simulation(SERVICES, seed=1)
    run(sim, "keeps", [1])
    del sim
    assert spare() is None
    kept.clear()
    gc.collect()
    # a part built at its first use (the timers) would outlive the run
    sim = sd.Simulation(SERVICES, seed=1)
    run(sim, "sleeps", [1])
    del sim
    assert spare() is None
    # built with options of its own
    for options in ({"strict": True}, {"faults": "crash(step=s0)"}, {"always_suspend": True}):
        sim = sd.Simulation(SERVICES, seed=1, **options)
        run(sim, "steps", [1])
        del sim
        assert spare() is None
    # a handle kept alive keeps its simulation, and so its engine
    sim = sd.Simulation(SERVICES, seed=1)
    engine = id(sim._engine)
    handle = sim.invoke("Spare/steps", 2)
    sim.run()
    del sim
    assert spare() is None and handle.result() == 4
    del handle
    assert spare() == engine


def test_an_engine_freed_by_the_garbage_collector_is_not_taken() -> None:
    # A simulation in a reference cycle is freed by the collector, which clears
    # the weak references to the engine (its running part's, to its host)
    # before the simulation's ``__del__`` runs: an engine kept then would have
    # no host, and the next simulation's first attempt would fail.
    _sim._SPARES.clear()
    gc.collect()
    gc.disable()
    try:
        sim = sd.Simulation(SERVICES, seed=1)
        run(sim, "steps", [2])
        cycle: list[Any] = [sim]
        cycle.append(cycle)
        del sim, cycle
        gc.collect()
    finally:
        gc.enable()
    assert spare() is None
    again = sd.Simulation(SERVICES, seed=2)
    assert run(again, "steps", [3]) == run(new(2),
                                           "steps", [3])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(HANDLERS), st.integers(0, 50),
                          st.lists(st.integers(0, 9), min_size=1, max_size=3),
                          st.booleans(), st.booleans(), st.sampled_from(HELD)),
                min_size=1, max_size=8))
def test_a_taken_engine_runs_as_a_new_one(
        plan: list[tuple[str, int, list[int], bool, bool, str]]) -> None:
    """Random sequences of simulations, some kept alive a while, some whose
    engine is read, some whose store, scheduler or injector is kept: each runs
    as one built anew (``store=`` makes it so), and a part kept still shows
    its own run afterwards."""
    _sim._SPARES.clear()
    alive: list[sd.Simulation] = []
    held: list[tuple[Any, Any]] = []
    for handler, seed, inputs, keep, read, hold in plan:
        sim = sd.Simulation(SERVICES, seed=seed)
        got = run(sim, handler, inputs)
        assert got == run(new(seed),
                          handler, inputs)
        if read:
            assert sim.engine.invocations.seq == len(inputs) or handler == "calls"
        if keep:
            alive.append(sim)
        elif alive:
            alive.pop(0)
        if hold:
            part = getattr(sim, hold)
            held.append((part, looks(part)))
        del sim
    for part, seen in held:
        assert looks(part) == seen
    kept.clear()


def looks(part: Any) -> Any:
    """What a run left in a store, scheduler or injector."""
    if isinstance(part, MemoryStore):
        return [(r.id, r.status, r.result, part.journal(r.id)) for r in part.invocations()]
    if isinstance(part, Injector):
        return (part.plan, list(part.fired))
    return (part.now_ms, part.tasks_run, part.seed, list(part.ready))


def test_a_taken_engine_keeps_its_store_scheduler_injector_and_trace_list() -> None:
    """Reset in place when nothing but the simulation and its engine held them
    (``_sim._HELD_STORE`` and the like count those references); made anew
    when anything else does, which keeps what its run left."""
    _sim._SPARES.clear()
    sim = sd.Simulation(SERVICES, seed=1)
    run(sim, "steps", [3])
    parts = [id(sim.store), id(sim.scheduler), id(sim.injector), id(sim._trace)]
    del sim
    taken = sd.Simulation(SERVICES, seed=2)
    assert [id(taken.store), id(taken.scheduler), id(taken.injector), id(taken._trace)] == parts
    assert run(taken, "steps", [3]) == run(new(2),
                                           "steps", [3])
    del taken
    for name in ("store", "scheduler", "injector"):
        _sim._SPARES.clear()
        sim = sd.Simulation(SERVICES, seed=1)
        run(sim, "steps", [3])
        part = getattr(sim, name)
        seen = looks(part)
        del sim
        taken = sd.Simulation(SERVICES, seed=1)
        assert spare() is None and getattr(taken, name) is not part
        run(taken, "steps", [2])
        del taken
        assert looks(part) == seen and spare() is not None
    # a fault added (none fires), a decision made (its chooser built): made anew
    _sim._SPARES.clear()
    sim = sd.Simulation(SERVICES, seed=1)
    sim.crash(after="nowhere")
    run(sim, "steps", [3, 2])
    assert not sim.injector.untouched() and sim.scheduler.lazily_built
    del sim
    taken = sd.Simulation(SERVICES, seed=1)
    # (what the run left is not in the next one's parts; their ids would not
    # tell: a freed part's address can be the next new part's)
    assert taken.injector.untouched() and not taken.scheduler.lazily_built


def shape(sim: sd.Simulation) -> dict[str, dict[str, Any]]:
    """Every attribute of the engine's parts, each part named by its role and
    each container by its type and length (a new engine's are all empty)."""
    engine = sim._engine
    parts = {"engine": engine, "store": engine.store, "scheduler": engine.scheduler,
             "injector": engine.injector, "tracer": engine.trace,
             "invocations": engine.invocations, "running": engine.running,
             "completions": engine.completions, "lifecycle": engine.lifecycle,
             "steps": engine.steps}
    roles = {id(part): role for role, part in parts.items()}
    roles[id(sim._trace)] = "trace list"

    def canon(value: Any) -> Any:
        if id(value) in roles:
            return roles[id(value)]
        if isinstance(value, types.MethodType):
            return ("method of", canon(value.__self__), value.__func__)
        if isinstance(value, types.BuiltinMethodType) and value.__self__ is not None:
            return ("method of", canon(value.__self__), value.__name__)
        if type(value) is StepLoop:
            return ("a", StepLoop, vars(value))
        if isinstance(value, weakref.ref):
            return ("weakly", canon(value()))
        if isinstance(value, (dict, list, set, RunLog)):
            return (type(value), len(value))
        return value

    shapes = {role: {name: canon(v) for name, v in vars(part).items()}
              for role, part in parts.items()}
    # The steps' parts a taken engine kept (``Simulation.__del__``): each what
    # its first step would build now, over these parts; so as unbuilt.
    for name, build in (("command_parts", _fast.command_parts),
                        ("lane_parts", _fast.lane_parts)):
        kept_parts = getattr(engine, name)
        if kept_parts is not None:
            assert [canon(v) for v in kept_parts] == [canon(v) for v in build(engine.steps)]
            assert all(v is w or v == w for v, w in zip(kept_parts, build(engine.steps), strict=True))
            shapes["engine"][name] = None
    # The step holder an engine made for a thread (``_fast.attempt_holder``),
    # kept idle between closures: what its first step would make; so as unmade.
    holder = engine.running.thread_holder
    if holder is not None:
        assert type(holder) is StepHolder and holder.step is None
        shapes["running"]["thread_holder"] = None
    return shapes


def test_a_taken_engine_is_the_engine_a_new_simulation_builds() -> None:
    """Attribute for attribute (a part that gets a new attribute a run writes
    must have ``Engine.renew`` write it back)."""
    _sim._SPARES.clear()
    built = sd.Simulation(SERVICES, seed=5, retry_policy=sd.InvocationRetryPolicy(max_attempts=3))
    run(sd.Simulation(SERVICES, seed=2), "steps", [3])  # (gone: its engine is the spare)
    assert spare() is not None
    taken = sd.Simulation(SERVICES, seed=5, retry_policy=sd.InvocationRetryPolicy(max_attempts=3))
    assert spare() is None and taken._engine is not built._engine
    assert shape(taken) == shape(built)


def test_a_taken_engine_has_written_no_text_yet() -> None:
    """The kinds of texts a run wrote (``Tracer.kinds``, which
    ``Simulation.may_hold`` reads) are not the next run's."""
    _sim._SPARES.clear()
    first = sd.Simulation(SERVICES, seed=2)
    first._engine.trace("note", "", "a text of the first run")
    assert first.may_hold(("note",))
    run(first, "steps", [3])
    del first
    assert spare() is not None
    taken = sd.Simulation(SERVICES, seed=2)
    assert spare() is None
    assert not taken.may_hold(("note",)) and not taken._engine.trace.kinds


async def pause_then(n: int) -> int:
    import asyncio

    await asyncio.sleep(0)  # (a real await: the step loop makes its event loop)
    return n + 1


@svc.handler()
async def awaits_loop(ctx: sd.Context, n: int) -> int:
    return await ctx.run_typed("async", pause_then, n=n)


def test_a_taken_engine_keeps_what_its_run_left_empty() -> None:
    """The run log (cleared), the step loop never used and the containers a
    run left empty are kept, not made anew; a step loop that made its event
    loop is not (it holds the run's loop)."""
    _sim._SPARES.clear()
    sim = sd.Simulation(SERVICES, seed=1)
    run(sim, "steps", [3])
    engine = sim._engine
    log, run_async = engine.steps.run_log, engine.steps.run_async
    attempts, callers = engine.running.attempts, engine.completions.callers
    assert len(log) == 3 and not attempts and not callers
    del engine, sim
    taken = sd.Simulation(SERVICES, seed=1)._engine
    assert taken.steps.run_log is log and len(log) == 0
    assert taken.steps.run_async is run_async
    assert taken.running.attempts is attempts and taken.completions.callers is callers
    del taken, log, run_async, attempts, callers
    _sim._SPARES.clear()
    sim = sd.Simulation(SERVICES, seed=1)
    handle = sim.invoke("Spare/awaits_loop", 1)
    sim.run()
    assert handle.result() == 2
    loop = sim._engine.steps.run_async.__self__
    assert loop._loop is not None
    del sim, handle
    taken = sd.Simulation(SERVICES, seed=1)._engine
    assert taken.steps.run_async.__self__ is not loop


named_svc = sd.Service("SpareNamed")
named_seen: list[tuple[str, int, int, int]] = []


def named(i: int) -> int:
    info = current_step.get()
    assert info is not None
    named_seen.append((info.step, info.index, id(current_step.var.get()), threading.get_ident()))
    return i + 1


@named_svc.handler()
async def two_named(ctx: sd.Context, n: int) -> int:
    n = await ctx.run_typed("first", named, i=n)
    return await ctx.run_typed("second", named, i=n)


def test_an_engine_sets_its_threads_step_holder_in_each_attempts_context() -> None:
    """An attempt's context is a new copy of its caller's: where the caller's
    holds no step holder of this thread, the engine's own (idle between
    closures) is set in each attempt's, not one made an attempt; a taken
    engine keeps it. Each closure still sees its own step named, the caller's
    context is left as it was, and another thread gets a holder of its own."""

    def one_run(seed: int) -> tuple[int, int]:
        sim = sd.Simulation([named_svc], seed=seed)
        handle = sim.invoke("SpareNamed/two_named", seed)
        sim.run()
        holder = sim._engine.running.thread_holder
        assert holder is not None and holder.step is None
        assert handle.result() == seed + 2
        return id(sim._engine), id(holder)

    def runs(new: bool) -> list[tuple[int, int]]:
        if new:
            _sim._SPARES.pop(_sim.collected([named_svc])[1], None)
        made = [one_run(seed) for seed in (1, 2, 3)]
        assert current_step.var.get() is None  # (nothing set in the caller's context)
        return made

    named_seen.clear()
    made = contextvars.Context().run(runs, True)
    assert len(set(made)) == 1  # one engine (taken again), one holder
    holder = made[0][1]
    me = threading.get_ident()
    assert named_seen == [(step, index, holder, me) for _ in range(3)
                          for step, index in (("first", 0), ("second", 2))]
    named_seen.clear()
    other: list[list[tuple[int, int]]] = []
    # (the same engine, taken again in another thread: a holder of that thread's)
    worker = threading.Thread(target=lambda: other.append(runs(False)))
    worker.start()
    worker.join()
    assert other and set(other[0]) == {(made[0][0], other[0][0][1])} and other[0][0][1] != holder
    assert [(s, i) for s, i, _, _ in named_seen] == [("first", 0), ("second", 2)] * 3
    assert {t for _, _, _, t in named_seen} == {worker.ident}
    assert {h for _, _, h, _ in named_seen} == {other[0][0][1]}


def made_store(handler: str, seed: int, inputs: list[int], until_ms: int | None,
               pending: bool) -> MemoryStore:
    """A store a run left: cut at ``until_ms`` (its invocations asleep or
    retrying), or finished and, with ``pending``, its invocations set back to
    pending (a replay of whole journals). Made alike by the same arguments."""
    sim = new(seed)
    for n in inputs:
        sim.invoke(f"Spare/{handler}", n)
    if until_ms is None:
        sim.run()
    else:
        sim.run(until=timedelta(milliseconds=until_ms))
    store = sim.store
    assert isinstance(store, MemoryStore)
    del sim
    if pending:
        for rec in store.invocations():
            store.put_invocation(dataclasses.replace(rec, status=PENDING, result=None))
    return store


def over(sim: sd.Simulation) -> tuple[Any, ...]:
    """What a run over a given store shows: its trace's bytes, its events
    and what it left in the store."""
    sim.run()
    store = sim.store
    return ("\n".join(sim.trace()).encode(), sim.trace_events(), looks(store))


STORES = [("steps", 3, [5, 6], None, True), ("steps", 4, [7], None, False),
          ("sleeps", 5, [1, 2, 3], 3, False), ("fails", 6, [1, 2], None, True),
          ("calls", 7, [1, 2], None, True), ("sleeps", 8, [4], None, True),
          ("steps", 9, [], None, False)]


def test_a_simulation_given_a_store_takes_a_spare_engine_and_runs_as_over_a_new_one() -> None:
    """A replay over a given store on a spare engine: the same trace bytes and
    the same store contents as on an engine built anew over an equal store,
    whether the store loads the plain way (``load_plain``) or through the
    recovery part; and its engine goes back to the pool once it is gone."""
    loaded = set()
    for handler, seed, inputs, until_ms, pending in STORES:
        want = over(new(seed + 1, store=made_store(handler, seed, inputs, until_ms, pending)))
        _sim._SPARES.clear()
        run(sd.Simulation(SERVICES, seed=1), "steps", [2])  # (gone: its engine is the spare)
        engine = spare()
        assert engine is not None
        store = made_store(handler, seed, inputs, until_ms, pending)
        sim = sd.Simulation(SERVICES, seed=seed + 1, store=store)
        assert id(sim._engine) == engine and spare() is None and sim.store is store
        loaded.add(sim._engine.steps.lazily_built)  # (the recovery part: a crash part's)
        got = over(sim)
        assert got == want, handler
        taken = sim._engine
        recovered = (taken.lazily_built or taken.lifecycle.lazily_built
                     or taken.steps.lazily_built)
        del taken, sim
        # (unless its run built a part at its first use: then never taken, as today)
        assert spare() == (None if recovered else engine), (handler, seed)
    assert loaded == {False, True}  # (both ways of loading met)


def test_an_engine_taken_back_holds_nothing_of_the_given_store() -> None:
    """The store is its owner's: once its simulation is gone (and the
    collector ran), nothing holds it, the pooled engine least of all; a store
    kept is left as its run left it by the engine's next runs, over their own
    stores or given ones."""
    _sim._SPARES.clear()
    run(sd.Simulation(SERVICES, seed=1), "steps", [2])
    engine = spare()
    store = made_store("steps", 3, [5], None, True)
    gone = weakref.ref(store)
    sim = sd.Simulation(SERVICES, seed=2, store=store)
    journals = store._journals
    sim.run()
    del sim, store
    gc.collect()
    assert gone() is None and spare() == engine
    # (nothing the engine holds is the store's either: its journals dict)
    taken = sd.Simulation(SERVICES, seed=2)
    assert taken.store._journals is not journals and not taken.store.invocations()
    del taken, journals
    kept_store = made_store("steps", 3, [5], None, True)
    sim = sd.Simulation(SERVICES, seed=2, store=kept_store)
    sim.run()
    seen = looks(kept_store)
    del sim
    assert spare() == engine
    for seed in (3, 4):
        run(sd.Simulation(SERVICES, seed=seed), "steps", [3])
        over(sd.Simulation(SERVICES, seed=seed,
                           store=made_store("steps", seed, [seed], None, True)))
        assert spare() == engine
    assert looks(kept_store) == seen


def test_an_engine_given_a_store_is_the_engine_a_new_simulation_builds_over_it() -> None:
    """Attribute for attribute, before its run: the given store attached,
    loaded as a new engine loads it."""
    _sim._SPARES.clear()
    built = new(5, store=made_store("steps", 3, [5], None, True))
    run(sd.Simulation(SERVICES, seed=2), "steps", [3])
    assert spare() is not None
    taken = sd.Simulation(SERVICES, seed=5, store=made_store("steps", 3, [5], None, True))
    assert spare() is None and taken._engine is not built._engine
    assert shape(taken) == shape(built)


def test_a_simulation_run_without_a_name_leaves_its_engine() -> None:
    """``Simulation(...).run()``: the simulation goes as its run's frame is
    cleared (its ``self`` first), and the frame no longer holds the engine nor
    the scheduler then; so its engine is left, and its scheduler reset in place."""
    _sim._SPARES.clear()
    sd.Simulation(SERVICES, seed=1).run()
    engine = spare()
    assert engine is not None
    store = made_store("steps", 3, [5], None, True)
    sd.Simulation(SERVICES, seed=2, store=store).run()
    assert spare() == engine
    scheduler = weakref.ref(_sim._SPARES[_sim.collected(SERVICES)[1]][0].scheduler)
    sd.Simulation(SERVICES, seed=2, store=made_store("steps", 4, [6], None, True)).run()
    assert spare() == engine
    assert _sim._SPARES[_sim.collected(SERVICES)[1]][0].scheduler is scheduler()
    assert [r.status for r in store.invocations()] == ["completed"]
