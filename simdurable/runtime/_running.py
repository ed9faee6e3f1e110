"""Running attempts: the handlers' coroutines and the work queued for them.

Owns the live ``Attempt`` of each invocation, the "resume" and "step" tasks
queued for it, and the set of suspended invocations. ``run_segment`` drives a
handler until it waits or ends and says how it ended; what that means for the
invocation (done, paused, retried) is the lifecycle's decision. Calls the
scheduler, the store (to read a journal) and the attempts themselves.
"""

from __future__ import annotations

import os
import traceback
import weakref
from collections.abc import Callable, Coroutine
from contextvars import Context
from sys import getprofile, setprofile
from typing import Any, Final

from ._errors import HandlerError, TerminalError
from ._invocation import (
    LIVE,
    PARKED,
    Abort,
    Attempt,
    EngineView,
    StepHolder,
    Wait,
    asyncio_advice,
    asyncio_call,
    asyncio_future_call,
    awaiting_source,
    in_asyncio,
)
from ._journal import CANCELLED, KIND, RawEntry, Value, failure_of, without_addresses
from ._registry import HandlerSpec
from ._scheduler import Scheduler
from ._store import InvocationRecord, MemoryStore, Store
from ._trace import Tracer

# What asyncio raises when a handler reaches for an event loop (the last, from
# ``asyncio.get_event_loop`` once a loop was set and unset, names the thread).
_EVENT_LOOP_ERRORS: Final = (
    "no running event loop", "must be called from async context",
    "There is no current event loop in thread ",
)


def _loopless_wait(err: BaseException) -> bool:
    """Whether ``err`` is what one of asyncio's primitives raises when it must
    wait with no running loop (``asyncio.Event().wait()``, an empty
    ``asyncio.Queue``'s ``get()``, a taken ``Lock``): it asks its loop, None,
    for a future."""
    if not (isinstance(err, AttributeError) and err.name == "create_future"
            and err.obj is None):
        return False
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and in_asyncio(tb.tb_frame.f_code.co_filename)

# How a handler's segment ended (``Running.run_segment``), with its detail.
FINISHED: Final = "finished"  # returned or raised a TerminalError: a Completion
PAUSE: Final = "pause"  # a bug that retrying cannot fix: the HandlerError
RETRY: Final = "retry"  # raised another exception: it
ABORTED: Final = "aborted"  # its attempt ended under it (crash, mismatch, ...)
WAITING: Final = "waiting"  # waits on something not complete; its steps are queued
RESUME_QUEUED: Final = "resume-queued"  # waits for its queued resume task (see ``run_lone_step``)
GONE: Final = "gone"  # its attempt had already ended: nothing to do

Segment = tuple[str, Any]

_new_tuple: Final = tuple.__new__


def describe_exception(exc: BaseException) -> str:
    return without_addresses(repr(exc))

# Frames in files under this folder are simdurable's own, not the user's.
_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

def user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``exc``'s traceback that are in the user's code (not code
    generated at run time, ``<string>``: a dataclass's ``__init__``)."""
    return [f for f in traceback.extract_tb(exc.__traceback__)
            if not os.path.abspath(f.filename).startswith(_OWN) and f.filename != "<string>"]

def where_raised(exc: BaseException) -> str | None:
    """``file.py:line`` of the user's line that raised ``exc``, if any: the last
    of ``user_frames``, read off the traceback itself (each frame's file and
    ``tb_lineno``, the line ``extract_tb`` gives it), without a summary of every
    frame, its source line read and its position found through
    ``co_positions`` from the code's start: a failed step's attempt, whose
    traceback is mostly simdurable's, spent about 150,000 instructions there
    (callgrind; BENCHMARKS.md, "A crash run's replay in strict mode, thirty-second
    pass")."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        theirs = _USERS_FILE.get(filename)
        if theirs is None:
            if len(_USERS_FILE) >= _FILES:
                _USERS_FILE.clear()
            theirs = _USERS_FILE[filename] = (
                filename != "<string>" and not os.path.abspath(filename).startswith(_OWN))
        if theirs:
            last = tb
        tb = tb.tb_next
    if last is None:
        return None
    return f"{os.path.basename(last.tb_frame.f_code.co_filename)}:{last.tb_lineno}"


# Whether a file is the user's (``user_frames``' test), by its name; emptied past
# ``_FILES`` names.
_USERS_FILE: dict[str, bool] = {}
_FILES: Final = 1024

def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback through the user's code only, as Python prints it,
    ending with the exception the user raised (``raised_as``)."""
    frames = user_frames(exc)
    shown = raised_as(exc, frames)
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(shown), shown)
    return without_addresses("".join(lines).rstrip())

