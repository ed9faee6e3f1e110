"""Timers: what the clock wakes, and skipping those that can do nothing.

Owns the meaning of each timer the scheduler holds: a sleep's end, a delayed
or backed-off invocation's start, a delayed step, a timed fault. The clock
itself and the timer queue are the scheduler's. Calls the records,
completions, the lifecycle, the running attempts and the fault points.
"""

from __future__ import annotations

from typing import Any

from ._completions import Completions
from ._crashes import Crashes
from ._errors import InternalError
from ._invocations import Invocations
from ._journal import Value
from ._lifecycle import Lifecycle
from ._running import Running
from ._scheduler import Scheduler
from ._store import PENDING
from ._trace import Tracer


class Timers:
    """See the module docstring."""

    def __init__(self, invocations: Invocations, running: Running, completions: Completions,
                 lifecycle: Lifecycle, crashes: Crashes, scheduler: Scheduler,
                 trace: Tracer) -> None:
        self.invocations = invocations
        self.running = running
        self.completions = completions
        self.lifecycle = lifecycle
        self.crashes = crashes
        self.scheduler = scheduler
        self.trace = trace

    def advance_time(self, until_ms: int | None = None) -> bool:
        """Jump to the next timer (not past ``until_ms``) and fire what is due."""
        scheduler = self.scheduler
        head = scheduler.peek_timer()
        while head is not None and self._stale(head[1]):
            scheduler.drop_first_timer()
            head = scheduler.peek_timer()
        deadline = None if head is None else head[0]
        if deadline is None or (until_ms is not None and deadline > until_ms):
            if until_ms is not None and until_ms > scheduler.now_ms:
                scheduler.jump_to(until_ms)
            return False
        scheduler.jump_to(deadline)
        for payload in scheduler.pop_due():
            self._fire(payload)
        return True

    def _stale(self, payload: tuple[Any, ...]) -> bool:
        """A timer that can no longer do anything (so time need not jump to it)."""
        kind = payload[0]
        if kind == "fault":
            return self.crashes.timed_stale(payload[1])
        rec = self.invocations.get(payload[1])
        if rec is None or rec.status != PENDING:
            return True
        if kind == "sleep":
            return self.completions.is_done(rec.id, payload[2])
        if kind == "step":
            attempt = self.running.get(rec.id)
            return attempt is None or attempt.number != payload[2]
        if kind == "start":
            return rec.id in self.running.attempts
        return False

    def _fire(self, payload: tuple[Any, ...]) -> None:
        kind = payload[0]
        if kind == "sleep":
            _, inv_id, index = payload
            rec = self.invocations.get(inv_id)
            if rec is not None and rec.status == PENDING and not self.completions.is_done(
                inv_id, index
            ):
                self.trace("timer", inv_id, f"sleep #{index} fired")
                self.completions.deliver(inv_id, index, Value(b""))
        elif kind == "start":
            rec = self.invocations.get(payload[1])
            if rec is not None and rec.status == PENDING and rec.id not in self.running.attempts:
                lifecycle = self.lifecycle  # (a handler that takes no lock asks no locks)
                if not lifecycle.registry.spec_of(rec).exclusive or lifecycle.locks.holds(rec):
                    self.scheduler.push(rec)  # (its "start" task)
        elif kind == "deliver":
            rec = self.invocations.get(payload[1])
            if rec is not None and rec.status == PENDING:
                self.lifecycle.enqueue(rec)
        elif kind == "step":
            _, inv_id, number, index = payload
            attempt = self.running.get(inv_id)
            if attempt is not None and attempt.number != number:
                attempt = None  # (a stale task: it still takes its turn)
            self.running.push_work(("step", inv_id, attempt, index))
        elif kind == "fault":
            self.crashes.fire_timed(payload[1])
        else:  # pragma: no cover
            raise InternalError(f"unknown timer {payload!r}")
