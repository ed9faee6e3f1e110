"""The exploration behind ``check``: reference run, single faults, Hypothesis.

1. The fault-free reference run, recording every fault point it passes.
2. Every single fault at those points, exhaustively: a crash before each
   operation, after each step's effect (result not stored) and after each
   store; a transient and a terminal failure of each step; a lost response of
   each fake-external call (and, for a step with its own retry limit, on every
   attempt, so that it gives up after its effect). Cheap, complete, and
   already minimal.
3. Hypothesis examples: per example a seed picks the fault mix (swarm), and
   every decision (schedule, whether and which fault fires) is drawn from the
   test's data, so a failure shrinks to a minimal plan and schedule.
4. Liveness: once faults stop, every invocation must finish in bounded time.

The self-check: the reference run, and every run whose commands leave its
path, is run twice with the same decisions, and every ``SELF_CHECK_EVERY``
runs of a phase the reference run is run again; different traces mean that
something outside the simulation leaked in (or a harness bug).
"""

from __future__ import annotations

import dis
import gc
import itertools
import os
import random
import re
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property, partial
from types import CoroutineType, FrameType, GeneratorType, ModuleType
from typing import Any

from .._api.external import FakeExternal
from .._api.futures import (
    DurableFuture,
    ReplayedPlainStepFuture,
    ReplayedStepFuture,
    after_in_place,
)
from .._codec import CodecError, listed
from .._restate import native_services
from .._sim import (
    InvocationHandle,
    Simulation,
    check_externals,
    check_signature,
    parse_target,
)
from ..runtime._errors import InvalidTargetError, SimdurableError, StuckError, TerminalError
from ..runtime._faults import (
    CRASH,
    DELAY,
    EFFECT_DONE,
    FAIL,
    LOSE_RESPONSE,
    TERMINAL,
    TIMER,
    Fault,
    FaultPlan,
    FaultPoint,
    exception_type,
    plan_name,
)
from ..runtime._invocation import Abort
from ..runtime._journal import (
    AT_MS,
    COMMAND_KINDS,
    COMPLETION,
    DATA,
    KIND,
    NAME,
    PROMISE_GET,
    REF,
    RESULT,
    RUN,
    SEND as SEND_ENTRY,
    SLEEP,
    TARGET,
    WAKE_MS,
    Failure,
    Value,
    describe,
)
from ..runtime._retry import InvocationRetryPolicy, to_ms
from ..runtime._scheduler import Chooser
from ..runtime._store import COMPLETED, stored_journal
from . import _assertions
from ._assertions import Collector, Sometimes
from ._chooser import (
    CRASH_PHASES,
    STEP_PHASE,
    DataChooser,
    DataExplorer,
    RecordingChooser,
    RecordingExplorer,
    ScheduleChooser,
    ScriptedChooser,
    ScriptedExplorer,
    Swarm,
    data_draw,
    delays_for,
    fast_draw,
    make_fault,
    never_compensating,
)
from ._explain import KeptRun, delays_like_runs
from ._names import imports_for, modules_of, name_of, python_names, services_source
from ._properties import (
    KIND_ORDER,
    Outcome,
    RunFacts,
    check_exactly_once,
    closure_runs,
    duplicate_violations,
    invariant_violations,
    key_reuse_violations,
    outcome_violation,
    problem_violations,
    repeated_call_violations,
    retry_loop_violations,
    snapshot,
    stuck_violation,
)
from ._report import Report, Violation, encode_blob, program
from ._step_values import Path, clock_reads, drawn_values, left_out, unstable_paths
from ._world import (
    CALL,
    EARLY,
    LATE,
    MOMENTS,
    SEND,
    WAITING,
    FromEffect,
    WorldDriver,
    WorldError,
    WorldEvent,
    after,
    after_count,
    bind,
    moments_of,
    unknown_promises,
)

Explorer = Callable[[FaultPoint], "Fault | None"]


@dataclass
class Target:
    """What ``check`` runs: the handler, its input, and the world around it."""

    services: list[Any]
    invoke: str
    input: Any
    externals: list[FakeExternal]
    setup: Callable[[], object] | None = None
    invariant: Callable[[Outcome], object] | None = None
    strict: bool = True
    retry_policy: InvocationRetryPolicy | None = None
    liveness_ms: int = 3_600_000
    max_steps: int = 100_000
    coverage: Any = None
    world: list[WorldEvent] = field(default_factory=list)
    # Invocations submitted at once with the target (``check(concurrent=...)``).
    others: list[tuple[str, Any]] = field(default_factory=list)
    wall_budget: float | None = 60.0


@dataclass
class Baseline:
    """What a check keeps of a fault-free run at other moments of the world,
    which the runs at those moments are judged by: its outcome, and what
    ``delays_like_runs`` reads (``_race``). Not the run's ``RunFacts``: its
    simulation is tens of MB for a long-running workflow."""

    outcome: Outcome
    handle_id: str | None  # (not the handle: it holds the simulation)
    run: KeptRun

    @classmethod
    def of(cls, facts: RunFacts) -> Baseline:
        return cls(facts.outcome, None if facts.handle is None else facts.handle.id,
                   KeptRun.of(facts.sim))


@dataclass
class Run:
    """One executed run: its facts, plus what is needed to run it again."""

    facts: RunFacts
    plan: FaultPlan
    seed: int
    decisions: list[int] = field(default_factory=list)
    log: list[tuple[FaultPoint, Fault | None]] = field(default_factory=list)


def _longest_timer_ms(facts: RunFacts) -> int:
    """The longest durable sleep any invocation of the run asked for."""
    longest = 0
    for rec in facts.sim.engine.records():
        for e in stored_journal(facts.sim.store, rec.id):
            if e[KIND] == SLEEP and e[WAKE_MS] >= 0:
                longest = max(longest, e[WAKE_MS] - e[AT_MS])
    return longest


@contextmanager
def fresh_world(t: Target, seed: int) -> Iterator[None]:
    """A run's world as it starts: the fake externals reset, the target's
    setup run, and the global RNG seeded, so that step closures drawing from
    it give the same values in a run and its twin; the caller's RNG state
    comes back after (inside ``caller_rng``, as the block ends)."""
    saved = _world_starts(t, seed)
    try:
        yield
    finally:
        if saved is not None:
            random.setstate(saved)


def _world_starts(t: Target, seed: int) -> tuple[Any, ...] | None:
    """``fresh_world``'s start, for a caller that ends it itself (``execute``:
    a context manager's four calls and generator, about 1% of the single-fault
    phase's instructions): the caller's RNG state to put back, or None inside
    ``caller_rng``."""
    for ext in t.externals:
        ext.reset()
    if t.setup is not None:
        t.setup()
    saved = None if _rng_kept else random.getstate()
    random.seed(seed)
    return saved


# Whether a ``caller_rng`` block gives the caller's RNG state back: its runs do not.
_rng_kept = False


@contextmanager
def caller_rng(t: Target) -> Iterator[None]:
    """The caller's global RNG state saved once for the block's runs and given
    back as it ends, not saved and given back by each run (``fresh_world``):
    625 ints each way, 11 us of a run's 265 (the single-fault phase of 20
    steps, 101 runs). Each run seeds the RNG as it starts, so what a run
    draws is the same; between two runs only simdurable's code runs, which
    draws from no global RNG. Not where the target has a ``setup`` or an
    ``invariant``, code of the user's run between runs: it draws from the
    caller's RNG, as it always did."""
    global _rng_kept
    if _rng_kept or t.setup is not None or t.invariant is not None:
        yield
        return
    saved = random.getstate()
    _rng_kept = True
    try:
        yield
    finally:
        _rng_kept = False
        random.setstate(saved)


def execute(t: Target, seed: int, plan: FaultPlan | None = None,
            chooser: Chooser | None = None, explorer: Explorer | None = None,
            label: str = "faulty", moments: Sequence[str] | None = None,
            rng_seed: int | None = None, strict_from: StrictFromCrash | None = None
            ) -> RunFacts:
    """Run the handler once: fault phase to quiescence, then heal (liveness).

    ``moments``: when each world event without a time happens (default: each
    event's own ``when``, else once the run waits on it). ``rng_seed``: the
    global random generator's seed, if not ``seed``. ``strict_from``: a
    single fault's run, strict mode turned on as the fault fires, not from
    the start (``StrictFromCrash``, ``StrictFromFailure``; the target's
    strict mode on, no explorer but a failure for good's recorder)."""
    # (``fresh_world``, its block written out)
    saved = _world_starts(t, seed if rng_seed is None else rng_seed)
    try:
        collector = Collector()
        token = _assertions._current.set(collector)
        if t.coverage is not None:
            t.coverage.start(label)
        stuck: StuckError | None = None
        handle = None
        sim: Simulation | None = None
        try:
            sim = Simulation(t.services, seed=seed, faults=plan,
                             strict=t.strict and strict_from is None,
                             externals=t.externals, chooser=chooser,
                             retry_policy=t.retry_policy, max_steps=t.max_steps,
                             wall_budget=t.wall_budget)
            if strict_from is not None:
                strict_from.sim = sim
                sim.injector.on_fire = strict_from
            if isinstance(explorer, FailureRecorder):
                install = partial(explorer.install, sim)
                if strict_from is not None:
                    strict_from.then = install  # (strict mode first, as the failure fires)
                else:
                    sim.injector.on_fire = install
            elif explorer is not None:
                sim.injector.explore = explorer
                if isinstance(explorer, (DataExplorer, RecordingExplorer)):
                    explorer.compensating = Compensating(sim)
            driver = WorldDriver(t.world, moments)
            try:
                handle = sim.invoke(t.invoke, t.input)
                for k, (target, value) in enumerate(t.others, 1):
                    driver.between(sim, handle, k)
                    sim.invoke(target, value)
                driver.drive(sim, handle)
                sim.injector.enabled = False
                sim.run()
            except StuckError as err:
                stuck = err
            except CodecError:
                pass  # one of the run's problems: its violation, with the faults that fired
            # (read once: judging reads it again; closing the simulation runs
            # no step, its context refuses them)
            # (``list(iter(...))``: ``list`` of the log itself would ask its
            # ``len`` first, a second reading of the trace)
            step_log = list(iter(sim.engine.step_run_log))
            closures = closure_runs(step_log)
            records = sim.engine.records()
            outcome = snapshot(sim, handle, t.externals, step_log, closures, records)
        finally:
            # Handlers still running (the run was stuck, or cut short by an
            # exception) are closed here, in this run, not by the garbage collector
            # during another one.
            if sim is not None:
                sim.close()
                sim.injector.on_fire = None
                if sim._guard is not None:
                    _unlink_guard(sim._guard)
            if strict_from is not None:
                strict_from.sim = None
                strict_from.then = None
            if isinstance(explorer, (DataExplorer, RecordingExplorer)):
                compensating = explorer.compensating
                if isinstance(explorer, RecordingExplorer) and isinstance(compensating,
                                                                          Compensating):
                    explorer.decided = {key: (compensating.in_hand[key], i)
                                        for key, i in compensating.decided_at.items()}
                    explorer.failed_at = compensating.failed_at
                # (its question reads this run's engine, which holds the explorer:
                # a cycle that would keep every run's simulation until a collection)
                explorer.compensating = never_compensating
            if t.coverage is not None:
                t.coverage.stop()
            _assertions._current.reset(token)
    finally:
        if saved is not None:
            random.setstate(saved)
    facts = RunFacts(sim, handle, outcome, collector, stuck, list(sim.injector.fired), seed,
                     driver.problems, driver.moments, driver.hidden)
    facts.step_log = step_log
    facts.closures = closures
    facts.records = records
    return facts


def _unlink_guard(guard: Any) -> None:
    """A strict run's guard, its run over, made to hold no reference cycle
    through itself: its hook bound once (``StrictGuard.hook``), the engine's
    ``Steps`` that its at-once steps bind (``step_parts``, which reach the
    engine's ``Running``, which holds the guard), the late-binding watch's
    wrappers, each holding the watch. Through these cycles the garbage
    collector, not reference counting, freed the engine of 82 of the 106 runs
    of the single-fault phase of 20 steps: 9,500 objects a phase, walked by
    the first collection after the check (2.9% of the phase's instructions).
    What judging reads of the guard (``found``) stays."""
    guard.hook = None
    guard.step_parts = None
    late = guard.late
    if late is not None:
        late._looked = {}


# Whether a single crash's run is strict only from its crash on (``StrictFromCrash``);
# off, every run of a strict check is strict from its start (tests compare the two).
STRICT_FROM_CRASH = True
# The same for a single failed step's run, failed or failed for good (``StrictFromFailure``).
STRICT_FROM_FAILURE = True

# The exception table of each code object seen: (start, end, target) in bytes, a
# target of -1 for none (``_handler_spans``).
_HANDLER_SPANS: dict[Any, tuple[tuple[int, int, int], ...]] = {}
# Each code object's instructions, and the place of each by its offset.
_INSTRUCTIONS: dict[Any, tuple[list[dis.Instruction], dict[int, int]]] = {}
_MISSING = object()


class StrictFromCrash:
    """A single crash's run, strict mode off until the crash fires, and on from
    there (``Simulation._turn_strict``), on the one condition that the reference
    run found nothing (``Explorer.strict_from_fault``).

    Why it is sound: until the crash fires, the run is the reference run (the
    same seed, decisions and commands, and no fault yet; the fused paths give
    the same trace), which strict mode watched in full and where it found
    nothing: so would the run's own guard, found nothing, kept nothing (its
    seen lines, its late-binding watch over steps that never run: every
    attempt ends at the crash). A crash ends every attempt, so every attempt
    after it is made strict, as in a run strict from its start; the attempts
    it ends are closed unwatched in both. What strict mode watches that this
    does not: the handler code an attempt runs as the crash ends it while its
    coroutine runs (a command it issues, the step it awaits run in place),
    unwound by ``Abort`` from there: an ``except`` that catches it, a
    ``finally``, a ``with``'s exit around that place. Where one could run (a
    handler on the coroutine's stack of frames, found in its code's exception
    table, that is not ``except`` clauses naming only what ``Abort``, a
    ``BaseException``, is not: ``TerminalError``, ``Exception``), the switch
    is ``refused``: the run goes on as it is, and its caller runs it again
    strict from its start."""

    def __init__(self) -> None:
        self.sim: Simulation | None = None
        self.refused = False
        # Called after, with the same point: what else waits for the fault to
        # fire (a failure for good's recorder, ``FailureRecorder.install``).
        self.then: Callable[[FaultPoint], None] | None = None

    def __call__(self, point: FaultPoint) -> None:
        sim = self.sim
        assert sim is not None
        if _handler_code_unwinds(sim, sys._getframe(1)):
            self.refused = True
        else:
            sim._turn_strict()
        if self.then is not None:
            self.then(point)


