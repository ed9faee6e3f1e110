"""Status: what an invocation is doing, in a word and in a sentence.

Reads the records, the running attempts and the key locks; changes nothing.
"""

from __future__ import annotations

from ._ids import awakeable_id
from ._invocations import Invocations
from ._journal import AWAKEABLE, CALL, SLEEP, Failure
from ._locks import KeyLocks
from ._running import Running
from ._scheduler import Scheduler
from ._store import COMPLETED, PENDING


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
        if rec.status != PENDING:
            return "failed" if (rec.status == COMPLETED and isinstance(rec.result, Failure)) \
                else rec.status
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

    def _awaits_call(self, caller: str, callee: str) -> bool:
        """Whether ``caller``'s running attempt waits on its call to ``callee``."""
        attempt = self.running.get(caller)
        if attempt is None or attempt.waiting is None:
            return False
        return any(attempt.journal[i].kind == CALL and attempt.journal[i].ref == callee
                   for i in attempt.waiting.indices if i not in attempt.done)

    def waiting_on(self, inv_id: str) -> str:
        """What an unfinished invocation waits for, in words."""
        rec = self.invocations.record(inv_id)
        status = self.status(inv_id)
        if status == "queued":
            assert rec.key is not None
            head = self.locks.head(rec.service, rec.key)
            holder = self.invocations.record(head).target
            text = f"queued behind {head} ({holder}) for key {rec.key!r}"
            if self._awaits_call(head, inv_id):
                text += (f": a deadlock, {holder} holds the key while it waits on this "
                         f"call, which needs the same key (a Restate server waits for ever "
                         f"too): do that work in {holder} itself, or send it "
                         f"(object_send) instead of awaiting it")
            return text
        if status == "paused":
            return f"paused: {rec.last_failure}"
        attempt = self.running.get(inv_id)
        if attempt is not None and attempt.waiting is not None:
            parts = []
            for i in attempt.waiting.indices:
                if i in attempt.done:
                    continue
                e = attempt.journal[i]
                what = e.describe()
                if e.kind == CALL and e.ref in self.invocations.by_id:
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
