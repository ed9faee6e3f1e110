"""A wall-clock budget for a simulation's ``run()``: stops a handler that spins
in plain Python (``while True: pass``) and never gives the runtime a turn.

Nothing in a simulation reads the wall clock; this only ends a run that would
otherwise never return. One daemon thread per process sleeps until the
earliest deadline and then raises ``Spinning`` in the thread that is over
its budget (``PyThreadState_SetAsyncExc``: Python checks for it between
bytecodes, so a pure-Python loop is interrupted; a C call that never returns
is not). A deadline that is cleared first costs nothing but a lock; one that
fires just as the block ends is taken before the block returns (clearing a
pending exception with ``PyThreadState_SetAsyncExc(id, NULL)`` leaves the
interpreter hanging at the next profiled call on CPython 3.11).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Iterator


class Spinning(BaseException):
    """Raised inside a run that went over its wall-clock budget.

    A ``BaseException``, so that neither a handler's ``except Exception`` nor
    the runtime's retry treats it as the handler failing.
    """


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadlines: dict[int, float] = {}
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def budget(self, seconds: float) -> Iterator[None]:
        ident = threading.get_ident()
        with self._cond:
            outer = self._deadlines.get(ident)
            self._deadlines[ident] = time.monotonic() + seconds
            if outer is not None:
                self._deadlines[ident] = min(outer, self._deadlines[ident])
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="simdurable-watchdog",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        delivered = False
        try:
            yield
        except Spinning:
            delivered = True
            raise
        finally:
            with self._cond:
                if outer is None:
                    self._deadlines.pop(ident, None)
                else:
                    self._deadlines[ident] = outer
                fired = ident in self._fired and outer is None
                if fired:
                    self._fired.discard(ident)
            if fired and not delivered:
                _absorb()

    def _loop(self) -> None:
        with self._cond:
            while True:
                if not self._deadlines:
                    self._cond.wait()
                    continue
                ident, deadline = min(self._deadlines.items(), key=lambda kv: kv[1])
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                del self._deadlines[ident]
                self._fired.add(ident)
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                           ctypes.py_object(Spinning))


def _absorb() -> None:
    """Take a ``Spinning`` that fired just as the block ended: Python delivers
    it at the next loop jump or call, which here is one of these."""
    try:
        for _ in range(10_000):
            pass
    except Spinning:
        pass


_watchdog = _Watchdog()


def wall_budget(seconds: float | None) -> contextlib.AbstractContextManager[None]:
    """Raise ``Spinning`` in this thread once ``seconds`` of wall-clock time
    pass inside the block (no limit when None)."""
    if seconds is None:
        return contextlib.nullcontext()
    return _watchdog.budget(seconds)