def _handler_code_unwinds(sim: Simulation, frame: FrameType | None) -> bool:
    """Whether code not simdurable's may run as the attempt whose coroutine is
    running now (under ``frame``) is ended: a frame of it between ``frame`` and
    the coroutine's own with an exception handler over where it is that
    ``Abort`` may run (``_catches_abort``)."""
    start = frame
    for attempt in sim.engine.running.attempts.values():
        coro = attempt.coro
        if coro is None:
            continue
        running = getattr(coro, "cr_running", None)
        if running is None:
            return True  # (not a coroutine of Python's: nothing to tell by)
        if not running:
            continue
        top = coro.cr_frame  # type: ignore[attr-defined]
        frame = start
        while frame is not None:
            code = frame.f_code
            # (simdurable's own frames run no handler code as a crash unwinds
            # them, but a restate-sdk handler's invocation context managers)
            if code.co_filename.startswith(_OWN_CODE):
                if code.co_filename == _RESTATE_SERVICE and code.co_name == "_start" and (
                        getattr(frame.f_locals.get("rh"), "context_managers", None)):
                    return True
            elif _catches_abort(frame):
                return True
            if frame is top:
                break
            frame = frame.f_back
        else:
            return True  # (its frame not found under this one)
    return False


class StrictFromFailure(StrictFromCrash):
    """A single failed step's run (``fail`` or ``terminal`` at a step),
    strict mode off until the failure fires, and on from there, on the
    conditions of ``StrictFromCrash``: the reference run found nothing, and no
    world event comes.

    Why it is sound: until the failure fires, the run is the reference run,
    which strict mode watched in full and where it found nothing (see
    ``StrictFromCrash``). The failure fires in the step's own task, the
    handler's coroutine waiting. Unlike a crash, it ends no other
    invocation's attempt: the switch is ``refused`` (the run made again strict
    from its start) unless the failing attempt is the only one alive. Its
    own attempt then either ends there, or takes the failure at its await:

    - A step that fails (not for good, no retry policy of its own, an error
      that is no ``TerminalError``) fails its attempt at once (``Steps._failed``):
      the attempt is closed unwatched in both, and the next attempt is made
      strict, replaying its journal, as in a run strict from its start.
    - Else (a failure for good, or a step's own retries used up) the handler
      is resumed with the error raised at its await, in an attempt made
      without strict mode: so the switch asks that no code of the user's can
      run as it unwinds, none of the coroutine's frames (those not
      simdurable's, down the chain of what each awaits) with an exception
      handler over where it waits (its code's exception table: an
      ``except``, a ``finally``, a ``with``), so that the error ends the
      handler as it stands. What strict mode tracks over an attempt is then
      the same: no code of the handler's runs to read anything or change what
      a waiting step reads (which the attempt waits on alone: a step started
      before and run after would not be watched), the wait it resumes from is
      one the reference run watched (a catch-all ``except`` around it would
      have been found there), and a handler that raises is judged for the
      promises it never awaited only (``Lifecycle.find_not_awaited``): a
      journal with a promise's value asked for is refused, the attempt made
      without strict mode having kept none of its waits.

    A handler that catches the failure (``except TerminalError:``, a
    ``finally``) runs that code watched, in the run made again strict from
    its start."""

    def __init__(self, fault: Fault) -> None:
        super().__init__()
        self.fault = fault

    def __call__(self, point: FaultPoint) -> None:
        sim = self.sim
        assert sim is not None
        if _failure_runs_handler_code(sim, point, self.fault):
            self.refused = True
        else:
            sim._turn_strict()
        if self.then is not None:
            self.then(point)


def _failure_runs_handler_code(sim: Simulation, point: FaultPoint, fault: Fault) -> bool:
    """Whether code of the user's may run unwatched after ``fault`` fires at
    ``point`` (a step's run) in a run switched to strict mode there: the
    conditions of ``StrictFromFailure``."""
    attempts = sim.engine.running.attempts
    attempt = attempts.get(point.invocation)
    if attempt is None or not attempt.alive or any(
            other.alive for other in attempts.values() if other is not attempt):
        return True
    coro = attempt.coro
    if coro is None or getattr(coro, "cr_running", True):
        return True
    spec = attempt.steps.get(point.index)
    if spec is None:
        return True
    if (fault.kind == FAIL and spec.backoff is None
            and not issubclass(exception_type(fault.exception or "ConnectionError"),
                               TerminalError)):
        return False  # (the attempt fails at once: ``Steps._failed``)
    if any(index != point.index for index in attempt.steps):
        return True
    if any(entry[KIND] == PROMISE_GET for entry in attempt.journal):
        return True
    # Down the chain of what each frame awaits: the step's own wait at its
    # end, and no exception handler over where any other frame is (the
    # handler's, a helper's, or simdurable's own: its wrapper, a combinator).
    awaited: Any = coro
    frame: FrameType | None = None
    while awaited is not None:
        if type(awaited) is CoroutineType:
            frame, awaited = awaited.cr_frame, awaited.cr_await
        elif type(awaited) is GeneratorType:
            frame, awaited = awaited.gi_frame, awaited.gi_yieldfrom
        else:
            return True  # (an awaitable of the user's own: its ``throw`` would run)
        if frame is None:
            return True
        code = frame.f_code
        if code not in _STEP_WAITS and _handler_over(code, frame.f_lasti):
            return True
    # (a step's wait raises its failure as it resumes: ``DurableFuture._result``)
    return (frame is None or frame.f_code not in _STEP_WAITS
            or frame.f_locals.get("index") != point.index)


# The code of a step's wait and of what hands over to it (``_api/futures.py``).
_STEP_WAITS = frozenset(f.__code__ for f in (
    DurableFuture.__await__, DurableFuture._after, ReplayedStepFuture.__await__,
    ReplayedPlainStepFuture.__await__, after_in_place))


def _handler_over(code: Any, at: int) -> bool:
    """Whether ``code``'s exception table has a handler over instruction ``at``."""
    return _entry_over(code, at) is not None


def _entry_over(code: Any, at: int) -> int | None:
    """Where the handler over instruction ``at`` of ``code`` starts, if any (its
    exception table's entry; each instruction has one at most), the
    interpreter's own handlers passed through (``_handler_spans``)."""
    entries = _HANDLER_SPANS.get(code)
    if entries is None:
        entries = _HANDLER_SPANS[code] = _handler_spans(code)
    for start, end, target in entries:
        if start <= at < end:
            return target if target >= 0 else None
    return None


def _handler_spans(code: Any) -> tuple[tuple[int, int, int], ...]:
    """``code``'s exception table, each entry's target taken on past the
    handlers the interpreter adds of its own (3.12+) to where the exception
    goes next, -1 for out of the frame: a ``CLEANUP_THROW`` over an
    ``await``'s ``YIELD_VALUE``, which raises again at its own place what is
    thrown in (a ``StopIteration`` aside, which neither ``Abort`` nor a step's
    failure is: a generator's own ``StopIteration`` leaves it as a
    ``RuntimeError``), and a coroutine's or generator's body's
    ``CALL_INTRINSIC_1 INTRINSIC_STOPITERATION_ERROR; RERAISE``, which turns a
    ``StopIteration`` into a ``RuntimeError`` and raises on. Neither runs code
    of the user's; taken as handlers, they would make every ``await`` of 3.12+
    look caught."""
    raw = tuple((e.start, e.end, e.target)
                for e in dis.Bytecode(code).exception_entries)  # type: ignore[attr-defined]
    if not raw:
        return raw
    instructions, index = _instructions(code)

    def onward(target: int, depth: int) -> int:
        k = index.get(target)
        if k is None or depth > 64:
            return target
        ins = instructions[k]
        if ins.opname == "CLEANUP_THROW":
            at = ins.offset
        elif (ins.opname == "CALL_INTRINSIC_1"
              and ins.argrepr == "INTRINSIC_STOPITERATION_ERROR"
              and k + 1 < len(instructions) and instructions[k + 1].opname == "RERAISE"):
            at = instructions[k + 1].offset
        else:
            return target
        nxt = next((t for start, end, t in raw if start <= at < end), None)
        return -1 if nxt is None else onward(nxt, depth + 1)

    return tuple((start, end, onward(target, 0)) for start, end, target in raw)


def _instructions(code: Any) -> tuple[list[dis.Instruction], dict[int, int]]:
    """``code``'s instructions, and the place of each by its offset (kept)."""
    found = _INSTRUCTIONS.get(code)
    if found is None:
        instructions = list(dis.get_instructions(code))
        found = _INSTRUCTIONS[code] = (
            instructions, {ins.offset: k for k, ins in enumerate(instructions)})
    return found


# The instructions of an exception handler that run no code of the user's (its
# ``except`` clause's match aside), and those that load what a clause names.
_PLUMBING = frozenset({"PUSH_EXC_INFO", "POP_EXCEPT", "COPY", "NOP", "POP_TOP", "SWAP"})


def _catches_abort(frame: FrameType) -> bool:
    """Whether code of ``frame``'s may run as ``Abort`` unwinds it from where it
    is: its exception handlers followed as the interpreter would, each
    ``except`` clause's match read (globals, a module's attributes, tuples of
    them) and skipped where ``Abort`` is none of what it names, to a
    ``RERAISE`` with no handler over it. Anything else (a clause that
    matches, a ``finally``, a ``with``'s exit, what cannot be read) may run."""
    code = frame.f_code
    target = _entry_over(code, frame.f_lasti)
    if target is None:
        return False
    instructions, index = _instructions(code)
    k = index.get(target)
    for _ in range(10_000):
        if k is None or k >= len(instructions):
            return True
        ins = instructions[k]
        op = ins.opname
        if op in _PLUMBING:
            k += 1
        elif op == "RERAISE":
            target = _entry_over(code, ins.offset)
            if target is None:
                return False  # (out of the frame, no code of its run)
            k = index.get(target)
        elif op == "LOAD_GLOBAL" and not (ins.arg or 0) & 1:  # (not a call's NULL + name)
            k, names = _clause_match(frame, instructions, k)
            if names is None:
                return True
            if not all(isinstance(t, type) and not issubclass(Abort, t) for t in names):
                return True
            ins = instructions[k]
            k = index.get(ins.argval)  # (the clause's jump past itself)
        else:
            return True
    return True


def _clause_match(frame: FrameType, instructions: list[Any], k: int
                  ) -> tuple[int, list[Any] | None]:
    """An ``except`` clause's match from instruction ``k``: what it names
    (None if not that, or not readable without running code), and where its
    jump if no match is."""
    found: list[Any] = []
    tuple_of = 1  # (how many the match takes: one, or a tuple's items)
    while True:
        ins = instructions[k]
        op = ins.opname
        if op == "LOAD_GLOBAL" and not (ins.arg or 0) & 1:
            value = frame.f_globals.get(ins.argval, _MISSING)
            if value is _MISSING:
                value = frame.f_builtins.get(ins.argval, _MISSING)
            found.append(value)
        elif op == "LOAD_ATTR" and found and type(found[-1]) is ModuleType:
            found[-1] = vars(found[-1]).get(ins.argval, _MISSING)
        elif op == "BUILD_TUPLE" and tuple_of == 1:
            tuple_of = ins.arg
        elif op == "CHECK_EXC_MATCH":
            nxt = instructions[k + 1] if k + 1 < len(instructions) else None
            if (nxt is None or nxt.opname not in ("POP_JUMP_FORWARD_IF_FALSE",
                                                  "POP_JUMP_IF_FALSE")
                    or _MISSING in found or len(found) != tuple_of):
                return k, None
            return k + 1, found
        else:
            return k, None
        k += 1


def _closure_order(facts: RunFacts) -> FaultPlan | None:
    """Delays that run every step's closure in the order it first ran in
    ``facts``'s run, each a millisecond later than the one before; None for
    fewer than two steps."""
    first: dict[tuple[str, int], tuple[str, str]] = {}
    for inv, index, name, _, target in facts.step_log:
        first.setdefault((inv, index), (target, name))
    if len(first) < 2:
        return None
    return FaultPlan(tuple(Fault(DELAY, step=name, index=index, by_ms=k + 1, target=target)
                           for k, ((_, index), (target, name)) in enumerate(first.items())))


class Compensating:
    """Whether the command at ``point`` is compensation, in ``sim``: its
    invocation was cancelled, or its handler had a ``TerminalError`` in hand
    when it issued the command (its own, or one the runtime handed it: a
    rejected promise or awakeable, a call that failed). Where the handler was
    not seen issuing it, a terminal failure already in its journal stands for
    that. Failing a compensation for good too is a fault to ask for, not a
    default, for the explorers.

    What it decided is kept with the number of questions asked before
    (``decided_at``, ``failed_at``): a failure for good's run is the
    reference run's until the failure, and starts from what the reference
    run's questions had decided there (``FailureRecorder``)."""

    def __init__(self, sim: Simulation) -> None:
        engine = sim.engine
        self.record, self.running = engine.record, engine.running
        # Entries read of each journal; -1 once a failure is seen.
        self.scanned: dict[str, int] = {}
        # By (invocation, journal index): whether its handler had a TerminalError in
        # hand when it issued the command, decided at the command's first point
        # asked while the handler runs (its later points, a step's run among them,
        # come when it does not, and so do those of a retried attempt).
        self.in_hand: dict[tuple[str, int], bool] = {}
        self.asked = 0
        self.decided_at: dict[tuple[str, int], int] = {}
        self.failed_at: dict[str, int] = {}

    def __call__(self, point: FaultPoint) -> bool:
        self.asked += 1
        invocation = point.invocation
        if self.record(invocation).cancelled:
            return True
        scanned = self.scanned
        seen = scanned.get(invocation, 0)
        if seen < 0:
            return True
        attempt = self.running.get(invocation)
        if attempt is None:
            return False
        key = (invocation, point.index)
        held = self.in_hand.get(key)
        if held is None:
            coro = attempt.coro
            if getattr(coro, "cr_running", False):
                held = self.in_hand[key] = _terminal_error_in_hand(coro.cr_frame)  # type: ignore[union-attr]
                self.decided_at[key] = self.asked - 1
        if held is not None:
            # Decided where the handler issued it: a failure handed to it
            # earlier and no longer in hand (caught, a fallback taken) leaves
            # its later commands ordinary, open to faults of every kind.
            return held
        journal = attempt.journal
        for i in range(min(seen, len(journal)), len(journal)):
            e = journal[i]
            if e[KIND] == COMPLETION and isinstance(e[RESULT], Failure):
                scanned[invocation] = -1
                self.failed_at[invocation] = self.asked - 1
                return True
        scanned[invocation] = len(journal)
        return False


@dataclass
class ReferenceRecord:
    """What the reference run's recorder saw, each with where in its points:
    what a failure for good's recorder starts from (``FailureRecorder``)."""

    points: list[FaultPoint]
    compensating_at: dict[tuple[str, int, int], int]
    decided: dict[tuple[str, int], tuple[bool, int]]
    failed_at: dict[str, int]

    @cached_property
    def first_at(self) -> dict[FaultPoint, int]:
        """Where in ``points`` each point was first passed."""
        first: dict[FaultPoint, int] = {}
        for i, point in enumerate(self.points):
            first.setdefault(point, i)
        return first


