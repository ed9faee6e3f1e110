"""Commands: a live attempt's journal entries, stored with their effects.

Owns what storing each kind of command does: state reads and writes, timers,
calls and sends (their callee is created in the same write), promises,
awakeables, cancellation. A command and its effect commit together; what must
wait for the commit (starting a callee, waking a waiter) runs after it. The
fault points before and after the write are consulted here. Calls the
store, the lifecycle (callees, cancellation), completions, promises, and the
fault points.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ._completions import Completions
from ._crashes import Crashes
from ._errors import InternalError
from ._fast import journal_too_long
from ._faults import AFTER_STORE, BEFORE, DELAY, TIMER, Injector
from ._ids import make_id
from ._invocation import Abort, Attempt
from ._journal import (
    ATTACH,
    CALL,
    CANCEL,
    CLEAR,
    CLEAR_ALL,
    DATA,
    GET,
    KEYS,
    KIND,
    NAME,
    PROMISE_COMPLETE,
    PROMISE_GET,
    PROMISE_PEEK,
    REF,
    REJECT_AWAKEABLE,
    REJECT_SIGNAL,
    RESOLVE_AWAKEABLE,
    RESOLVE_SIGNAL,
    RESULT,
    RUN,
    SEND,
    SET,
    SIGNAL,
    SLEEP,
    WAKE_MS,
    Failure,
    RawEntry,
    Value,
    with_at_ms,
    with_ref_wake,
    with_result,
)
from ._lifecycle import Lifecycle
from ._promises import SIGNALS, Promises, awakeable_completion, signal_slot
from ._scheduler import Scheduler
from ._store import COMPLETED, Store
from ._trace import Event, Tracer

After = list[Callable[[], None]]



class Commands:
    """See the module docstring."""

    def __init__(self, lifecycle: Lifecycle, completions: Completions,
                 crashes: Crashes, injector: Injector, store: Store, scheduler: Scheduler,
                 trace: Tracer) -> None:
        self.lifecycle = lifecycle
        self.completions = completions
        self.crashes = crashes
        self.injector = injector
        self.store = store
        self.scheduler = scheduler
        self.trace = trace
        # When the last message a sender sent a key late in transit arrives,
        # by (sender, service, key): its later messages to the key wait for it.
        self.in_transit: dict[tuple[str, str, str], int] = {}

    @property
    def promises(self) -> Promises:
        """The lifecycle's, built at the first promise, awakeable or signal."""
        return self.lifecycle.promises

    def store_command(self, attempt: Attempt, entry: RawEntry) -> int:
        """Store a live attempt's command (and its effect); returns its journal index."""
        rec = attempt.rec
        index = len(attempt.journal)
        faulty = self.injector.armed
        if faulty and self.crashes.fault_at(attempt, BEFORE, index, entry[NAME], entry[KIND]):
            raise Abort()
        now = self.scheduler.now_ms
        if entry[5] != now:  # stamp the time (at_ms); entries are immutable, so a copy
            entry = with_at_ms(entry, now)
        kind = entry[KIND]
        after: After | tuple[()] = ()
        if kind == RUN:  # a step's command has no effect of its own: one write
            stored = self.store.append(rec.id, entry)
        else:
            after = []
            with self.store.atomic():
                entry = self._apply(attempt, entry, index, after)
                stored = self.store.append(rec.id, entry)
        if stored != index:
            raise InternalError(
                f"journal of {rec.id} out of step: stored at #{stored}, attempt expected #{index}"
            )
        if attempt.own_journal:
            attempt.journal.append(entry)
        attempt.cursor = index + 1
        if index >= self.scheduler.max_journal:
            journal_too_long(self.scheduler, rec)
        result = entry[RESULT]
        if result is not None:
            attempt.see(index, result)
            self.completions.mark_done(rec.id, index)
        if self.trace.sink is not None:  # once per command: its text formatted when read
            event: Event = (now, "entry", rec.id, "command", index, kind, entry[NAME], entry[DATA])
            self.trace.event(event)
        for action in after:
            action()
        if faulty and kind != RUN and self.crashes.fault_at(
            attempt, AFTER_STORE, index, entry[NAME], kind
        ):
            raise Abort()
        return index

    def _apply(self, attempt: Attempt, entry: RawEntry, index: int, after: After) -> RawEntry:
        """Apply a command's effect as it is stored; returns the entry to store.

        Runs inside the store's ``atomic()``; what must wait until the write is
        committed goes into ``after``.
        """
        rec = attempt.rec
        kind = entry[KIND]
        key = rec.key or ""
        if kind == GET:
            value = self.store.state(rec.service, key).get(entry[NAME], b"")
            entry = with_result(entry, Value(value))
        elif kind == KEYS:
            names = sorted(self.store.state(rec.service, key))
            entry = with_result(entry, Value(json.dumps(names).encode()))
        elif kind == SET:
            assert entry[DATA] is not None
            self.store.set_state(rec.service, key, entry[NAME], entry[DATA])
        elif kind == CLEAR:
            self.store.clear_state(rec.service, key, entry[NAME])
        elif kind == CLEAR_ALL:
            self.store.clear_all_state(rec.service, key)
        elif kind == SLEEP:
            entry = self._sleep(attempt, entry, index, after)
        elif kind in (CALL, SEND):
            entry = self._call(attempt, entry, index, after)
        elif kind == PROMISE_GET:
            existing = self.store.promise(rec.service, key, entry[NAME])
            if existing is not None:
                entry = with_result(entry, existing)
            else:
                pkey = (rec.service, key, entry[NAME])
                after.append(lambda: self.promises.wait_for(pkey, (rec.id, index)))
        elif kind == PROMISE_PEEK:
            existing = self.store.promise(rec.service, key, entry[NAME])
            entry = with_result(entry, existing or Value(b""))
        elif kind == PROMISE_COMPLETE:
            entry = self.promises.complete_entry(rec, entry, after)
        elif kind in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE):
            completion = awakeable_completion(entry)
            awk = entry[NAME]
            after.append(lambda: self.promises.complete_awakeable(awk, completion, quiet=True))
        elif kind == CANCEL:
            target = entry[NAME]
            after.append(lambda: self.lifecycle.cancel(target))
        elif kind == SIGNAL:  # the n-th ctx.signal(name) takes the n-th signal sent
            n = sum(1 for e in attempt.journal if e[KIND] == SIGNAL and e[NAME] == entry[NAME])
            slot = signal_slot(entry[NAME], n)
            existing = self.store.promise(SIGNALS, rec.id, slot)
            if existing is not None:
                entry = with_result(entry, existing)
            else:
                skey = (SIGNALS, rec.id, slot)
                after.append(lambda: self.promises.wait_for(skey, (rec.id, index)))
        elif kind in (RESOLVE_SIGNAL, REJECT_SIGNAL):
            signalled = awakeable_completion(entry)
            target, _, name = entry[NAME].partition("/")
            after.append(lambda: self.promises.signal(target, name, signalled))
        elif kind == ATTACH:
            entry = self._attach(rec.id, entry, index, after)
        return entry

    def _attach(self, inv_id: str, entry: RawEntry, index: int, after: After) -> RawEntry:
        """Wait for invocation ``entry[NAME]``'s result (at once if it has ended)."""
        target = self.lifecycle.invocations.get(entry[NAME])
        if target is None:
            return with_result(entry, Failure(404, f"invocation {entry[NAME]} not found"))
        if target.id == inv_id:
            return with_result(entry, Failure(
                400, f"invocation {inv_id} cannot attach to itself: it would wait forever"))
        if target.status == COMPLETED and target.result is not None:
            return with_result(entry, target.result)
        caller = (inv_id, index)
        after.append(lambda: self.completions.wait_for(target.id, caller))
        return entry

    def _sleep(self, attempt: Attempt, entry: RawEntry, index: int, after: After) -> RawEntry:
        """A durable timer: its wake time goes into the entry (a fault may delay it)."""
        rec = attempt.rec
        wake = self.scheduler.now_ms + max(0, entry[WAKE_MS])
        if self.injector.armed and self.injector.may_fire((DELAY,), TIMER):
            delay = self.injector.timer_delay(
                self.crashes.point(attempt, TIMER, index, entry[NAME], SLEEP)
            )
            if delay is not None and delay.by_ms:
                self.trace("fault", rec.id, f"timer #{index} delayed by {delay.by_ms}ms")
                wake += delay.by_ms
        after.append(lambda: self.scheduler.add_timer(wake, ("sleep", rec.id, index)))
        return with_ref_wake(entry, entry[REF], wake)

    def _in_transit(self, attempt: Attempt, entry: RawEntry, index: int, service: str, key: str,
                    delay_ms: int) -> int:
        """When a message to an object's or workflow's key arrives, from now.

        Nothing orders messages from different senders to one key: a one-way
        send may be late in transit (a delay fault at its ``timer`` point),
        and another sender's message overtake it. One sender's messages to a
        key still arrive in the order it sent them, as Restate delivers them.
        """
        now = self.scheduler.now_ms
        lane = (attempt.rec.id, service, key)
        late = None
        if entry[KIND] == SEND and self.injector.armed and self.injector.may_fire((DELAY,), TIMER):
            late = self.injector.timer_delay(
                self.crashes.point(attempt, TIMER, index, entry[NAME], SEND))
        if late is not None and late.by_ms:
            self.trace("fault", attempt.rec.id,
                       f"message #{index} to {service}/{key} late in transit by {late.by_ms}ms")
            delay_ms += late.by_ms
        elif lane not in self.in_transit:
            return delay_ms
        delay_ms = max(delay_ms, self.in_transit.get(lane, now) - now)
        self.in_transit[lane] = now + delay_ms
        return delay_ms

    def _call(self, attempt: Attempt, entry: RawEntry, index: int, after: After) -> RawEntry:
        """Store the callee of a call or send; its id goes into the entry's ``ref``.

        The context passes the target and options as JSON in ``ref``.
        """
        rec = attempt.rec
        meta = json.loads(entry[REF]) if entry[REF] else {}
        service, handler, key = meta["service"], meta["handler"], meta.get("key")
        delay_ms = int(meta.get("delay_ms", 0))
        if key is not None and (self.in_transit or (entry[KIND] == SEND and self.injector.armed)):
            delay_ms = self._in_transit(attempt, entry, index, service, key, delay_ms)
        child_id, follow_up = self.lifecycle.create(
            service, handler, key, entry[DATA] or b"",
            delay_ms=delay_ms,
            idempotency_key=meta.get("idempotency_key"),
            headers=meta.get("headers"),
            inv_id=make_id("inv", rec.id, index),
            caller=(rec.id, index) if entry[KIND] == CALL else None,
            send=entry[KIND] == SEND,
        )
        after.append(follow_up)
        if rec.cancelled and not attempt.cancel_raised and entry[KIND] == CALL:
            # A call made once the cancellation came, before the handler saw it:
            # restate-sdk cancels the calls still open when it raises the
            # cancellation (a signal to each), so this one too (restate-server
            # 1.7.12, restate-sdk 1.3.0; docs/decisions.md, "A step a
            # cancellation beat"). One made after that is not cancelled.
            after.append(lambda: self.lifecycle.cancel(child_id))
        return with_ref_wake(entry, child_id, self.scheduler.now_ms + delay_ms if delay_ms else -1)
