"""Status: what an invocation is doing, in a word and in a sentence.

Reads the records, the running attempts and the key locks; changes nothing.
"""

from __future__ import annotations

from ._ids import awakeable_id, parse_awakeable_id
from ._invocations import Invocations
from ._journal import (
    AWAKEABLE,
    CALL,
    COMPLETION,
    DATA,
    KIND,
    NAME,
    PROMISE_COMPLETE,
    PROMISE_GET,
    PROMISE_PEEK,
    REF,
    SEND,
    SLEEP,
    TARGET,
    WAKE_MS,
    Failure,
    RawEntry,
    describe,
)
from ._locks import KeyLocks
from ._running import Running
from ._scheduler import Scheduler
from ._store import COMPLETED, PENDING, InvocationRecord, stored_journal


def ended_status(rec: InvocationRecord) -> str | None:
    """``Status.status`` of an invocation that is not pending (it ended, or was
    paused), read off its record alone; None for a pending one."""
    if rec.status == PENDING:
        return None
    return "failed" if (rec.status == COMPLETED and isinstance(rec.result, Failure)) \
        else rec.status


class Status:
    """See the module docstring."""

    def __init__(self, invocations: Invocations, running: Running, locks: KeyLocks,
                 scheduler: Scheduler) -> None:
        self.invocations = invocations
        self.running = running
        self.locks = locks
        self.scheduler = scheduler

    def status(self, inv_id: str) -> str:
        rec = self.invocations.record(inv_id)
        ended = ended_status(rec)
        if ended is not None:
            return ended
        attempt = self.running.get(inv_id)
        if attempt is not None:
            return "waiting" if attempt.waiting is not None else "running"
        if inv_id in self.running.suspended:
            return "suspended"
        if rec.run_at_ms > self.scheduler.now_ms:
            return "backing-off" if rec.attempts else "scheduled"
        if not self.locks.holds(rec):
            return "queued"
        return "ready"

    def _awaited(self, inv_id: str, suspended: bool
                 ) -> tuple[list[RawEntry], list[tuple[int, RawEntry]]]:
        """``inv_id``'s journal and the commands it waits on: those its running
        attempt awaits, or, ``suspended``, those with no completion in its
        stored journal (no attempt of it runs to tell)."""
        attempt = self.running.get(inv_id)
        if attempt is not None:
            journal = attempt.journal
            if attempt.waiting is None or attempt.handed is not None:
                # (a resume queued to hand it the value of the one step it waits on:
                # that step is complete, though not in ``done``, ``Attempt.unhand``)
                return journal, []
            return journal, [(i, journal[i]) for i in attempt.waiting.indices
                             if i not in attempt.done]
        if not suspended:
            return [], []
        journal = stored_journal(self.invocations.store, inv_id)
        done = {e[TARGET] for e in journal if e[KIND] == COMPLETION}
        return journal, [(i, e) for i, e in enumerate(journal)
                         if e[KIND] in (CALL, AWAKEABLE, SLEEP) and i not in done]

    def _handed_to(self, awk: str, journal: list[RawEntry], waiter: str) -> str:
        """Where an awakeable's id went (the calls and sends whose input holds
        it): whoever was to resolve it, for a report on why it never was. One
        queued behind ``waiter`` for its key never can: a deadlock."""
        to, stuck = self._resolvers(awk, journal, waiter)
        if not to:
            return ""
        text = f" (its id went to {', '.join(to)}; nothing resolved it"
        for callee, _ in stuck:
            holder = self.invocations.record(waiter).target
            text += (f": {callee.target} is queued behind {holder} for key {callee.key!r}, "
                     f"which holds the key while it waits on this awakeable, a deadlock (a "
                     f"Restate server waits for ever too); a shared handler "
                     f"(kind=\"shared\") runs beside it")
        return text + ")"

    def _completed_elsewhere(self, rec: InvocationRecord, name: str) -> str:
        """Where a promise of ``name`` was completed for another key of the same
        workflow, by a handler (a world event's call, a test's): a mistyped or
        empty key reached no invocation of this one, which waits for ever; or
        where a promise of this key was completed under a name nothing reads."""
        store = self.invocations.store
        mine = [o for o in self.invocations.by_id.values()
                if o.service == rec.service and o.key == rec.key]
        for other in self.invocations.by_id.values():  # (in submission order)
            if other.service != rec.service or other.key == rec.key:
                continue
            for j, e in enumerate(stored_journal(store, other.id)):
                if e[KIND] == PROMISE_COMPLETE and e[NAME] == name:
                    return (f" (a promise {name!r} was completed by {other.target} (#{j}), "
                            f"for the key {other.key!r}, not this workflow's {rec.key!r})")
        # A promise of this workflow completed under a name nothing of it ever
        # read: a misspelt or renamed promise, completed where nobody looks.
        journals = [(o, stored_journal(store, o.id)) for o in mine]
        read = {e[NAME] for _, journal in journals for e in journal
                if e[KIND] in (PROMISE_GET, PROMISE_PEEK)}
        for other, journal in journals:
            for j, e in enumerate(journal):
                if e[KIND] == PROMISE_COMPLETE and e[NAME] not in read:
                    return (f" (a promise {e[NAME]!r} of this workflow was completed by "
                            f"{other.target} (#{j}), which nothing of it reads: another "
                            f"name for {name!r}?)")
        return ""

    def _resolvers(self, awk: str, journal: list[RawEntry], waiter: str
                   ) -> tuple[list[str], list[tuple[InvocationRecord, int]]]:
        """The calls and sends of ``waiter`` whose input holds ``awk`` (as
        "target (#index)"), and those of them queued behind ``waiter`` for its
        key, with their journal index."""
        needle = awk.encode()
        to, stuck = [], []
        for j, e in enumerate(journal):
            if e[KIND] in (CALL, SEND) and e[DATA] is not None and needle in e[DATA]:
                callee = self.invocations.get(e[REF]) if e[REF] else None
                to.append(f"{callee.target if callee is not None else e[NAME]} (#{j})")
                if (callee is not None and callee.key is not None
                        and self.status(callee.id) == "queued"
                        and self.locks.head(callee.service, callee.key) == waiter):
                    stuck.append((callee, j))
        return to, stuck

    def queued_resolver(self, awk: str) -> tuple[str, int, str] | None:
        """Why resolving ``awk`` from outside would hide a deadlock the app made:
        the invocation waiting on it handed its id to a handler of its own key
        that is queued behind it (an exclusive ``giveUp`` sent with a delay),
        which Restate never runs while the waiter holds the key: the waiter's
        target, the awakeable's journal index and the sentence. None if not."""
        parsed = parse_awakeable_id(awk)
        if parsed is None:
            return None
        waiter = parsed[0]
        rec = self.invocations.get(waiter)
        if rec is None:
            return None
        journal = stored_journal(self.invocations.store, waiter)
        _, stuck = self._resolvers(awk, journal, waiter)
        if not stuck:
            return None
        callee, j = stuck[0]
        return rec.target, parsed[1], (f"{rec.target} waits on awakeable {awk} (#{parsed[1]}) and handed its id to "
                f"{callee.target} (#{j}), which is queued behind it for key {callee.key!r}: "
                f"an exclusive handler of the same key never runs while {rec.target} holds "
                f"the key, so it can never resolve the awakeable, a deadlock whenever the "
                f"outside world does not answer (a Restate server waits for ever too); the "
                f"world's resolving it hid the deadlock. Make {callee.target.rsplit('/', 1)[1]} "
                f"a shared handler (kind=\"shared\"), which runs beside it")

    def _calls_awaited(self, caller: str) -> list[str]:
        """The invocations ``caller`` waits on through its calls: those its
        running attempt awaits, or, suspended, those with no result yet."""
        _, pending = self._awaited(caller, caller in self.running.suspended)
        return [e[REF] for _, e in pending if e[KIND] == CALL]

    def _waits_for(self, inv_id: str) -> list[str]:
        """Whom ``inv_id`` waits for: its key's holder when it is queued, else
        the invocations it awaits through its calls."""
        rec = self.invocations.record(inv_id)
        if rec.key is not None and self.status(inv_id) == "queued":
            return [self.locks.head(rec.service, rec.key)]
        return self._calls_awaited(inv_id)

    def _deadlock(self, inv_id: str) -> list[str]:
        """A cycle of waits from ``inv_id`` back to it (``inv_id`` first, each
        waiting for the next, the last for ``inv_id``): none of them can go on.
        Empty when there is none."""
        paths, seen = [[inv_id]], {inv_id}
        while paths:
            path = paths.pop()
            for waited in self._waits_for(path[-1]):
                if waited == inv_id:
                    return path
                if waited not in seen:
                    seen.add(waited)
                    paths.append(path + [waited])
        return []

    def waiting_on(self, inv_id: str) -> str:
        """What an unfinished invocation waits for, in words."""
        rec = self.invocations.record(inv_id)
        status = self.status(inv_id)
        if status == "queued":
            assert rec.key is not None
            head = self.locks.head(rec.service, rec.key)
            holder = self.invocations.record(head).target
            text = f"queued behind {head} ({holder}) for key {rec.key!r}"
            cycle = self._deadlock(inv_id)
            if cycle == [inv_id, head]:
                text += (f": a deadlock, {holder} holds the key while it waits on this "
                         f"call, which needs the same key (a Restate server waits for ever "
                         f"too): do that work in {holder} itself, or send it "
                         f"(object_send) instead of awaiting it")
            elif cycle:
                links = []
                for waiting, waited in zip(cycle[1:], cycle[2:] + [inv_id], strict=True):
                    what = ("this invocation" if waited == inv_id
                            else self.invocations.record(waited).target)
                    how = "is queued behind" if self.status(waiting) == "queued" \
                        else "awaits its call to"
                    links.append(f"{how} {what}")
                text += (f": a deadlock, {holder} holds the key and "
                         + ", which ".join(links)
                         + " (a Restate server waits for ever too): send one of these calls "
                           "(object_send) instead of awaiting it")
            return text
        if status == "paused":
            return f"paused: {rec.last_failure}"
        journal, pending = self._awaited(inv_id, status == "suspended")
        if pending:
            parts = []
            for i, e in pending:
                what = describe(e)
                if e[KIND] == CALL and e[REF] in self.invocations.by_id:
                    what += f" -> {e[REF]} ({self.status(e[REF])})"
                elif e[KIND] == AWAKEABLE:
                    what = f"awakeable {awakeable_id(inv_id, i)}"
                    what += self._handed_to(awakeable_id(inv_id, i), journal, inv_id)
                elif e[KIND] == SLEEP:
                    what += f" until {e[WAKE_MS]}ms"
                elif e[KIND] == PROMISE_GET and e[NAME] is not None:
                    what += self._completed_elsewhere(rec, e[NAME])
                parts.append(f"#{i} {what}")
            return ("suspended, " if status == "suspended" else "") + "waits on " \
                + ", ".join(parts)
        if status in ("backing-off", "scheduled"):
            return f"{status} until {rec.run_at_ms}ms"
        return status