class FailureRecorder(RecordingExplorer):
    """The recorder of a single fault's failure for good, for the compensation
    that follows it (``compensation_found``), installed as the failure fires
    (``Injector.on_fire``): until then the run is the reference run's (the
    same seed and decisions, and no fault yet), so its points and what its
    questions decided are the reference run's up to that point, and the run
    asks no question and builds no point there (an explorer makes every step
    stop at each of its points, and asks of each whether it compensates)."""

    def __init__(self, ref: ReferenceRecord) -> None:
        super().__init__()
        self.ref = ref

    def install(self, sim: Simulation, point: FaultPoint) -> None:
        ref = self.ref
        # (not there: the run left the reference run's path before the failure,
        # a handler whose path follows something uncontrolled, which the
        # self-check reports: recorded from the failure on only)
        at = ref.first_at.get(point, 0)
        self.points = ref.points[:at]
        self.compensating_points = {k for k, i in ref.compensating_at.items() if i < at}
        self.compensating_at = {k: i for k, i in ref.compensating_at.items() if i < at}
        compensating = Compensating(sim)
        compensating.in_hand = {k: held for k, (held, i) in ref.decided.items() if i < at}
        compensating.scanned = {inv: -1 for inv, i in ref.failed_at.items() if i < at}
        self.compensating = compensating
        sim.injector.explore = self


# Frames of simdurable's own code (the runtime, the checker, a handler's
# wrapper) hold no error of the handler's: skipped when looking for one.
_OWN_CODE = os.path.dirname(os.path.abspath(__file__)).rsplit(os.sep, 1)[0] + os.sep
# The file of a restate-sdk handler's wrapper, ``RestateHandler._start``, whose
# ``async with`` exits the handler's invocation context managers (user code)
# as an error unwinds it (not imported here: it imports restate-sdk).
_RESTATE_SERVICE = os.path.join(_OWN_CODE, "_restate", "_service.py")


def _terminal_error_in_hand(handler_frame: FrameType) -> bool:
    """Whether the handler running now (its coroutine's frame is
    ``handler_frame``, up the stack) has a ``TerminalError`` in hand: it
    handles one (``_handles_terminal_error``), or one of its frames keeps
    one in a variable, directly or in a list, tuple, dict or object held
    there, as a saga that compensates after its ``except`` block has ended
    does (``except TerminalError as err: failure = err``, then the undo
    steps, then ``raise failure``). An error it no longer keeps is not in
    hand: the steps it runs after its compensation are ordinary again."""
    if _handles_terminal_error():
        return True
    frames = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        # (the handler's coroutine is its function's own when the runtime runs
        # it without ``Handler._start``: ``HandlerSpec.direct``)
        if not frame.f_code.co_filename.startswith(_OWN_CODE):
            frames.append(frame)
        if frame is handler_frame:
            break
        frame = frame.f_back
    if frame is None:  # (not below the handler's coroutine: nothing of its to look at)
        return False
    return any(_holds_terminal_error(value) for f in frames for value in f.f_locals.values())


def _holds_terminal_error(value: object) -> bool:
    """Whether ``value`` is a ``TerminalError``, or a container or object
    holding one directly (a list of failures, a failure record)."""
    if _is_terminal_error(value):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        items: Iterable[object] = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        attrs = getattr(value, "__dict__", None)
        if not isinstance(attrs, dict) or isinstance(value, (type, ModuleType)):
            return False
        items = attrs.values()
    return any(_is_terminal_error(item) for item in items)


def _is_terminal_error(value: object) -> bool:
    """Whether ``value`` is simdurable's ``TerminalError`` or restate's."""
    if isinstance(value, TerminalError):
        return True
    hosted = sys.modules.get("restate.exceptions")  # (only a hosted app raises restate's)
    return hosted is not None and isinstance(value, hosted.TerminalError)


def _handles_terminal_error() -> bool:
    """Whether the code running now handles a ``TerminalError`` (in an
    ``except``, a ``finally`` or a context manager's exit), simdurable's or
    restate's: asked while an invocation's handler runs, its own code raised
    or caught one, as a saga does before its compensation steps (``try: ...
    raise TerminalError(...) except TerminalError: await ctx.run("undo", ...);
    raise``), where a failure the runtime handed it would be in its journal."""
    return _is_terminal_error(sys.exc_info()[1])


def pin(point: FaultPoint | None, fault: Fault, many: bool | Callable[[FaultPoint], bool]
        ) -> Fault:
    """A fired fault, pinned to the exact point where it fired."""
    if point is None or fault.at_ms is not None:
        return fault
    name = plan_name(point)
    need_target = name is None or (many(point) if callable(many) else many)
    # (every field given, not ``dataclasses.replace``, which reads them one by
    # one through ``fields()``: a third of the time, 100 faults a phase)
    return Fault(fault.kind, step=name, index=point.index, phase=fault.phase,
                 attempt=point.attempt, target=point.target if need_target else None,
                 times=1, exception=fault.exception, message=fault.message,
                 status=fault.status, at_ms=fault.at_ms, by_ms=fault.by_ms,
                 external=fault.external, operation=fault.operation)


class RunsOwnFaults:
    """An explorer that fires each of a run's faults again where it fired: at
    the same invocation (one at a time, each keeps the id it had at once),
    journal index, attempt and phase. A plan's fault fires at the first point
    that matches it, whichever invocation reaches it first: one at a time,
    the first caller took every fault of the run at once, wherever it fired
    there. Each fires once (a delayed step asks again when its delay is
    over): one for each run."""

    def __init__(self, fired: Sequence[tuple[FaultPoint | None, Fault]]) -> None:
        self.at = {replace(point, time_ms=0): fault for point, fault in fired
                   if point is not None and fault.at_ms is None}

    def __call__(self, point: FaultPoint) -> Fault | None:
        return self.at.pop(replace(point, time_ms=0), None)


def _step_values_differ(a: RunFacts, b: RunFacts) -> str | None:
    """The first step whose stored result differs between two runs, if the runs'
    journals first differ there (and not in a command the handler issued)."""
    recs_a, recs_b = a.sim.engine.records(), b.sim.engine.records()
    for ra, rb in zip(recs_a, recs_b, strict=False):
        ja, jb = stored_journal(a.sim.store, ra.id), stored_journal(b.sim.store, rb.id)
        for x, y in zip(ja, jb, strict=False):
            if (x[KIND], x[NAME], x[DATA], x[RESULT], x[TARGET]) == (
                y[KIND], y[NAME], y[DATA], y[RESULT], y[TARGET]
            ):
                continue
            if x[KIND] == y[KIND] == COMPLETION and x[TARGET] == y[TARGET]:
                cmd = ja[x[TARGET]]
                if cmd[KIND] == RUN:
                    return f'"{cmd[NAME]}" (#{x[TARGET]} of {ra.target})'
            return None
    return None


# The cyclic garbage collector's first threshold while a check explores: a
# collection after this many more tracked objects allocated than freed, not
# after 700. A check allocates a great deal between runs (Hypothesis's test
# cases, each run's facts and judging), almost all freed at once; at 700 the
# collector came round every few examples, and its older generations, the
# whole process's objects, every few checks: about a fifth of a check's CPU
# time. A check's cyclic garbage stays bounded by this many objects. The
# simulation runs themselves have the collector off (``_sim``).
CHECK_GC_THRESHOLD = 100_000


_STEP_FAILED = re.compile(r'step "(.*)" \(#(\d+)\) failed: ')


def _step_failures_differ(a: RunFacts, b: RunFacts) -> str | None:
    """The step whose closure raised in one of two runs and not in the other (or
    raised something else), if the runs first differ there.

    A closure may fail for reasons of the world outside the simulation, as it
    may return what the world gives: a pooled connection found reset on a
    process's first request, a module's rate limiter. The step is retried and
    the handler sees only its result, on Restate as here, so the retry is the
    step's own doing, not a path the handler took.
    """
    ea, eb = a.sim.trace_events(), b.sim.trace_events()
    for x, y in zip(ea, eb, strict=False):
        if x == y:
            continue
        for ev in (x, y):
            found = _STEP_FAILED.match(ev[3]) if ev[1] == "retry" else None
            if found is not None:
                targets = {r.id: r.target for r in a.sim.engine.records()}
                return f'"{found[1]}" (#{found[2]} of {targets.get(ev[2], ev[2])})'
        return None
    return None


def fewer_collections() -> tuple[int, int, int]:
    """Raise the collector's first threshold to ``CHECK_GC_THRESHOLD`` (unless
    it is higher, or 0: collections off); returns the thresholds to put back."""
    threshold = gc.get_threshold()
    if 0 < threshold[0] < CHECK_GC_THRESHOLD:
        gc.set_threshold(CHECK_GC_THRESHOLD, *threshold[1:])
    return threshold


def single_faults_found_by(singles: int, pairs: int) -> str:
    """What a violation the single-fault phase found says found it."""
    return (f"the single-fault phase ({singles} single faults, each tried alone"
            + (f", and {pairs} crash{'es' if pairs > 1 else ''} in a compensation after a "
               f"failure for good" if pairs else "") + ")")


