"""Steps: running a step's closure and storing its outcome, exactly once.

Owns when a step's closure runs (as a "step" task, or in place when the loop
would run it next anyway), the record of every closure execution (the
exactly-once self-check), and what the outcome becomes: its value stored,
its terminal error stored, or a retry (the step's own backoff, else the
invocation's). A live host runs the closure itself, from a ``StepRequest``,
and hands the outcome back to ``finish_step``. Calls the running attempts,
the lifecycle (retries, pauses), completions and the fault points.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from contextvars import Context, copy_context
from dataclasses import dataclass, field
from typing import Any, Final

from ._completions import Completions
from ._crashes import Crashes
from ._errors import (
    HandlerError,
    InternalError,
    NotAnExceptionError,
    RetryableError,
    TerminalError,
)
from ._fast import (  # what a step run in place returns, for the engine and the futures
    EXPRESS,
    RAN_PARKED as RAN_PARKED,
    RESUMED as RESUMED,
    closure_in_step,
    new_tuple,
    resume_in_place,
    unstorable,
)
from ._faults import (
    AFTER_STORE,
    DELAY,
    EFFECT_DONE,
    FAIL,
    STEP_KINDS,
    TERMINAL,
    Fault,
    Injector,
    make_exception,
)
from ._invocation import LIVE, Attempt, StepInfo, StepSpec, Wait, current_step
from ._invocations import Invocations
from ._journal import RUN, Failure, RawCompletion, failure_of
from ._lazy import BuiltOnUse, own_keys
from ._lifecycle import Lifecycle
from ._running import Running, describe_exception, where_raised
from ._scheduler import Scheduler
from ._trace import RAN_STEP, Event, RunLog, Tracer, compact

# What ``Steps.run_lone_step`` did.
NOT_RUN: Final = 0
__all__ = ["NOT_RUN", "RAN_PARKED", "RESUMED", "StepOutcome", "StepRequest", "Steps", "drive"]

StepOutcome = tuple[str, Any]  # ("ok", value) | ("terminal", TerminalError) | ("error", exc)


@dataclass(frozen=True, slots=True)
class StepRequest:
    """A step's closure for a live host to run, then ``finish_step``; ``context``
    is a copy of its attempt's context (``Attempt.context``, the handler's),
    which the closure runs in, as every step path of the simulation runs its
    own copy (``_fast.closure_value``)."""

    attempt: Attempt
    index: int
    spec: StepSpec
    injected: Fault | None
    context: Context = field(default_factory=copy_context)


def drive(awaitable: Any, step: str) -> Any:
    """Run an async step closure to completion without an event loop.

    For a closure that awaits nothing but plain coroutines; a host that can
    run closures on an event loop passes ``run_async`` to the engine instead.
    """
    coro = awaitable.__await__() if not inspect.iscoroutine(awaitable) else awaitable
    try:
        while True:
            yielded = coro.send(None)
            if yielded is not None:
                coro.close()
                raise HandlerError(
                    "an async step closure awaited an event-loop primitive "
                    f"({type(yielded).__name__}); in simulation, step closures may only "
                    "await plain coroutines. Put real I/O behind a fake (FakeExternal).",
                    step=step,
                )
    except StopIteration as stop:
        return stop.value


class Steps:
    """See the module docstring."""

    def __init__(self, invocations: Invocations, running: Running,
                 lifecycle: Lifecycle, completions: Completions,
                 injector: Injector, scheduler: Scheduler, trace: Tracer,
                 inline_steps: bool,
                 run_async: Callable[[Any, str], Any] | None = None) -> None:
        self.lazily_built = False  # (its own as well as the class's: see ``_lazy``)
        self.invocations = invocations
        self.running = running
        self.lifecycle = lifecycle
        self.completions = completions
        self.injector = injector
        self.scheduler = scheduler
        self.trace = trace
        self.inline_steps = inline_steps
        # How an async closure's awaitable is run to its result (the host's loop).
        self.run_async = run_async or drive
        # ``run_lone_step`` may run steps in place (an optimisation that must
        # not change a run: tests compare runs with it on and off).
        self.in_place = inline_steps
        # A fresh step awaited at once runs inside its call (``_fast.step_command``,
        # in place only): tests compare runs with it on and off.
        self.express = EXPRESS
        # Every closure execution: (invocation, index, step, attempt, target);
        # over a compact flat trace, read out of it (each run written with
        # its step's "step" event).
        self.run_log = RunLog(compact(trace.sink, trace.deferred))

    # True once a part below is built (``_lazy``): ``Engine.renewable`` is then False.
    lazily_built = False

    # The fault points (the engine's ``fault_points``): read only where a fault
    # may fire, or at a crash or restart; built then (``_lazy``), so that a run
    # without faults never makes them.
    crashes: BuiltOnUse[Crashes] = BuiltOnUse(
        lambda s: Crashes(s.injector, s.running, s.lifecycle, s.scheduler, s.trace))

    def run_lone_step(self, attempt: Attempt, index: int) -> int:
        """Run the step a handler now awaits in place, if the loop would run it next.

        When nothing else is ready and the handler awaits its only unstarted
        step, the loop has no choice to make: it runs the step's task, then
        the handler's resume task. Doing both here, inside the ``await``,
        skips the round trip through the loop and leaves the same journal,
        trace, decisions and task count (so ``max_steps`` still stops a
        runaway handler at the same task). Faults that could fire at this
        step, an explorer, a replay or a live host all take the usual way.

        Returns ``NOT_RUN`` (wait as usual), ``RESUMED`` (the result is there)
        or ``RAN_PARKED`` (it ran, but other work is ready now, so the handler
        waits for its resume task like any other).
        """
        # A step's closure runs outside the handler's segment, as it would as a
        # task; and the bookkeeping around it need not be watched in strict mode.
        if attempt.issued is not None:  # (its handler waits: no step stays unregistered)
            attempt.register_issued()
        guard = self.running.segment_guard
        paused = guard is not None and guard.active
        if paused:
            guard.exit()
        try:
            scheduler = self.scheduler
            if (
                not self.in_place
                or scheduler.ready
                or attempt.state is not LIVE  # so it is alive, too
                or attempt.cancel_pending
                or attempt.failure is not None
                or scheduler.tasks_run >= scheduler.max_tasks
            ):
                return NOT_RUN
            unscheduled = attempt._unscheduled
            if not (len(unscheduled) == 1 and unscheduled[0] == index):
                if attempt.pending_steps() != [index]:
                    return NOT_RUN
            spec = attempt.steps[index]
            injector = self.injector
            if injector.armed and not injector.quiet_at(
                self.crashes.point(attempt, "step", index, spec.name, RUN)
            ):
                return NOT_RUN
            # As the loop would: the handler waits, its step is queued, then taken.
            wait = new_tuple(Wait, ((index,), False))
            attempt.waiting = wait
            attempt._unscheduled = []
            spec.scheduled = True
            scheduler.tasks_run += 1
            inv_id = attempt.rec.id
            if self.completions.is_done(inv_id, index):
                raise _rerun(inv_id, index, spec)
            running = self.running
            running.in_place = attempt
            try:
                outcome = self.execute_step(attempt, index, spec, None)
                self.finish_step(attempt, index, spec, outcome)
            finally:
                running.in_place = None
            return resume_in_place(running, scheduler, attempt, wait)
        finally:
            if paused:
                guard.enter(attempt)

    def step_task(self, inv_id: str, number: int, index: int) -> StepRequest | None:
        """A "step" task: run the closure (or hand it to a live host), unless stale."""
        attempt = self.running.get(inv_id)
        if attempt is None or attempt.number != number or not attempt.alive:
            return None
        spec = attempt.steps.get(index)
        if spec is None or index in attempt.done:
            return None
        if self.completions.is_done(inv_id, index):
            raise _rerun(inv_id, index, spec)
        injected = None
        if self.injector.may_fire(STEP_KINDS, None):
            injected = self.injector.step_outcome(
                self.crashes.point(attempt, "step", index, spec.name, RUN)
            )
            if injected is not None and injected.kind == DELAY:
                by = injected.by_ms or 0
                self.trace("fault", inv_id, f'delay step "{spec.name}" by {by}ms')
                self.scheduler.add_timer(self.scheduler.now_ms + by,
                                         ("step", inv_id, number, index))
                return None
        if not self.inline_steps:
            return StepRequest(attempt, index, spec, injected, attempt.context.copy())
        outcome = self.execute_step(attempt, index, spec, injected)
        self.finish_step(attempt, index, spec, outcome)
        return None

    @property
    def runs(self) -> Counter[tuple[str, int]]:
        """Closure executions per (invocation, journal index): the self-check of
        exactly-once (a stored step must never run again)."""
        return Counter((inv, index) for inv, index, *_ in self.run_log)

    def step_info(self, attempt: Attempt, index: int, spec: StepSpec) -> StepInfo:
        return StepInfo(attempt.rec.id, attempt.handler, spec.name, index, attempt.number,
                        attempt.engine)

    def execute_step(
        self, attempt: Attempt, index: int, spec: StepSpec, injected: Fault | None
    ) -> StepOutcome:
        """Run a step's closure here and now (the simulation's way)."""
        info = new_tuple(
            StepInfo,
            (attempt.rec.id, attempt.handler, spec.name, index, attempt.number, attempt.engine),
        )
        token = current_step.var.set(info)
        # (the closure's context holds ``info``, not a drive's holder, which
        # ``_fast.express``'s misuse check would read instead: ``Running.step_holder``)
        self.running.step_holder = None
        try:
            if injected is not None:
                if injected.kind == FAIL:
                    raise make_exception(injected)
                if injected.kind == TERMINAL:
                    raise TerminalError(
                        injected.message or "injected terminal failure", injected.status or 500
                    )
            result = attempt.context.copy().run(closure_in_step, info, spec.fn, spec.args,
                                                spec.kwargs, self, spec.name)
            outcome: StepOutcome = ("ok", result)
        except TerminalError as err:
            outcome = ("terminal", err)
        except Exception as err:  # noqa: BLE001 - step failures are data
            outcome = ("error", err)
        finally:
            current_step.var.reset(token)
        self.note_step_ran(attempt, index, spec, injected)
        return outcome

    def note_step_ran(
        self, attempt: Attempt, index: int, spec: StepSpec, injected: Fault | None
    ) -> None:
        if injected is None or injected.kind not in (FAIL, TERMINAL):
            if self.run_log.trace is not None:  # the run with its "step" event
                self.trace.event((self.scheduler.now_ms, "step", attempt.rec.id, RAN_STEP,
                                  spec.name, index, attempt.number, attempt.handler))
                return
            self.run_log.append(
                (attempt.rec.id, index, spec.name, attempt.number, attempt.handler)
            )
        if self.trace.sink is not None:  # once per step: its text formatted when read
            event: Event = (self.scheduler.now_ms, "step", attempt.rec.id, "step", spec.name,
                            index)
            self.trace.event(event)

    def finish_step(
        self, attempt: Attempt, index: int, spec: StepSpec, outcome: StepOutcome
    ) -> None:
        """Store a closure's outcome (or retry it), at the fault points around."""
        try:
            self._finish_step(attempt, index, spec, outcome)
        finally:
            if outcome[0] != "ok":
                # Read, the exception's traceback goes: its frames hold the outcome,
                # which holds the exception, a cycle that kept the whole simulation
                # (attempt, engine, journals) for the garbage collector.
                outcome[1].__traceback__ = None

    def _finish_step(
        self, attempt: Attempt, index: int, spec: StepSpec, outcome: StepOutcome
    ) -> None:
        if not attempt.alive or self.running.attempts.get(attempt.rec.id) is not attempt:
            return
        if attempt.failure is not None:
            self.lifecycle.pause(attempt, attempt.failure)
            return
        kind, value = outcome
        data = b""
        if kind == "ok":
            try:
                data = spec.serde.serialize(value)
            except (TypeError, ValueError, OverflowError) as err:
                kind, value = "error", unstorable(attempt, spec.name, index, err)
        faulty = self.injector.armed
        if faulty and self.crashes.fault_at(attempt, EFFECT_DONE, index, spec.name, RUN):
            return
        rec = attempt.rec
        completion: RawCompletion
        if kind == "ok":
            completion = (data,)  # a value as the runtime keeps it (``RawCompletion``)
        elif kind == "terminal":
            completion = failure_of(value)
        else:
            completion_or_none = self._failed(attempt, index, spec, value)
            if completion_or_none is None:
                return
            completion = completion_or_none
        self.completions.deliver(rec.id, index, completion)
        if faulty and self.crashes.fault_at(attempt, AFTER_STORE, index, spec.name, RUN):
            return

    def _failed(self, attempt: Attempt, index: int, spec: StepSpec, err: BaseException
                ) -> RawCompletion | None:
        """A closure raised: retry it (None), or, its own retries used up, store the failure."""
        rec = attempt.rec
        now = self.scheduler.now_ms
        if rec.retry_index != index:
            rec.retry_index, rec.retry_count, rec.retry_started_ms = index, 0, now
        rec.retry_count += 1
        self.invocations.put(rec)
        where = where_raised(err)
        at = f" at {where}" if where else ""
        reason = f'step "{spec.name}" (#{index}) failed: {describe_exception(err)}{at}'
        backoff = spec.backoff
        if backoff is None or type(err) is NotAnExceptionError:
            # (A BaseException on a live executor fails the attempt, not the
            # step: restate-sdk proposes no completion for it.)
            self.lifecycle.attempt_failed(attempt, err, reason, where=where)
            return None
        if backoff.exhausted(rec.retry_count, now - rec.retry_started_ms):
            code = err.status_code if isinstance(err, RetryableError) else 500
            self.trace("step-exhausted", rec.id,
                       f'step "{spec.name}" gave up after {rec.retry_count} attempts')
            return Failure(code, describe_exception(err))
        self.lifecycle.attempt_failed(
            attempt, err, reason, delay_ms=backoff.delay_ms(rec.retry_count), counts=False,
            where=where,
        )
        return None


own_keys(Steps)  # (its parts built on use: see ``own_keys``)


def _rerun(inv_id: str, index: int, spec: StepSpec) -> InternalError:
    """The exactly-once guard's error: a stored step was about to run again."""
    return InternalError(
        f"step {spec.name!r} (#{index}) of {inv_id} is stored and was about to run again"
    )