def raised_as(exc: BaseException, frames: list[traceback.FrameSummary]) -> BaseException:
    """The exception the user's code raised, for ``exc`` that stands for it: an
    adapter re-raises restate-sdk's own ``RetryableError`` as simdurable's with
    its traceback (and it as the cause), and the user should read the class
    they raised. ``exc`` itself otherwise."""
    if not frames:
        return exc
    last = frames[-1]
    seen = exc.__cause__
    for _ in range(8):  # (a chain, not a cycle: bounded all the same)
        if seen is None:
            break
        theirs = user_frames(seen)
        if theirs and (theirs[-1].filename, theirs[-1].lineno) == (last.filename, last.lineno):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc

def close(coro: Coroutine[Any, Any, Any], context: Context) -> None:
    """Close a handler's coroutine unless it is running (or already closed), in
    its attempt's context (``Attempt.context``: a ``finally:`` resetting a
    context variable's token finds it there)."""
    if getattr(coro, "cr_frame", None) is not None and not getattr(coro, "cr_running", False):
        try:
            context.run(coro.close)
        except BaseException:  # noqa: BLE001 - a dying handler may raise anything
            pass


def handler_coroutine(spec: HandlerSpec, attempt: Attempt, ctx: Any,
                      data: bytes) -> Coroutine[Any, Any, Any]:
    """The coroutine of ``attempt``'s handler: its function's own when its spec
    allows it (``HandlerSpec.direct``; ``attempt.output`` then writes what it
    returns, an int as its digits), else its spec's ``start``.
    (``Lifecycle.start_alone`` inlines it.)"""
    fn = spec.direct
    if fn is not None:
        if not spec.direct_input:
            attempt.output = spec.output
            return fn(ctx)
        # (a natural number's digits, as ``Handler._start`` reads them; up to 640,
        # which no setting of Python's limit on an int's digits refuses)
        if (type(data) is bytes and data.isdigit() and (data >= b"1" or data == b"0")
                and len(data) <= 640):
            attempt.output = spec.output
            return fn(ctx, int(data))
    return spec.start(ctx, data)


def _awaited_too(attempt: Attempt, pending: list[int]) -> list[int]:
    """The steps to start once the handler has seen its cancellation: those
    issued since (``pending``) and those the handler now awaits itself.

    restate-sdk starts a step's action only when the handler awaits it, and
    raises a cancellation at the await of a step it beat, on every replay too
    (the journal holds the cancellation before that step's completion, if
    any): such a step runs again only if the handler awaits it once more
    (restate-server 1.7.12, restate-sdk 1.3.0; docs/decisions.md, "A step a
    cancellation beat"). ``Attempt.take_cancel`` set those steps aside.
    """
    waiting = attempt.waiting
    if waiting is None:
        return pending
    steps, done = attempt.steps, attempt.done
    for i in waiting.indices:
        if i not in pending and i not in done and i in steps and not steps[i].scheduled:
            pending.append(i)
    return pending


def task_attempt(task: Any) -> Attempt | None:
    """The attempt a ready task works for (see ``Running.reset``): None for a
    "start" task and a step task stale at birth."""
    if type(task) is tuple:
        found: Attempt | None = task[2] or None  # (a "start" task's is 0)
        return found
    if type(task) is Attempt:
        return task
    if type(task) is InvocationRecord:  # (a "start" task)
        return None
    step_attempt: Attempt = task._attempt  # a plain step's future
    return step_attempt