def first_difference(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"event {i}:\n  first run:  {x.strip()}\n  second run: {y.strip()}"
    i = min(len(a), len(b))
    longer, which = (a, "first") if len(a) > len(b) else (b, "second")
    return f"event {i}: only the {which} run has it:\n  {longer[i].strip()}"


class Exploration:
    """One ``check``: runs, judges, remembers the first violation of each kind."""

    def __init__(self, t: Target, seed: int, self_check: bool = True,
                 progress: Callable[[int, str], object] | None = None) -> None:
        self.t = t
        self.seed = seed
        self.self_check = self_check
        self.progress = progress
        self.phase = "the reference run"
        self.reached: set[str] = set()
        self.paths: set[tuple[str, ...]] = set()
        # Each path made so far, by what it is made of (``_path``).
        self._path_of: dict[tuple[tuple[str, str, bytes | None], ...], tuple[str, ...]] = {}
        # The same of each run's commands, by target (``_commands``).
        self._commands_of: dict[tuple[str, tuple[tuple[str, str, bytes | None], ...]],
                                tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...]] = {}
        self.ref: RunFacts | None = None
        self.horizon_ms = 0  # the longest timer of the reference run
        # Attempts allowed by each step's own retry limit, by (handler, index).
        self.bounds: dict[tuple[str, int], int] = {}
        self.compensating_points: set[tuple[str, int, int]] = set()
        self.found: dict[str, Violation] = {}
        self.runs = 0
        self.fired: Counter[str] = Counter()
        self.exercised: set[tuple[str, str, int]] = set()
        self.points: set[tuple[str, str, int]] = set()
        self.step_runs: dict[str, int] = {}
        self.closure_runs = 0
        self.reruns = 0
        self.sometimes: dict[str, Sometimes] = {}
        self._names: dict[tuple[str, int], set[str]] = {}
        self.unstable: set[str] = set()
        # Items of step values each run draws for itself (``_step_values``),
        # and the one-at-a-time endings without them.
        self.drawn: frozenset[Path] = frozenset()
        self.notes: set[str] = set()
        self._orders: dict[tuple[str, ...], dict[str, str]] = {}
        self._message_orders: dict[tuple[Message, ...], set[str]] = {}
        self._orders_left_out: dict[tuple[str, ...], dict[str, str]] = {}
        # The same with a run's delays (by its moments and its delays' plan).
        self._delayed_orders: dict[tuple[tuple[str, ...], str], dict[str, str]] = {}
        self._message_orders_left_out: dict[tuple[Message, ...], set[str]] = {}
        # The same with each invocation's clock reads given again (``clock_reads``),
        # by (moments or messages, the plan or "messages", the reads).
        self._orders_as_read: dict[tuple[Any, str, tuple[Any, ...]], set[str]] = {}
        # The orders' endings with world calls after the callers, by moments.
        self._orders_calls_after: dict[tuple[str, ...], set[str]] = {}
        # The orders' endings at other schedules, by (moments, seed).
        self._orders_scheduled: dict[tuple[tuple[str, ...], int], set[str]] = {}
        # The world's moments of the reference run, and the fault-free run of
        # each other combination tried: what a run at those moments is judged by.
        self.ref_moments = moments_of(t.world)
        # Of each, only what is read again (``Baseline``): a whole run of a
        # long-running workflow is tens of MB.
        self._baselines: dict[tuple[str, ...], Baseline] = {}
        # The outcomes of fault-free runs with the world's callers reordered, by
        # (order, moments).
        self._reordered: dict[tuple[tuple[int, ...], tuple[str, ...]], Outcome] = {}
        # Fault-free runs' outcomes at other seeds, by (moments, seed) (``_other_schedules``).
        self._scheduled: dict[tuple[tuple[str, ...], int], Outcome] = {}
        # Which of those runs the runs so far needed (a part's, with ``jobs=N``):
        # counted once each in the report whichever process filled its cache.
        self.needed: set[tuple[Any, ...]] = set()
        # The world's moments of the fault-free run under way in ``world_moments``:
        # it is the baseline for those moments.
        self._moments_run: tuple[str, ...] | None = None
        self._moment_cases: set[tuple[str, ...]] = set()
        self.explored_events = [i for i, ev in enumerate(t.world) if ev.explored]
        self.moment_runs = 0
        # The commands of the reference run, once its twin was compared (``twin_needed``).
        self._ref_path: tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...] | None = None
        # The crashes in a compensation each failure for good of the single
        # faults found, by its place in the list (``compensation_found``).
        self.compensations: dict[int, list[tuple[Fault, Fault]]] = {}
        # What the reference run's recorder saw, which they start from.
        self.ref_record: ReferenceRecord | None = None
        # Whether a recorder leaves a run's path as it is. An explorer, asked
        # at every point, turns the runtime's fused paths off, which run more
        # of a handler at each scheduler step: the same trace for a run to its
        # end, but a world event that comes once the run reaches something
        # (``_world.reach``, the simulation run until then) may come at
        # another place of it. Where there is none, the reference run's twin
        # and the reference run again record nothing, and a failure for good
        # records from where it fires (``FailureRecorder``) in its own judged
        # run; where there is, each is made as the reference run was, and a
        # failure for good's compensation is found by a run of its own,
        # recording from the start.
        self.recorder_unseen = not t.world
        # Whether a single fault's run may be strict only from its fault on (``reference``).
        self.strict_from_fault = False

    def ambiguous(self, point: FaultPoint) -> bool:
        """Whether a fault pinned by step name and index could fire in another invocation."""
        targets = self._names.get((point.name, point.index))
        return targets is None or len(targets - {point.target}) > 0

    # -- running and judging ---------------------------------------------------
    def run(self, seed: int, plan: FaultPlan | None = None, chooser: Chooser | None = None,
            explorer: Explorer | None = None,
            again: Callable[[], tuple[Chooser | None, Explorer | None]] | None = None,
            label: str = "faulty", rerun: bool = True,
            moments: Sequence[str] | None = None,
            strict_from: Callable[[], StrictFromCrash] | None = None
            ) -> tuple[RunFacts, list[Violation]]:
        facts, chooser, switched = self._execute(seed, plan, chooser, explorer, again, label,
                                                 moments, strict_from)
        self.runs += 1
        if self.progress is not None:
            self.progress(self.runs, self.phase)
        self._account(facts)
        if (label == "reference" and self.t.others and self.self_check and rerun
                and facts.stuck is None):
            # Before it is judged: which items of step values each run draws
            # for itself, which the one-at-a-time orders cannot share.
            chooser3, explorer3 = again() if again is not None else (None, None)
            probe = execute(self.t, seed, plan, chooser3, explorer3, label, moments,
                            rng_seed=seed + 1)
            self.runs += 1
            self.drawn = unstable_paths(facts.sim, probe.sim)
        violations = self.judge(facts)
        # A run that never ends is not run twice: once already takes its whole budget.
        # Nor is a run that issued exactly the reference run's commands: see ``twin_needed``.
        if self.self_check and rerun and facts.stuck is None and (
                label == "reference" or self.twin_needed(facts)):
            chooser2, explorer2 = again() if again is not None else (None, None)
            twin, _, _ = self._execute(seed, plan, chooser2, explorer2, again, label, moments,
                                       switched)
            self.runs += 1
            if label == "reference":
                self.unstable = {d.split(":", 1)[0]
                                 for d in facts.outcome.differences(twin.outcome)}
                self._ref_path = self._commands(facts)
            differs = self._differs(facts, twin, "the same run, twice, with the same seed "
                                                 "and faults, took different paths")
            if differs is not None:
                violations.append(differs)
        if any(v.kind == "outcome-changed" for v in violations) and self._race(facts, chooser):
            violations = [v for v in violations if v.kind != "outcome-changed"]
        for v in violations:
            self._decorate(v, facts)
        return facts, violations

    def _execute(self, seed: int, plan: FaultPlan | None, chooser: Chooser | None,
                 explorer: Explorer | None,
                 again: Callable[[], tuple[Chooser | None, Explorer | None]] | None,
                 label: str, moments: Sequence[str] | None,
                 strict_from: Callable[[], StrictFromCrash] | None
                 ) -> tuple[RunFacts, Chooser | None, Callable[[], StrictFromCrash] | None]:
        """``execute``; with ``strict_from`` (a single fault's run: what makes
        its switch), strict from its fault on (``StrictFromCrash``,
        ``StrictFromFailure``), and made again strict from its start where the
        switch is refused. The run, its chooser, and ``strict_from`` if it
        switched (else None)."""
        switch = strict_from() if strict_from is not None else None
        facts = execute(self.t, seed, plan, chooser, explorer, label, moments,
                        strict_from=switch)
        if switch is None or not switch.refused:
            return facts, chooser, strict_from
        chooser, explorer = again() if again is not None else (None, None)
        return execute(self.t, seed, plan, chooser, explorer, label, moments), chooser, None

    def twin_needed(self, facts: RunFacts) -> bool:
        """Whether the self-check runs this run again: unless it issued the
        commands of the reference run, whose own twin was compared, or the
        first of them (each of its invocations a prefix of the reference
        run's same invocation's: a failure for good ended a handler early).

        A twin shows what changes between two runs with the same decisions:
        state kept outside the simulation, or a path that follows something
        the simulation does not control. A run on the reference run's path
        shows neither that the reference run's twin did not: the state that
        runs leave behind is found by running the reference run again every
        ``SELF_CHECK_EVERY`` runs (``run_reference_again``), a path that
        departs from it is twinned. A run that stopped on it issued no
        command the reference run did not, as a run failing at the handler's
        last step, which ends in the same way, never did: the way a handler
        ends is no new path. (docs/decisions.md, "The self-check")
        """
        ref = self._ref_path
        if ref is None:
            return True
        path = self._commands(facts)
        return path != ref and not _on_the_way(path, ref)

    def _differs(self, facts: RunFacts, twin: RunFacts, what: str) -> Violation | None:
        """The violation if two runs that should be one took different paths
        (a step's own value aside, which is noted)."""
        if facts.sim.same_trace(twin.sim):
            return None
        if any(run.stuck is not None and run.stuck.wall_clock for run in (facts, twin)):
            # (one of them was cut short by the clock: a loaded machine, not a path)
            self.notes.add(
                f"a run was stopped by its wall-clock budget ({self.t.wall_budget:g} s) where "
                f"the same run was not, so the two were not compared: a loaded machine? "
                f"check(wall_budget=...) sets the budget")
            return None
        step_value = _step_values_differ(facts, twin)
        if step_value is not None:
            self.notes.add(
                f"step {step_value} returned different values in two runs with the same "
                f"seed and faults (a clock, uuid4 or os.urandom inside the step?); what "
                f"depends on it is not compared between runs. Fakes make it reproducible."
            )
            return None
        step_failed = _step_failures_differ(facts, twin)
        if step_failed is not None:
            self.notes.add(
                f"step {step_failed} raised in one of two runs with the same seed and faults "
                f"and not in the other (a connection, a cache or a clock of the process inside "
                f"the step?); it was retried, and what depends on when it succeeded is not "
                f"compared between runs. Fakes make it reproducible."
            )
            return None
        a, b = facts.sim.trace(), twin.sim.trace()
        return Violation(
            kind="nondeterminism",
            message=f"{what}: something outside the simulation changed between them (a "
                    "global variable, a cache, a fake not passed in externals=, a clock) "
                    "or simdurable has a bug",
            handler=self.t.invoke,
            details="first difference at " + first_difference(a, b),
        )

    def run_reference_again(self, after: str) -> None:
        """The self-check of the state runs leave behind: the reference run
        again, which must take the reference run's path."""
        ref = self.ref
        if not self.self_check or ref is None or ref.stuck is not None:
            return
        # (no recorder where it leaves the path as it is: what the reference
        # run recorded is known, and asking at every point costs a run as much
        # again)
        again = execute(self.t, self.seed, None, RecordingChooser(self.seed),
                        None if self.recorder_unseen else RecordingExplorer(), "reference")
        self.runs += 1
        if self.progress is not None:
            self.progress(self.runs, self.phase)
        differs = self._differs(ref, again, f"the fault-free run, run again after {after}, "
                                            f"took another path than the first time")
        if differs is not None:
            self._decorate(differs, again)
            self.keep([differs], f"the harness's self-check (the fault-free run again, "
                                 f"after {after})")

    def _race(self, facts: RunFacts, chooser: Chooser | None = None) -> bool:
        """Whether a run without faults ends the same way: the same seed, or
        the faulty run's own schedule (the schedule made the difference, a race
        the handler allows: two steps in flight, whichever runs first), or the
        reference run slowed down as the faults slowed this one (a slow machine)."""
        if facts.seed != self.seed or self.ref is None:
            baseline = execute(self.t, facts.seed, chooser=RecordingChooser(facts.seed),
                               moments=facts.moments)
            self.runs += 1
            if self._same_ending(baseline, facts):
                return True
        # A schedule of Hypothesis's (offsets from the seed's) or a replayed one:
        # the seed's own was tried above, or is the reference run's.
        decisions = getattr(chooser, "decisions", None)
        if decisions and type(chooser) is not RecordingChooser:
            scheduled = execute(self.t, facts.seed,
                                chooser=ScheduleChooser(list(decisions), facts.seed),
                                moments=facts.moments)
            self.runs += 1
            if self._same_ending(scheduled, facts):
                return True
        # Steps in flight together whose closures ran in another order: each
        # late by a millisecond more than the one before it ran (a fault's
        # retries and replays make other decisions, so the schedule above may
        # not give that order).
        in_order = _closure_order(facts)
        if in_order is not None:
            same_order = execute(self.t, facts.seed, plan=in_order,
                                 chooser=RecordingChooser(facts.seed), moments=facts.moments)
            self.runs += 1
            if self._same_ending(same_order, facts):
                return True
        # A slow machine: the reference run with the faulty run's timing, no faults.
        ref = self.ref if facts.moments == self.ref_moments else \
            self._baselines.get(facts.moments)
        if ref is None or facts.handle is None:
            return False
        ref_run, ref_id = ((ref.sim, None if ref.handle is None else ref.handle.id)
                           if isinstance(ref, RunFacts) else (ref.run, ref.handle_id))
        if ref_id is None:
            return False
        for ordered, pinned in ((False, False), (True, False), (False, True), (True, True)):
            plan = delays_like_runs(ref_run, facts.sim, ref_id, facts.handle.id,
                                    self.t.invoke, ordered, pinned)
            if plan is None:
                continue  # no step was late: the order alone may still make the difference
            slow = execute(self.t, self.seed, plan=plan, chooser=RecordingChooser(self.seed),
                           moments=facts.moments)
            self.runs += 1
            if self._same_ending(slow, facts):
                return True
        return self._callers_at_other_moments(facts) or self._other_schedules(facts)

    def _other_schedules(self, facts: RunFacts) -> bool:
        """Whether a fault-free run at another seed (another schedule of the
        same invocations) ends the same way: two calls raced with
        ``wait_completed`` or ``select`` end by whichever callee finishes first,
        and a crash that holds the caller back lets the first one finish before
        the second is called, as any schedule may. ``OTHER_SCHEDULES`` runs,
        made once for each moments of the world."""
        for k in range(1, OTHER_SCHEDULES + 1):
            key = (facts.moments, self.seed + k)
            if key not in self._scheduled:
                run = execute(self.t, self.seed + k, chooser=RecordingChooser(self.seed + k),
                              moments=facts.moments)
                self._scheduled[key] = run.outcome
            self.needed.add(("schedule", key))
            if not [d for d in self._scheduled[key].differences(facts.outcome)
                    if d.split(":", 1)[0] not in self.unstable]:
                return True
        return False

    def _callers_at_other_moments(self, facts: RunFacts) -> bool:
        """Whether a fault-free run ends the same way with the world's calls
        and sends in another order or one of them at another moment. Those
        are invocations of their own, and a crash drops and delays whichever
        were in flight: two callers racing to complete one promise may then
        finish in the other order, as they do when the world calls them so,
        with no fault to blame. Promises and awakeables the world completes
        keep their place and moment. At most 24 orders (4 callers)."""
        callers = [i for i in self.explored_events
                   if self.t.world[i].action in (CALL, SEND)]
        if not callers or len(callers) > 4 or len(facts.moments) != len(self.t.world):
            return False
        given = tuple(range(len(self.t.world)))
        cases: list[tuple[tuple[int, ...], tuple[str, ...]]] = []
        for order in itertools.permutations(callers):
            slots = list(given)
            for slot, i in zip(callers, order, strict=True):
                slots[slot] = i
            place = tuple(slots)
            moments = tuple(facts.moments[i] for i in place)
            cases.append((place, moments))
            if place == given:  # in the given order: each at another moment
                for i in callers:
                    cases += [(place, (*moments[:i], m, *moments[i + 1:]))
                              for m in MOMENTS if m != moments[i]]
        for place, moments in cases:
            if place == given and moments == facts.moments:
                continue
            key = (place, moments)
            if key not in self._reordered:
                t = replace(self.t, world=[self.t.world[i] for i in place])
                self._reordered[key] = execute(
                    t, self.seed, chooser=RecordingChooser(self.seed), moments=moments).outcome
            self.needed.add(("reordered", key))
            if self._same_outcome(self._reordered[key], facts):
                return True
        return False

    def _same_ending(self, a: RunFacts, b: RunFacts) -> bool:
        return self._same_outcome(a.outcome, b)

    def _same_outcome(self, outcome: Outcome, b: RunFacts) -> bool:
        return not [d for d in outcome.differences(b.outcome)
                    if d.split(":", 1)[0] not in self.unstable]

    def baseline(self, facts: RunFacts) -> RunFacts | Baseline | None:
        """What a run is compared with: the reference run, or, for a run whose
        world events came at other moments, the fault-free run at those moments
        (the world's timing may change the ending; only faults must not)."""
        if not facts.moments or facts.moments == self.ref_moments:
            return self.ref
        if facts.moments == self._moments_run and not facts.fired:
            if facts.moments not in self._baselines:  # it is that run
                self._baselines[facts.moments] = Baseline.of(facts)
            return facts
        if facts.moments not in self._baselines:
            self._baselines[facts.moments] = Baseline.of(execute(
                self.t, self.seed, chooser=RecordingChooser(self.seed), moments=facts.moments))
        self.needed.add(("moments", facts.moments))
        return self._baselines[facts.moments]

    def runs_made(self) -> int:
        """The runs of the check: those counted, and each fault-free baseline
        the runs needed once (``world_moments``'s own runs are counted already),
        whichever process ran it first, so that the count is the same for any
        ``jobs``."""
        extra = {key for key in self.needed
                 if key[0] != "moments" or key[1] not in self._moment_cases}
        return self.runs + len(extra)

    def judge(self, facts: RunFacts) -> list[Violation]:
        ref = self.baseline(facts)
        out = problem_violations(facts)
        stuck = stuck_violation(facts, None if ref is None else ref.outcome.finished_ms,
                                self.t.liveness_ms)
        dups = duplicate_violations(facts, None if ref is None else ref.outcome)
        dups += key_reuse_violations(facts)
        dups += repeated_call_violations(facts, None if ref is None else ref.outcome)
        out += dups
        out += invariant_violations(facts, self.t.invariant)
        out += retry_loop_violations(facts)
        # A handler bug stops its invocation: the changed outcome and the
        # unfinished invocation are its consequences, not separate findings.
        if any(v.kind not in ("duplicate-effect", "invariant", "nondeterministic-call",
                              "not-awaited")
               for v in out):
            stuck = None
        elif self.t.others:
            # (invocations that never finished end as no order does: the hang is the finding)
            lost = None if stuck is not None else self.serializable(facts)
            if lost is not None:
                out.append(lost)
        elif ref is not None and ref is not facts and not dups:
            changed = outcome_violation(facts, ref.outcome, self.unstable)
            if changed is not None:
                out.append(changed)
        if stuck is not None:
            out.append(stuck)
        check_exactly_once(facts)
        return out

    def serializable(self, facts: RunFacts) -> Violation | None:
        """Concurrent invocations must end as some one-at-a-time order of them
        ends: the same state and the same results (a lost update does not)."""
        if not facts.transparent or facts.stuck is not None:
            return None
        if facts.moments not in self._orders:
            self._orders[facts.moments] = sequential_endings(self.t, facts.moments)
        orders = self._orders[facts.moments]
        ending = concurrent_ending(facts.sim, self.t.externals)
        if ending in orders:
            return None
        delivered = None if self.t.world else messages_in_order(facts.sim, len(self.t.others) + 1)
        if delivered:
            # Each one-way message is an invocation of its own: the run is one at
            # a time too if the senders' one-at-a-time runs, their messages then
            # handled one at a time in the order this run handled them, end so.
            if delivered not in self._message_orders:
                self._message_orders[delivered] = messages_one_at_a_time(self.t, delivered)
            if ending in self._message_orders[delivered]:
                return None
        if self.drawn and self._one_at_a_time_but_drawn(facts, ending, delivered):
            return None
        if self.t.world and self._one_at_a_time_with_calls_after(facts, ending):
            return None
        if facts.fired:
            # Late, not interleaved: a timer that lost its race, or a callee that
            # ended before its caller's cancellation came, while a crashed caller
            # backed off, one at a time too: each invocation as late as in this
            # run and crashed where it crashed (a delay may be of a later attempt).
            same = FaultPlan(tuple(pin(point, f, True) for point, f in facts.fired))
            key = (facts.moments, str(same))
            if key not in self._delayed_orders:
                self._delayed_orders[key] = sequential_endings(self.t, facts.moments,
                                                               plan=same)
            if ending in self._delayed_orders[key]:
                return None
            # Each fault at the invocation it hit: a callee that ended while
            # the caller that set it going backed off from a crash, and the
            # crash at once came to the third caller, not the first.
            if self._one_at_a_time_with_own_faults(facts, ending):
                return None
        if self._one_at_a_time_at_other_schedules(facts, ending):
            return None
        clock = clock_reads(facts.sim)
        if clock and self._one_at_a_time_as_read(facts, ending, delivered, clock):
            return None
        import json

        n = len(self.t.others) + 1
        state = json.dumps(json.loads(ending)["state"], sort_keys=True)
        allowed = sorted({json.dumps(json.loads(e)["state"], sort_keys=True)
                          for e in orders})
        what = (f"state {state}, which no one-at-a-time order of them leaves (they leave "
                f"{' or '.join(allowed)}): a lost update?" if state not in allowed else
                "results no one-at-a-time order of them gives")
        if state not in allowed and _in_any_order(state) in {_in_any_order(a) for a in allowed}:
            # Nothing is missing: the same items, in another order.
            what = (f"state {state}, which no one-at-a-time order of them leaves (they leave "
                    f"{' or '.join(allowed)}): nothing is lost, but the same items are in "
                    f"another order, as when the invocations' calls to a key interleave")
        shown = [f"one at a time, {order}: {text}"
                 for text, order in sorted(orders.items(), key=lambda kv: kv[1])]
        return Violation(
            kind="not-serializable",
            message=f"{n} concurrent invocations left {what}",
            handler=self.t.invoke,
            details="\n".join([f"this run: {ending}"] + shown),
        )

    def _one_at_a_time_with_own_faults(self, facts: RunFacts, ending: str) -> bool:
        """Whether the run ends as a one-at-a-time order ends with each fault
        at the invocation it hit (``RunsOwnFaults``): three callers of one
        handler, the second crashing before its send and the third before its
        cancellation of what it sent, one at a time gave both crashes to the
        first caller in every order, and its callee never ran. Tried at the
        orders' own schedule (with the world's events also held, as in
        ``sequential_endings``'s ``calls_after``), then at
        ``OWN_FAULT_SCHEDULES`` others (which of a suspended caller and its
        callee runs first), made once for each moments of the world and
        faults."""
        mine = left_out(ending, facts.sim, self.drawn) if self.drawn else ending
        fired = str(facts.fired)
        own = partial(RunsOwnFaults, facts.fired)
        for k in range(OWN_FAULT_SCHEDULES + 1):
            key = (facts.moments, f"own {k} {fired}")
            if key not in self._delayed_orders:
                self._delayed_orders[key] = sequential_endings(
                    self.t, facts.moments, self.drawn, seed=k, explore=own,
                    ways=(False, True) if k == 0 else (False,))
                if k == 0 and self.t.world:
                    self._delayed_orders[key].update(sequential_endings(
                        self.t, facts.moments, self.drawn, explore=own, calls_after=True))
            if mine in self._delayed_orders[key]:
                return True
        return False

    def _one_at_a_time_but_drawn(self, facts: RunFacts, ending: str,
                                 delivered: tuple[Message, ...] | None) -> bool:
        """Whether the run ends as a one-at-a-time order ends but for what
        steps drew for themselves (a receipt's uuid, the global generator's
        draws in another order), left out on both sides."""
        mine = left_out(ending, facts.sim, self.drawn)
        moments = facts.moments
        if moments not in self._orders_left_out:
            self._orders_left_out[moments] = sequential_endings(self.t, moments, self.drawn)
        if mine in self._orders_left_out[moments]:
            return True
        if delivered:
            if delivered not in self._message_orders_left_out:
                self._message_orders_left_out[delivered] = messages_one_at_a_time(
                    self.t, delivered, self.drawn)
            if mine in self._message_orders_left_out[delivered]:
                return True
        # What the run made of them (a result ``f"at {t:.3f}"``) differs too:
        # each invocation is given its steps' values again (``drawn_values``),
        # once a run, as they differ in every run.
        values = drawn_values(facts.sim, self.drawn)
        if not values:
            return False
        if mine in sequential_endings(self.t, moments, self.drawn, values=values):
            return True
        return bool(delivered) and mine in messages_one_at_a_time(
            self.t, delivered or (), self.drawn, values=values)

    def _one_at_a_time_with_calls_after(self, facts: RunFacts, ending: str) -> bool:
        """Whether the run ends as a one-at-a-time order ends with some of the
        world's calls and sends made after every caller has ended
        (``sequential_endings``'s ``calls_after``), made once for each
        moments of the world."""
        if facts.moments not in self._orders_calls_after:
            self._orders_calls_after[facts.moments] = set(sequential_endings(
                self.t, facts.moments, self.drawn, calls_after=True))
        mine = left_out(ending, facts.sim, self.drawn) if self.drawn else ending
        return mine in self._orders_calls_after[facts.moments]

    def _one_at_a_time_at_other_schedules(self, facts: RunFacts, ending: str) -> bool:
        """Whether the run ends as a one-at-a-time order ends at another
        schedule: an invocation that races two calls of its own
        (``wait_completed``, ``select``) ends by whichever callee finishes
        first, at once as one at a time; the orders at one schedule gave each
        one outcome of the race, and two greeters at once both answered by the
        same model were no order's. ``OTHER_SCHEDULES`` schedules (four times
        as many for three invocations or more), each made once for each
        moments of the world. Only with each invocation running with all it
        set going before the next starts: run only until it ends, what it set
        going (two senders' messages) runs beside the next ones, which some
        schedules interleave as the run at once did, a lost update taken for
        an order."""
        mine = left_out(ending, facts.sim, self.drawn) if self.drawn else ending
        # (each invocation's race is its own: more invocations, more schedules)
        schedules = OTHER_SCHEDULES * (1 if not self.t.others or len(self.t.others) < 2 else 4)
        for k in range(1, schedules + 1):
            key = (facts.moments, k)
            if key not in self._orders_scheduled:
                self._orders_scheduled[key] = set(sequential_endings(
                    self.t, facts.moments, self.drawn, seed=k, ways=(False,)))
                if self.t.world:
                    self._orders_scheduled[key].update(sequential_endings(
                        self.t, facts.moments, self.drawn, seed=k, calls_after=True,
                        ways=(False,)))
            if mine in self._orders_scheduled[key]:
                return True
        return False

    def _one_at_a_time_as_read(self, facts: RunFacts, ending: str,
                               delivered: tuple[Message, ...] | None,
                               clock: dict[tuple[str, int], float]) -> bool:
        """Whether the run ends as a one-at-a-time order ends when each
        invocation reads the clock (``ctx.time()``) as it read it in this run:
        run one at a time, each waits for those before it and for their
        crashed attempts' backoff, and a result or state that holds the time
        differs in every order. Tried fault-free, then under the run's own
        faults, then with its messages handled one at a time; what steps drew
        for themselves is left out as before."""
        mine = left_out(ending, facts.sim, self.drawn) if self.drawn else ending
        reads = tuple(sorted(clock.items()))
        plans: list[FaultPlan | None] = [None]
        if facts.fired:
            plans.append(FaultPlan(tuple(pin(point, f, True) for point, f in facts.fired)))
        for plan in plans:
            key: tuple[Any, str, tuple[Any, ...]] = (facts.moments, str(plan), reads)
            if key not in self._orders_as_read:
                self._orders_as_read[key] = set(sequential_endings(
                    self.t, facts.moments, self.drawn, plan, clock))
            if mine in self._orders_as_read[key]:
                return True
        if delivered:
            sent: tuple[Any, str, tuple[Any, ...]] = (delivered, "messages", reads)
            if sent not in self._orders_as_read:
                self._orders_as_read[sent] = messages_one_at_a_time(
                    self.t, delivered, self.drawn, clock)
            if mine in self._orders_as_read[sent]:
                return True
        return False

    def _decorate(self, v: Violation, facts: RunFacts) -> None:
        v.fault_plan = FaultPlan(tuple(pin(p, f, self.ambiguous) for p, f in facts.fired))
        v.seed = facts.seed
        if facts.moments and facts.moments != self.ref_moments:
            # The world's moments are part of the case: pinned in the events
            # the reproducers print, and carried in the blob.
            v.moments = list(facts.moments)
            v.world = [ev.pinned(m) if ev.explored and m != self.ref_moments[i] else ev
                       for i, (ev, m) in enumerate(zip(self.t.world, facts.moments,
                                                       strict=True))]
        v.timeline = facts.sim.trace()
        v.events = facts.sim.trace_events()
        v.step_runs = dict(facts.outcome.step_runs)
        if v.handler is None:
            v.handler = self.t.invoke
        if v.source is None and v.step is not None:
            v.source = _step_source(self.t.services, v.handler, v.step)

    def _account(self, facts: RunFacts) -> None:
        for rec in facts.records:
            self.reached.add(f"{rec.service}/{rec.handler}")
        if facts.handle is not None:
            self.paths.add(self._path(facts))
        for point, fault in facts.fired:
            self.fired[fault.kind] += 1
            if point is not None:
                phase = LOSE_RESPONSE if fault.kind == LOSE_RESPONSE else point.phase
                self.exercised.add((phase, point.target, point.index))
        self.closure_runs += len(facts.step_log)
        # (a closure's re-runs: its runs after the first, whatever its name)
        self.reruns += facts.reruns
        for (_, _, name), n in facts.closures.items():
            if n > self.step_runs.get(name, 0):
                self.step_runs[name] = n
        for msg, s in facts.collector.sometimes.items():
            seen = self.sometimes.setdefault(msg, Sometimes(msg, s.source))
            seen.reached += s.reached
            seen.true += s.true

    def _path(self, facts: RunFacts) -> tuple[str, ...]:
        """A run's path: its invocation's commands, described. Made once for
        each kind, name and payload of every entry (``RunFacts.entries``),
        which are all a command's description reads (most runs of a phase
        end with the reference run's commands: half the time of describing
        them)."""
        key = facts.entries
        path = self._path_of.get(key)
        if path is None:
            assert facts.handle is not None
            path = self._path_of[key] = tuple(
                describe(e) for e in stored_journal(facts.sim.store, facts.handle.id)
                if e[KIND] in COMMAND_KINDS)
        return path

    def _commands(self, facts: RunFacts) -> tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...]:
        """``_commands(facts)``; of a run of one invocation, made once for
        each target and ``RunFacts.entries`` (its commands' are among them)."""
        records = facts.records
        if len(records) != 1 or facts.handle is None or records[0].id != facts.handle.id:
            return _commands(facts)
        key = (records[0].target, facts.entries)
        path = self._commands_of.get(key)
        if path is None:
            path = self._commands_of[key] = ((key[0], tuple(
                e for e in key[1] if e[KIND] in COMMAND_KINDS)),)
        return path

    def keep(self, violations: Iterable[Violation], found_by: str) -> list[Violation]:
        new = []
        for v in violations:
            if v.kind not in self.found:
                v.found_by = found_by
                self.found[v.kind] = v
                new.append(v)
        return new

    # -- phases ------------------------------------------------------------------
    def reference(self) -> list[FaultPoint]:
        recorder = RecordingExplorer()
        facts, violations = self.run(self.seed, chooser=RecordingChooser(self.seed),
                                     explorer=recorder,
                                     again=lambda: (RecordingChooser(self.seed),
                                                    None if self.recorder_unseen
                                                    else RecordingExplorer()),
                                     label="reference")
        self.ref = facts
        wrong = facts.world_problems + unknown_promises(facts.sim, self.t.world)
        if wrong:
            raise WorldError("the world events do not fit the fault-free run:\n  "
                             + "\n  ".join(wrong))
        self.horizon_ms = _longest_timer_ms(facts)
        if not self.t.world:
            hint = _world_hint(facts.sim)
            if hint:
                self.notes.add(hint)
        self.bounds = recorder.bounds
        self.compensating_points = recorder.compensating_points
        self.ref_record = ReferenceRecord(recorder.points, recorder.compensating_at,
                                          recorder.decided, recorder.failed_at)
        self.keep(violations, "the fault-free reference run")
        # A single fault's run may be strict from its fault on only where the
        # reference run, which it is until then, found nothing (``StrictFromCrash``),
        # and where no world event comes (one that comes once the run reaches
        # something may come elsewhere without the fused paths).
        self.strict_from_fault = (self.t.strict and not violations
                                  and not facts.sim.problems and self.recorder_unseen)
        points = []
        seen = set()
        for p in recorder.points:
            key = (p.phase, p.invocation, p.index, p.attempt)
            if key in seen:
                continue
            seen.add(key)
            points.append(p)
            self._names.setdefault((p.name, p.index), set()).add(p.target)
            phase = LOSE_RESPONSE if p.phase == LOSE_RESPONSE else p.phase
            self.points.add((phase, p.target, p.index))
        return points

    def hopeless(self) -> str | None:
        """Why exploring faults is pointless after this reference run, if it is:
        it never ends, or a bug makes every attempt fail the same way."""
        ref = self.ref
        if ref is None:
            return None
        if ref.stuck is not None:
            return ("faults were not explored: the fault-free run never ends (each fault "
                    "point of it would be another run that never ends)")
        if "retry-loop" in self.found:
            return ("faults were not explored: without faults every attempt already fails "
                    "the same way")
        if any(p.detail.startswith("time.sleep()") for p in ref.sim.problems):
            return ("faults were not explored: the handler blocks in time.sleep() (each run "
                    "would block for real again)")
        return None

    def strict_from(self, case: Fault | tuple[Fault, ...]
                    ) -> Callable[[], StrictFromCrash] | None:
        """What makes the switch of a single fault's run strict from its fault
        on, if it may be (``strict_from_fault``): a crash's, a failed step's;
        None for the others and for two faults."""
        if not self.strict_from_fault or isinstance(case, tuple):
            return None
        if case.kind == CRASH and STRICT_FROM_CRASH:
            return StrictFromCrash
        if case.kind in (FAIL, TERMINAL) and STRICT_FROM_FAILURE:
            return partial(StrictFromFailure, case)
        return None

    def single_fault_cases(self, points: Sequence[FaultPoint]
                           ) -> list[Fault | tuple[Fault, ...]]:
        """Every single fault at the reference run's points, crashes first."""
        many = self.ambiguous
        cases: list[Fault] = []
        for p in points:
            if p.phase in CRASH_PHASES:
                cases.append(pin(p, Fault(CRASH, phase=p.phase), many))
            elif p.phase == STEP_PHASE:
                cases.append(pin(p, make_fault(FAIL, p), many))
                if (p.invocation, p.index, p.attempt) not in self.compensating_points:
                    # (after a cancellation: compensation, failed for good already)
                    cases.append(pin(p, make_fault(TERMINAL, p), many))
                if self.horizon_ms:  # late past the handler's longest timer: races flip
                    cases.append(pin(p, Fault(DELAY, by_ms=self.horizon_ms + 1_000), many))
            elif p.phase == LOSE_RESPONSE:
                lost = pin(p, make_fault(LOSE_RESPONSE, p), many)
                cases.append(lost)
                # A step with its own retry limit gives up after its effect only
                # when every attempt loses the response: one fault plan, with
                # as many firings as the step has attempts.
                bound = self.bounds.get((p.target, p.index), 1)
                if bound > 1 and (p.invocation, p.index, p.attempt) not in self.compensating_points:
                    cases.append(replace(lost, attempt=None, times=bound))
            elif p.phase == TIMER:
                cases.append(pin(p, make_fault(DELAY, p), many))
        # Crashes first: they are the faults a handler must survive above all.
        cases.sort(key=lambda f: f.kind != CRASH)
        return list(cases)

    def compensation_found(self, terminal: Fault, recorder: RecordingExplorer
                           ) -> list[tuple[Fault, Fault]]:
        """After a failure for good, a crash once each compensating step
        applied its effect: a refund without an idempotency key is applied
        twice only then, two faults deep, which the generated examples seldom
        combine. Read from the failure's own run, which records its points
        (``run_single_faults``): the run that finds the compensation is the one
        judged, not a second one."""
        out: list[tuple[Fault, Fault]] = []
        many = self.ambiguous
        crashed: set[tuple[str, int]] = set()
        for p in recorder.points:
            if (p.phase == EFFECT_DONE and (p.invocation, p.index) not in crashed
                    and (p.invocation, p.index, p.attempt) in recorder.compensating_points):
                # Once per compensating step: a step failing every attempt
                # (retried 70 times) made 70 cases, each its 70 attempts again.
                crashed.add((p.invocation, p.index))
                out.append((terminal, pin(p, Fault(CRASH, phase=p.phase), many)))
        return out

    def compensation_cases(self) -> list[Fault | tuple[Fault, ...]]:
        """The crashes in a compensation the single faults' failures for good
        found (``compensations``), in the order of their failures: the
        second stage of the phase, the same list in every process."""
        return [pair for i in sorted(self.compensations) for pair in self.compensations[i]]

    def moment_cases(self) -> list[tuple[str, ...]]:
        """Each explored world event early, then late, the others as in the
        reference; with two callers at once or more, each explored world
        call or send queued on their key (``_queued_with_callers``) also
        submitted after the first K of them and before the others, for each K
        short of all (``after-K``; one at a time, once K of them have ended):
        at once, early comes after every caller was submitted, so on their key
        a call never came between two of them (``BETWEEN_CALLERS``: at most
        that many callers)."""
        out = []
        callers = len(self.t.others) + 1
        between = ([after(k) for k in range(1, callers)]
                   if 2 <= callers <= BETWEEN_CALLERS else [])
        queued = self._queued_with_callers() if between else set()
        for i in self.explored_events:
            for moment in (EARLY, LATE, *(between if i in queued else ())):
                moments = list(self.ref_moments)
                moments[i] = moment
                out.append(tuple(moments))
        return out

    def _queued_with_callers(self) -> set[int]:
        """The world's first event (index 0), if it is an explored call or send
        queued on the key of every caller at once: an exclusive handler of the
        object or workflow whose exclusive handler each caller is. Submitted
        between them, such a call runs between them, at once as one at a time;
        any other runs as soon as it is submitted, before the callers run (as
        an early one does)."""
        if 0 not in self.explored_events:
            return set()
        probe = Simulation(self.t.services, seed=0)
        try:
            def queue(target: str) -> tuple[str, str] | None:
                try:
                    service, key, handler = parse_target(target)
                    spec = probe.engine.registry.resolve(service, handler, key)
                except SimdurableError:
                    return None
                return (service, key) if key is not None and spec.exclusive else None

            callers = {queue(target) for target in [self.t.invoke, *(o[0] for o in self.t.others)]}
            if len(callers) != 1 or None in callers:
                return set()
            # (the first world event only: the events keep their order, and one
            # submitted between the callers would come before those given before it)
            first = self.t.world[0]
            return ({0} if first.action in (CALL, SEND) and first.target
                    and queue(first.target) in callers else set())
        finally:
            probe.close()

    def world_moments(self) -> int:
        """The fault-free run with each world event at its other moments: a
        handler that breaks when the link is clicked before it waits, or after
        its timeout, is found here without any fault."""
        self.phase = "the world's moments"
        cases = self.moment_cases()
        self.moment_runs = len(cases)
        self._moment_cases = set(cases)
        found_by = (f"the world's moments ({len(cases)} fault-free runs, each world event "
                    f"early and late" + (", each world call between callers"
                                         if any(after_count(m) for c in cases for m in c)
                                         else "") + ")")
        for moments in cases:
            self._moments_run = moments
            try:
                _, violations = self.run(self.seed, chooser=RecordingChooser(self.seed),
                                         again=lambda: (RecordingChooser(self.seed), None),
                                         moments=moments)
            finally:
                self._moments_run = None
            self.keep(violations, found_by)
        return len(cases)

    def draw_moments(self, draw: Callable[[int], int]) -> tuple[str, ...] | None:
        """Each explored event's moment, drawn (index 0, ``waiting``, is what
        shrinking goes to); None when the world has nothing to explore, so that
        such checks draw exactly what they drew before."""
        if not self.explored_events:
            return None
        moments = list(self.ref_moments)
        for i in self.explored_events:
            moments[i] = MOMENTS[draw(len(MOMENTS))]
        return tuple(moments)

    def single_faults(self, points: Sequence[FaultPoint]) -> int:
        """The phase in one process: the single faults, then the crashes in a
        compensation their failures for good found (``end_single_faults``)."""
        cases: list[Fault | tuple[Fault, ...]] = list(self.single_fault_cases(points))
        with caller_rng(self.t):
            self.run_single_faults(cases, 0, len(cases), False)
            singles = len(cases)
            cases += self.compensation_cases()
            if len(cases) > singles:
                self.run_single_faults(cases, singles, len(cases))
            self.end_single_faults(singles, len(cases))
        return len(cases)

    def run_single_faults(self, cases: Sequence[Fault | tuple[Fault, ...]], start: int,
                          stop: int, last: bool = True) -> None:
        """Run single faults ``start`` to ``stop`` (a part of the phase, in order).

        ``cases``: the single faults, and after them the crashes in a
        compensation, once their failures for good have run (``last``: the
        list is whole, its end is the phase's). A failure for good records
        its run's points, for the compensation it finds (``compensations``)."""
        self.phase = "single faults"
        pairs = sum(isinstance(case, tuple) for case in cases)
        found_by = single_faults_found_by(len(cases) - pairs, pairs)
        for i in range(start, stop):
            case = cases[i]
            terminal = not isinstance(case, tuple) and case.kind == TERMINAL
            recorder: RecordingExplorer | None = None
            if terminal and self.recorder_unseen:
                assert self.ref_record is not None
                recorder = FailureRecorder(self.ref_record)
            _, violations = self.run(self.seed, plan=FaultPlan(
                                         case if isinstance(case, tuple) else (case,)),
                                     chooser=RecordingChooser(self.seed), explorer=recorder,
                                     again=lambda: (RecordingChooser(self.seed), None),
                                     strict_from=self.strict_from(case))
            if terminal:
                assert not isinstance(case, tuple)
                if recorder is None:
                    # (a run of its own, recording from the start, not judged)
                    recorder = RecordingExplorer()
                    execute(self.t, self.seed, FaultPlan((case,)), RecordingChooser(self.seed),
                            recorder, "compensation")
                found = self.compensation_found(case, recorder)
                if found:
                    self.compensations[i] = found
            self.keep(violations, found_by)
            # At fixed places of the list, so that any slicing of it (jobs=N)
            # runs the same; its end's once the list is whole (``end_single_faults``).
            if (i + 1) % SELF_CHECK_EVERY == 0 or (last and i + 1 == len(cases)):
                self.run_reference_again(f"single fault {i + 1} of {len(cases)}")

    def end_single_faults(self, singles: int, total: int) -> None:
        """After the phase's last part: the reference run again at the list's
        end if the single faults' end was not (no crash in a compensation
        followed them); and what the single faults found before the list was
        whole named by the whole list, as though it had been made first."""
        if total == singles and singles % SELF_CHECK_EVERY:
            self.run_reference_again(f"single fault {singles} of {singles}")
        if total == singles:
            return
        renamed = {single_faults_found_by(singles, 0): single_faults_found_by(
            singles, total - singles)}
        for k in range(SELF_CHECK_EVERY, singles + 1, SELF_CHECK_EVERY):
            renamed[f"single fault {k} of {singles}"] = f"single fault {k} of {total}"
        for v in self.found.values():
            if v.found_by in renamed:
                v.found_by = renamed[v.found_by]
            elif v.kind == "nondeterminism":  # (the reference run again: ``run_reference_again``)
                for before, after in renamed.items():
                    v.found_by = v.found_by.replace(f"after {before})", f"after {after})")
                    v.message = v.message.replace(f"after {before},", f"after {after},")

    # -- parts of a phase run elsewhere ------------------------------------------
    def reset_tally(self) -> None:
        """Forget what was counted and found, so that what follows is a delta."""
        self.runs = 0
        self.fired = Counter()
        self.reached = set()
        self.paths = set()
        self.exercised = set()
        self.step_runs = {}
        self.closure_runs = 0
        self.reruns = 0
        self.sometimes = {}
        self.notes = set()
        self.found = {}
        self.needed = set()
        self.compensations = {}

    def tally(self) -> dict[str, Any]:
        """What a part of a phase counted and found (after ``reset_tally``)."""
        return {"runs": self.runs, "fired": dict(self.fired), "reached": self.reached,
                "paths": self.paths, "exercised": self.exercised, "step_runs": self.step_runs,
                "closure_runs": self.closure_runs, "reruns": self.reruns,
                "sometimes": self.sometimes, "notes": self.notes, "needed": self.needed,
                "compensations": self.compensations,
                "found": list(self.found.values())}

    def merge(self, tally: dict[str, Any]) -> None:
        """Add a part's tally, as if the part had run here, after the parts before it."""
        self.runs += tally["runs"]
        self.compensations.update(tally["compensations"])
        self.fired.update(tally["fired"])
        self.reached |= tally["reached"]
        self.paths |= tally["paths"]
        self.exercised |= tally["exercised"]
        for name, n in tally["step_runs"].items():
            if n > self.step_runs.get(name, 0):
                self.step_runs[name] = n
        self.closure_runs += tally["closure_runs"]
        self.reruns += tally["reruns"]
        for msg, s in tally["sometimes"].items():
            seen = self.sometimes.setdefault(msg, Sometimes(msg, s.source))
            seen.reached += s.reached
            seen.true += s.true
        self.notes |= tally["notes"]
        self.needed |= tally["needed"]
        for v in tally["found"]:
            if v.kind not in self.found:
                self.found[v.kind] = v

    def seeded(self, max_examples: int) -> int:
        """The same exploration from a seeded RNG, for ``check`` inside a ``@given``
        test (Hypothesis forbids nesting); failures are minimized by ``_settle``."""
        rng = random.Random(self.seed ^ 0xC0FFEE)
        known = set(self.found)
        for n in range(1, max_examples + 1):
            seed = rng.getrandbits(32)
            chooser = RecordingChooser(seed)
            explorer = DataExplorer(random.Random(seed ^ 0xFA17).randrange, Swarm.from_seed(seed),
                                    delays_for(self.horizon_ms), bounds=self.bounds)

            def again(c: RecordingChooser = chooser, e: DataExplorer = explorer
                      ) -> tuple[Chooser, Explorer]:
                return ScriptedChooser(c.decisions), ScriptedExplorer(e.log)

            moments = self.draw_moments(random.Random(seed ^ 0x3017).randrange)
            facts, violations = self.run(seed, chooser=chooser, explorer=explorer, again=again,
                                         moments=moments)
            new = [v for v in violations if v.kind not in known]
            if new:
                new = [self._settle(v, facts, chooser) for v in new]
                self.keep(new, f"example {n} of a seeded exploration (inside a Hypothesis "
                               f"test, so not shrunk by Hypothesis), minimized to the faults "
                               f"it needs")
                known |= {v.kind for v in new}
            if n % SELF_CHECK_EVERY == 0 or n == max_examples:
                self.run_reference_again(f"example {n} of a seeded exploration")
        return max_examples

    def hypothesis(self, max_examples: int, rounds: int = 3) -> int:
        """Hypothesis rounds, block after block (see ``example_blocks``)."""
        from hypothesis.control import currently_in_test_context

        self.phase = "generated examples"
        if currently_in_test_context():
            return self.seeded(max_examples)
        return sum(self.hypothesis_block(j, size, rounds)
                   for j, size in enumerate(example_blocks(max_examples)))

    def hypothesis_block(self, block: int, size: int, rounds: int = 3,
                         known: Iterable[str] = ()) -> int:
        """One block of examples: Hypothesis rounds from the block's own seed,
        each ending at a kind of violation not yet known, shrunk."""
        self.phase = "generated examples"
        examples = 0
        for _ in range(rounds):
            n, last = self._hypothesis_round(size, set(known) | set(self.found),
                                             block_seed(self.seed, block))
            examples += n
            if last is None:
                break
            facts, new, chooser, swarm = last
            new = [self._settle(v, facts, chooser) for v in new]
            self.keep(new, f"Hypothesis, shrunk to a minimal example (fault mix of that "
                           f"example: {swarm.describe()} faults)")
        self.run_reference_again(f"the examples of block {block + 1}")
        return examples

    def _hypothesis_round(self, max_examples: int, known: set[str], hypothesis_seed: int
                          ) -> tuple[int, Any]:
        from hypothesis import HealthCheck, Phase, Verbosity, settings, strategies as st
        from hypothesis.errors import Flaky, StopTest

        state: dict[str, Any] = {"n": 0, "last": None}
        seeds = st.integers(0, 2**32 - 1)

        def example(data: Any) -> None:
            conjecture = getattr(data, "conjecture_data", data)
            draw = fast_draw(data)
            seed = draw(seeds)
            moments = self.draw_moments(data_draw(data, draw))
            swarm = Swarm.from_seed(seed)
            chooser = DataChooser(data, seed, draw)
            explorer = DataExplorer(data_draw(data, draw), swarm, delays_for(self.horizon_ms),
                                    bounds=self.bounds)

            def again() -> tuple[Chooser, Explorer]:
                return ScriptedChooser(chooser.decisions), ScriptedExplorer(explorer.log)

            # Once an example failed Hypothesis is shrinking it: the twin runs are
            # skipped there, and the final example is replayed in ``_settle``.
            facts, violations = self.run(seed, chooser=chooser, explorer=explorer, again=again,
                                         rerun=state["last"] is None, moments=moments)
            state["n"] += 1  # an example that ran (not one Hypothesis dropped on its draws)
            if getattr(conjecture, "frozen", False):
                # It overran, and the handler swallowed the StopTest (see ``_span_draw``).
                raise StopTest(conjecture.testcounter)
            new = [v for v in violations if v.kind not in known]
            if new:
                state["last"] = (facts, new, chooser, swarm)
                raise _Found()

        chosen = settings(max_examples=max_examples, deadline=None, database=None,
                          phases=[Phase.generate, Phase.shrink], derandomize=False,
                          suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
                          report_multiple_bugs=False, print_blob=False)
        try:
            with _no_local_constants():
                if not _run_engine(example, chosen, hypothesis_seed):
                    _run_given(example, chosen, hypothesis_seed)
        except _Found:
            pass
        except Flaky:
            # Hypothesis replayed the failing example and it passed: the handler
            # behaves differently from run to run (the clock, a global). What was
            # seen stays in ``state`` and is judged again, from plan and seed.
            pass
        return state["n"], state["last"]

    def _settle(self, v: Violation, facts: RunFacts,
                chooser: DataChooser | RecordingChooser) -> Violation:
        """Make a Hypothesis failure replayable from plan and seed, and 1-minimal.

        The pinned plan is replayed with the example's seed alone; if that shows
        the violation, each fault is dropped in turn while it still does (the
        faults Hypothesis's shrinker could not remove without losing the
        alignment of later draws). Otherwise the schedule is kept with it.
        """
        kind, seed = v.kind, facts.seed

        def attempt(plan: FaultPlan) -> tuple[RunFacts, Violation] | None:
            run = execute(self.t, seed, plan, RecordingChooser(seed), moments=facts.moments)
            self.runs += 1
            found = [x for x in self.judge(run) if x.kind == kind]
            return (run, found[0]) if found else None

        best = attempt(v.fault_plan)
        if best is None:
            v.schedule = list(chooser.decisions)
            return v
        faults = list(v.fault_plan.faults)
        i = 0
        while i < len(faults):
            # Without fault i, the others may fire in an earlier attempt: unpin
            # their attempts, then pin them again where they fired.
            rest = [replace(f, attempt=None) for f in faults[:i] + faults[i + 1:]]
            trial = attempt(FaultPlan(tuple(rest)))
            if trial is None:
                i += 1
            else:
                best = trial
                faults = [pin(p, f, self.ambiguous) for p, f in trial[0].fired]
        run, found = best
        self._decorate(found, run)
        found.schedule = None
        return found

    def sometimes_violations(self) -> list[Violation]:
        out = []
        for s in self.sometimes.values():
            if s.true == 0:
                out.append(Violation(
                    kind="invariant",
                    message=f"sometimes({s.message!r}) was never true: reached {s.reached} "
                            f"times in {self.runs_made()} runs, false every time",
                    source=s.source, handler=self.t.invoke, seed=self.seed,
                    hint="no single run shows this; run the same check again (same seed) to "
                         "see it, and make a run reach the condition to fix it",
                ))
        return out

    # -- the report ------------------------------------------------------------------
    def report(self, single: int, examples: int) -> Report:
        violations = sorted(self.found.values(),
                            key=lambda v: KIND_ORDER.index(v.kind) if v.kind in KIND_ORDER
                            else len(KIND_ORDER))
        for v in violations:
            finish(v, self.t)
        return Report(
            target=self.t.invoke, input=self.t.input, seed=self.seed, violations=violations,
            reference="" if self.ref is None else reference_ending(self.ref),
            paths=len(self.paths), reached=sorted(self.reached),
            world=[ev.describe() for ev in self.t.world], moment_runs=self.moment_runs,
            concurrent=[f"{target}({_short_json(value)})" for target, value in
                        [(self.t.invoke, self.t.input)] + self.t.others]
            if self.t.others else [],
            runs=self.runs_made(), examples=examples, single_faults=single,
            fault_points=len(self.points),
            fault_points_exercised=len(self.points & self.exercised),
            faults_fired=dict(self.fired), step_runs=dict(sorted(self.step_runs.items())),
            closure_runs=self.closure_runs, reruns_explained=self.reruns,
            notes=sorted(self.notes),
        )


