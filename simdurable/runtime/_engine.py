"""The durable server: invocations, locks, timers, retries, crashes.

The engine is the server half of the runtime and the host of attempts. It is
sans-I/O: it never sleeps, reads a clock or starts a thread. A host drives it:

* ``run_task()`` does one unit of ready work (start or resume an attempt, run
  a step's closure) and returns; the scheduler's chooser picks which.
* ``advance_time()`` moves the clock to the next timer and fires what is due.

The simulation host loops over both on a virtual clock. The live host calls
the same two on trio with the real clock, running step closures itself
(``inline_steps=False``: ``run_task`` then hands steps out as ``StepRequest``s).
"""

from __future__ import annotations

import inspect
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from ._errors import (
    HandlerError,
    InternalError,
    InvalidTargetError,
    RetryableError,
    SerializationError,
    TerminalError,
)
from ._faults import (
    AFTER_STORE,
    BEFORE,
    CRASH,
    DELAY,
    EFFECT_DONE,
    FAIL,
    POINT_KINDS,
    RESTART,
    STEP_KINDS,
    SUSPEND,
    TERMINAL,
    TIMER,
    Fault,
    FaultPoint,
    Injector,
    make_exception,
)
from ._ids import (
    awakeable_id,
    decode_promise,
    make_id,
    parse_awakeable_id,
)
from ._invocation import (
    LIVE,
    PARKED,
    Abort,
    Attempt,
    StepInfo,
    StepSpec,
    Wait,
    current_step,
)
from ._journal import (
    AWAKEABLE,
    CALL,
    CANCEL,
    CANCELLED,
    CLEAR,
    CLEAR_ALL,
    COMPLETION,
    GET,
    KEYS,
    PROMISE_COMPLETE,
    PROMISE_GET,
    PROMISE_PEEK,
    REJECT_AWAKEABLE,
    RESOLVE_AWAKEABLE,
    RUN,
    SEND,
    SET,
    SLEEP,
    Completion,
    Entry,
    Failure,
    Value,
    new_tuple,
)
from ._retry import InvocationRetryPolicy
from ._scheduler import Scheduler
from ._store import COMPLETED, PAUSED, PENDING, InvocationRecord, Store
from ._trace import Event, event_text

_EVENT_LOOP_ERRORS: Final = frozenset(
    {"no running event loop", "must be called from async context"}
)
WORKFLOW_ALREADY_INVOKED: Final = "the workflow method was already invoked"
PROMISE_ALREADY_COMPLETED: Final = "promise was already completed"
# Restate's default idempotency and workflow retention: 24 hours.
DEFAULT_RETENTION_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """What the engine knows of a handler.

    ``start(ctx, input_bytes)`` returns the coroutine of one attempt; it
    deserializes the input, runs the user's function and returns the
    serialized output.
    """

    service: str
    name: str
    service_kind: str  # "service" | "object" | "workflow"
    kind: str | None  # None | "exclusive" | "shared" | "workflow"
    start: Callable[[Any, bytes], Coroutine[Any, Any, bytes]]
    retry_policy: InvocationRetryPolicy | None = None
    fn: Any = None
    # How long after completion a duplicate (same idempotency key; for a
    # workflow's run, same workflow id) still gets this invocation.
    retention_ms: int = DEFAULT_RETENTION_MS

    @property
    def keyed(self) -> bool:
        return self.service_kind in ("object", "workflow")

    @property
    def exclusive(self) -> bool:
        return self.keyed and self.kind in ("exclusive", "workflow", None)


@dataclass(frozen=True, slots=True)
class StepRequest:
    """A step's closure for a live host to run, then ``finish_step``."""

    attempt: Attempt
    index: int
    spec: StepSpec
    injected: Fault | None


StepOutcome = tuple[str, Any]  # ("ok", value) | ("terminal", TerminalError) | ("error", exc)


def describe_exception(exc: BaseException) -> str:
    return repr(exc)


def drive(awaitable: Any, step: str) -> Any:
    """Run an async step closure to completion without an event loop."""
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


# Commands whose completion comes from outside the invocation (a timer, a
# callee, a promise): rebuilt as waiters when the engine (re)loads the store.
_WAITED_FROM_OUTSIDE: Final = frozenset({SLEEP, CALL, PROMISE_GET})

# Common step results, known not to be awaitable without asking ``inspect``.
_NOT_AWAITABLE: Final = (int, str, bytes, float, dict, list, tuple, type(None))

# What ``Engine.run_lone_step`` did.
NOT_RUN: Final = 0
RESUMED: Final = 1
RAN_PARKED: Final = 2


def _close(coro: Coroutine[Any, Any, Any]) -> None:
    """Close a handler's coroutine unless it is running (or already closed)."""
    if getattr(coro, "cr_frame", None) is not None and not getattr(coro, "cr_running", False):
        try:
            coro.close()
        except BaseException:  # noqa: BLE001 - a dying handler may raise anything
            pass


