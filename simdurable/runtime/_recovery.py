"""Recovery: everything volatile, rebuilt from the store.

The store holds what must not be lost; the timers, key queues, waiters and
ready tasks are derived from it. ``load`` rebuilds them all (at start and
after a restart); ``resume`` does it for one paused invocation. Owns no state
of its own; calls the records, key locks, running attempts, completions,
promises, the lifecycle (to queue what may run) and the scheduler.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Final

from ._completions import Completions
from ._errors import InvalidTargetError
from ._faults import Injector
from ._invocations import Invocations
from ._journal import (
    ATTACH,
    CALL,
    COMPLETION,
    KIND,
    NAME,
    PROMISE_GET,
    REF,
    SIGNAL,
    SLEEP,
    WAKE_MS,
    RawCompletion,
    RawEntry,
    steps_prefix,
)
from ._lifecycle import Lifecycle
from ._locks import KeyLocks
from ._promises import SIGNALS, Promises, signal_slot
from ._registry import Registry
from ._running import Running
from ._scheduler import _NO_TIMERS, Scheduler
from ._store import COMPLETED, PAUSED, PENDING, InvocationRecord, MemoryStore, Store, copy_record

# Commands whose completion comes from outside the invocation (a timer, a
# callee, a promise): rebuilt as waiters when the engine (re)loads the store.
_WAITED_FROM_OUTSIDE: Final = frozenset({SLEEP, CALL, PROMISE_GET, SIGNAL, ATTACH})

Late = list[tuple[str, int, RawCompletion]]

# A record's sequence number (``load_plain``'s order).
_SEQ: Final = attrgetter("seq")


def nothing_to_load(store: Store, scheduler: Scheduler) -> bool:
    """Whether a new engine over ``store`` has nothing to rebuild but the plan's
    timed faults: a new simulation's own store, no task nor timer yet (any
    other store is read, as it may hold anything). (The engine then builds no
    ``Recovery`` unless the plan has faults.) Every new engine asks: read in
    place, not through ``next_deadline`` and ``has_invocations``."""
    return (not scheduler.ready and scheduler._timers is _NO_TIMERS
            and type(store) is MemoryStore and not store._invocations)


def load_plain(engine: Any) -> bool:
    """``Recovery.load(fresh=True)``'s common case for a new engine, written
    out without building the recovery part (nor the crashes, key locks and
    promises it holds, each built at its first use later): a memory store
    none of whose invocations is paused, each pending one's journal steps
    only (``steps_prefix``: nothing to wait on, its completed indices the
    even ones) and its handler taking no key's lock; no fault plan; nothing
    ready nor timed yet. The same writes in the same order (``load``,
    ``restore_waits``, ``Lifecycle.enqueue``); False, with nothing written,
    for anything else. A simulation over a given store (a replay's) paid
    more than twice a fresh one's fixed cost, most of the difference these
    parts, made and freed once a simulation (callgrind: a 1-step replay
    216,000 instructions against 94,000 for a 0-step invocation)."""
    store = engine.store
    scheduler = engine.scheduler
    if (type(store) is not MemoryStore or scheduler.ready or scheduler.held
            or scheduler._timers or engine.injector.plan.faults):
        return False
    handlers = engine.registry.handlers
    journals = store._journals
    found: dict[str, int] = {}
    for rec in store._invocations.values():
        status = rec.status
        if status == PAUSED:
            return False
        if status != PENDING:
            continue
        spec = handlers.get((rec.service, rec.handler))
        journal = journals.get(rec.id)
        if spec is None or spec.exclusive:
            return False
        if journal is None:
            found[rec.id] = 0
        else:
            steps = steps_prefix(journal)
            if steps != len(journal):
                return False
            found[rec.id] = steps
    # (``Invocations.reload`` and ``MemoryStore.invocations`` written out: its
    # records, copies of the store's, in submission order; the last one's the
    # highest sequence number)
    records = [copy_record(rec) for rec in sorted(store._invocations.values(), key=_SEQ)]
    invocations = engine.invocations
    invocations.seq = records[-1].seq if records else 0
    invocations.by_id = by_id = {rec.id: rec for rec in records}
    store._invocations.update(by_id)  # (as ``Invocations.reload`` puts them back)
    if not found:
        return True
    plain_steps = engine.completions.plain_steps
    now = scheduler.now_ms
    for rec in records:
        if rec.status != PENDING:
            continue
        inv_id = rec.id
        # (``restore_waits``: the store's list made if it has none,
        # ``store.live_journal``; steps only, their bits those of 0b...0101)
        steps = found[inv_id]
        if steps:
            plain_steps[inv_id] = steps
        elif inv_id not in journals:
            journals[inv_id] = []
        rec.done_bits = (1 << steps) // 3
        # (``Lifecycle.enqueue`` of a handler that takes no key's lock)
        if rec.run_at_ms > now:
            scheduler.add_timer(rec.run_at_ms, ("start", inv_id))
        else:
            scheduler.ready.append(rec)  # (its "start" task)
    return True


class Recovery:
    """See the module docstring."""

    def __init__(self, registry: Registry, invocations: Invocations, locks: KeyLocks,
                 running: Running, completions: Completions, promises: Promises,
                 lifecycle: Lifecycle, store: Store, scheduler: Scheduler,
                 injector: Injector, timed_fired: set[int]) -> None:
        self.registry = registry
        self.invocations = invocations
        self.locks = locks
        self.running = running
        self.completions = completions
        self.promises = promises
        self.lifecycle = lifecycle
        self.store = store
        self.scheduler = scheduler
        self.injector = injector
        # Timed faults (``at`` a time) that fired already: not armed again.
        self.timed_fired = timed_fired

    def load(self, *, fresh: bool = False) -> None:
        """(Re)build everything volatile from the store.

        ``fresh``: the parts were just built, empty (the engine's first load,
        of a store that may hold something: ``nothing_to_load``).
        """
        self.scheduler.clear_ready()
        self.scheduler.clear_timers()
        if not fresh:
            self.running.reset()
            self.completions.reset()
            self.promises.reset()
            self.locks.reset()
        records = self.invocations.reload()
        late: Late = []
        for rec in records:
            if rec.status == PAUSED:  # it keeps its object's key until resumed or cancelled
                spec = self.registry.get(rec.service, rec.handler)
                if spec is not None and spec.exclusive and rec.key is not None:
                    self.locks.join(rec)
                continue
            if rec.status != PENDING:
                continue
            self.restore_waits(rec, late)
            spec = self.registry.get(rec.service, rec.handler)
            if spec is not None and spec.exclusive and rec.attempts == 0 and (
                rec.run_at_ms > self.scheduler.now_ms
            ):
                self.scheduler.add_timer(rec.run_at_ms, ("deliver", rec.id))
            else:
                self.lifecycle.enqueue(rec)
        self.add_timed_faults()
        for inv_id, index, completion in late:
            self.completions.deliver(inv_id, index, completion)

    def add_timed_faults(self) -> None:
        """A timer for each fault the plan fires at a time (those not fired yet)."""
        if not self.injector.plan:
            return
        for i, fault in enumerate(self.injector.timed()):
            assert fault.at_ms is not None
            if i not in self.timed_fired:
                self.scheduler.add_timer(fault.at_ms, ("fault", i))

    def restore_waits(self, rec: InvocationRecord, late: Late) -> None:
        """Rebuild from its journal what a pending invocation waits on.

        Timers for its sleeps, and waiters for its calls and promises; those
        already completed outside (a callee that finished, a promise resolved
        while it could not see it) go into ``late``, to be delivered.
        """
        # (read only: the simulation's store's own list, not a copy)
        store = self.store
        journal: list[RawEntry] = (store.live_journal(rec.id) if type(store) is MemoryStore
                                   else list(store.journal(rec.id)))
        steps = steps_prefix(journal)
        if steps:
            # (its replay matches their commands by name: ``step_command``)
            self.completions.plain_steps[rec.id] = steps
            if steps == len(journal):
                # Steps only: its completed indices 0, 2, 4..., the bits of 0b...0101
                rec.done_bits = (1 << steps) // 3
                return
        # A replay starts here. One pass for the completions (as the bits of
        # the indices they complete) that only notes whether any command may
        # wait on something outside the invocation (no index an entry: a
        # journal of steps and state has none); a second pass finds those.
        # Fields by position (kind 0, result 3, target 4): by name each is a call.
        bits = 0
        outside = False
        for e in journal:
            kind = e[0]
            if kind == COMPLETION:
                bits |= 1 << e[4]
            elif kind in _WAITED_FROM_OUTSIDE:
                outside = True
        rec.done_bits = bits
        if not outside:
            return
        for i, e in enumerate(journal):
            if e[0] not in _WAITED_FROM_OUTSIDE or e[3] is not None or bits >> i & 1:
                continue  # (completed at once, or by a notification)
            if e[KIND] == SLEEP:
                self.scheduler.add_timer(e[WAKE_MS], ("sleep", rec.id, i))
            elif e[KIND] in (CALL, ATTACH):
                callee_id = e[REF] if e[KIND] == CALL else e[NAME]
                callee = self.invocations.get(callee_id)
                if callee is not None and callee.status == COMPLETED:
                    assert callee.result is not None
                    late.append((rec.id, i, callee.result))
                else:
                    self.completions.wait_for(callee_id, (rec.id, i))
            elif e[KIND] == SIGNAL:
                n = sum(1 for x in journal[:i] if x[KIND] == SIGNAL and x[NAME] == e[NAME])
                slot = signal_slot(e[NAME], n)
                existing = self.store.promise(SIGNALS, rec.id, slot)
                if existing is not None:
                    late.append((rec.id, i, existing))
                else:
                    self.promises.wait_for((SIGNALS, rec.id, slot), (rec.id, i))
            elif e[KIND] == PROMISE_GET:
                assert rec.key is not None
                existing = self.store.promise(rec.service, rec.key, e[NAME])
                if existing is not None:
                    late.append((rec.id, i, existing))
                else:
                    self.promises.wait_for((rec.service, rec.key, e[NAME]), (rec.id, i))

    def resume(self, inv_id: str) -> bool:
        """Resume a paused invocation, as after fixing what paused it.

        It replays its journal (with the handlers served now) and goes on;
        its retry count starts over. False if it was not paused.
        """
        rec = self.invocations.get(inv_id)
        if rec is None:
            raise InvalidTargetError(f"no invocation {inv_id!r} exists")
        if rec.status != PAUSED:
            return False
        rec.status = PENDING
        rec.failures = 0
        rec.retry_index, rec.retry_count, rec.retry_started_ms = -1, 0, 0
        rec.run_at_ms = self.scheduler.now_ms
        self.invocations.put(rec)
        self.lifecycle.paused_errors.pop(inv_id, None)
        was = rec.last_failure.splitlines()[0] if rec.last_failure else "paused"
        self.lifecycle.trace("resume", inv_id, f"{rec.target} resumes (it was paused: {was})")
        late: Late = []
        self.restore_waits(rec, late)
        self.lifecycle.enqueue(rec)
        for waiter_id, index, completion in late:
            self.completions.deliver(waiter_id, index, completion)
        return True