@contextmanager
def _no_local_constants() -> Iterator[None]:
    """Hypothesis without the constants it collects from the project's imported modules.

    Hypothesis mixes into its draws the constants of every non-library module
    imported so far, so the examples of a seed would change with an unrelated
    import, and differ between a test session and a worker process. Without
    them, the same seed gives the same examples in any process.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without them
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if original is None or cache is None or not hasattr(providers, "Constants"):
        yield
        return
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.cache.clear()


def _engine_fits(runner: Any) -> bool:
    """Whether Hypothesis's engine takes what ``_run_engine`` gives it (its
    internals change between versions: 6.100 replayed a case from bytes)."""
    import inspect

    try:
        made = inspect.signature(runner).parameters
        replay = inspect.signature(runner.new_conjecture_data).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return ({"settings", "random", "database_key"} <= set(made)
            and "max_choices" in replay and callable(getattr(runner, "run", None)))


class _Found(Exception):
    """An example found a kind of violation not known yet (Hypothesis shrinks it)."""


def _run_given(example: Callable[[Any], None], chosen: Any, hypothesis_seed: int) -> None:
    """Run the examples through ``@given``: what ``_run_engine`` does, the public way."""
    from hypothesis import given, seed as hseed, strategies as st

    def test(data: Any) -> None:
        example(data)

    chosen(hseed(hypothesis_seed)(given(st.data())(test)))()


def _run_engine(example: Callable[[Any], None], chosen: Any, hypothesis_seed: int) -> bool:
    """Run the examples on Hypothesis's engine itself, as ``@given`` would.

    ``@given`` wraps every test case in what a user's test needs and a check
    does not (a build context, settings, a reseeded global RNG, timing and
    deadlines, the test's source read for its database key): about a third
    of Hypothesis's own time per example. The engine gets the same settings
    and the same random seed, each test case draws ``st.data()`` first as
    ``@given`` does, a new kind of violation marks the case interesting as a
    failing test would, and the smallest failing case is run once more at the
    end, as ``@given`` replays it to report it: the same examples in the same
    order, the same shrinking. False (nothing run) on a Hypothesis whose
    engine does not look like this; ``_run_given`` then runs them.
    """
    try:
        from hypothesis import strategies as st
        from hypothesis.errors import StopTest
        from hypothesis.internal.conjecture.engine import ConjectureRunner
        from hypothesis.internal.escalation import InterestingOrigin
    except ImportError:  # pragma: no cover - another Hypothesis
        return False
    if not _engine_fits(ConjectureRunner):
        return False
    strategy = st.data()

    def test_function(data: Any) -> None:
        data.draw(strategy)
        try:
            example(data)
        except _Found as err:
            data.mark_interesting(InterestingOrigin.from_exception(err))

    runner = ConjectureRunner(test_function, settings=chosen,
                              random=random.Random(hypothesis_seed), database_key=None)
    runner.run()
    for case in list(runner.interesting_test_cases.values())[:1]:
        final = runner.new_conjecture_data(case.choices, max_choices=len(case.choices))
        try:
            test_function(final)
        except StopTest:
            pass
        finally:
            final.freeze()
    return True


# The self-check runs the reference run again after this many single faults or
# seeded examples, and after every block of generated examples.
SELF_CHECK_EVERY = 25


def _commands(facts: RunFacts) -> tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...]:
    """The commands every invocation of a run issued, in order: its path."""
    sim = facts.sim
    return tuple((rec.target, tuple((e[KIND], e[NAME], e[DATA])
                                    for e in stored_journal(sim.store, rec.id)
                                    if e[KIND] in COMMAND_KINDS))
                 for rec in facts.records)


def _on_the_way(path: tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...],
                ref: tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...]) -> bool:
    """Whether each invocation of ``path`` (``_commands``) issued the first
    commands the reference run's same invocation (by order and target) issued,
    no other: it stopped on the reference run's path."""
    if len(path) > len(ref):
        return False
    for (target, commands), (ref_target, ref_commands) in zip(path, ref, strict=False):
        if target != ref_target or commands != ref_commands[:len(commands)]:
            return False
    return True


# Generated examples come in blocks of this many, each from its own seed, so
# that worker processes can share them out and the report stays the same
# whatever their number (docs/decisions.md, "Checks across cores").
EXAMPLES_PER_BLOCK = 25


def example_blocks(max_examples: int) -> list[int]:
    """The sizes of the blocks ``max_examples`` examples are run in."""
    return [min(EXAMPLES_PER_BLOCK, max_examples - i)
            for i in range(0, max_examples, EXAMPLES_PER_BLOCK)]


def block_seed(seed: int, block: int) -> int:
    """Hypothesis's seed for one block: the check's own seed for the first."""
    return seed + block * 2**32


def _short_json(value: Any) -> str:
    import json

    text = json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."


def _in_any_order(state_json: str) -> str:
    """``state_json`` with every list sorted: equal for states that hold the
    same items, each list in its own order."""
    import json

    def norm(v: Any) -> Any:
        if isinstance(v, list):
            return sorted((norm(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v

    return json.dumps(norm(json.loads(state_json)), sort_keys=True)


def concurrent_ending(sim: Simulation, externals: Sequence[FakeExternal] = ()) -> str:
    """What a run of concurrent invocations left: state and results, as text.

    State keys holding ``[]``, ``{}`` or ``null`` are left out, as unset keys are.

    A fake external's receipt ids (``bank-1``, ``bank-2``) number its effects
    in the order it received them, an order no durable lock governs: which
    invocation got which id is left out (``bank-*``), as the effects are."""
    import json
    import re

    engine = sim.engine
    # A key holding an empty list or map, or null, reads as the key left unset
    # (``await ctx.get("queue") or []``): a queue emptied again is no lost update.
    state = {f"{r.service}/{r.key}": {k: v for k, v in sim.state(r.service, r.key).items()
                                      if v not in ([], {}, None)}
             for r in engine.records() if r.key is not None}
    results = []
    for rec in engine.records():
        raw = rec.result
        ending = (None if raw is None else
                  raw.data.decode("utf-8", "replace") if isinstance(raw, Value)
                  else f"error {raw.code}: {raw.message}")
        results.append(f"{rec.target} -> {ending}")
    receipts = sorted({e.receipt for ext in externals for e in ext.effects}, key=len,
                      reverse=True)
    if receipts:
        issued = re.compile("|".join(f"(?<![\\w-]){re.escape(r)}(?!\\w)" for r in receipts))
        results = [issued.sub(lambda m: m.group().rpartition("-")[0] + "-*", r)
                   for r in results]
    return json.dumps({"state": state, "results": sorted(results)}, sort_keys=True,
                      default=repr)


# Callers at once up to which a world call is tried between them (``moment_cases``):
# one fault-free run for each K short of all.
BETWEEN_CALLERS = 8

# Schedules besides the seed's at which the orders with each fault at its own
# invocation are tried (``_one_at_a_time_with_own_faults``).
OWN_FAULT_SCHEDULES = 4

# Fault-free runs at other seeds an outcome change is compared with (``_race``).
OTHER_SCHEDULES = 8


def sequential_endings(t: Target, moments: Sequence[str] | None = None,
                       drawn: frozenset[Path] = frozenset(),
                       plan: FaultPlan | None = None,
                       clock: dict[tuple[str, int], float] | None = None,
                       seed: int = 0, calls_after: bool = False,
                       ways: tuple[bool, ...] = (False, True),
                       values: dict[tuple[str, int], tuple[str, bytes]] | None = None,
                       explore: Callable[[], Explorer] | None = None,
                       ) -> dict[str, str]:
    """Each distinct ending of the invocations run one at a time, in every order.

    With world events, each invocation runs with the events that come while it
    does (at their ``moments``) until it ends; the next takes the next events.
    ``drawn``: items of step values left out (``_step_values.left_out``).
    ``plan``: faults each run has (a concurrent run's delays).
    ``clock``: what ``ctx.time()`` reads, by invocation and journal index
    (``_step_values.clock_reads``). ``seed``: the schedule of what each
    invocation runs at once within itself (two calls it races).
    ``calls_after``: instead, the orders with some of the world's calls and
    sends made after every caller has ended (below). ``ways``: which of the
    two ways each invocation runs alone (``own_only``, below) are run.
    ``values``: what steps that drew for themselves return, by invocation and
    journal index (``_step_values.drawn_values``). ``explore``: makes each
    run's explorer, its faults asked at each point (``RunsOwnFaults``)."""
    import itertools

    calls = [(t.invoke, t.input)] + list(t.others)
    callers = _callers_at_once(t)
    out: dict[str, str] = {}
    # Each invocation runs alone in two ways: with everything it set going
    # (the delayed sends it made fire before the next one starts), and only
    # until it ends itself (its delayed sends fire after the later ones: two
    # quick calls to an object both come before the expiry each one scheduled).
    # The world's calls and sends that come early or once the run waits are
    # invocations of their own: at once, they come after every caller was
    # submitted (on a key, queued behind them all), or once the callers at once
    # wait; one at a time, they came within the first caller's turn, or at the
    # first wait of any caller. ``calls_after`` tries each of them once every
    # caller has ended instead (every non-empty subset of them, up to four).
    # They also come all at once in a later caller's turn (the second or
    # after), at their moments within it (``WorldDriver.release``): at
    # once, a fault that held the third caller back (a step delayed past the
    # world's clock advance) had the world read a shared handler while it
    # waited, the first two callers done; one at a time it read in the first
    # turn or after the last, never then.
    helds: list[tuple[tuple[int, ...], int | None]] = [((), None)]
    if calls_after:
        given = moments_of(t.world, moments)
        movable = [i for i, (ev, m) in enumerate(zip(t.world, given, strict=True))
                   if m in (EARLY, WAITING) and ev.action in (CALL, SEND)
                   and ev.at_ms is None][:4]
        helds = [(chosen, None) for k in range(1, len(movable) + 1)
                 for chosen in itertools.combinations(movable, k)]
        # (every event of those moments, not only calls: the clock's advance
        # that at once let the first callers end and held the third back)
        waited = tuple(i for i, (ev, m) in enumerate(zip(t.world, given, strict=True))
                       if m in (EARLY, WAITING) and ev.at_ms is None)
        if waited:
            helds += [(waited, turn) for turn in range(2, len(calls) + 1)]
    for (held, release), order, own_only in itertools.product(
            helds, sorted(set(itertools.permutations(range(len(calls))))), ways):
        with fresh_world(t, 0):
            sim = Simulation(t.services, seed=seed, strict=False, externals=t.externals,
                             retry_policy=t.retry_policy, max_steps=t.max_steps, faults=plan)
            if explore is not None:
                sim.injector.explore = explore()
            if clock:
                sim.engine.clock_pins = clock
            if values:
                _pin_values(sim, values)
            _ids_past(sim, callers)
            try:
                driver = WorldDriver(t.world, moments, held, release) if t.world else None
                handle = None
                for n, i in enumerate(order):
                    handle = _invoke_as(sim, callers[i])
                    if driver is None:
                        _run_alone(sim, handle.id, own_only)
                    else:
                        later = {(callers[j][0], callers[j][2]) for j in order[n + 1:]}
                        driver.drive(sim, handle, until_done=[handle.id], own_only=own_only,
                                     later=later - {(callers[i][0], callers[i][2])})
                if driver is not None and handle is not None:
                    driver.drive(sim, handle)
                else:
                    sim.run()
            finally:
                sim.close()
        ending = concurrent_ending(sim, t.externals)
        if drawn:
            ending = left_out(ending, sim, drawn)
        out.setdefault(ending, " then ".join(calls[i][0] for i in order))
    return out


def _pin_values(sim: Simulation, values: dict[tuple[str, int], tuple[str, bytes]]) -> None:
    """``sim``'s steps at ``values``' places return the values given there
    (``Engine.value_pins``, read on ``run_typed``'s general way)."""
    engine = sim.engine
    engine.value_pins = values
    engine.issue_step = None


# One one-way message a concurrent invocation sent: which of them (by position,
# the target first), the sender's target, the send's name and journal index.
Message = tuple[int, str, str, int]
# How far apart the messages arrive when handled one at a time (virtual ms):
# past anything the senders do first, and each message's own handling.
MESSAGE_GAP_MS = 10**9


def _sent(sim: Simulation, senders: int) -> dict[str, Message]:
    """The one-way messages the first ``senders`` invocations of ``sim`` (the
    target and ``concurrent``'s others, as submitted) sent, by the id of the
    invocation each one is."""
    records = sorted(sim.engine.records(), key=lambda r: r.seq)
    children: set[str] = set()
    for rec in records:
        children.update(e[REF] for e in stored_journal(sim.store, rec.id) if e[REF])
    top = [r for r in records if r.id not in children][:senders]
    sent: dict[str, Message] = {}
    for i, rec in enumerate(top):
        for index, e in enumerate(stored_journal(sim.store, rec.id)):
            if e[KIND] == SEND_ENTRY:
                sent[e[REF]] = (i, rec.target, e[NAME], index)
    return sent


def _started(sim: Simulation, invocations: Iterable[str]) -> list[str] | None:
    """``invocations`` in the order their first attempts started; None if one never did."""
    wanted = set(invocations)
    order = [inv for inv in dict.fromkeys(inv for _, _, inv, _ in sim.trace_events({"attempt"}))
             if inv in wanted]
    return order if len(order) == len(wanted) else None


def messages_in_order(sim: Simulation, senders: int) -> tuple[Message, ...] | None:
    """The messages the first ``senders`` invocations of ``sim`` sent, in the
    order their handlers started; None if there are none, or one never started."""
    sent = _sent(sim, senders)
    order = _started(sim, sent) if sent else None
    return None if order is None else tuple(sent[inv] for inv in order)


def messages_one_at_a_time(t: Target, delivered: Sequence[Message],
                           drawn: frozenset[Path] = frozenset(),
                           clock: dict[tuple[str, int], float] | None = None,
                           values: dict[tuple[str, int], tuple[str, bytes]] | None = None,
                           ) -> set[str]:
    """Each ending of the senders run one at a time, in every order, with the
    messages they sent then handled one at a time in the order of ``delivered``
    (each late in transit until its turn). A run where that is not what
    happened (a message's handling outlasted its turn, the senders sent
    others) is no such order, and its ending is left out."""
    import itertools

    calls = [(t.invoke, t.input)] + list(t.others)
    callers = _callers_at_once(t)
    position = {(m[0], m[3]): k for k, m in enumerate(delivered)}
    out: set[str] = set()
    for order in sorted(set(itertools.permutations(range(len(calls))))):
        # The plan's faults fire in order, each once: the senders' sends as they come.
        plan = FaultPlan(tuple(
            Fault(DELAY, step=name, index=index, phase=TIMER, target=target,
                  by_ms=MESSAGE_GAP_MS * (1 + position[(i, index)]))
            for i in order for sender, target, name, index in delivered if sender == i))
        with fresh_world(t, 0):
            sim = Simulation(t.services, seed=0, faults=plan, strict=False,
                             externals=t.externals, retry_policy=t.retry_policy,
                             max_steps=t.max_steps)
            if clock:
                sim.engine.clock_pins = clock
            if values:
                _pin_values(sim, values)
            _ids_past(sim, callers)
            try:
                for i in order:
                    handle = _invoke_as(sim, callers[i])
                    _run_alone(sim, handle.id, True)
                sim.run()
                sent = _sent(sim, len(calls))
                started = _started(sim, sent)
                if started is None or [(order[sent[inv][0]], sent[inv][3])
                                       for inv in started] != list(position):
                    continue
                runs = [sim.engine.record(inv) for inv in started]
                if any(a.finished_ms > b.run_at_ms for a, b in itertools.pairwise(runs)):
                    continue
                ending = concurrent_ending(sim, t.externals)
                out.add(left_out(ending, sim, drawn) if drawn else ending)
            finally:
                sim.close()
    return out


# A caller as a run at once submits it: service, handler, key, input, id.
Caller = tuple[str, str, str | None, bytes, str]


def _callers_at_once(t: Target) -> list[Caller]:
    """The target and ``concurrent``'s others as a run at once submits them,
    all before any runs. Run one at a time, each keeps the id it has there:
    an id counts the submissions before it (the calls and messages of the
    callers run first, too), and ``ctx.uuid()``, ``ctx.random()`` and the
    ids of awakeables and callees derive from it; with other ids, a caller
    that writes a uuid to an object leaves other state one at a time, and
    every run at once was taken for a lost update."""
    sim = Simulation(t.services, seed=0, strict=False)
    try:
        handles = [sim.invoke(target, value) for target, value in
                   [(t.invoke, t.input), *t.others]]
        records = [sim.engine.record(h.id) for h in handles]
    finally:
        sim.close()
    return [(r.service, r.handler, r.key, r.input, r.id) for r in records]


def _ids_past(sim: Simulation, callers: Sequence[Caller]) -> None:
    """Number ``sim``'s submissions from past the callers, as a run at once
    does: one at a time, a world event's call or a callee made before the
    next caller is submitted took that caller's id (an id counts the
    submissions before it), and the caller, submitted under it, then was
    that invocation: two increments at once beside a world call to the same
    key were left as one in every order, and the run reported as a lost
    update."""
    invocations = sim.engine.lifecycle.invocations
    invocations.seq = max(invocations.seq, len(callers))


def _invoke_as(sim: Simulation, caller: Caller) -> InvocationHandle:
    """Submit ``caller`` to ``sim`` under the id it has in a run at once."""
    service, handler, key, data, inv_id = caller
    new_id = sim.engine.lifecycle.submit(service, handler, key, data, 0, None, None, inv_id)
    return next(h for h in sim.invocations() if h.id == new_id)


def _run_alone(sim: Simulation, inv: str, own_only: bool) -> None:
    """Run until nothing can progress, or (``own_only``) until ``inv`` ended."""
    if not own_only:
        sim.run()
        return
    engine = sim.engine
    if engine.record(inv).status != COMPLETED:
        sim.run(stop=lambda: engine.record(inv).status == COMPLETED)


def _world_hint(sim: Simulation) -> str | None:
    """What to write when the fault-free run waits on the outside world and the
    check says nothing of it: in a check, nothing else resolves it."""
    engine = sim.engine
    waited = sorted((all(engine.record(inv).status == COMPLETED for inv, _ in who),
                     f"{w}/{k}:{n}")
                    for (w, k, n), who in engine.promises.waiters.items() if who)
    if waited:
        # A waiter that ended went on without the promise (a timeout won a select).
        ended, label = waited[0]
        still = not ended
        owner, _, name = label.partition(":")
        how = ("waits on" if still else
               "stopped waiting (a timeout, say) and ended without")
        return (f"the fault-free run {how} promise {name!r} of {owner}, which nothing in "
                f"a check resolves unless you say what the world does: "
                f"world=[simdurable.world.resolve_promise({name!r}, <value>)], or "
                f"--world '{{\"resolve_promise\": {{\"name\": \"{name}\", \"value\": ...}}}}'")
    if sim.awakeables():
        return ("the fault-free run waits on an awakeable, which nothing in a check "
                "resolves unless you say what the world does: "
                "world=[simdurable.world.resolve_awakeable(<value>)], or "
                "--world '{\"resolve_awakeable\": {\"value\": ...}}'")
    return None


def reference_ending(facts: RunFacts) -> str:
    """How the fault-free run ended: its result or error, or what it waits on."""
    outcome = facts.outcome
    if outcome.status in ("completed", "failed"):
        return f"{outcome.ending()} at {outcome.finished_ms / 1000:.3f}s"
    if facts.stuck is not None:
        return "did not finish: " + str(facts.stuck).splitlines()[0]
    if outcome.status == "paused":
        return outcome.ending()
    engine = facts.sim.engine
    waiting = [f"{rec.target} {engine.waiting_on(rec.id)}" for rec in engine.records()
               if rec.status != COMPLETED]
    return "did not finish: " + ("; ".join(waiting) or outcome.status)


def _step_source(services: Sequence[Any], target: str, step: str) -> str | None:
    """``file.py:line`` of the first line of the handler naming the step."""
    import inspect

    parts = target.split("/")
    service, handler = parts[0], parts[-1]
    for svc in native_services(services):
        if getattr(svc, "name", None) != service:
            continue
        h = getattr(svc, "handlers", {}).get(handler)
        fn = getattr(h, "fn", None)
        if fn is None:
            return None
        try:
            lines, start = inspect.getsourcelines(fn)
            filename = inspect.getsourcefile(fn) or "?"
        except (OSError, TypeError):
            return None
        short = os.path.basename(filename)
        for i, line in enumerate(lines):
            if f'"{step}"' in line or f"'{step}'" in line:
                return f"{short}:{start + i}"
        return f"{short}:{start}"
    return None


def finish(v: Violation, t: Target) -> None:
    """Fill in the program, the reproducer lines and the blob of a violation."""
    if v.hint:
        return
    modules = modules_of(t.services)
    services, named = services_source(t.services, modules)
    externals = python_names(t.externals, modules, "FakeExternal")
    imports = imports_for(named[:1])
    for name in [*named, *externals.strip("[]").split(", ")]:
        for m in imports_for([name]):
            if m not in imports:
                imports.append(m)
    world = t.world if v.world is None else v.world
    v.program = program(v.fault_plan, v.seed, services, externals, t.invoke, t.input,
                        t.strict, imports, world, t.others)
    case: dict[str, Any] = {"plan": str(v.fault_plan), "seed": v.seed, "invoke": t.invoke,
                            "kind": v.kind}
    if v.schedule is not None:
        case["schedule"] = v.schedule
    if v.moments is not None:
        case["moments"] = v.moments
    v.blob = encode_blob(case)
    extra = ""
    if t.setup is not None:
        extra += f", setup={name_of(t.setup, modules) or '<your setup>'}"
    if t.invariant is not None:
        extra += f", invariant={name_of(t.invariant, modules) or '<your invariant>'}"
    if t.externals:
        extra += f", externals={externals}"
    if world:
        extra += f", world={world!r}"
    if t.others:
        extra += f", concurrent={t.others!r}"
    if v.schedule is None:
        how = f"{str(v.fault_plan)!r}, seed={v.seed}"
    else:
        how = f"blob={v.blob!r}"
    v.python_line = (f"simdurable.replay({how}, services={services}, invoke={t.invoke!r}, "
                     f"input={t.input!r}{extra})")
    # Outside a test no pytest line can name an item that runs this check.
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    if nodeid and v.schedule is None and v.moments is None:
        v.pytest_line = (f"pytest {shlex.quote(nodeid)} --simdurable "
                         f"--simdurable-seed={v.seed} "
                         f"--simdurable-replay={shlex.quote(str(v.fault_plan))}")


def make_target(services: Sequence[Any], invoke: str, input: Any,
                externals: Sequence[FakeExternal], setup: Callable[[], object] | None,
                invariant: Callable[[Outcome], object] | None, strict: bool,
                retry_policy: InvocationRetryPolicy | None,
                liveness: timedelta | float | None, max_steps: int,
                world: Sequence[WorldEvent] = (),
                concurrent: int | Sequence[tuple[str, Any]] = 1) -> Target:
    if isinstance(services, (str, bytes)) or not isinstance(services, Iterable):
        raise TypeError("services must be a list of Service/VirtualObject/Workflow objects, "
                        f"not {type(services).__name__}")
    if not isinstance(invoke, str):
        raise TypeError(f'invoke must be a target string like "Greeter/greet", not {invoke!r}')
    services = listed(services)  # (an app's journal value codec kept)
    # Fail fast, in the runtime's own words, on services or a target that name nothing.
    probe = Simulation(services, seed=0)
    try:
        service, key, handler = parse_target(invoke)
        probe.engine.resolve(service, handler, key)
    except InvalidTargetError as err:
        raise InvalidTargetError(f"check(invoke={invoke!r}): {err}") from None
    externals = check_externals(externals)
    if setup is not None:
        if not callable(setup):
            raise TypeError(f"setup must be a callable run before every example, not {setup!r}")
        check_signature("setup", setup, "setup() taking no arguments", 0)
    if invariant is not None:
        if not callable(invariant):
            raise TypeError(f"invariant must be a callable(outcome), not {invariant!r}")
        check_signature("invariant", invariant, "invariant(outcome)", 1)
    if strict is not False and strict is not True:
        raise TypeError(f"strict must be True or False, not {strict!r}")
    if isinstance(world, (str, bytes, WorldEvent)) or not isinstance(world, Iterable):
        raise TypeError("world must be a list of simdurable.world events, "
                        f"not {type(world).__name__}")
    others = _others(concurrent, invoke, input)
    for target, _ in others:
        try:
            s_, k_, h_ = parse_target(target)
            probe.engine.resolve(s_, h_, k_)
        except InvalidTargetError as err:
            raise InvalidTargetError(f"check(concurrent=...): {err}") from None
    _refuse_as_ingress(probe, "check(input=...)", invoke, input)
    for target, value in others:
        _refuse_as_ingress(probe, "check(concurrent=...)", target, value)
    events = bind(list(world), invoke)
    for i, event in enumerate(events):
        if event.action in (CALL, SEND) and event.target is not None and not isinstance(
                event.value, FromEffect):
            _refuse_as_ingress(probe, f"check(world[{i}]: {event.action})", event.target,
                               event.value)
    return Target(services, invoke, input, list(externals), setup, invariant, strict,
                  retry_policy, to_ms(liveness, 3_600_000), max_steps, world=events,
                  others=others)


def _refuse_as_ingress(probe: Simulation, where: str, target: str, value: Any) -> None:
    """An input Restate's ingress refuses for ``target`` (one for a handler that
    takes none), refused before any run, naming ``where``: taken, every run
    stopped on it, deep inside the reference run."""
    refused = probe.ingress_refusal(target, value)
    if refused is not None:
        _, error, message = refused
        raise error(f"{where}: {message}")


MAX_CONCURRENT = 4


def _others(concurrent: int | Sequence[tuple[str, Any]], invoke: str, input: Any
            ) -> list[tuple[str, Any]]:
    """The invocations that run at once with the target."""
    if isinstance(concurrent, bool):
        raise TypeError(f"concurrent must be a count or a list of (target, input), "
                        f"not {concurrent!r}")
    if isinstance(concurrent, int):
        if not 1 <= concurrent <= MAX_CONCURRENT:
            raise ValueError(f"concurrent must be 1 to {MAX_CONCURRENT} (every order of them "
                             f"is run one at a time to judge them), not {concurrent}")
        return [(invoke, input)] * (concurrent - 1)
    if isinstance(concurrent, (str, bytes)) or not isinstance(concurrent, Iterable):
        raise TypeError(f"concurrent must be a count or a list of (target, input), "
                        f"not {concurrent!r}")
    others = []
    for item in concurrent:
        if (not isinstance(item, (tuple, list)) or len(item) != 2
                or not isinstance(item[0], str)):
            raise TypeError(f'concurrent= lists (target, input) pairs like '
                            f'("Counter/a/add", 1), not {item!r}')
        others.append((item[0], item[1]))
    if len(others) + 1 > MAX_CONCURRENT:
        raise ValueError(f"at most {MAX_CONCURRENT} invocations at once, the target "
                         f"included (every order of them is run one at a time), not "
                         f"{len(others) + 1}")
    return others
