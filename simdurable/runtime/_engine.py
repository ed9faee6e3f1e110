"""The durable server, as hosts drive it: a façade over the runtime's parts.

The engine is the server half of the runtime and the host of attempts. It is
sans-I/O: it never sleeps, reads a clock or starts a thread. A host drives it:

* ``run_task()`` does one unit of ready work (start or resume an attempt, run
  a step's closure) and returns; the scheduler's chooser picks which.
* ``advance_time()`` moves the clock to the next timer and fires what is due.

The simulation host loops over both on a virtual clock. The live host calls
the same two on trio with the real clock, running step closures itself
(``inline_steps=False``: ``run_task`` then hands steps out as ``StepRequest``s).

Each concern lives in a module of its own, wired together here (from the
bottom up; each may call only those built before it):

==================  ==========================================================
``_registry``       handlers, and which one a target names
``_invocations``    invocation records, ids, idempotency and retention
``_locks``          one exclusive handler per object key at a time
``_running``        the attempts running now and the work queued for them
``_completions``    storing a command's result and waking its handler
``_promises``       workflow promises and awakeables
``_lifecycle``      start, end, pause, retry and cancel an invocation
``_recovery``       rebuilding the volatile state from the store
``_crashes``        fault points, crashes and restarts
``_commands``       storing a live attempt's commands with their effects
``_steps``          running step closures and storing their outcomes
``_timers``         what each timer does when the clock reaches it
``_status``         an invocation's status, in words
==================  ==========================================================

Parts a run may never need are built at their first use (``_lazy``): the
key locks and the promises (the lifecycle's), the recovery (the crash part's),
the commands (a run of plain steps never stores a command through them), the
timers and the status. The speed tricks the hot path uses are all in
``_fast``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from ._commands import Commands
from ._completions import Completions
from ._crashes import Crashes
from ._errors import HandlerError, InternalError
from ._fast import EXPRESS, command_parts, fused, lane_parts, lone_step
from ._faults import Fault, Injector
from ._invocation import Attempt, StepInfo, StepSpec
from ._invocations import WORKFLOW_ALREADY_INVOKED, Invocations
from ._journal import Completion, RawEntry
from ._lazy import BuiltOnUse, own_keys
from ._lifecycle import Lifecycle
from ._locks import KeyLocks
from ._promises import PROMISE_ALREADY_COMPLETED, Promises
from ._recovery import Recovery, load_plain, nothing_to_load
from ._registry import DEFAULT_RETENTION_MS, HandlerSpec, Registry
from ._retry import InvocationRetryPolicy
from ._running import Running, task_attempt
from ._scheduler import _INF, _NO_TIMERS, Scheduler
from ._status import Status
from ._steps import NOT_RUN, RAN_PARKED, RESUMED, StepOutcome, StepRequest, Steps
from ._store import InvocationRecord, Store
from ._tasks import task_runner
from ._timers import Timers
from ._trace import Event, RunLog, Tracer

# The invocation retry policy when the host sets none (frozen: one for all engines).
_DEFAULT_RETRY_POLICY: Final = InvocationRetryPolicy()

__all__ = [
    "DEFAULT_RETENTION_MS", "Engine", "HandlerSpec", "NOT_RUN", "PROMISE_ALREADY_COMPLETED",
    "RAN_PARKED", "RESUMED", "StepOutcome", "StepRequest", "WORKFLOW_ALREADY_INVOKED",
]


class Engine:
    """See the module docstring."""

    # (``EngineView.payload_checks``; a host with a journal value codec sets it off)
    payload_checks = True
    # What ``ctx.time()`` reads instead of the clock, by (invocation id, journal
    # index of its step): a concurrent run's reads, given again to its
    # invocations when they are run one at a time (``_check``); None: the clock.
    clock_pins: dict[tuple[str, int], float] | None = None
    # What a step returns instead of its closure's value, by (invocation id,
    # journal index of the step): its name and the stored value a concurrent
    # run's step returned there, given again when its invocations are run one
    # at a time (``_check``; the closure still runs, for its effects). Read on
    # ``run_typed``'s general way only: whoever sets it sets ``issue_step`` to
    # None. None: each closure's own value.
    value_pins: dict[tuple[str, int], tuple[str, bytes]] | None = None

    def __init__(
        self,
        handlers: dict[tuple[str, str], HandlerSpec] | Registry,
        store: Store,
        scheduler: Scheduler,
        make_context: Callable[[Attempt, HandlerSpec], Any],
        injector: Injector | None = None,
        retry_policy: InvocationRetryPolicy | None = None,
        epoch_ms: int = 0,
        trace: Callable[[Event], None] | None = None,
        deferred_trace: bool = False,
        segment_guard: Any = None,
        always_suspend: bool = False,
        inline_steps: bool = True,
        run_async: Callable[[Any, str], Any] | None = None,
    ) -> None:
        # (Its options may be given by position, as the simulation does: a class
        # called with keywords packs them into a dict and unpacks it again for
        # ``__init__``, 3,900 instructions for eight by callgrind, about 2% of a
        # whole invocation. The parts below are built alike.)
        self.lazily_built = False  # (its own as well as the class's: see ``_lazy``)
        self.store = store
        self.scheduler = scheduler
        self.injector = injector or Injector()
        self.epoch_ms = epoch_ms
        self.segment_guard = segment_guard
        self.trace = Tracer(trace, scheduler, deferred_trace)
        tracer = self.trace
        # The parts, from the bottom up (see the module docstring).
        # (``handlers``: the specs, or a registry of them a host made once for
        # every engine over the same handlers: it never changes)
        self.registry = registry = (handlers if isinstance(handlers, Registry)
                                    else Registry(handlers))
        self.invocations = invocations = Invocations(registry, store, scheduler, tracer)
        self.running = running = Running(self, store, scheduler, tracer, make_context,
                                         segment_guard, always_suspend)
        self.completions = completions = Completions(invocations, running, store, scheduler)
        # (``locks`` and ``promises``: the lifecycle's, built at their first use.)
        self.lifecycle = lifecycle = Lifecycle(
            registry, invocations, running, completions, store, scheduler, tracer,
            retry_policy or _DEFAULT_RETRY_POLICY,
        )
        # (``fault_points``, the crashes: the steps', built at their first use;
        # ``commands``: built at its first use, see below.)
        self.steps = Steps(invocations, running, lifecycle, completions, self.injector,
                           scheduler, tracer, inline_steps, run_async)
        # (``timers`` and ``_status``: built when first read, see below.)

        # (``run_lone_step``, ``steps.run_lone_step`` fused: built when first
        # read, see below.)
        # A plain step's command stored (or, replaying, matched) in one call (see
        # _fast); None in strict mode, or for ``run_typed`` to take the general
        # way (the A/B of benchmarks/hotpath.py). An awaited future's common
        # cases in one call (see _fast); None in strict mode (its segment guard
        # wants the general way) or to compare. Both are the process's, and read
        # the engine's parts (``command_parts``, ``lane_parts``, built at the
        # first step) at each call.
        self.issue_step: Callable[..., Any] | None
        self.step_lane: Callable[[Any], Any] | None
        if segment_guard is None:
            self.issue_step, self.step_lane = fused()
        else:
            self.issue_step = self.step_lane = None
        # What the fused step paths read of the engine at each call (``_fast``):
        # built by the first step that reads them (``built_command_parts``,
        # ``built_lane_parts``), as a run of handlers without steps never does.
        # Plain attributes, not built-on-use ones: a descriptor of the same name
        # on the class keeps the interpreter from specialising their read, which
        # every step makes (about 430 instructions a fresh step, callgrind).
        self.command_parts: tuple[Any, ...] | None = None
        self.lane_parts: tuple[Any, ...] | None = None
        # (``run_task``: fused once a task other than a lone start is ready, see below.)
        if not nothing_to_load(store, scheduler):
            if not load_plain(self):  # (its common case without the recovery part)
                self.recovery.load(fresh=True)
        elif self.injector.plan.faults and self.injector.timed():
            self.recovery.add_timed_faults()  # (a new simulation's empty store: timers only)

    # True once a part below (or the fused runner) is built: ``renewable`` is then False.
    lazily_built = False

    # Parts a run may never need: built at their first use (``_lazy``).
    # The commands: a plain step's command never reaches them (the fused
    # command writes it), so a run of plain steps never builds them.
    commands: BuiltOnUse[Commands] = BuiltOnUse(lambda e: _commands(e))
    # Called at every command the fused step command does not write: the bound
    # method, kept, so that the call goes straight to the part that answers it.
    store_command: BuiltOnUse[Callable[[Attempt, RawEntry], int]] = BuiltOnUse(
        lambda e: e.commands.store_command)
    timers: BuiltOnUse[Timers] = BuiltOnUse(lambda e: _timers(e))
    _status: BuiltOnUse[Status] = BuiltOnUse(lambda e: _status(e))
    # A fresh step awaited alone, in one call (``_fast.lone_step``): the step
    # lane does the same writes itself, so a plain run never asks for it.
    run_lone_step: BuiltOnUse[Callable[[Attempt, int], int]] = BuiltOnUse(
        lambda e: _lone_step(e))

    def built_command_parts(self) -> tuple[Any, ...]:
        """``command_parts``, built at the first step that reads them; empty
        where the fused command is off (strict mode)."""
        off = self.segment_guard is not None or self.issue_step is None
        parts = self.command_parts = () if off else command_parts(self.steps)
        return parts

    def built_lane_parts(self) -> tuple[Any, ...]:
        """``lane_parts``, built at the first step that reads them; empty where
        the step lane is off (strict mode)."""
        parts = self.lane_parts = () if self.segment_guard is not None else lane_parts(self.steps)
        return parts

    def turn_strict(self, guard: Any) -> None:
        """Strict mode from now on, watched by ``guard``, in a run made without
        it: for a checker whose run is, up to a crash, a run already watched in
        full (``_check``'s single crashes). Its caller picks the moment: a
        crash firing, which ends every attempt, so that each attempt (its
        coroutine, context and steps, made as its mode says) is of one mode
        only; the next attempts are strict ones, as in a run strict from its
        start. The fused paths are off from here, as strict mode wants, and
        the fused task runner takes the guarded way for its next tasks."""
        self.segment_guard = self.running.segment_guard = guard
        self.issue_step = self.step_lane = None
        self.command_parts = self.lane_parts = None
        reguard = getattr(self.run_task, "reguard", None)  # (the fused runner's, once made)
        if reguard is not None:
            reguard()

    def renewable(self) -> bool:
        """Whether ``renew`` would take this engine: no part built at its first
        use (nor the fused runner) would outlive the run, and the garbage
        collector is not freeing it. (``Simulation.__del__`` writes this test
        out: a change here goes there too.)"""
        if self.lazily_built or self.lifecycle.lazily_built or self.steps.lazily_built:
            return False
        # (Freed by the garbage collector, its simulation in a reference cycle,
        # the collector cleared the weak references to it before the
        # simulation's ``__del__`` ran: its running part has lost it.)
        return self.running._host() is self

    def renew(self, store: Store, scheduler: Scheduler, injector: Injector,
              trace: Callable[[Event], None], run_async: Callable[[Any, str], Any]) -> None:
        """This engine, its run over, made as ``Engine.__init__`` would make it
        anew over these parts (a simulation's, with ``deferred_trace``, inline
        steps, no segment guard, no always-suspend), so that the next
        simulation over the same handlers takes it instead of building its
        twenty objects again. Only its owner may ask, once nothing else holds
        it and it is ``renewable`` (``Simulation.__del__``): every attribute a
        run writes is written back here, and the options (``epoch_ms``, the
        retry policy) are the next owner's to write. A container the run left
        empty stays, and so does the run log (cleared), which only this engine
        holds; so do the store and injector when the owner reset them in place
        and the scheduler, made as new here, when the owner gives it back (the
        same objects given back): fewer objects made and freed a simulation.
        """
        tracer = self.trace
        if tracer.sink is not trace or scheduler is not self.scheduler or store is not self.store:
            # (the parts the steps read hold the old trace, store, scheduler
            # and injector: built again by the next run's first step)
            self.command_parts = self.lane_parts = None
            tracer.sink = tracer.event = trace
            if self.steps.run_log.trace is not None:  # (read out of the new trace)
                self.steps.run_log.trace = trace.__self__  # type: ignore[attr-defined]
        elif self.command_parts:
            self.command_parts[5].clear()  # (its command entries by step name: this run's)
        if tracer.kinds:
            tracer.kinds = set()
        invocations = self.invocations
        invocations.by_id = {}
        invocations.seq = 0
        running = self.running
        running.in_place = None
        running.resume_at = 0
        running.step_holder = None
        # (``Running.reset`` and ``Completions.reset`` without their calls)
        if running.attempts:
            running.attempts = {}
        if running.suspended:
            running.suspended = set()
        completions = self.completions
        if completions.callers:
            completions.callers = {}
        if completions.plain_steps:
            completions.plain_steps = {}
        lifecycle = self.lifecycle
        if lifecycle.finished_hooks:
            lifecycle.finished_hooks = []
        steps = self.steps
        if store is not self.store:  # (else reset in place: ``Simulation.__del__``)
            self.store = invocations.store = running.store = completions.store = store
            lifecycle.store = store
        if scheduler is not self.scheduler:  # (else each reset in place: ``Simulation.__del__``)
            self.scheduler = invocations.scheduler = running.scheduler = scheduler
            completions.scheduler = lifecycle.scheduler = steps.scheduler = scheduler
            tracer.clock = scheduler
            self.injector = steps.injector = injector
        else:
            # The scheduler given back is made here as ``Scheduler(None, 0, 0)``
            # makes it, its chooser never built (``Scheduler.__init__``'s
            # fields, written here: a call less a simulation; its owner found
            # it held by no one else and never ``lazily_built``)
            scheduler.seed = 0
            scheduler.now_ms = 0
            if scheduler.ready:
                scheduler.ready = []
            scheduler.held = ()
            scheduler._timers = _NO_TIMERS
            scheduler._timer_seq = 0
            scheduler.decisions = 0
            scheduler.tasks_run = 0
            scheduler.max_tasks = scheduler.max_journal = scheduler.max_invocations = _INF
            scheduler.stop_reason = None
            scheduler.collect_at = scheduler.collect_every = _INF
            scheduler.check_at = 0
        steps.run_async = run_async
        steps.in_place = steps.inline_steps
        steps.express = EXPRESS
        steps.run_log._flat.clear()  # (``RunLog.clear``; nothing else holds it: see above)

    def attach(self, store: Store) -> None:
        """A renewed engine (``renew``) given its next owner's store in place of
        its own empty one, and that store loaded as ``__init__`` loads a new
        engine's: a simulation given ``store=`` takes a spare engine
        (``Simulation.__init__``) and runs as over a new one. Everything the
        engine derives from a store (its records, the steps' parts, a recovery
        built later) is derived from this one; ``renew`` gives the engine a new
        store again, so that an engine kept for the next owner holds nothing of
        this one (docs/decisions.md, "A spare engine for a given store")."""
        self.store = self.invocations.store = self.running.store = store
        self.completions.store = self.lifecycle.store = store
        # (its own store's append and journals: built again by the first step)
        self.command_parts = self.lane_parts = None
        if not nothing_to_load(store, self.scheduler):
            if not load_plain(self):  # (as ``__init__``: a store that holds something)
                self.recovery.load(fresh=True)

    # What hosts read of the parts: their own (read once a run, if at all; not
    # copied into every engine).
    @property
    def handlers(self) -> dict[tuple[str, str], HandlerSpec]:
        return self.registry.handlers

    @property
    def step_run_log(self) -> RunLog:
        return self.steps.run_log

    @property
    def misuse(self) -> list[HandlerError]:
        return self.lifecycle.misuse

    @property
    def paused_errors(self) -> dict[str, HandlerError]:
        return self.lifecycle.paused_errors

    @property
    def raised(self) -> dict[str, str]:
        return self.lifecycle.raised

    @property
    def retried(self) -> dict[str, tuple[str, str | None, int, int]]:
        return self.lifecycle.retried

    @property
    def finished_hooks(self) -> list[Callable[[InvocationRecord], None]]:
        return self.lifecycle.finished_hooks

    @property
    def fault_points(self) -> Crashes:
        """Fault points, crashes and restarts (the steps', built when first read:
        a run without faults never reads them)."""
        return self.steps.crashes

    @property
    def locks(self) -> KeyLocks:
        """The key locks (the lifecycle's, built when an exclusive handler first takes one)."""
        return self.lifecycle.locks

    @property
    def promises(self) -> Promises:
        """Promises, awakeables, signals (the lifecycle's, built at the first one)."""
        return self.lifecycle.promises

    @property
    def recovery(self) -> Recovery:
        """Rebuilding from the store (the crash part's, built at the first restart
        or at a new engine's load of a store that holds something)."""
        return self.fault_points.recovery

    def run_task(self, until_idle: bool = False) -> StepRequest | None:
        """Do one ready task; with ``until_idle``, one after the other while any
        is ready and fewer than ``max_tasks`` ran (a simulation's run). With
        ``inline_steps=False`` steps come back as requests (each ends the call).

        While the one ready task starts an invocation (a simulation's first
        task, and its only one when every step runs in place), that task in one
        call for its common case (``Lifecycle.start_alone``), the general way
        otherwise, as the fused runner (``_tasks``) would hand it on. Any
        other work ready: the fused runner is built, becomes the engine's
        ``run_task`` and does it. Building it costs as much as the rest of a
        0-step invocation's run, and a handler awaiting its steps one at a time
        never needs it. (Not a bound method kept in the engine: that would be a
        reference cycle, leaving every simulation to the garbage collector.)
        """
        scheduler = self.scheduler
        ready = scheduler.ready
        if len(ready) == 1 and (type(ready[0]) is InvocationRecord or (
                type(ready[0]) is tuple and ready[0][0] == "start")):
            if scheduler.held or scheduler.tasks_run + 1 >= scheduler.collect_at:
                task = scheduler.pop()
            else:  # (``Scheduler.pop``'s answer for one ready task, without its call)
                scheduler.tasks_run += 1
                task = ready.pop()
            if type(task) is InvocationRecord:
                self.lifecycle.start_alone(task.id, False, task)
            else:
                self.lifecycle.start_alone(task[1])
            return None
        if len(ready) == 1 and not scheduler.held and self.steps.inline_steps:
            # One other task alone: the general way (``general_task``), not the
            # fused runner built for it. A lone handler gets one only where
            # its step could not run in place: the step a fault may fire at,
            # in a crash's or failed step's run, then the handler's resume;
            # building the runner cost more than both tasks taken its way.
            return self.general_task()
        runner = task_runner(self)
        # (unless a caller put its own runner there: then this is not a bound
        # method of this class's. Set as an attribute, never through
        # ``self.__dict__``: asking for it makes the instance a dict sharing its
        # class's keys, whose reads the interpreter (3.11) specialises by an
        # index where such a dict holds no value, so every later read of any
        # engine attribute misses and takes the generic lookup: a crowd's
        # ``step_lane``, ``scheduler`` and ``command_parts`` at each step)
        own = self.run_task
        if getattr(own, "__func__", None) is type(self).run_task and (
                getattr(own, "__self__", None) is self):
            object.__setattr__(self, "run_task", runner)
            self.lazily_built = True  # (the runner holds this run's parts)
        request: StepRequest | None = runner(until_idle)
        return request

    def has_ready(self) -> bool:
        """Whether a task is ready (a live host asks before every task; a method,
        not the scheduler's bound: one object less to make for every engine)."""
        return bool(self.scheduler.ready)

    def general_run_task(self, until_idle: bool = False) -> StepRequest | None:
        """``run_task`` through the parts' general methods (``run_task`` is
        its fused form, ``_tasks.task_runner``; tests compare the two)."""
        scheduler = self.scheduler
        while True:
            request = self.general_task()
            if (
                request is not None
                or not until_idle
                or not scheduler.ready
                or scheduler.tasks_run >= scheduler.max_tasks
            ):
                return request

    def general_task(self) -> StepRequest | None:
        """One ready task, through the parts' general methods."""
        task = self.scheduler.pop()
        if type(task) is InvocationRecord:  # (a "start" task)
            self.lifecycle.start(task.id)
            return None
        if type(task) is not tuple:  # an attempt's resume, or a plain step's future
            attempt = task_attempt(task)
            assert attempt is not None
            self.running.unqueue(attempt)
            if task is attempt:
                attempt.unhand()  # (``_tasks`` hands it; this way reads it back)
                self.lifecycle.resume(attempt.rec.id, attempt.number)
                return None
            if attempt.alive and task._index not in attempt.done:
                # (the crowd's runner queues a lone step unregistered: ``_tasks``)
                attempt.registered().setdefault(task._index, task)
            return self.steps.step_task(attempt.rec.id, attempt.number, task._index)
        kind, inv_id, attempt, index = task
        if kind == "start":
            self.lifecycle.start(inv_id)
            return None
        self.running.unqueue(attempt)
        number = -1 if attempt is None else attempt.number
        if kind == "step":
            return self.steps.step_task(inv_id, number, index)
        raise InternalError(f"unknown task {task!r}")  # pragma: no cover - tasks are built here

    def advance_time(self, until_ms: int | None = None) -> bool:
        """Jump to the next timer (not past ``until_ms``) and fire what is due."""
        if until_ms is None and self.scheduler.next_deadline() is None:
            return False  # no timer, no time to reach: nothing to do (the end of most runs)
        return self.timers.advance_time(until_ms)

    # -- what hosts ask, answered by the part that owns it -------------------------------
    def submit(self, service: str, handler: str, key: str | None, input: bytes, *,
               delay_ms: int = 0, idempotency_key: str | None = None,
               headers: dict[str, str] | None = None, inv_id: str | None = None,
               send: bool = False, spec: HandlerSpec | None = None) -> str:
        """Create an invocation (or find the one it duplicates); returns its id."""
        return self.lifecycle.submit(service, handler, key, input, delay_ms=delay_ms,
                                     idempotency_key=idempotency_key, headers=headers,
                                     inv_id=inv_id, send=send, spec=spec)

    def deduplicated_by(self, service: str, handler: str, key: str | None,
                        idempotency_key: str | None, *, now_ms: int | None = None
                        ) -> str | None:
        return self.invocations.deduplicated_by(service, handler, key, idempotency_key,
                                                now_ms=now_ms)

    def resolve(self, service: str, handler: str, key: str | None) -> HandlerSpec:
        return self.registry.resolve(service, handler, key)

    def record(self, inv_id: str) -> InvocationRecord:
        return self.invocations.record(inv_id)

    def records(self) -> list[InvocationRecord]:
        return self.invocations.all()

    def status(self, inv_id: str) -> str:
        return self._status.status(inv_id)

    def waiting_on(self, inv_id: str) -> str:
        return self._status.waiting_on(inv_id)

    def queued_resolver(self, awk: str) -> tuple[str, int, str] | None:
        return self._status.queued_resolver(awk)

    def cancel(self, inv_id: str) -> None:
        self.lifecycle.cancel(inv_id)

    def kill(self, inv_id: str) -> bool:
        return self.lifecycle.kill(inv_id)

    def resume(self, inv_id: str) -> bool:
        return self.recovery.resume(inv_id)

    def deliver(self, inv_id: str, index: int, completion: Completion) -> None:
        self.completions.deliver(inv_id, index, completion)

    def complete_promise(self, workflow: str, key: str, name: str,
                         completion: Completion) -> bool:
        return self.promises.complete(workflow, key, name, completion)

    def complete_awakeable(self, awk: str, completion: Completion) -> None:
        self.promises.complete_awakeable(awk, completion)

    def signal(self, inv_id: str, name: str, completion: Completion) -> None:
        self.promises.signal(inv_id, name, completion)

    def crash(self, reason: str) -> None:
        self.fault_points.crash(reason)

    def restart(self, reason: str) -> None:
        self.fault_points.restart(reason)

    def abandon(self) -> None:
        """The run is over: close the handlers still running (``Running.abandon``)."""
        self.running.abandon()

    def record_misuse(self, inv_id: str, err: HandlerError) -> None:
        self.lifecycle.record_misuse(inv_id, err)

    # -- a live host's steps ---------------------------------------------------------
    def step_info(self, attempt: Attempt, index: int, spec: StepSpec) -> StepInfo:
        return self.steps.step_info(attempt, index, spec)

    def note_step_ran(self, attempt: Attempt, index: int, spec: StepSpec,
                      injected: Fault | None) -> None:
        self.steps.note_step_ran(attempt, index, spec, injected)

    def finish_step(self, attempt: Attempt, index: int, spec: StepSpec,
                    outcome: StepOutcome) -> None:
        self.steps.finish_step(attempt, index, spec, outcome)

    # -- clock ----------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self.scheduler.now_ms

    def wall_ms(self) -> int:
        """What ``ctx.time()`` reads: the epoch plus the clock."""
        return self.epoch_ms + self.scheduler.now_ms

    # -- counters and switches hosts read or set --------------------------------------
    @property
    def tasks_run(self) -> int:
        """Tasks done so far (``run_task`` and steps run in place)."""
        return self.scheduler.tasks_run

    @property
    def max_tasks(self) -> float:
        """The host stops at this many tasks, so steps run in place only below it."""
        return self.scheduler.max_tasks

    @max_tasks.setter
    def max_tasks(self, value: float) -> None:
        scheduler = self.scheduler
        scheduler.max_tasks = value
        scheduler.check_at = 0  # (a runner's next task checks it)

    @property
    def steps_in_place(self) -> bool:
        return self.steps.in_place

    @steps_in_place.setter
    def steps_in_place(self, value: bool) -> None:
        self.steps.in_place = value

    @property
    def crashes(self) -> int:
        return self.fault_points.crashes

    @property
    def faulty(self) -> bool:
        return self.injector.armed

    @property
    def step_runs(self) -> Counter[tuple[str, int]]:
        """Closure executions per (invocation, journal index): the self-check of
        exactly-once (a stored step must never run again)."""
        return self.steps.runs


# (the names set on an engine after ``__init__``: see ``own_keys``)
own_keys(Engine, "run_task", "payload_checks", "clock_pins", "value_pins")


def _commands(e: Engine) -> Commands:
    return Commands(e.lifecycle, e.completions, e.fault_points, e.injector, e.store,
                    e.scheduler, e.trace)


def _timers(e: Engine) -> Timers:
    return Timers(e.invocations, e.running, e.completions, e.lifecycle, e.fault_points,
                  e.scheduler, e.trace)


def _lone_step(e: Engine) -> Callable[[Attempt, int], int]:
    return lone_step(e.steps)


def _status(e: Engine) -> Status:
    return Status(e.invocations, e.running, e.locks, e.scheduler)
