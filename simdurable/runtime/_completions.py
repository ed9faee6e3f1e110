"""Completions: a command's result, stored and shown to the handler that waits.

Owns which journal indices of each pending invocation are completed, and who
waits on a callee's result (the calls made to it). ``deliver`` is the one way
a completion enters a journal: a timer, a callee, a promise, an awakeable or
a step's outcome all go through it. Calls the records, the store and the
running attempts (to wake the handler).
"""

from __future__ import annotations

from ._invocation import Attempt
from ._invocations import Invocations
from ._journal import COMPLETION, RawCompletion
from ._running import Running
from ._scheduler import Scheduler
from ._store import COMPLETED, PENDING, InvocationRecord, Store


class Completions:
    """See the module docstring."""

    def __init__(self, invocations: Invocations, running: Running, store: Store,
                 scheduler: Scheduler) -> None:
        self.invocations = invocations
        self.running = running
        self.store = store
        self.scheduler = scheduler
        # (``reset``'s, without its call: an engine is built for every run.)
        # The completed journal indices of each pending invocation are the bits
        # of one int (28 bytes for a short journal, where a set takes 216 and
        # more), on its record: ``InvocationRecord.done_bits``; while it has a
        # live attempt, on that attempt (``Attempt.done_bits``: ``holder``).
        # The calls waiting on each callee (a plain dict, filled by ``setdefault``:
        # a ``defaultdict`` costs more to make, and most engines never have one).
        self.callers: dict[str, list[tuple[str, int]]] = {}
        # How many leading entries of a reloaded invocation's journal are steps
        # completed right after their command (``Recovery.restore_waits``), for
        # its first replay (``_fast.step_command``), which takes it.
        self.plain_steps: dict[str, int] = {}

    def reset(self) -> None:
        # (``Engine.renew`` writes this out: a change here goes there too.)
        # (the done bits go with the records: ``Invocations.reload`` reads new
        # ones. An empty container stays: an engine renewed after a run that
        # left none makes none anew.)
        if self.callers:
            self.callers = {}
        if self.plain_steps:
            self.plain_steps = {}

    def holder(self, rec: InvocationRecord) -> InvocationRecord | Attempt:
        """Whatever holds ``rec``'s done bits now: its live attempt, else itself."""
        attempt = self.running.attempts.get(rec.id)
        return attempt if attempt is not None and attempt.alive else rec

    def deliver(self, inv_id: str, index: int, completion: RawCompletion) -> None:
        """Store the completion of command ``index`` and show it to the handler."""
        rec = self.invocations.by_id.get(inv_id)
        if rec is None or rec.status != PENDING:
            return
        holder = self.holder(rec)
        done = holder.done_bits
        bit = 1 << index
        if done & bit:
            return
        entry = (COMPLETION, "", None, completion, index, self.scheduler.now_ms, -1, "")
        self.store.append(inv_id, entry)
        holder.done_bits = done | bit
        if rec.retry_index == index:
            rec.retry_index, rec.retry_count, rec.retry_started_ms = -1, 0, 0
            self.invocations.put(rec)
        self.running.notify(inv_id, entry)

    def is_done(self, inv_id: str, index: int) -> bool:
        rec = self.invocations.by_id.get(inv_id)
        return rec is not None and self.holder(rec).done_bits >> index & 1 == 1

    def mark_done(self, inv_id: str, index: int) -> None:
        """A command stored with its result (a state read, say): nothing to wait for."""
        rec = self.invocations.by_id.get(inv_id)
        if rec is not None:
            self.holder(rec).done_bits |= 1 << index

    # -- callers -------------------------------------------------------------------
    def wait_for(self, callee: str, caller: tuple[str, int]) -> None:
        """``caller`` (invocation, journal index) gets ``callee``'s result when it ends."""
        waiters = self.callers.setdefault(callee, [])
        if caller not in waiters:
            waiters.append(caller)

    def attach(self, callee: str, caller: tuple[str, int]) -> None:
        """As ``wait_for``; at once if the callee has already ended."""
        rec = self.invocations.record(callee)
        if rec.status == COMPLETED and rec.result is not None:
            self.deliver(caller[0], caller[1], rec.result)
        else:
            self.callers.setdefault(callee, []).append(caller)

    def wake_callers(self, rec: InvocationRecord, completion: RawCompletion) -> None:
        for caller_id, index in self.callers.pop(rec.id, []):
            self.deliver(caller_id, index, completion)