class Engine:
    """See the module docstring."""

    def __init__(
        self,
        handlers: dict[tuple[str, str], HandlerSpec],
        store: Store,
        scheduler: Scheduler,
        make_context: Callable[[Attempt, HandlerSpec], Any],
        *,
        injector: Injector | None = None,
        retry_policy: InvocationRetryPolicy | None = None,
        epoch_ms: int = 0,
        trace: Callable[[Event], None] | None = None,
        deferred_trace: bool = False,
        segment_guard: Any = None,
        always_suspend: bool = False,
        inline_steps: bool = True,
    ) -> None:
        self.handlers = handlers
        self.store = store
        self.scheduler = scheduler
        self.make_context = make_context
        self.injector = injector or Injector()
        self.retry_policy = retry_policy or InvocationRetryPolicy()
        self.epoch_ms = epoch_ms
        self._trace = trace
        self.deferred_trace = deferred_trace
        self.segment_guard = segment_guard
        self.always_suspend = always_suspend
        self.inline_steps = inline_steps
        # Tasks done so far (``run_task`` and steps run in place); the host
        # stops at ``max_tasks``, so steps are run in place only below it.
        self.tasks_run = 0
        # ``run_lone_step`` may run steps in place (an optimisation that must
        # not change a run: tests compare runs with it on and off).
        self.steps_in_place = inline_steps
        # The attempt whose step runs in place right now, and where in the
        # ready list its resume task belongs once the step completes it.
        self._in_place: Attempt | None = None
        self._resume_at = 0
        self.max_tasks: float = float("inf")
        # Every closure execution: (invocation, index, step, attempt, target).
        self.step_run_log: list[tuple[str, int, str, int, str]] = []
        self.misuse: list[HandlerError] = []
        self.paused_errors: dict[str, HandlerError] = {}
        self.finished_hooks: list[Callable[[InvocationRecord], None]] = []
        self.crashes = 0
        self._timed_fired: set[int] = set()
        self._load()

    # -- derived state ------------------------------------------------------
    def _load(self) -> None:
        """(Re)build everything volatile from the store."""
        self.scheduler._ready.clear()
        self.scheduler.clear_timers()
        # Ready "step"/"resume" tasks per (invocation, attempt number), so that
        # killing an attempt scans the ready set only when it has work there.
        self._queued: dict[tuple[str, int], int] = {}
        self._attempts: dict[str, Attempt] = {}
        self._suspended: set[str] = set()
        self._records: dict[str, InvocationRecord] = {}
        self._done: dict[str, set[int]] = defaultdict(set)
        self._call_waiters: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self._promise_waiters: dict[tuple[str, str, str], list[tuple[str, int]]] = (
            defaultdict(list)
        )
        self._locks: dict[tuple[str, str], list[str]] = defaultdict(list)
        records = self.store.invocations()
        self._seq = max((r.seq for r in records), default=0)
        for rec in records:
            self._records[rec.id] = rec
        late: list[tuple[str, int, Completion]] = []
        for rec in records:
            if rec.status == PAUSED:  # it keeps its object's key until resumed or cancelled
                spec = self.handlers.get((rec.service, rec.handler))
                if spec is not None and spec.exclusive and rec.key is not None:
                    self._locks[(rec.service, rec.key)].append(rec.id)
                continue
            if rec.status != PENDING:
                continue
            self._restore_waits(rec, late)
            spec = self.handlers.get((rec.service, rec.handler))
            if spec is not None and spec.exclusive and rec.attempts == 0 and (
                rec.run_at_ms > self.now_ms
            ):
                self.scheduler.add_timer(rec.run_at_ms, ("deliver", rec.id))
            else:
                self._enqueue(rec)
        for i, fault in enumerate(self.injector.timed()):
            assert fault.at_ms is not None
            if i not in self._timed_fired:
                self.scheduler.add_timer(fault.at_ms, ("fault", i))
        for inv_id, index, completion in late:
            self.deliver(inv_id, index, completion)

    def _restore_waits(self, rec: InvocationRecord, late: list[tuple[str, int, Completion]]
                       ) -> None:
        """Rebuild from its journal what a pending invocation waits on.

        Timers for its sleeps, and waiters for its calls and promises; those
        already completed outside (a callee that finished, a promise resolved
        while it could not see it) go into ``late``, to be delivered.
        """
        journal = self.store.journal(rec.id)
        done = self._done[rec.id] = set()
        # One pass for the completions and the commands that may wait on
        # something outside the invocation: a replay starts here.
        waits = []
        for i, e in enumerate(journal):
            kind = e.kind
            if kind == COMPLETION:
                done.add(e.target)
            elif kind in _WAITED_FROM_OUTSIDE and e.result is None:
                waits.append(i)
        for i in waits:
            if i in done:
                continue
            e = journal[i]
            if e.kind == SLEEP:
                self.scheduler.add_timer(e.wake_ms, ("sleep", rec.id, i))
            elif e.kind == CALL:
                callee = self._records.get(e.ref)
                if callee is not None and callee.status == COMPLETED:
                    assert callee.result is not None
                    late.append((rec.id, i, callee.result))
                elif (rec.id, i) not in self._call_waiters[e.ref]:
                    self._call_waiters[e.ref].append((rec.id, i))
            elif e.kind == PROMISE_GET:
                assert rec.key is not None
                existing = self.store.promise(rec.service, rec.key, e.name)
                waiters = self._promise_waiters[(rec.service, rec.key, e.name)]
                if existing is not None:
                    late.append((rec.id, i, existing))
                elif (rec.id, i) not in waiters:
                    waiters.append((rec.id, i))

    # -- clock and trace ----------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self.scheduler.now_ms

    def wall_ms(self) -> int:
        """What ``ctx.time()`` reads: the epoch plus the clock."""
        return self.epoch_ms + self.scheduler.now_ms

    def trace(self, kind: str, inv: str, text: str) -> None:
        if self._trace is not None:
            self._trace((self.scheduler.now_ms, kind, inv, text))

    # -- records ------------------------------------------------------------
    def record(self, inv_id: str) -> InvocationRecord:
        return self._records[inv_id]

    def records(self) -> list[InvocationRecord]:
        return sorted(self._records.values(), key=lambda r: r.seq)

    def _put(self, rec: InvocationRecord) -> None:
        self._records[rec.id] = rec
        self.store.put_invocation(rec)

    def spec_of(self, rec: InvocationRecord) -> HandlerSpec:
        return self.handlers[(rec.service, rec.handler)]

    def resolve(self, service: str, handler: str, key: str | None) -> HandlerSpec:
        spec = self.handlers.get((service, handler))
        if spec is None:
            known = sorted(f"{s}/{h}" for s, h in self.handlers)
            raise InvalidTargetError(
                f"no handler {service}/{handler} is registered; known handlers: "
                f"{', '.join(known) or '(none)'}"
            )
        if spec.keyed and key is None:
            raise InvalidTargetError(
                f"{service} is a {'virtual object' if spec.service_kind == 'object' else 'workflow'}"
                f": its handlers need a key, like \"{service}/<key>/{handler}\""
            )
        if not spec.keyed and key is not None:
            raise InvalidTargetError(
                f"{service} is a service: its handlers take no key, like \"{service}/{handler}\""
            )
        return spec

    # -- submission ---------------------------------------------------------
    def submit(
        self, service: str, handler: str, key: str | None, input: bytes, **options: Any
    ) -> str:
        """Create an invocation (or find the one it duplicates); returns its id.

        ``options`` are those of ``create``.
        """
        with self.store.atomic():
            inv_id, follow_up = self.create(service, handler, key, input, **options)
        follow_up()
        return inv_id

    def create(
        self,
        service: str,
        handler: str,
        key: str | None,
        input: bytes,
        *,
        delay_ms: int = 0,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        inv_id: str | None = None,
        caller: tuple[str, int] | None = None,
    ) -> tuple[str, Callable[[], None]]:
        """Store an invocation; return its id and the follow-up that schedules it.

        The follow-up must run once the write is committed: a handler's call is
        stored in the same transaction as the call's journal entry, and only
        then may the callee start (or a duplicate answer the caller).
        """
        spec = self.resolve(service, handler, key)
        self._seq += 1
        scope, existing = self._registered(spec, key, idempotency_key)
        renewed = existing is not None and self._expired(existing, spec)
        if renewed:
            assert existing is not None
            self._forget(existing, spec)
            existing = None
        if existing is not None and spec.kind != "workflow":
            def attach() -> None:
                self.trace("dedup", existing, f"idempotency key {idempotency_key!r}")
                if caller is not None:
                    self._attach(existing, caller)

            return existing, attach
        duplicate = existing is not None
        if duplicate:
            inv_id = make_id("inv", "wf-dup", service, key, self._seq)
        elif spec.kind == "workflow":
            inv_id = make_id("inv", "wf", service, key, *((self._seq,) if renewed else ()))
        elif idempotency_key:
            inv_id = make_id("inv", "ik", service, key, handler, idempotency_key,
                             *((self._seq,) if renewed else ()))
        elif inv_id is None:
            inv_id = make_id("inv", service, key, handler, self._seq)
        rec = InvocationRecord(
            id=inv_id,
            service=service,
            handler=handler,
            key=key,
            input=input,
            seq=self._seq,
            run_at_ms=self.now_ms + max(0, delay_ms),
            created_ms=self.now_ms,
            caller_id=caller[0] if caller else "",
            caller_index=caller[1] if caller else -1,
            idempotency_key=idempotency_key or "",
            headers=dict(headers or {}),
        )
        self._put(rec)
        if scope is not None and not duplicate:
            self.store.set_idempotency(scope, inv_id)

        def schedule() -> None:
            if caller is not None:
                self._call_waiters[rec.id].append(caller)
            if duplicate:
                self.trace("submit", rec.id, f"{rec.target} (already invoked)")
                self._complete_invocation(rec, Failure(409, WORKFLOW_ALREADY_INVOKED))
                return
            self.trace("submit", rec.id,
                       f"{rec.target}" + (f" delay={delay_ms}ms" if delay_ms else ""))
            if delay_ms > 0:
                self.scheduler.add_timer(rec.run_at_ms, ("deliver", rec.id))
            else:
                self._enqueue(rec)

        return inv_id, schedule

    def deduplicated_by(self, service: str, handler: str, key: str | None,
                        idempotency_key: str | None, *, now_ms: int | None = None
                        ) -> str | None:
        """The invocation a submission would get instead of a new one, if any:
        the one with its idempotency key (or, for a workflow's run, its
        workflow id), while its retention lasts (at ``now_ms``: a live host's
        clock runs on between its turns)."""
        spec = self.handlers.get((service, handler))
        if spec is None:
            return None
        _, existing = self._registered(spec, key, idempotency_key)
        if existing is None or self._expired(existing, spec, now_ms):
            return None
        return existing

    def _registered(self, spec: HandlerSpec, key: str | None, idempotency_key: str | None
                    ) -> tuple[str | None, str | None]:
        """Where a submission's duplicates are registered, and the invocation there."""
        scope = _scope(spec, key, idempotency_key)
        return scope, self.store.idempotency(scope) if scope is not None else None

    def _expired(self, inv_id: str, spec: HandlerSpec, now_ms: int | None = None) -> bool:
        rec = self._records.get(inv_id)
        now = self.now_ms if now_ms is None else now_ms
        return (rec is not None and rec.status == COMPLETED
                and now >= rec.finished_ms + spec.retention_ms)

    def _forget(self, inv_id: str, spec: HandlerSpec) -> None:
        """Retention over: a duplicate now starts anew. A workflow's state and
        promises go with its run, as Restate purges them."""
        rec = self._records[inv_id]
        what = "workflow id" if spec.kind == "workflow" else "idempotency key"
        self.trace("expired", inv_id, f"{rec.target}: retention ended "
                                      f"{self.now_ms - rec.finished_ms - spec.retention_ms}ms "
                                      f"ago; its {what} starts a new invocation")
        if spec.kind == "workflow" and rec.key is not None:
            self.store.clear_all_state(rec.service, rec.key)
            self.store.clear_promises(rec.service, rec.key)

    def _attach(self, callee: str, caller: tuple[str, int]) -> None:
        rec = self._records[callee]
        if rec.status == COMPLETED and rec.result is not None:
            self.deliver(caller[0], caller[1], rec.result)
        else:
            self._call_waiters[callee].append(caller)

    def _enqueue(self, rec: InvocationRecord) -> None:
        spec = self.spec_of(rec)
        if spec.exclusive:
            assert rec.key is not None
            queue = self._locks[(rec.service, rec.key)]
            if rec.id not in queue:
                queue.append(rec.id)
            if queue[0] != rec.id:
                return
        self._start_when_due(rec)

    def _start_when_due(self, rec: InvocationRecord) -> None:
        if rec.run_at_ms > self.now_ms:
            self.scheduler.add_timer(rec.run_at_ms, ("start", rec.id))
        else:
            self.scheduler.push(("start", rec.id, 0, 0))

    def _holds_lock(self, rec: InvocationRecord) -> bool:
        spec = self.spec_of(rec)
        if not spec.exclusive:
            return True
        assert rec.key is not None
        queue = self._locks.get((rec.service, rec.key))
        return queue is not None and bool(queue) and queue[0] == rec.id

    def _release_lock(self, rec: InvocationRecord) -> None:
        spec = self.spec_of(rec)
        if not spec.exclusive:
            return
        assert rec.key is not None
        queue = self._locks.get((rec.service, rec.key))
        if queue and rec.id in queue:
            head = queue[0] == rec.id
            queue.remove(rec.id)
            if head and queue:
                self._start_when_due(self._records[queue[0]])

    # -- the loop -----------------------------------------------------------
    def has_ready(self) -> bool:
        return self.scheduler.has_ready()

    def run_task(self) -> StepRequest | None:
        """Do one ready task. With ``inline_steps=False`` steps come back as requests."""
        task = self.scheduler.pop()
        self.tasks_run += 1
        kind, inv_id, number, index = task
        if kind != "start":
            self._unqueue(inv_id, number)
        if kind == "start":
            self._start(inv_id)
        elif kind == "resume":
            attempt = self._attempts.get(inv_id)
            if attempt is not None and attempt.number == number and attempt.alive:
                self._advance(attempt, attempt.take_cancel(attempt.waiting))
        elif kind == "step":
            return self._step_task(inv_id, number, index)
        else:  # pragma: no cover - tasks are built here
            raise InternalError(f"unknown task {task!r}")
        return None

    def advance_time(self, until_ms: int | None = None) -> bool:
        """Jump to the next timer (not past ``until_ms``) and fire what is due."""
        head = self.scheduler.peek_timer()
        while head is not None and self._stale(head[1]):
            self.scheduler.drop_first_timer()
            head = self.scheduler.peek_timer()
        deadline = None if head is None else head[0]
        if deadline is None or (until_ms is not None and deadline > until_ms):
            if until_ms is not None and until_ms > self.now_ms:
                self.scheduler.jump_to(until_ms)
            return False
        self.scheduler.jump_to(deadline)
        for payload in self.scheduler.pop_due():
            self._fire(payload)
        return True

    def _stale(self, payload: tuple[Any, ...]) -> bool:
        """A timer that can no longer do anything (so time need not jump to it)."""
        kind = payload[0]
        if kind == "fault":
            return payload[1] in self._timed_fired or not self.injector.enabled
        rec = self._records.get(payload[1])
        if rec is None or rec.status != PENDING:
            return True
        if kind == "sleep":
            return payload[2] in self._done[rec.id]
        if kind == "step":
            attempt = self._attempts.get(rec.id)
            return attempt is None or attempt.number != payload[2]
        if kind == "start":
            return rec.id in self._attempts
        return False

    def _fire(self, payload: tuple[Any, ...]) -> None:
        kind = payload[0]
        if kind == "sleep":
            _, inv_id, index = payload
            rec = self._records.get(inv_id)
            if rec is not None and rec.status == PENDING and index not in self._done[inv_id]:
                self.trace("timer", inv_id, f"sleep #{index} fired")
                self.deliver(inv_id, index, Value(b""))
        elif kind == "start":
            rec = self._records.get(payload[1])
            if rec is not None and rec.status == PENDING and rec.id not in self._attempts:
                if self._holds_lock(rec):
                    self.scheduler.push(("start", rec.id, 0, 0))
        elif kind == "deliver":
            rec = self._records.get(payload[1])
            if rec is not None and rec.status == PENDING:
                self._enqueue(rec)
        elif kind == "step":
            _, inv_id, number, index = payload
            self._push_work(("step", inv_id, number, index))
        elif kind == "fault":
            fault = self.injector.timed()[payload[1]]
            if payload[1] in self._timed_fired or not self.injector.enabled:
                return
            self._timed_fired.add(payload[1])
            self.injector.fired.append((None, fault))
            self.trace("fault", "", f"{fault} fired at {self.now_ms}ms")
            if fault.kind == RESTART:
                self.restart(f"{fault}")
            elif fault.kind == CRASH:
                self.crash(f"{fault}")
        else:  # pragma: no cover
            raise InternalError(f"unknown timer {payload!r}")

    # -- attempts -----------------------------------------------------------
    def _start(self, inv_id: str) -> None:
        rec = self._records.get(inv_id)
        if rec is None or rec.status != PENDING or inv_id in self._attempts:
            return
        if not self._holds_lock(rec):
            return
        if rec.run_at_ms > self.now_ms:
            self.scheduler.add_timer(rec.run_at_ms, ("start", rec.id))
            return
        spec = self.spec_of(rec)
        self._suspended.discard(inv_id)
        rec.attempts += 1
        self._put(rec)
        journal = self.store.journal(inv_id)
        attempt = Attempt(self, rec, journal, rec.attempts, spec.kind, spec.service_kind)
        self._attempts[inv_id] = attempt
        self.trace(
            "attempt",
            inv_id,
            f"attempt {attempt.number} of {rec.target}"
            + (f" (replaying {len(journal)} entries)" if journal else ""),
        )
        ctx = self.make_context(attempt, spec)
        attempt.coro = spec.start(ctx, rec.input)
        self._advance(attempt, None)

    def _advance(self, attempt: Attempt, throw: BaseException | None) -> None:
        """Run the handler until it waits on something not yet complete, or ends."""
        coro = attempt.coro
        assert coro is not None
        guard = self.segment_guard
        attempt.waiting = None
        attempt.resume_scheduled = False
        while True:
            try:
                if guard is not None:
                    guard.enter(attempt)
                try:
                    if throw is not None:
                        exc, throw = throw, None
                        yielded = coro.throw(exc)
                    else:
                        yielded = coro.send(None)
                finally:
                    if guard is not None:
                        guard.exit()
            except StopIteration as stop:
                if attempt.alive:
                    self._finish(attempt, Value(stop.value if stop.value is not None else b""))
                return
            except TerminalError as err:
                if attempt.alive:
                    self._finish(attempt, Failure(err.status_code, err.message))
                return
            except Abort:
                self._after_abort(attempt)
                return
            except HandlerError as err:
                if attempt.alive:
                    self._pause(attempt, err)
                return
            except Exception as err:  # noqa: BLE001 - any other exception is retryable
                if not attempt.alive:
                    return
                if isinstance(err, RuntimeError) and str(err) in _EVENT_LOOP_ERRORS:
                    self._pause(attempt, HandlerError(
                        f"the handler used an event loop ({err}); handlers run on simdurable's "
                        "own loop and may only await context operations (ctx.run_typed, "
                        "ctx.sleep, calls, ...) and simdurable's combinators. Put I/O inside "
                        "a step.",
                        handler=attempt.handler,
                    ))
                    return
                self._attempt_failed(attempt, err, f"handler raised {describe_exception(err)}")
                return
            if not attempt.alive:
                self._after_abort(attempt)
                _close(coro)
                return
            if yielded is PARKED:
                return
            if not isinstance(yielded, Wait):
                self._pause(
                    attempt,
                    HandlerError(
                        f"the handler awaited {type(yielded).__name__!s}, which is not a "
                        "simdurable future. Handlers may only await context operations "
                        "(ctx.run_typed, ctx.sleep, calls, ...) and simdurable's "
                        "select/gather/as_completed/wait_completed.",
                        handler=attempt.handler,
                    ),
                )
                return
            if attempt.on_wait(yielded):
                throw = attempt.take_cancel(yielded)
                continue
            if attempt.failure is not None:
                self._pause(attempt, attempt.failure)
                return
            self._block(attempt)
            return

    def _block(self, attempt: Attempt) -> None:
        pending = attempt.pending_steps()
        for index in pending:
            attempt.steps[index].scheduled = True
            self._push_work(("step", attempt.rec.id, attempt.number, index))
        if self.always_suspend and all(i in attempt.done for i in attempt.steps):
            self._suspend(attempt, "waiting, so the attempt suspends (always_suspend)")

    def _after_abort(self, attempt: Attempt) -> None:
        failure = attempt.failure
        if failure is not None and isinstance(failure, HandlerError):
            self._pause(attempt, failure)
        else:
            self._kill(attempt)

    def _kill(self, attempt: Attempt) -> None:
        """Drop an attempt's coroutine and its pending work."""
        attempt.die()
        if self._attempts.get(attempt.rec.id) is attempt:
            del self._attempts[attempt.rec.id]
        coro = attempt.coro
        attempt.coro = None
        if coro is not None:
            _close(coro)
        inv_id, number = attempt.rec.id, attempt.number
        if self._queued.pop((inv_id, number), 0):
            self.scheduler.discard(
                lambda t: t[1] == inv_id and t[2] == number and t[0] != "start"
            )

    def _push_work(self, task: tuple[str, str, int, int]) -> None:
        """Push a "step" or "resume" task, counting it for ``_kill``."""
        key = (task[1], task[2])
        self._queued[key] = self._queued.get(key, 0) + 1
        self.scheduler.push(task)

    def _unqueue(self, inv_id: str, number: int) -> None:
        key = (inv_id, number)
        left = self._queued.get(key, 0) - 1
        if left > 0:
            self._queued[key] = left
        else:
            self._queued.pop(key, None)

    def _finish(self, attempt: Attempt, completion: Completion) -> None:
        self._kill(attempt)
        self._complete_invocation(attempt.rec, completion)

    def _complete_invocation(self, rec: InvocationRecord, completion: Completion) -> None:
        rec.status = COMPLETED
        rec.result = completion
        rec.finished_ms = self.now_ms
        self._put(rec)
        self._done.pop(rec.id, None)
        if isinstance(completion, Value):
            shown = completion.data[:80].decode("utf-8", "replace")
            self.trace("done", rec.id, f"{rec.target} -> {shown}")
        else:
            self.trace("done", rec.id, f"{rec.target} -> TerminalError({completion.message!r}, "
                                       f"{completion.code})")
        for caller_id, index in self._call_waiters.pop(rec.id, []):
            self.deliver(caller_id, index, completion)
        self._release_lock(rec)
        for hook in self.finished_hooks:
            hook(rec)

    def _pause(self, attempt: Attempt, err: BaseException) -> None:
        """A bug that retrying cannot fix: stop the invocation and say why."""
        rec = attempt.rec
        self._kill(attempt)
        if isinstance(err, HandlerError):
            if err.handler is None:
                err.handler = rec.target
                err.args = (err._render(),)
            if err not in self.misuse:
                self.misuse.append(err)
            self.paused_errors[rec.id] = err
        rec.status = PAUSED
        rec.last_failure = f"{type(err).__name__}: {err}"
        self._put(rec)
        self.trace("paused", rec.id, rec.last_failure.splitlines()[0])
        for hook in self.finished_hooks:
            hook(rec)

    def record_misuse(self, inv_id: str, err: HandlerError) -> None:
        if err not in self.misuse:
            self.misuse.append(err)

    def _attempt_failed(
        self,
        attempt: Attempt,
        err: BaseException,
        reason: str,
        *,
        delay_ms: int | None = None,
        counts: bool = True,
    ) -> None:
        rec = attempt.rec
        self._kill(attempt)
        self._retry_later(rec, reason, delay_ms=delay_ms, counts=counts,
                          retry_after=getattr(err, "retry_after", None))

    def _retry_later(
        self,
        rec: InvocationRecord,
        reason: str,
        *,
        delay_ms: int | None = None,
        counts: bool = True,
        retry_after: Any = None,
    ) -> None:
        spec = self.spec_of(rec)
        policy = spec.retry_policy or self.retry_policy
        backoff = policy.backoff()
        rec.last_failure = reason
        if counts:
            rec.failures += 1
            if backoff.exhausted(rec.failures, 0):
                if policy.on_max_attempts == "kill":
                    self.trace("killed", rec.id, f"after {rec.failures} attempts: {reason}")
                    self._complete_invocation(rec, Failure(500, reason))
                else:
                    rec.status = PAUSED
                    self._put(rec)
                    self.trace("paused", rec.id, f"after {rec.failures} attempts: {reason}")
                    for hook in self.finished_hooks:
                        hook(rec)
                return
            if delay_ms is None:
                delay_ms = backoff.delay_ms(rec.failures)
        if retry_after is not None:
            from ._retry import to_ms

            delay_ms = to_ms(retry_after, 0)
        delay_ms = delay_ms or 0
        rec.run_at_ms = self.now_ms + delay_ms
        self._put(rec)
        self.trace("retry", rec.id, f"{reason}; next attempt in {delay_ms}ms")
        self.scheduler.add_timer(rec.run_at_ms, ("start", rec.id))

    def _suspend(self, attempt: Attempt, why: str) -> None:
        rec = attempt.rec
        self._kill(attempt)
        self._suspended.add(rec.id)
        self.trace("suspend", rec.id, why)
        if why.startswith("fault"):
            self.scheduler.push(("start", rec.id, 0, 0))

    # -- faults --------------------------------------------------------------
    @property
    def faulty(self) -> bool:
        return self.injector.armed

    def _point(self, attempt: Attempt, phase: str, index: int, name: str, op: str) -> FaultPoint:
        # phase, invocation, target, index, name, op, attempt, time_ms
        return FaultPoint(phase, attempt.rec.id, attempt.handler, index, name, op,
                          attempt.number, self.now_ms)

    def _fault_at(self, attempt: Attempt, phase: str, index: int, name: str, op: str) -> bool:
        """Consult the injector; True if the attempt must stop here."""
        if not self.injector.may_fire(POINT_KINDS, phase):
            return False
        fault = self.injector.at_point(self._point(attempt, phase, index, name, op))
        if fault is None:
            return False
        where = f'{op} "{name}" #{index}' if name else f"{op} #{index}"
        self.trace("fault", attempt.rec.id, f"{fault.kind} at {phase} of {where}")
        if fault.kind == CRASH:
            self.crash(f"crash at {phase} of {where}")
        elif fault.kind == RESTART:
            self.restart(f"restart at {phase} of {where}")
        elif fault.kind == SUSPEND:
            self._suspend(attempt, f"fault: suspended at {phase} of {where}")
        return True

    def crash(self, reason: str) -> None:
        """The service process dies: every attempt is dropped and retried later."""
        self.crashes += 1
        self.trace("crash", "", reason)
        for attempt in sorted(self._attempts.values(), key=lambda a: a.rec.seq):
            rec = attempt.rec
            self._kill(attempt)
            self._retry_later(rec, f"service crashed ({reason})")
        self.scheduler.discard(lambda t: t[0] in ("step", "resume"))
        self._queued.clear()

    def restart(self, reason: str) -> None:
        """The whole server restarts from its store; volatile state is rebuilt."""
        self.crashes += 1
        self.trace("restart", "", reason)
        for attempt in list(self._attempts.values()):
            rec = attempt.rec
            self._kill(attempt)
            rec.failures += 1
            rec.last_failure = f"server restarted ({reason})"
            self._put(rec)
        self._load()

    # -- commands (called by attempts) ----------------------------------------
    def store_command(self, attempt: Attempt, entry: Entry) -> int:
        rec = attempt.rec
        index = len(attempt.journal)
        faulty = self.injector.armed
        if faulty and self._fault_at(attempt, BEFORE, index, entry.name, entry.kind):
            raise Abort()
        now = self.scheduler.now_ms
        if entry.at_ms != now:  # stamp the time; entries are immutable, so a copy
            entry = Entry(entry.kind, entry.name, entry.data, entry.result, entry.target,
                          now, entry.wake_ms, entry.ref)  # _replace, faster
        kind = entry.kind
        after: list[Callable[[], None]] | tuple[()] = ()
        if kind == RUN:  # a step's command has no effect of its own: one write
            stored = self.store.append(rec.id, entry)
        else:
            after = []
            with self.store.atomic():
                entry = self._apply_command(attempt, entry, index, after)
                stored = self.store.append(rec.id, entry)
        if stored != index:
            raise InternalError(
                f"journal of {rec.id} out of step: stored at #{stored}, attempt expected #{index}"
            )
        attempt.journal.append(entry)
        attempt.cursor = index + 1
        if entry.result is not None:
            attempt._see(index, entry.result)
            self._done[rec.id].add(index)
        if self._trace is not None:  # once per command: its text formatted when read
            event: Event = (now, "entry", rec.id, "command", index, kind, entry.name, entry.data)
            self._trace(event if self.deferred_trace else (*event[:3], event_text(event)))
        for action in after:
            action()
        if faulty and kind != RUN and self._fault_at(attempt, AFTER_STORE, index, entry.name, kind):
            raise Abort()
        return index

    def _apply_command(
        self, attempt: Attempt, entry: Entry, index: int, after: list[Callable[[], None]]
    ) -> Entry:
        """Apply a command's effect as it is stored; returns the entry to store.

        Runs inside the store's ``atomic()``; what must wait until the write is
        committed goes into ``after``.
        """
        rec = attempt.rec
        kind = entry.kind
        key = rec.key or ""
        if kind == GET:
            value = self.store.state(rec.service, key).get(entry.name, b"")
            entry = entry._replace(result=Value(value))
        elif kind == KEYS:
            names = sorted(self.store.state(rec.service, key))
            entry = entry._replace(result=Value(json.dumps(names).encode()))
        elif kind == SET:
            assert entry.data is not None
            self.store.set_state(rec.service, key, entry.name, entry.data)
        elif kind == CLEAR:
            self.store.clear_state(rec.service, key, entry.name)
        elif kind == CLEAR_ALL:
            self.store.clear_all_state(rec.service, key)
        elif kind == SLEEP:
            wake = self.now_ms + max(0, entry.wake_ms)
            if self.faulty and self.injector.may_fire((DELAY,), TIMER):
                delay = self.injector.timer_delay(
                    self._point(attempt, TIMER, index, entry.name, SLEEP)
                )
                if delay is not None and delay.by_ms:
                    self.trace("fault", rec.id, f"timer #{index} delayed by {delay.by_ms}ms")
                    wake += delay.by_ms
            entry = entry._replace(wake_ms=wake)
            after.append(lambda: self.scheduler.add_timer(wake, ("sleep", rec.id, index)))
        elif kind in (CALL, SEND):
            entry = self._prepare_call(attempt, entry, index, after)
        elif kind == PROMISE_GET:
            existing = self.store.promise(rec.service, key, entry.name)
            if existing is not None:
                entry = entry._replace(result=existing)
            else:
                pkey = (rec.service, key, entry.name)
                after.append(lambda: self._promise_waiters[pkey].append((rec.id, index)))
        elif kind == PROMISE_PEEK:
            existing = self.store.promise(rec.service, key, entry.name)
            entry = entry._replace(result=existing or Value(b""))
        elif kind == PROMISE_COMPLETE:
            entry = self._complete_promise_entry(rec, entry, after)
        elif kind in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE):
            completion = _awakeable_completion(entry)
            awk = entry.name
            after.append(lambda: self.complete_awakeable(awk, completion, quiet=True))
        elif kind == CANCEL:
            target = entry.name
            after.append(lambda: self.cancel(target))
        return entry

    def _prepare_call(
        self, attempt: Attempt, entry: Entry, index: int, after: list[Callable[[], None]]
    ) -> Entry:
        """Store the callee of a call or send; its id goes into the entry's ``ref``.

        The context passes the target and options as JSON in ``ref``.
        """
        rec = attempt.rec
        meta = json.loads(entry.ref) if entry.ref else {}
        service, handler, key = meta["service"], meta["handler"], meta.get("key")
        delay_ms = int(meta.get("delay_ms", 0))
        child_id, follow_up = self.create(
            service, handler, key, entry.data or b"",
            delay_ms=delay_ms,
            idempotency_key=meta.get("idempotency_key"),
            headers=meta.get("headers"),
            inv_id=make_id("inv", rec.id, index),
            caller=(rec.id, index) if entry.kind == CALL else None,
        )
        after.append(follow_up)
        return entry._replace(
            ref=child_id, wake_ms=self.now_ms + delay_ms if delay_ms else -1
        )

    def _complete_promise_entry(
        self, rec: InvocationRecord, entry: Entry, after: list[Callable[[], None]]
    ) -> Entry:
        key = rec.key or ""
        if self.store.promise(rec.service, key, entry.name) is not None:
            return entry._replace(
                result=Failure(409, PROMISE_ALREADY_COMPLETED)
            )
        completion = decode_promise(entry.data or b"")
        self.store.set_promise(rec.service, key, entry.name, completion)
        pkey = (rec.service, key, entry.name)
        after.append(lambda: self._wake_promise(pkey, completion))
        return entry._replace(result=Value(b""))

    def _wake_promise(self, pkey: tuple[str, str, str], completion: Completion) -> None:
        for inv_id, index in self._promise_waiters.pop(pkey, []):
            self.deliver(inv_id, index, completion)

    # -- completions --------------------------------------------------------
    def deliver(self, inv_id: str, index: int, completion: Completion) -> None:
        """Store the completion of command ``index`` and show it to the handler."""
        rec = self._records.get(inv_id)
        if rec is None or rec.status != PENDING:
            return
        done = self._done[inv_id]
        if index in done:
            return
        entry = new_tuple(Entry, (COMPLETION, "", None, completion, index,
                                  self.scheduler.now_ms, -1, ""))
        self.store.append(inv_id, entry)
        done.add(index)
        if rec.retry_index == index:
            rec.retry_index, rec.retry_count, rec.retry_started_ms = -1, 0, 0
            self._put(rec)
        self._notify(inv_id, entry)

    def _notify(self, inv_id: str, entry: Entry) -> None:
        attempt = self._attempts.get(inv_id)
        if attempt is not None and attempt.alive and attempt.state == LIVE:
            ready = attempt.observe(entry) or (
                entry.kind == CANCELLED and attempt.waiting is not None
            )
            if ready and not attempt.resume_scheduled:
                attempt.resume_scheduled = True
                if attempt is self._in_place:  # run_lone_step resumes it, or queues it
                    self._resume_at = len(self.scheduler._ready)
                    return
                self._push_work(("resume", inv_id, attempt.number, 0))
        elif inv_id in self._suspended:
            self._suspended.discard(inv_id)
            self.scheduler.push(("start", inv_id, 0, 0))

    def complete_awakeable(self, awk: str, completion: Completion, *, quiet: bool = False) -> None:
        parsed = parse_awakeable_id(awk)
        if parsed is None or parsed[0] not in self._records:
            if quiet:
                self.trace("awakeable", "", f"unknown awakeable {awk}")
                return
            raise InvalidTargetError(f"no awakeable {awk!r} exists in this run")
        inv_id, index = parsed
        self.trace("awakeable", inv_id, f"{awk} completed")
        self.deliver(inv_id, index, completion)

    def complete_promise(self, workflow: str, key: str, name: str, completion: Completion) -> bool:
        """Resolve or reject a workflow promise from outside; False if already done."""
        if self.store.promise(workflow, key, name) is not None:
            return False
        self.store.set_promise(workflow, key, name, completion)
        self._wake_promise((workflow, key, name), completion)
        return True

    def resume(self, inv_id: str) -> bool:
        """Resume a paused invocation, as after fixing what paused it.

        It replays its journal (with the handlers served now) and goes on;
        its retry count starts over. False if it was not paused.
        """
        rec = self._records.get(inv_id)
        if rec is None:
            raise InvalidTargetError(f"no invocation {inv_id!r} exists")
        if rec.status != PAUSED:
            return False
        rec.status = PENDING
        rec.failures = 0
        rec.retry_index, rec.retry_count, rec.retry_started_ms = -1, 0, 0
        rec.run_at_ms = self.now_ms
        self._put(rec)
        self.paused_errors.pop(inv_id, None)
        was = rec.last_failure.splitlines()[0] if rec.last_failure else "paused"
        self.trace("resume", inv_id, f"{rec.target} resumes (it was paused: {was})")
        late: list[tuple[str, int, Completion]] = []
        self._restore_waits(rec, late)
        self._enqueue(rec)
        for waiter_id, index, completion in late:
            self.deliver(waiter_id, index, completion)
        return True

    def cancel(self, inv_id: str) -> None:
        """Cancel an invocation: its next wait raises ``TerminalError("cancelled", 409)``.

        A paused invocation cannot run (a bug stopped it), so it ends at once,
        cancelled, and gives up its object's key.
        """
        rec = self._records.get(inv_id)
        if rec is None or rec.status not in (PENDING, PAUSED) or rec.cancelled:
            return
        rec.cancelled = True
        self._put(rec)
        self.trace("cancel", inv_id, rec.target)
        if rec.status == PAUSED or (rec.attempts == 0 and inv_id not in self._attempts):
            self._cancel_calls(inv_id)
            self.paused_errors.pop(inv_id, None)
            self._complete_invocation(rec, Failure(409, "cancelled"))
            return
        entry = Entry(CANCELLED, at_ms=self.now_ms)
        self.store.append(inv_id, entry)
        self._cancel_calls(inv_id)
        self._notify(inv_id, entry)

    def _cancel_calls(self, inv_id: str) -> None:
        """Cancelling an invocation cancels the calls it made (not its sends)."""
        for e in self.store.journal(inv_id):
            if e.kind == CALL and e.ref:
                child = self._records.get(e.ref)
                if child is not None and child.status in (PENDING, PAUSED):
                    self.cancel(e.ref)

    # -- steps ----------------------------------------------------------------
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
        guard = self.segment_guard
        paused = guard is not None and guard.active
        if paused:
            guard.exit()
        try:
            if (
                not self.steps_in_place
                or self.scheduler._ready
                or attempt.state is not LIVE  # so it is alive, too
                or attempt.cancel_pending
                or attempt.failure is not None
                or self.tasks_run >= self.max_tasks
            ):
                return NOT_RUN
            unscheduled = attempt._unscheduled
            if not (len(unscheduled) == 1 and unscheduled[0] == index):
                if attempt.pending_steps() != [index]:
                    return NOT_RUN
            spec = attempt.steps[index]
            injector = self.injector
            if injector.armed and not injector.quiet_at(
                self._point(attempt, "step", index, spec.name, RUN)
            ):
                return NOT_RUN
            # As the loop would: the handler waits, its step is queued, then taken.
            wait = new_tuple(Wait, ((index,), False))
            attempt.waiting = wait
            attempt._unscheduled = []
            spec.scheduled = True
            self.tasks_run += 1
            inv_id, number = attempt.rec.id, attempt.number
            if index in self._done[inv_id]:
                raise _rerun(inv_id, index, spec)
            self._in_place = attempt
            try:
                outcome = self.execute_step(attempt, index, spec, None)
                self.finish_step(attempt, index, spec, outcome)
            finally:
                self._in_place = None
            if not (attempt.alive and attempt.resume_scheduled):
                return RAN_PARKED
            ready = self.scheduler._ready
            if ready or self.tasks_run >= self.max_tasks:
                # Other work is ready too (or the run is out of tasks): queue the
                # resume task where the completion would have queued it.
                key = (inv_id, number)
                self._queued[key] = self._queued.get(key, 0) + 1
                ready.insert(self._resume_at, ("resume", inv_id, number, 0))
                return RAN_PARKED
            # The resume task, as ``run_task`` would take it from the ready list.
            self.tasks_run += 1
            attempt.waiting = None
            attempt.resume_scheduled = False
            if attempt.cancel_pending:  # set by the step's closure, then
                throw = attempt.take_cancel(wait)
                if throw is not None:
                    raise throw
            return RESUMED
        finally:
            if paused:
                guard.enter(attempt)

    def _step_task(self, inv_id: str, number: int, index: int) -> StepRequest | None:
        attempt = self._attempts.get(inv_id)
        if attempt is None or attempt.number != number or not attempt.alive:
            return None
        spec = attempt.steps.get(index)
        if spec is None or index in attempt.done:
            return None
        if index in self._done[inv_id]:
            raise _rerun(inv_id, index, spec)
        injected = None
        if self.injector.may_fire(STEP_KINDS, None):
            injected = self.injector.step_outcome(
                self._point(attempt, "step", index, spec.name, RUN)
            )
            if injected is not None and injected.kind == DELAY:
                by = injected.by_ms or 0
                self.trace("fault", inv_id, f'delay step "{spec.name}" by {by}ms')
                self.scheduler.add_timer(self.now_ms + by, ("step", inv_id, number, index))
                return None
        if not self.inline_steps:
            return StepRequest(attempt, index, spec, injected)
        outcome = self.execute_step(attempt, index, spec, injected)
        self.finish_step(attempt, index, spec, outcome)
        return None

    @property
    def step_runs(self) -> Counter[tuple[str, int]]:
        """Closure executions per (invocation, journal index): the self-check of
        exactly-once (a stored step must never run again)."""
        return Counter((inv, index) for inv, index, *_ in self.step_run_log)

    def step_info(self, attempt: Attempt, index: int, spec: StepSpec) -> StepInfo:
        return StepInfo(attempt.rec.id, attempt.handler, spec.name, index, attempt.number, self)

    def execute_step(
        self, attempt: Attempt, index: int, spec: StepSpec, injected: Fault | None
    ) -> StepOutcome:
        """Run a step's closure here and now (the simulation's way)."""
        token = current_step.set(new_tuple(
            StepInfo, (attempt.rec.id, attempt.handler, spec.name, index, attempt.number, self)
        ))
        try:
            if injected is not None:
                if injected.kind == FAIL:
                    raise make_exception(injected)
                if injected.kind == TERMINAL:
                    raise TerminalError(
                        injected.message or "injected terminal failure", injected.status or 500
                    )
            result = spec.fn(*spec.args, **spec.kwargs)
            if not isinstance(result, _NOT_AWAITABLE) and inspect.isawaitable(result):
                result = drive(result, spec.name)
            outcome: StepOutcome = ("ok", result)
        except TerminalError as err:
            outcome = ("terminal", err)
        except Exception as err:  # noqa: BLE001 - step failures are data
            outcome = ("error", err)
        finally:
            current_step.reset(token)
        self.note_step_ran(attempt, index, spec, injected)
        return outcome

    def note_step_ran(
        self, attempt: Attempt, index: int, spec: StepSpec, injected: Fault | None
    ) -> None:
        if injected is None or injected.kind not in (FAIL, TERMINAL):
            self.step_run_log.append(
                (attempt.rec.id, index, spec.name, attempt.number, attempt.handler)
            )
        if self._trace is not None:  # once per step: its text formatted when read
            event: Event = (self.scheduler.now_ms, "step", attempt.rec.id, "step", spec.name, index)
            self._trace(event if self.deferred_trace else (*event[:3], event_text(event)))

    def finish_step(
        self, attempt: Attempt, index: int, spec: StepSpec, outcome: StepOutcome
    ) -> None:
        """Store a closure's outcome (or retry it), at the fault points around."""
        if not attempt.alive or self._attempts.get(attempt.rec.id) is not attempt:
            return
        if attempt.failure is not None:
            self._pause(attempt, attempt.failure)
            return
        kind, value = outcome
        data = b""
        if kind == "ok":
            try:
                data = spec.serde.serialize(value)
            except (TypeError, ValueError, OverflowError) as err:
                kind, value = "error", SerializationError(
                    f"the step returned a value its serde cannot store: {err}",
                    handler=attempt.handler,
                    step=spec.name,
                    journal_index=index,
                )
        faulty = self.injector.armed
        if faulty and self._fault_at(attempt, EFFECT_DONE, index, spec.name, RUN):
            return
        rec = attempt.rec
        completion: Completion
        if kind == "ok":
            completion = new_tuple(Value, (data,))  # Value(data), for every step
        elif kind == "terminal":
            completion = Failure(value.status_code, value.message)
        else:
            if rec.retry_index != index:
                rec.retry_index, rec.retry_count, rec.retry_started_ms = index, 0, self.now_ms
            rec.retry_count += 1
            self._put(rec)
            reason = f'step "{spec.name}" (#{index}) failed: {describe_exception(value)}'
            backoff = spec.backoff
            if backoff is None:
                self._attempt_failed(attempt, value, reason)
                return
            if backoff.exhausted(rec.retry_count, self.now_ms - rec.retry_started_ms):
                code = value.status_code if isinstance(value, RetryableError) else 500
                completion = Failure(code, describe_exception(value))
                self.trace("step-exhausted", rec.id,
                           f'step "{spec.name}" gave up after {rec.retry_count} attempts')
            else:
                self._attempt_failed(
                    attempt, value, reason,
                    delay_ms=backoff.delay_ms(rec.retry_count), counts=False,
                )
                return
        self.deliver(rec.id, index, completion)
        if faulty and self._fault_at(attempt, AFTER_STORE, index, spec.name, RUN):
            return

    # -- introspection ------------------------------------------------------
    def status(self, inv_id: str) -> str:
        rec = self._records[inv_id]
        if rec.status != PENDING:
            return "failed" if (rec.status == COMPLETED and isinstance(rec.result, Failure)) \
                else rec.status
        attempt = self._attempts.get(inv_id)
        if attempt is not None:
            return "waiting" if attempt.waiting is not None else "running"
        if inv_id in self._suspended:
            return "suspended"
        if rec.run_at_ms > self.now_ms:
            return "backing-off" if rec.attempts else "scheduled"
        if not self._holds_lock(rec):
            return "queued"
        return "ready"

    def waiting_on(self, inv_id: str) -> str:
        """What an unfinished invocation waits for, in words."""
        rec = self._records[inv_id]
        status = self.status(inv_id)
        if status == "queued":
            assert rec.key is not None
            head = self._locks[(rec.service, rec.key)][0]
            return f"queued behind {head} ({self._records[head].target}) for key {rec.key!r}"
        if status == "paused":
            return f"paused: {rec.last_failure}"
        attempt = self._attempts.get(inv_id)
        if attempt is not None and attempt.waiting is not None:
            parts = []
            for i in attempt.waiting.indices:
                if i in attempt.done:
                    continue
                e = attempt.journal[i]
                what = e.describe()
                if e.kind == CALL and e.ref in self._records:
                    what += f" -> {e.ref} ({self.status(e.ref)})"
                elif e.kind == AWAKEABLE:
                    what = f"awakeable {awakeable_id(inv_id, i)}"
                elif e.kind == SLEEP:
                    what += f" until {e.wake_ms}ms"
                parts.append(f"#{i} {what}")
            return "waits on " + ", ".join(parts)
        if status in ("backing-off", "scheduled"):
            return f"{status} until {rec.run_at_ms}ms"
        return status


def _rerun(inv_id: str, index: int, spec: StepSpec) -> InternalError:
    """The exactly-once guard's error: a stored step was about to run again."""
    return InternalError(
        f"step {spec.name!r} (#{index}) of {inv_id} is stored and was about to run again"
    )


def _awakeable_completion(entry: Entry) -> Completion:
    if entry.kind == RESOLVE_AWAKEABLE:
        return Value(entry.data or b"")
    payload = json.loads(entry.data or b"{}")
    return Failure(int(payload.get("code", 500)), str(payload.get("message", "")))


def _scope(spec: HandlerSpec, key: str | None, idempotency_key: str | None) -> str | None:
    """Where a submission's duplicates are looked up: by workflow id for a
    workflow's run, else by idempotency key (None: every submission is new)."""
    if spec.kind == "workflow":
        return f"wf\x1f{spec.service}\x1f{key}"
    if idempotency_key:
        return f"ik\x1f{spec.service}\x1f{key}\x1f{spec.name}\x1f{idempotency_key}"
    return None
