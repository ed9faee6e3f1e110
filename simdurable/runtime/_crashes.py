"""Fault points and crashes: where the injector may strike, and what a crash does.

Owns the crash count and the meaning of each fault kind at a point: a crash
drops every attempt (each is retried later), a restart rebuilds the server
from its store, a suspension ends one attempt. Which fault fires where is
the injector's decision (``_faults.Injector``). Calls the running attempts,
the lifecycle (retries), recovery (a restart's reload) and the trace.
"""

from __future__ import annotations

from ._faults import CRASH, POINT_KINDS, RESTART, SUSPEND, FaultPoint, Injector
from ._invocation import Attempt
from ._lazy import BuiltOnUse, own_keys
from ._lifecycle import Lifecycle
from ._recovery import Recovery
from ._running import Running
from ._scheduler import Scheduler
from ._trace import Tracer


class Crashes:
    """See the module docstring."""

    def __init__(self, injector: Injector, running: Running, lifecycle: Lifecycle,
                 scheduler: Scheduler, trace: Tracer) -> None:
        self.injector = injector
        self.running = running
        self.lifecycle = lifecycle
        self.scheduler = scheduler
        self.trace = trace
        self.crashes = 0

    # Rebuilding from the store is needed at a restart, or by a new engine over
    # a store that holds something: built then (``_lazy``), most runs never do.
    recovery: BuiltOnUse[Recovery] = BuiltOnUse(lambda c: _recovery(c))

    def point(self, attempt: Attempt, phase: str, index: int, name: str, op: str
              ) -> FaultPoint:
        # phase, invocation, target, index, name, op, attempt, time_ms
        return FaultPoint(phase, attempt.rec.id, attempt.handler, index, name, op,
                          attempt.number, self.scheduler.now_ms)

    def fault_at(self, attempt: Attempt, phase: str, index: int, name: str, op: str) -> bool:
        """Consult the injector; True if the attempt must stop here."""
        injector = self.injector
        if injector.spares(name) or not injector.may_fire(POINT_KINDS, phase):
            return False
        fault = injector.at_point(self.point(attempt, phase, index, name, op))
        if fault is None:
            return False
        where = f'{op} "{name}" #{index}' if name else f"{op} #{index}"
        self.trace("fault", attempt.rec.id, f"{fault.kind} at {phase} of {where}")
        if fault.kind == CRASH:
            self.crash(f"crash at {phase} of {where}")
        elif fault.kind == RESTART:
            self.restart(f"restart at {phase} of {where}")
        elif fault.kind == SUSPEND:
            self.running.suspend(attempt, f"fault: suspended at {phase} of {where}")
        return True

    def crash(self, reason: str) -> None:
        """The service process dies: every attempt is dropped and retried later."""
        self.crashes += 1
        self.trace("crash", "", reason)
        for attempt in sorted(self.running.attempts.values(), key=lambda a: a.rec.seq):
            rec = attempt.rec
            self.running.kill(attempt)
            self.lifecycle.retry_later(rec, f"service crashed ({reason})")
        self.running.drop_work()

    def restart(self, reason: str) -> None:
        """The whole server restarts from its store; volatile state is rebuilt."""
        self.crashes += 1
        self.trace("restart", "", reason)
        for attempt in list(self.running.attempts.values()):
            rec = attempt.rec
            self.running.kill(attempt)
            rec.failures += 1
            rec.last_failure = f"server restarted ({reason})"
            self.lifecycle.invocations.put(rec)
        self.recovery.load()

    def timed_stale(self, i: int) -> bool:
        """Whether the timed fault ``i`` can no longer fire."""
        return i in self.recovery.timed_fired or not self.injector.enabled

    def fire_timed(self, i: int) -> None:
        """The timed fault ``i`` is due."""
        if self.timed_stale(i):
            return
        fault = self.injector.timed()[i]
        self.recovery.timed_fired.add(i)
        self.injector.fired.append((None, fault))
        self.trace("fault", "", f"{fault} fired at {self.scheduler.now_ms}ms")
        if fault.kind == RESTART:
            self.restart(f"{fault}")
        elif fault.kind == CRASH:
            self.crash(f"{fault}")


own_keys(Crashes)  # (its parts built on use: see ``own_keys``)


def _recovery(crashes: Crashes) -> Recovery:
    lc = crashes.lifecycle
    return Recovery(lc.registry, lc.invocations, lc.locks, crashes.running, lc.completions,
                    lc.promises, lc, lc.store, crashes.scheduler, crashes.injector, set())
