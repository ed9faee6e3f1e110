"""An invocation's life: submitted, queued for its key, attempted, retried, ended.

Owns what happens to an invocation between its submission and its end: when
its attempts start (after its delay, once it holds its key), what a
handler's segment ending means (done, paused, retried after a backoff),
cancellation, and the hooks and errors hosts read when it ends. Calls the
registry, the records, the key locks, the running attempts, completions and
the retry policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ._completions import Completions
from ._errors import HandlerError, NotAwaitedError
from ._ids import hashed_invocation_id
from ._invocation import DEAD, Abort, Attempt
from ._invocations import (
    _IDS,
    _IDS_MAX,
    WORKFLOW_ALREADY_INVOKED,
    Invocations,
    new_plain_invocation_id,
)
from ._journal import (
    AT_MS,
    CALL,
    CANCELLED,
    COMPLETION,
    KIND,
    NAME,
    PROMISE_GET,
    REF,
    RESULT,
    RUN,
    SLEEP,
    TARGET,
    WAKE_MS,
    Completion,
    Failure,
    Value,
    raw_entry,
)
from ._lazy import BuiltOnUse, own_keys
from ._locks import KeyLocks
from ._promises import Promises
from ._registry import HandlerSpec, Registry
from ._retry import InvocationRetryPolicy, retry_delay
from ._running import (
    ABORTED,
    FINISHED,
    GONE,
    PAUSE,
    RETRY,
    Running,
    close,
    describe_exception,
    user_traceback,
    where_raised,
)
from ._scheduler import Scheduler
from ._store import (
    COMPLETED,
    NO_HEADERS,
    PAUSED,
    PENDING,
    InvocationRecord,
    MemoryStore,
    Store,
    stored_journal,
)
from ._trace import Tracer

CANCELLED_MESSAGE: Final = "cancelled"
_new_tuple: Final = tuple.__new__
_new_object: Final = object.__new__
# (``_IDS.get``, bound once: a method of a name imported from a module is read
# as a module's attribute would be, ``LOAD_ATTR``, never specialised on 3.11)
_remembered_id: Final = _IDS.get
KILLED_MESSAGE: Final = "killed"
NOT_FOUND_MESSAGE: Final = "not found"  # Restate's, for an invocation that is gone


class Lifecycle:
    """See the module docstring."""

    def __init__(self, registry: Registry, invocations: Invocations,
                 running: Running, completions: Completions, store: Store,
                 scheduler: Scheduler, trace: Tracer,
                 retry_policy: InvocationRetryPolicy) -> None:
        self.registry = registry
        self.invocations = invocations
        self.running = running
        self.completions = completions
        self.store = store
        self.scheduler = scheduler
        self.trace = trace
        self.retry_policy = retry_policy
        self.finished_hooks: list[Callable[[InvocationRecord], None]] = []
        self.lazily_built = False  # (its own as well as the class's: see ``_lazy``)

    # True once a part below is built (``_lazy``): ``Engine.renewable`` is then False.
    lazily_built = False

    # What a run that goes well never writes, made at the first read (``_lazy``):
    # the handler bugs seen, the error that paused each paused invocation, ...
    misuse: BuiltOnUse[list[HandlerError]] = BuiltOnUse(lambda lc: [])
    paused_errors: BuiltOnUse[dict[str, HandlerError]] = BuiltOnUse(lambda lc: {})
    # ... the traceback (user frames) of each invocation's last handler exception, ...
    raised: BuiltOnUse[dict[str, str]] = BuiltOnUse(lambda lc: {})
    # ... and each retrying invocation's last failure as data: its reason, the
    # user's ``file.py:line`` that raised it (None: no line of the user's, as
    # for a crash), how many retries in a row failed the same way and the
    # attempt that failed last (a later one got past it). A retry loop is
    # judged from this, never by parsing the reason's text.
    retried: BuiltOnUse[dict[str, tuple[str, str | None, int, int]]] = BuiltOnUse(
        lambda lc: {})

    # Parts a run may never need, built at their first use (``_lazy``): the
    # key locks (taken by the exclusive handlers of objects and workflows only)
    # and the promises (workflow promises, awakeables and signals).
    locks: BuiltOnUse[KeyLocks] = BuiltOnUse(lambda lc: KeyLocks(lc.registry))
    promises: BuiltOnUse[Promises] = BuiltOnUse(
        lambda lc: Promises(lc.invocations, lc.completions, lc.store, lc.trace))

    # -- submission --------------------------------------------------------------
    def submit(
        self, service: str, handler: str, key: str | None, input: bytes,
        delay_ms: int = 0, idempotency_key: str | None = None,
        headers: dict[str, str] | None = None, inv_id: str | None = None,
        send: bool = False, spec: HandlerSpec | None = None,
    ) -> str:
        """Create an invocation (or find the one it duplicates); returns its id.

        The options are those of ``create``; no closure is made for the
        follow-up, which runs here once the write is committed.
        """
        if spec is None:
            spec = self.registry.resolve(service, handler, key)
        store = self.store
        if (type(store) is MemoryStore and idempotency_key is None and inv_id is None
                and spec.kind != "workflow"):
            # ``Invocations.new``'s common case (nothing it could absorb or
            # renew: a new invocation) and ``put``, without their calls
            invocations = self.invocations
            scheduler = self.scheduler
            now = scheduler.now_ms
            invocations.seq = seq = invocations.seq + 1
            if seq < _IDS_MAX:
                # (``plain_invocation_id``'s remembered id without its call)
                parts = (spec.service, key, spec.name, seq)
                new_id = _remembered_id(parts)
                if new_id is None:
                    new_id = new_plain_invocation_id(parts)
            elif (text := spec.id_text) is not None:
                # (``new_plain_invocation_id``'s id of an unkeyed handler's
                # invocation past the first ``_IDS_MAX``, which are never
                # remembered, so not looked up: hashed from the text its spec
                # made once, without a tuple of its parts or formatting them)
                new_id = hashed_invocation_id(text, seq)
            else:
                new_id = new_plain_invocation_id((spec.service, key, spec.name, seq))
            # (``InvocationRecord(new_id, spec.service, spec.name, key, input,
            # seq, PENDING, run_at, now, headers=...)`` as ``new`` makes it,
            # every field written here: no argument tuple, ``__init__`` lookup
            # and frame; ``test_lone_start`` compares the records)
            created = _new_object(InvocationRecord)
            created.id = new_id
            created.service = spec.service
            created.handler = spec.name
            created.key = key
            created.input = input
            created.seq = seq
            created.status = PENDING
            created.done_bits = 0
            created.run_at_ms = now + delay_ms if delay_ms > 0 else now
            created.created_ms = now
            created.attempts = 0
            created.failures = 0
            created.result = None
            created.caller_id = ""
            created.caller_index = -1
            created.idempotency_key = None
            created.headers = dict(headers) if headers else NO_HEADERS
            created.last_failure = ""
            created.retry_index = -1
            created.retry_count = 0
            created.retry_started_ms = 0
            created.cancelled = False
            created.finished_ms = -1
            invocations.by_id[new_id] = created
            store._invocations[new_id] = created  # (``put_invocation``)
            if seq > scheduler.max_invocations:
                invocations.too_many(created)
            if delay_ms > 0 or spec.exclusive:
                self._schedule(created, delay_ms, False, None)
            else:  # (as below; the event's sink read, then called: see ``start_alone``)
                event = self.trace.event
                event((now, "submit", new_id, "submit", created.service, created.key,
                       created.handler, delay_ms))
                scheduler.ready.append(created)  # (its "start" task: ``start_alone``)
            return new_id
        if type(store) is MemoryStore:  # (its writes need no grouping: ``atomic``)
            rec, new_id, duplicate = self.invocations.new(
                spec, key, input, delay_ms, idempotency_key, headers, inv_id, None, send)
        else:
            with store.atomic():
                rec, new_id, duplicate = self.invocations.new(
                    spec, key, input, delay_ms, idempotency_key, headers, inv_id, None, send)
        if rec is None:
            self._absorbed(spec, new_id, key, idempotency_key, None)
        elif delay_ms > 0 or duplicate or spec.exclusive:
            self._schedule(rec, delay_ms, duplicate, None)
        else:  # ``_schedule``, ``enqueue`` and ``start_when_due`` for a start now
            self.trace.event((self.scheduler.now_ms, "submit", new_id, "submit",
                              rec.service, rec.key, rec.handler, delay_ms))
            self.scheduler.ready.append(rec)  # (``Scheduler.push`` of its "start" task)
        return new_id

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
        send: bool = False,
        spec: HandlerSpec | None = None,
    ) -> tuple[str, Callable[[], None]]:
        """Store an invocation; return its id and the follow-up that schedules it.

        ``send``: a one-way submission (its result is not awaited), which for a
        workflow that already ran means the first run, not a failure.
        The follow-up must run once the write is committed: a handler's call is
        stored in the same transaction as the call's journal entry, and only
        then may the callee start (or a duplicate answer the caller).
        ``spec``: the handler's, when the caller resolved the target already.
        """
        if spec is None:
            spec = self.registry.resolve(service, handler, key)
        rec, new_id, duplicate = self.invocations.new(
            spec, key, input, delay_ms=delay_ms, idempotency_key=idempotency_key,
            headers=headers, inv_id=inv_id, caller=caller, send=send,
        )
        if rec is None:
            found = spec
            return new_id, lambda: self._absorbed(found, new_id, key, idempotency_key, caller)
        created = rec
        return new_id, lambda: self._schedule(created, delay_ms, duplicate, caller)

    def _absorbed(self, spec: HandlerSpec, inv_id: str, key: str | None,
                  idempotency_key: str | None, caller: tuple[str, int] | None) -> None:
        """A submission an earlier invocation absorbed: say so; a caller waits on it."""
        if spec.kind == "workflow":
            self.trace("dedup", inv_id, f"workflow {spec.service}/{key} sent again: "
                                        "previously accepted")
        else:
            self.trace("dedup", inv_id, f"idempotency key {idempotency_key!r}")
        if caller is not None:
            self.completions.attach(inv_id, caller)

    def _schedule(self, created: InvocationRecord, delay_ms: int, duplicate: bool,
                  caller: tuple[str, int] | None) -> None:
        """A new invocation, stored: its caller waits on it, and it starts when due."""
        if caller is not None:
            self.completions.wait_for(created.id, caller)
        if duplicate:
            self.trace("submit", created.id, f"{created.target} (already invoked)")
            self.complete(created, Failure(409, WORKFLOW_ALREADY_INVOKED))
            return
        # (deferred: formatted when read, from the record's own strings)
        self.trace.event((self.scheduler.now_ms, "submit", created.id, "submit",
                          created.service, created.key, created.handler, delay_ms))
        if delay_ms > 0:
            self.scheduler.add_timer(created.run_at_ms, ("deliver", created.id))
        else:
            self.enqueue(created)

    # -- starting attempts -----------------------------------------------------------
    def enqueue(self, rec: InvocationRecord) -> None:
        """Queue ``rec`` for its key; start it when it holds the key and is due."""
        # (a handler that takes no key's lock starts when due, without asking the locks)
        if not self.registry.handlers[(rec.service, rec.handler)].exclusive or (
            self.locks.join(rec)
        ):
            self.start_when_due(rec)

    def start_when_due(self, rec: InvocationRecord) -> None:
        if rec.run_at_ms > self.scheduler.now_ms:
            self.scheduler.add_timer(rec.run_at_ms, ("start", rec.id))
        else:
            self.scheduler.push(rec)  # (its "start" task)

    def start(self, inv_id: str) -> None:
        """A "start" task: a new attempt, if the invocation may have one now."""
        attempt = self.open_attempt(inv_id)
        if attempt is None:
            return
        # ``advance``, for an attempt that never waited (``run_segment``'s reset
        # has nothing to reset): its first segment
        coro = attempt.coro
        how, detail = self.running.drive(attempt, None)
        if how is FINISHED:  # (``segment_ended``'s first case, without its call)
            self.finish(attempt, detail)
        else:
            self.segment_ended(attempt, coro, how, detail)
            detail = None  # (let go: see ``segment_ended``)

    def start_alone(self, inv_id: str, crowd: bool = False,
                    known: InvocationRecord | None = None
                    ) -> Attempt | None:
        """``start`` for a run's only ready task (``Engine.run_task``: a lone
        invocation's start, and its whole run when its steps run in place), in
        one call for its common case: an invocation that may start now without
        a key's lock, on the simulation's store, outside strict mode, whose
        handler returns in its first segment. The writes are those of
        ``open_attempt``, ``Running.open``, ``drive``, ``ended``, ``finish``,
        ``Running.kill`` and ``complete``, in their order; ten calls less an
        invocation. Anything else goes the general way: from ``start`` before
        any write, or from the point ``drive`` hands over (a segment that
        waits or raises). ``tests/runtime/test_lone_start.py`` compares the two.

        With ``crowd``, a crowd's "start" task (``_tasks``): the attempt is
        only opened (``open_attempt``'s writes, without its three calls) and
        returned, for the runner to drive as it resumes one; None, with nothing
        written, when it is not this common case (the runner then takes
        ``open_attempt``). ``tests/runtime/test_crowded_tasks.py`` compares.

        ``known``: the invocation's record when the task is the record itself
        (every "start" task but a suspended invocation's, ``Running.notify``),
        else None: then looked up, a lookup by a cold key among all the
        invocations. (A task is dropped with the records when they are read
        again: a restart's ``clear_ready``.)"""
        rec: InvocationRecord | None = known or self.invocations.by_id.get(inv_id)
        running = self.running
        store = self.store
        scheduler = self.scheduler
        if (rec is None or rec.status != PENDING or type(store) is not MemoryStore
                or running.segment_guard is not None
                # (an invocation never started has no attempt: one enters
                # ``Running.attempts`` only as its record's count goes up)
                or (rec.attempts and inv_id in running.attempts)
                or rec.run_at_ms > scheduler.now_ms
                or (spec := self.registry.handlers[(rec.service, rec.handler)]).exclusive):
            if not crowd:
                self.start(inv_id)
            return None
        # ``open_attempt``'s writes, then ``Running.open``'s
        rec.attempts += 1
        # (``put_invocation``: the store holds ``rec``, ``by_id``'s own, already:
        # ``MemoryStore``)
        if running.suspended:
            running.suspended.discard(inv_id)
        # (``live_journal``: one lookup, not a read, then a write, for a new
        # invocation, whose journal is not there yet)
        journal = store._journals.setdefault(inv_id, [])
        # (attributes that hold a callable, read, then called: a method's
        # lookup of an instance's attribute is never specialised)
        host_of = running._host
        host = host_of()
        assert host is not None  # the engine is alive while it runs attempts
        # (``Attempt(...)``: its ``__init__`` called as a function, not
        # through the class's call, which makes an argument tuple with the
        # object prepended and a frame of the interpreter's own)
        attempt = _new_object(Attempt)
        Attempt.__init__(attempt, host, rec, journal, rec.attempts, spec.service_kind,
                         spec.plain_target if rec.key is None else None)
        attempt.own_journal = False
        running.attempts[inv_id] = attempt
        event = self.trace.event
        event((scheduler.now_ms, "attempt", inv_id, "attempt", attempt.number,
               rec.service, rec.key, rec.handler, len(journal)))
        make_context = running.make_context
        ctx = make_context(attempt, spec)
        # (``handler_coroutine``, inlined)
        fn = spec.direct
        data = rec.input
        if fn is None:
            coro = spec.start(ctx, data)
        elif not spec.direct_input:
            attempt.output = spec.output
            coro = fn(ctx)
        elif (type(data) is bytes and data.isdigit() and (data >= b"1" or data == b"0")
              and len(data) <= 640):
            attempt.output = spec.output
            coro = fn(ctx, int(data))
        else:
            coro = spec.start(ctx, data)
        attempt.coro = coro
        if crowd:
            return attempt
        # ``drive``'s first segment
        running.step_holder = None
        try:
            # (in its own context: ``Attempt.context``)
            yielded = attempt.context.run(coro.send, None)
        except StopIteration as returned:
            if not attempt.alive:
                return None  # (``GONE``: an attempt ended under it, nothing left to do)
            value = returned.value
            if attempt.output is not None:  # (its function ran without ``start``)
                if type(value) is int:
                    value = b"%d" % value
                else:
                    try:
                        value = attempt.output(value)
                    except Exception as err:  # noqa: BLE001 - as if ``start`` had raised it
                        # (not kept in a variable: see ``segment_ended``)
                        self.segment_ended(attempt, coro, *running.ended(attempt, err))
                        return None
            # ``finish`` (nothing to close: the coroutine has ended) ...
            # (its data kept for the trace: a named tuple's field read is not specialised)
            data = b"" if value is None else value
            completion = _new_tuple(Value, (data,))
            attempt.coro = None
            # ... ``Running.kill`` (``Attempt.die`` and its registrations;
            # ``die`` written out where no random stream holds the attempt) ...
            attempt.state = DEAD
            attempt.alive = False
            attempt.plain = False
            attempt.issued = None
            if attempt._rng is not None:
                attempt.die()
            attempt.steps.clear()
            running.attempts.pop(inv_id, None)  # (its own entry or none: see ``_tasks``)
            if attempt.queued:
                running.kill(attempt)
            # ... and ``complete`` with its value (it held no key)
            rec.status = COMPLETED
            rec.result = completion
            rec.finished_ms = now = scheduler.now_ms
            # (``Invocations.put``: ``by_id`` and the store hold ``rec`` already)
            completions = self.completions
            rec.done_bits = 0  # (its completions are of no more use)
            event((now, "done", inv_id, "done", rec.service, rec.key, rec.handler, data))
            if inv_id in completions.callers:
                completions.wake_callers(rec, completion)
            for hook in self.finished_hooks:
                hook(rec)
            return None
        except (Exception, Abort) as err:
            # (its segment's end not kept in a variable: see ``segment_ended``)
            self.segment_ended(attempt, coro, *running.ended(attempt, err))
            return None
        else:
            waited = running.waits(attempt, yielded)
            how, detail = (running.drive(attempt, attempt.take_cancel(yielded)) if waited is None
                           else waited)
        if how is FINISHED:
            self.finish(attempt, detail)
        elif how is not GONE:
            self.segment_ended(attempt, coro, how, detail)
            detail = None  # (let go: see ``segment_ended``)
        return None

    def open_attempt(self, inv_id: str) -> Attempt | None:
        """A "start" task's new attempt, not driven yet (the fused runner,
        ``_tasks``, drives it as it resumes one), or None when the invocation
        may not have one now."""
        rec = self.invocations.by_id.get(inv_id)
        if rec is None or rec.status != PENDING or inv_id in self.running.attempts:
            return None
        spec = self.registry.handlers[(rec.service, rec.handler)]
        if spec.exclusive and not self.locks.holds(rec):
            return None
        if rec.run_at_ms > self.scheduler.now_ms:
            self.scheduler.add_timer(rec.run_at_ms, ("start", rec.id))
            return None
        rec.attempts += 1
        self.store.put_invocation(rec)  # (``Invocations.put``: ``by_id`` holds ``rec`` already)
        return self.running.open(rec, spec)

    def resume(self, inv_id: str, number: int) -> None:
        """A "resume" task: the handler's wait is over; it goes on."""
        attempt = self.running.get(inv_id)
        if attempt is not None and attempt.number == number and attempt.alive:
            self.advance(attempt, attempt.take_cancel(attempt.waiting))

    def advance(self, attempt: Attempt, throw: BaseException | None) -> None:
        """Run the handler until it waits or ends, and act on how it ended."""
        coro = attempt.coro
        self.segment_ended(attempt, coro, *self.running.run_segment(attempt, throw))

    def segment_ended(self, attempt: Attempt, coro: Any, how: str, detail: Any) -> None:
        """Act on how a segment of ``attempt``'s handler (``coro``) ended.

        A caller lets go of ``detail`` once this returns: an error the handler
        raised is held by its own traceback's frames, the caller's among them,
        and one the caller still held when it returned would be in a cycle
        with it, keeping with it the engine its frame reaches, until a full
        collection (which a long run's objects, handed to the oldest
        generation, wait long for: see ``_sim._RUN_PROMOTE_AT``)."""
        if how is FINISHED:
            self.finish(attempt, detail)
        elif how is PAUSE:
            self.pause(attempt, detail)
        elif how is RETRY:
            where = where_raised(detail)
            at = f" at {where}" if where else ""
            self.raised[attempt.rec.id] = user_traceback(detail)
            self.attempt_failed(attempt, detail,
                                f"handler raised {describe_exception(detail)}{at}", where=where)
        elif how is ABORTED:
            self.after_abort(attempt)
            if coro is not None:
                close(coro, attempt.context)

    def after_abort(self, attempt: Attempt) -> None:
        """The attempt ended under its handler: a recorded misuse pauses it."""
        failure = attempt.failure
        if failure is not None and isinstance(failure, HandlerError):
            self.pause(attempt, failure)
        else:
            self.running.kill(attempt)

    # -- ending --------------------------------------------------------------------
    def finish(self, attempt: Attempt, completion: Completion) -> None:
        # The handler's coroutine has ended (returned, or raised a terminal
        # error): nothing for ``kill`` to close.
        attempt.coro = None
        self.running.kill(attempt)
        if self.running.segment_guard is not None:
            self.find_not_awaited(attempt, returned=isinstance(completion, Value))
        self.complete(attempt.rec, completion)

    def find_not_awaited(self, attempt: Attempt, returned: bool) -> None:
        """Strict mode: the handler ended, leaving operations it never waited on.

        A step's closure runs only if the handler happened to wait on
        something else first (never, if it returned at once), and its failure
        is never seen; a timer delays nothing. Restate's SDKs do the same:
        only an awaited operation makes the handler wait. Steps and timers are
        judged when the handler returns only (one that raises may leave work
        in flight on purpose); a promise's value, asked for only to wait for
        it, whenever the handler ends.
        """
        rec = attempt.rec
        if rec.cancelled:
            return  # a cancellation interrupts a wait: what it waited on stays pending
        kinds = (RUN, SLEEP, PROMISE_GET) if returned else (PROMISE_GET,)
        journal = stored_journal(self.store, rec.id)
        completed: set[int] | None = None  # (read only for what was never awaited)
        ended = "returned" if returned else "raised"
        awaited = attempt.awaited
        for index, entry in enumerate(journal):
            if entry[KIND] not in kinds or index in awaited:
                continue
            if completed is None:
                completed = {e[TARGET] for e in journal if e[KIND] == COMPLETION}
            ran = index in completed or entry[RESULT] is not None
            if entry[KIND] == RUN:
                what = f'step "{entry[NAME]}"'
                then = ("its closure ran only because the handler waited on something "
                        "else meanwhile, and a failure of it goes unseen" if ran else
                        "it never completed (its closure did not run, or did not finish)")
            elif entry[KIND] == SLEEP:
                what = f"the timer of {_duration(entry[WAKE_MS] - entry[AT_MS])}"
                then = "the handler went on at once, so it delayed nothing"
            else:
                what = f'the value of promise "{entry[NAME]}"'
                then = "the handler went on without it"
            self.record_misuse(rec.id, NotAwaitedError(
                f"{what} was {'asked for' if entry[KIND] == PROMISE_GET else 'started'} but "
                f"never awaited before the handler {ended}: {then}. "
                "Await it (or hand it to gather/select/wait_completed/as_completed).",
                handler=rec.target, step=(entry[NAME] or None) if entry[KIND] == RUN else None,
                journal_index=index, source=attempt.started_at.get(index)))

    def complete(self, rec: InvocationRecord, completion: Completion) -> None:
        """The invocation ends with ``completion``: callers get it, its key is freed."""
        rec.status = COMPLETED
        rec.result = completion
        rec.finished_ms = self.scheduler.now_ms
        inv_id = rec.id
        self.invocations.by_id[inv_id] = rec  # ``Invocations.put``
        self.store.put_invocation(rec)
        completions = self.completions
        rec.done_bits = 0  # (its completions are of no more use)
        if isinstance(completion, Value):  # (deferred, as "submit")
            self.trace.event((rec.finished_ms, "done", rec.id, "done", rec.service, rec.key,
                              rec.handler, completion.data))
        else:
            self.trace("done", rec.id, f"{rec.target} -> TerminalError({completion.message!r}, "
                                       f"{completion.code})")
        if inv_id in completions.callers:  # (most invocations have no caller waiting)
            completions.wake_callers(rec, completion)
        if self.registry.handlers[(rec.service, rec.handler)].exclusive:  # (else it held no key)
            self.release(rec)
        for hook in self.finished_hooks:
            hook(rec)

    def release(self, rec: InvocationRecord) -> None:
        """``rec`` gives up its key; the next invocation queued for it starts."""
        if not self.registry.handlers[(rec.service, rec.handler)].exclusive:
            return  # it held none
        head = self.locks.release(rec)
        if head is not None:
            self.start_when_due(self.invocations.record(head))

    def pause(self, attempt: Attempt, err: BaseException) -> None:
        """A bug that retrying cannot fix: stop the invocation and say why."""
        rec = attempt.rec
        self.running.kill(attempt)
        if isinstance(err, HandlerError):
            if err.handler is None:
                err.handler = rec.target
                err.args = (err._render(),)
            if err not in self.misuse:
                self.misuse.append(err)
            self.paused_errors[rec.id] = err
        rec.status = PAUSED
        rec.last_failure = f"{type(err).__name__}: {err}"
        self.invocations.put(rec)
        self.trace("paused", rec.id, rec.last_failure.splitlines()[0])
        for hook in self.finished_hooks:
            hook(rec)

    def record_misuse(self, inv_id: str, err: HandlerError) -> None:
        # Once per problem: a step retried a hundred times reports its bug once.
        if not any(m is err or (type(m) is type(err) and (m.detail, m.handler, m.step)
                                == (err.detail, err.handler, err.step)) for m in self.misuse):
            self.misuse.append(err)

    # -- retries -------------------------------------------------------------------
    def attempt_failed(
        self,
        attempt: Attempt,
        err: BaseException,
        reason: str,
        *,
        delay_ms: int | None = None,
        counts: bool = True,
        where: str | None = None,
    ) -> None:
        rec = attempt.rec
        self.running.kill(attempt)
        if rec.cancelled and not attempt.cancel_raised:
            # Cancelled, and it fails before its handler could see it (at a
            # wait): another attempt would fail the same way, forever.
            self.trace("cancel", rec.id, f"{rec.target} failed after its cancellation; "
                                         "it ends cancelled")
            self.complete(rec, Failure(409, CANCELLED_MESSAGE))
            return
        self.retry_later(rec, reason, delay_ms=delay_ms, counts=counts,
                         retry_after=getattr(err, "retry_after", None), where=where)

    def retry_later(
        self,
        rec: InvocationRecord,
        reason: str,
        *,
        delay_ms: int | None = None,
        counts: bool = True,
        retry_after: Any = None,
        where: str | None = None,
    ) -> None:
        """Schedule the next attempt after the policy's backoff, or give up as it says.

        ``where``: the user's ``file.py:line`` that raised the failure, if any.
        """
        policy = self.registry.spec_of(rec).retry_policy or self.retry_policy
        rec.last_failure = reason
        if counts:
            rec.failures += 1
        delay = retry_delay(policy, rec.failures, counts=counts, delay_ms=delay_ms,
                            retry_after=retry_after)
        if delay is None:
            if policy.on_max_attempts == "kill":
                self.trace("killed", rec.id, f"after {rec.failures} attempts: {reason}")
                self.complete(rec, Failure(500, _as_reported(reason, where)))
            else:
                rec.status = PAUSED
                self.invocations.put(rec)
                self.trace("paused", rec.id, f"after {rec.failures} attempts: {reason}")
                for hook in self.finished_hooks:
                    hook(rec)
            return
        rec.run_at_ms = self.scheduler.now_ms + delay
        self.invocations.put(rec)
        self.trace("retry", rec.id, f"{reason}; next attempt in {delay}ms")
        last = self.retried.get(rec.id)
        same = last is not None and last[0] == reason and last[1] == where
        self.retried[rec.id] = (reason, where, last[2] + 1 if same and last else 1,
                                rec.attempts)
        self.scheduler.add_timer(rec.run_at_ms, ("start", rec.id))

    # -- cancellation ------------------------------------------------------------
    def cancel(self, inv_id: str) -> None:
        """Cancel an invocation: its next wait raises ``TerminalError("cancelled", 409)``.

        A paused invocation cannot run (a bug stopped it), so it ends at once,
        cancelled, and gives up its object's key.
        """
        rec = self.invocations.get(inv_id)
        if rec is None or rec.status not in (PENDING, PAUSED) or rec.cancelled:
            return
        rec.cancelled = True
        self.invocations.put(rec)
        self.trace("cancel", inv_id, rec.target)
        if rec.status == PAUSED or (rec.attempts == 0 and inv_id not in self.running.attempts):
            self._cancel_calls(inv_id)
            self.paused_errors.pop(inv_id, None)
            # A send still waiting for its delay that nobody waits on is deleted by
            # Restate: attaching to it then fails with 404 "not found".
            scheduled = (rec.attempts == 0 and rec.run_at_ms > rec.created_ms
                         and inv_id not in self.completions.callers)
            self.complete(rec, Failure(404, NOT_FOUND_MESSAGE) if scheduled
                          else Failure(409, CANCELLED_MESSAGE))
            return
        entry = raw_entry(CANCELLED, at_ms=self.scheduler.now_ms)
        self.store.append(inv_id, entry)
        self._cancel_calls(inv_id)
        self.running.notify(inv_id, entry)

    def _cancel_calls(self, inv_id: str) -> None:
        """Cancelling an invocation cancels the calls it made (not its sends)."""
        for callee in self._open_calls(inv_id):
            self.cancel(callee)

    def _open_calls(self, inv_id: str) -> list[str]:
        """The unfinished invocations that ``inv_id`` called (its sends are not calls)."""
        callees = []
        for e in stored_journal(self.store, inv_id):
            if e[KIND] == CALL and e[REF]:
                child = self.invocations.get(e[REF])
                if child is not None and child.status in (PENDING, PAUSED):
                    callees.append(e[REF])
        return callees

    def kill(self, inv_id: str) -> bool:
        """End an invocation at once with ``TerminalError("killed", 409)``.

        As Restate's kill: none of its code runs any more (no compensation),
        its callers get the failure, and the calls it made are killed too (not
        its sends). False if it had already ended.
        """
        rec = self.invocations.get(inv_id)
        if rec is None or rec.status not in (PENDING, PAUSED):
            return False
        callees = self._open_calls(inv_id)
        attempt = self.running.get(inv_id)
        if attempt is not None:
            self.running.kill(attempt)
        self.running.suspended.discard(inv_id)
        self.paused_errors.pop(inv_id, None)
        self.trace("kill", inv_id, rec.target)
        self.complete(rec, Failure(409, KILLED_MESSAGE))
        for callee in callees:
            self.kill(callee)
        return True


own_keys(Lifecycle)  # (its parts built on use: see ``own_keys``)


def _duration(ms: int) -> str:
    """``1 day``, ``30 s``, ``250 ms``: a timer's length as a person writes it."""
    for unit, size in (("day", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            n = ms // size
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
    return f"{ms} ms"


def _as_reported(reason: str, where: str | None) -> str:
    """The failure an invocation killed after its last attempt ends with: as
    restate-sdk reports a handler's exception, its repr (``ValueError('nope')``),
    without this runtime's "handler raised" and "at file.py:line"."""
    if not reason.startswith("handler raised "):
        return reason
    message = reason.removeprefix("handler raised ")
    return message.removesuffix(f" at {where}") if where else message
