"""A wall-clock budget for a simulation's ``run()``: stops a handler that spins
in plain Python (``while True: pass``) and never gives the runtime a turn.

Nothing in a simulation reads the wall clock; this only ends a run that would
otherwise never return. One daemon thread per process sleeps until the
earliest deadline and then raises ``Spinning`` in the thread that is over
its budget (``PyThreadState_SetAsyncExc``: Python checks for it between
bytecodes, so a pure-Python loop is interrupted; a C call that never returns
is not). A deadline that is cleared first costs two dict writes and a clock
read, no lock; one that fires just as the block begins (its deadline written,
its thread waiting its turn) or ends is taken by that block (clearing a
pending exception with ``PyThreadState_SetAsyncExc(id, NULL)`` leaves the
interpreter hanging at the next profiled call on CPython 3.11).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from threading import get_ident
from time import monotonic
from types import TracebackType


class Spinning(BaseException):
    """Raised inside a run that went over its wall-clock budget.

    A ``BaseException``, so that neither a handler's ``except Exception`` nor
    the runtime's retry treats it as the handler failing.
    """


# How long the thread sleeps with nothing to watch before it looks again. A
# run's deadline after that need not wake it; a run is usually over long before
# the thread would get its turn, so waking it for each one found nothing to
# watch and cost every run a thread switch (about 15 us of CPU and 100 us of
# wall time per short run on a busy 2-core machine: BENCHMARKS.md). Waking
# every few seconds in an idle process costs nothing measurable.
_IDLE_WAKE = 5.0


class _Watchdog:
    """The deadlines of the budgets running now, by thread, and the thread that
    watches them.

    A budget begins and ends (twice a run, thousands of runs a second) without
    a lock: the owning thread alone writes its deadline (one dict write, atomic
    under the GIL), and the watching thread, which holds the lock whenever it
    is not waiting, fires only at a deadline it reads again after saying so
    (``_busy``). A budget that ends sees either that the watcher is not deciding
    (so it will find the deadline gone) or takes the lock, waiting for the
    decision, to tell whether its exception is on its way.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._deadlines: dict[int, float] = {}
        # The threads whose budget fired, with the deadline that did: a budget
        # around another tells its own stop from the inner one's by it.
        self._fired: dict[int, float] = {}
        self._thread: threading.Thread | None = None
        # When the thread wakes next on its own. A run whose deadline is no
        # earlier need not wake it (the thread finds it then): no wake-up per run,
        # which was a thread switch each, and much of a short run's wall time on
        # a busy machine (``_IDLE_WAKE``). Infinite while the thread is not
        # waiting yet: a budget that begins then wakes it.
        self.wake_at = float("inf")
        self.notified = 0  # wake-ups asked for (the tests count them)
        self._stopping = False
        self._busy = False  # the thread is deciding whether a deadline fires

    # (``Simulation.run`` does the common cases of ``enter`` and ``leave``
    # itself, without their calls: it reads ``_deadlines``, ``wake_at``,
    # ``_thread``, ``_busy`` and ``_fired`` as they do, and calls them otherwise.)
    def enter(self, deadline: float) -> tuple[int, float | None]:
        """Start this thread's budget, due at ``deadline`` (``monotonic()``)
        or at the one around it if that is earlier; returns what ``leave`` needs."""
        ident = get_ident()
        deadlines = self._deadlines
        outer = deadlines.get(ident)
        if outer is not None and outer < deadline:
            deadline = outer
        deadlines[ident] = deadline
        if deadline < self.wake_at or self._thread is None:  # (rarely)
            with self._lock:
                if self._thread is None:
                    self._start()
                if deadline < self.wake_at:
                    self.notified += 1
                    self._cond.notify()
        return ident, outer

    def leave(self, ident: int, outer: float | None, deadline: float) -> bool:
        """End this thread's budget (its own ``deadline``, ``outer`` the one
        around it); True if its own fired (its exception is pending or raised).

        A budget around it that fired stays fired, not due again: its
        ``Spinning`` is that block's to take, not this one's.
        """
        if outer is None or ident in self._fired and self._fired[ident] == outer:
            self._deadlines.pop(ident, None)  # (an outer one that fired is not due again)
        else:
            self._deadlines[ident] = outer
        if not self._busy and ident not in self._fired:
            return False  # (the watcher, deciding later, finds the deadline gone)
        with self._lock:  # (the watcher's decision is made once it lets go)
            if ident not in self._fired:
                return False
            if self._fired[ident] != deadline:  # the one around it fired
                self._deadlines.pop(ident, None)
                return False
            del self._fired[ident]
        return True

    def fired_around(self, ident: int, deadline: float) -> bool:
        """True if a budget around the one due at ``deadline`` fired (so a
        ``Spinning`` taken in this one is that budget's)."""
        return self._fired.get(ident, deadline) != deadline

    def stop_idle(self) -> bool:
        """Stop the thread if no budget is running; True if it is stopped.

        A process forks its workers with no other thread (a thread holding a
        lock at the fork would leave it held in the child forever); the next
        budget starts the thread again, in the parent and in each child.
        """
        with self._cond:
            thread = self._thread
            if thread is None:
                return True
            if self._deadlines:
                return False
            self._stopping = True
            self._cond.notify()
        thread.join()
        with self._cond:
            self._thread = None
            self._stopping = False
            self.wake_at = float("inf")
            if self._deadlines:  # another thread's budget began meanwhile: watch it
                self._start()
                return False
        return True

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="simdurable-watchdog",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        with self._cond:
            while not self._stopping:
                self.wake_at = float("inf")  # (looking: a budget beginning now wakes it)
                # (copied in one C call, as budgets begin and end meanwhile; a
                # collection in that call may run other code: then again)
                try:
                    deadlines = list(self._deadlines.items())
                except RuntimeError:  # pragma: no cover - the dict changed size meanwhile
                    continue
                if not deadlines:
                    self.wake_at = time.monotonic() + _IDLE_WAKE
                    self._cond.wait(_IDLE_WAKE)
                    continue
                ident, deadline = min(deadlines, key=lambda kv: kv[1])
                left = deadline - time.monotonic()
                if left > 0:
                    self.wake_at = deadline
                    self._cond.wait(left)
                    continue
                self._busy = True  # (before the deadline is read again: see the class)
                if self._deadlines.get(ident) == deadline:  # its budget has not ended
                    self._deadlines.pop(ident, None)
                    self._fired[ident] = deadline
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                               ctypes.py_object(Spinning))
                self._busy = False