def previous_profile(guard: Any, previous: Any) -> Any:
    """The profile function to put back after the hook (``previous``, what
    ``sys.getprofile()`` gave), or None with ``guard.outer`` set for a
    profiler written in C."""
    if previous is not None and not callable(previous):
        guard.outer = previous
        return None
    return previous


def profile_back(previous: Any) -> None:
    """``sys.setprofile(previous)`` for what ``sys.getprofile()`` gave: a
    profiler written in C (cProfile's) gives its object, which is not a
    profile function: ``setprofile`` refuses it, and it is enabled again
    instead (``python -m cProfile`` around a check in strict mode)."""
    if previous is None or callable(previous):
        setprofile(previous)
    else:
        previous.enable()


class Running:
    """The attempts running now; see the module docstring."""

    def __init__(self, host: EngineView, store: Store, scheduler: Scheduler, trace: Tracer,
                 make_context: Callable[[Attempt, HandlerSpec], Any],
                 segment_guard: Any = None, always_suspend: bool = False) -> None:
        # Weakly: the engine holds this part, and a cycle would leave every
        # simulation to the garbage collector (attempts hold it while alive).
        self._host = weakref.ref(host)
        self.store = store
        self.scheduler = scheduler
        self.trace = trace
        self.make_context = make_context
        self.segment_guard = segment_guard
        self.always_suspend = always_suspend
        # The attempt whose step runs in place right now, and where in the
        # ready list its resume task belongs once the step completes it.
        self.in_place: Attempt | None = None
        self.resume_at = 0
        # The current-step holder the step lane found while a handler runs
        # (``_fast.step_lane``), or None: one drive of a coroutine runs in one
        # thread and context, so it is found once a drive, not once a step.
        # Every ``send`` and ``throw`` to a handler's coroutine clears it, or
        # sets it to the task runner's holder where the attempt's context is
        # known to hold it (``Attempt.context_holder``). Whatever runs a
        # closure outside a drive sets it to what the closure's context holds
        # (the task runner's step task, its holder), or clears it (a closure
        # named by a ``StepInfo``): ``_fast.express`` reads it, when set, as
        # the current context's, to refuse a step issued inside a closure.
        self.step_holder: Any = None
        # The holder ``_fast.attempt_holder`` made for a thread whose attempts'
        # contexts held none: set in each new one (a run's attempts, and the
        # next runs' of this engine), not made again. Idle between closures.
        self.thread_holder: StepHolder | None = None
        # A crowd's step futures that nothing holds any more, their steps
        # stored: the fused runner's step task (``_tasks``) keeps them, up to
        # a few, and ``_fast.express`` takes the last kept for its next step's
        # future, instead of a new object each step while the old one is freed
        # among 10,000 invocations' objects (its block and pool read cold, its
        # two neighbours in the collector's list written). Empty between the
        # runner's calls: what they hold (an attempt, arguments) is let go.
        self.spare_futures: list[Any] = []
        # (``reset``'s, without its call: an engine is built for every run)
        self.attempts: dict[str, Attempt] = {}
        self.suspended: set[str] = set()

    def reset(self) -> None:
        # (``Engine.renew`` writes this out: a change here goes there too.)
        # Every attempt here that is alive is its invocation's current one (an
        # attempt leaves only through ``kill``, which ends it first), so a task
        # may hold its attempt instead of looking it up (``task_attempt``): a
        # "step" task is ("step", invocation id, attempt or None when stale at
        # birth, journal index), or, queued by the crowd's runner (``_tasks``),
        # the plain step's future itself; a "resume" task is the attempt itself,
        # which hands its handler ``Attempt.handed``. Each attempt counts its
        # tasks in the ready set (``Attempt.queued``), so that killing it scans
        # the ready set only when it has work there. (An empty container stays:
        # an engine renewed after a run that ended with none makes none anew.)
        if self.attempts:
            self.attempts = {}
        if self.suspended:
            self.suspended = set()

    def get(self, inv_id: str) -> Attempt | None:
        return self.attempts.get(inv_id)

    def open(self, rec: InvocationRecord, spec: HandlerSpec) -> Attempt:
        """A new attempt of ``rec``, over its journal, with its handler's coroutine."""
        self.suspended.discard(rec.id)
        store = self.store
        # On the simulation's store, the attempt's journal is the stored list
        # itself: each entry is appended once (``Attempt.own_journal``). (Its
        # ``live_journal``, without the call.)
        shared = type(store) is MemoryStore
        if type(store) is MemoryStore:  # (narrows ``store`` for the type checker)
            journal = store._journals.get(rec.id)
            if journal is None:
                journal = store._journals[rec.id] = []
        else:
            journal = list(store.journal(rec.id))
        host = self._host()
        assert host is not None  # the engine is alive while it runs attempts
        attempt = Attempt(host, rec, journal, rec.attempts, spec.service_kind,
                          spec.plain_target if rec.key is None else None)
        if shared:
            attempt.own_journal = False
        self.attempts[rec.id] = attempt
        # Deferred (formatted when read, as ``rec.target``): a text made now
        # would be kept by the trace, 70 bytes and more an invocation.
        self.trace.event((self.trace.clock.now_ms, "attempt", rec.id, "attempt", attempt.number,
                          rec.service, rec.key, rec.handler, len(journal)))
        ctx = self.make_context(attempt, spec)
        # (strict mode's guard watches what ``start`` runs of the user's: the
        # output's serde too, which runs after the function returns (``ended``
        # watches it where the function runs without ``start``), and the check
        # of a value changed after ``ctx.set``, for a keyed handler's
        # (``Handler._start``): only an unkeyed one's function runs without it)
        attempt.coro = (handler_coroutine(spec, attempt, ctx, rec.input)
                        if self.segment_guard is None or not spec.keyed
                        else spec.start(ctx, rec.input))
        return attempt

    # -- driving a handler ---------------------------------------------------------
    def run_segment(self, attempt: Attempt, throw: BaseException | None) -> Segment:
        """Run the handler until it waits on something not yet complete, or ends."""
        attempt.waiting = None
        attempt.resume_scheduled = False
        return self.drive(attempt, throw)

    def drive(self, attempt: Attempt, throw: BaseException | None) -> Segment:
        """``run_segment`` without its reset: a segment that goes on (the fused
        resume task, ``_tasks``, hands over here once it is off its common case)."""
        coro = attempt.coro
        assert coro is not None
        guard = self.segment_guard
        while True:
            try:
                if guard is not None:
                    # (``guard.enter(attempt)`` and ``guard.exit()`` in line: the
                    # hook sees no call of theirs, ``_strict.StrictGuard``)
                    guard.attempt = attempt
                    previous = getprofile()
                    if previous is not None:  # (a call only then: ``previous_profile``)
                        previous = previous_profile(guard, previous)
                    guard.previous = previous
                    guard.active = True
                    setprofile(guard.hook)
                try:
                    self.step_holder = None  # (see ``__init__``)
                    # (in the attempt's own context: ``Attempt.context``)
                    if throw is not None:
                        exc, throw = throw, None
                        yielded = attempt.context.run(coro.throw, exc)
                    else:
                        yielded = attempt.context.run(coro.send, None)
                finally:
                    if guard is not None:
                        setprofile(guard.previous)
                        guard.active = guard.paused = False
                        guard.attempt = None
                        if guard.outer is not None:
                            profile_back(guard.outer)
                            guard.outer = None
            except (Exception, Abort) as err:
                return self.ended(attempt, err)
            how = self.waits(attempt, yielded)
            if how is not None:
                return how
            throw = attempt.take_cancel(yielded)

    def ended(self, attempt: Attempt, err: BaseException) -> Segment:
        """How a segment whose handler raised ``err`` ended (``StopIteration``: it returned)."""
        if isinstance(err, Abort):
            return ABORTED, None
        if not attempt.alive:
            return GONE, None
        if isinstance(err, StopIteration):
            value = err.value
            output = attempt.output
            if output is not None:  # (the handler's function ran without ``start``)
                if type(value) is int:
                    value = b"%d" % value
                else:
                    guard = self.segment_guard
                    try:
                        if guard is None:
                            value = output(value)
                        else:  # (strict mode: watched, as in ``start``)
                            guard.enter(attempt)
                            try:
                                value = output(value)
                            finally:
                                guard.exit()
                    except Exception as bad:  # noqa: BLE001 - as if ``start`` had raised it
                        return self.ended(attempt, bad)
            # (``Value(...)``, without the named tuple's ``__new__``, a Python call)
            return FINISHED, _new_tuple(Value, (value if value is not None else b"",))
        if isinstance(err, TerminalError):
            return FINISHED, failure_of(err)
        if isinstance(err, HandlerError):
            return PAUSE, err
        if ((isinstance(err, RuntimeError) and str(err).startswith(_EVENT_LOOP_ERRORS))
                or _loopless_wait(err)):
            call, source = asyncio_call(err.__traceback__)
            if isinstance(err, AttributeError):  # (its own text says nothing of a loop)
                err = RuntimeError("no running event loop")
            named = f"asyncio.{call}: {err}" if call is not None else str(err)
            return PAUSE, HandlerError(
                f"the handler used an event loop ({named}); handlers run on simdurable's "
                "own loop and may only await context operations (ctx.run_typed, "
                "ctx.sleep, calls, ...) and simdurable's combinators. Put I/O inside "
                f"a step.{asyncio_advice(call)}",
                handler=attempt.handler,
                source=source,
            )
        return RETRY, err

    def waits(self, attempt: Attempt, yielded: Any) -> Segment | None:
        """The handler yielded ``yielded``: how its segment ends, or None when its
        wait is over at once (it goes on, with the cancellation to raise, if any)."""
        if not attempt.alive:
            return ABORTED, attempt.coro
        if yielded is PARKED:
            return RESUME_QUEUED, None
        if not isinstance(yielded, Wait):
            call = asyncio_future_call(yielded)
            made_by = f" (made by asyncio.{call})" if call is not None else ""
            return PAUSE, HandlerError(
                f"the handler awaited {type(yielded).__name__!s}{made_by}, which is not a "
                "simdurable future. Handlers may only await context operations "
                "(ctx.run_typed, ctx.sleep, calls, ...) and simdurable's "
                f"select/gather/as_completed/wait_completed.{asyncio_advice(call)}",
                handler=attempt.handler,
                source=awaiting_source(attempt.coro),
            )
        if attempt.on_wait(yielded):
            if attempt.cancel_pending:
                self._start_awaited(attempt, yielded)
            return None
        if attempt.failure is not None:
            return PAUSE, attempt.failure
        self._block(attempt)
        return WAITING, None

    def _start_awaited(self, attempt: Attempt, wait: Wait) -> None:
        """The handler awaits steps it has not started, and a cancellation it
        has not seen yet is raised at this await: the steps it issued after the
        cancellation was journaled start all the same. So restate-sdk does:
        the await hands the step's action to run before it reads the
        cancellation, and the action runs on (restate-server 1.7.12, restate-sdk
        1.3.0; docs/decisions.md, "A step a cancellation beat"). A step issued
        before it (on a replay: one whose first attempt the cancellation beat)
        does not: restate-sdk does not run it again.
        """
        pending = attempt.pending_steps()
        if not pending:
            return
        journal = attempt.journal
        at = attempt.cursor - 1
        while at >= 0 and journal[at][KIND] != CANCELLED:
            at -= 1
        for index in wait.indices:
            if index > at and index in pending:
                attempt.steps[index].scheduled = True
                self.push_work(("step", attempt.rec.id, attempt, index))

    def _block(self, attempt: Attempt) -> None:
        """The handler waits: queue the steps it issued, or suspend (``always_suspend``)."""
        pending = attempt.pending_steps()
        if attempt.cancel_raised:
            pending = _awaited_too(attempt, pending)
        for index in pending:
            attempt.steps[index].scheduled = True
            self.push_work(("step", attempt.rec.id, attempt, index))
        if self.always_suspend and all(i in attempt.done for i in attempt.steps):
            self.suspend(attempt, "waiting, so the attempt suspends (always_suspend)")

    # -- ending attempts -------------------------------------------------------------
    def kill(self, attempt: Attempt) -> None:
        """Drop an attempt's coroutine and its pending work."""
        attempt.die()
        # Its steps' registrations go too: a plain step's is its future, which
        # holds the attempt, so one left registered (a crash between the closure
        # and its store) would keep the attempt, and through it the engine, in a
        # reference cycle for the garbage collector instead of freeing them.
        attempt.steps.clear()
        if self.attempts.get(attempt.rec.id) is attempt:
            del self.attempts[attempt.rec.id]
        coro = attempt.coro
        attempt.coro = None
        if coro is not None:
            close(coro, attempt.context)
        if attempt.queued:
            attempt.queued = 0
            self.scheduler.discard(lambda t: task_attempt(t) is attempt)

    def abandon(self) -> None:
        """Close every handler still running, now: a run that ends (or is cut
        short) with attempts in flight would otherwise leave their coroutines to
        the garbage collector, whose ``finally:`` blocks then run later, during
        another run. Each attempt dies first, so its context refuses durable
        operations (they raise ``Abort``) while its coroutine unwinds. The
        attempts stay listed, so that what each waited on can still be told."""
        for attempt in sorted(self.attempts.values(), key=lambda a: a.rec.seq):
            attempt.die()
            coro, attempt.coro = attempt.coro, None
            if coro is not None:
                close(coro, attempt.context)

    def drop_work(self) -> None:
        """Forget every queued "step" and "resume" task (the process that ran them died)."""
        self.scheduler.discard(lambda t: type(t) is not InvocationRecord
                               and (type(t) is not tuple or t[0] != "start"))
        for attempt in self.attempts.values():
            attempt.queued = 0
            attempt.unhand()

    def suspend(self, attempt: Attempt, why: str) -> None:
        rec = attempt.rec
        self.kill(attempt)
        self.suspended.add(rec.id)
        self.trace("suspend", rec.id, why)
        if why.startswith("fault"):
            self.scheduler.push(rec)  # (its "start" task)

    # -- queued work -------------------------------------------------------------------
    def push_work(self, task: tuple[str, str, Attempt | None, Any]) -> None:
        """Push a "step" task, counting it on its attempt for ``kill``."""
        attempt = task[2]
        if attempt is not None:
            attempt.queued += 1
        self.scheduler.push(task)

    def push_resume(self, attempt: Attempt) -> None:
        """Push ``attempt``'s "resume" task (the attempt itself), handing nothing."""
        attempt.queued += 1
        attempt.unhand()
        self.scheduler.push(attempt)

    def count_work(self, attempt: Attempt) -> None:
        """A "resume" task placed in the ready list directly (``run_lone_step``)."""
        attempt.queued += 1

    def unqueue(self, attempt: Attempt | None) -> None:
        """A task of ``attempt`` left the ready set."""
        if attempt is not None:
            attempt.queued -= 1

    def notify(self, inv_id: str, entry: RawEntry) -> None:
        """A completion (or cancellation) was stored: wake the handler if it can go on."""
        attempt = self.attempts.get(inv_id)
        if attempt is not None and attempt.alive and attempt.state == LIVE:
            ready = attempt.observe(entry) or (
                entry[KIND] == CANCELLED and attempt.waiting is not None
            )
            if ready and not attempt.resume_scheduled:
                attempt.resume_scheduled = True
                if attempt is self.in_place:  # run_lone_step resumes it, or queues it
                    self.resume_at = len(self.scheduler.ready)
                    return
                self.push_resume(attempt)
        elif inv_id in self.suspended:
            self.suspended.discard(inv_id)
            self.scheduler.push(("start", inv_id, 0, 0))