_watchdog = _Watchdog()


class _Budget:
    """The block under a budget (a class, not a generator: it is entered at every run)."""

    __slots__ = ("seconds", "ident", "outer", "deadline")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ident = 0
        self.outer: float | None = None
        self.deadline = 0.0

    def __enter__(self) -> None:
        # (a budget that fires as it begins, once ``enter`` wrote its deadline,
        # raises here: the block's ``Spinning``, with no fired budget left behind
        # for this thread's next one)
        ident = get_ident()
        outer = _watchdog._deadlines.get(ident)
        self.deadline = deadline = monotonic() + self.seconds
        try:
            self.ident, self.outer = _watchdog.enter(deadline)
        except Spinning:
            _watchdog.leave(ident, outer, deadline)
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # (as in ``Simulation.run``: a budget that fires just as the block ends
        # raises at the next call or loop jump, taken inside this try)
        # A budget around this one that fires meanwhile goes on to its own
        # block: its ``Spinning`` is raised again, not taken here.
        ident, deadline = self.ident, self.deadline
        try:
            if _watchdog.leave(ident, self.outer, deadline) and (
                kind is None or not issubclass(kind, Spinning)
            ):
                for _ in range(10_000):  # (taken at a jump of this loop)
                    pass
        except Spinning:
            around = _watchdog.fired_around(ident, deadline)
            _watchdog.leave(ident, self.outer, deadline)  # (raised as ``leave`` began: again)
            if around:
                raise


def stop_idle() -> bool:
    """Stop the watchdog's thread unless a budget is running (see ``_Watchdog.stop_idle``)."""
    return _watchdog.stop_idle()


def wall_budget(seconds: float | None) -> contextlib.AbstractContextManager[None]:
    """Raise ``Spinning`` in this thread once ``seconds`` of wall-clock time
    pass inside the block (no limit when None)."""
    if seconds is None:
        return contextlib.nullcontext()
    return _Budget(seconds)
