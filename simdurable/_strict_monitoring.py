"""Strict mode on ``sys.monitoring`` (PEP 669): the guard on Python 3.12 and later.

On 3.12 ``sys.setprofile`` is built on ``sys.monitoring``: each call of it
that turns the profile function on or off changes the events set, and every
code object run next is instrumented anew. Strict mode pauses its hook
around simdurable's own code at every step, so a check on 3.12 spent four
times as long in strict mode as on 3.11. Here the events are set once (while
a strict guard is alive, ``_Events``) under a tool id of simdurable's own,
and pausing is the ``active`` flag the callbacks read. The entry points'
in-line pauses are unchanged: their ``setprofile(guard.previous)`` and
``setprofile(guard.hook)`` set None where None was set (``hook`` is None),
which changes no events; a Python profile function set before is off while
the handler's code runs, as with the 3.11 hook.

What is judged, and how it is worded, is ``_strict``'s: ``StrictGuard._judge``,
``_record`` and ``_waits_at``, fed from the events that carry what the 3.11
hook's did. A C function's call is a CALL event (the callable, and the
caller's frame at the ``CALL``); a Python function's, a PY_START (its code,
and its frame; ``os.environ[...]`` makes no CALL); a coroutine waiting, a
PY_YIELD. A location whose event can never be judged is disabled
(``sys.monitoring.DISABLE``), free after its first event: a call in library
code (simdurable's, the standard library's, a third party's) whose callable
is not an ambient read; a Python function that is not one; a yield outside
the user's catch-all ``try`` bodies. A call in the user's code is never
disabled: the same line runs inside a step (not judged) and outside it, and
may call something else next time. ``restart_events()`` (another tool's)
enables them again: each is disabled again at its next event.

Events come from every thread (``sys.setprofile`` is per thread): only the
thread that entered the guard is judged.
"""

from __future__ import annotations

import atexit
import random
import sys
import weakref
from threading import get_ident
from types import BuiltinFunctionType, CodeType, FrameType, MethodDescriptorType
from typing import Any

from ._strict import (
    _C_FUNCTIONS,
    _CLASS_METHODS,
    _CO_COROUTINE,
    _PAUSE,
    _PY_CODE_IDS,
    _RANDOM_FILE,
    _RNG,
    _SPANS,
    StrictGuard,
    code_spans,
    user_code,
)
from .runtime._invocation import Attempt

_mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
_DISABLE = _mon.DISABLE
_MISSING = _mon.MISSING
_EVENTS = (_mon.events.CALL | _mon.events.PY_START | _mon.events.PY_YIELD
           | _mon.events.PY_RESUME | _mon.events.PY_THROW)
_getframe = sys._getframe
# By the id of a code object (held, so that its id stays its own): whether it
# is the user's own code (``user_code``), whose calls are never disabled.
# Bounded, as code made at run time would fill it.
_USER: dict[int, tuple[CodeType, bool]] = {}
_USER_MAX = 4096


def _users(code: CodeType) -> bool:
    known = _USER.get(id(code))
    if known is not None and known[0] is code:
        return known[1]
    if len(_USER) >= _USER_MAX:
        _USER.clear()
    user = user_code(code.co_filename)
    _USER[id(code)] = (code, user)
    return user


def _spans(code: CodeType) -> tuple[tuple[int, int, int, str], ...]:
    """The catch-all clauses of a coroutine's code (``_waits_at``'s, cached as it does)."""
    known = _SPANS.get(id(code))
    if known is not None and known[0] is code:
        return known[1]
    return code_spans(code)


class _Events:
    """The process's one tool id and its callbacks: the events are set while a
    strict guard is alive (across the runs of a check too: turning them off
    and on again, once a run, costs little, and a disabled location stays
    disabled), and read the guard whose handler code runs now (``guard``,
    set as it is entered)."""

    def __init__(self) -> None:
        self.tool: int | None = None
        self.holders = 0
        # The guard entered last (None after its ``exit``), and its thread.
        self.guard: MonitoringGuard | None = None
        self.thread = 0
        self.exit_hooked = False

    def hold(self) -> bool:
        """Set the events (taking a free tool id first), or False if no id is free."""
        if self.tool is None:
            for tool in (3, 4, 5):  # (the ones no tool of the standard library takes)
                if _mon.get_tool(tool) is None:
                    break
            else:
                return False
            _mon.use_tool_id(tool, "simdurable strict mode")
            events = _mon.events
            _mon.register_callback(tool, events.CALL, self._call)
            _mon.register_callback(tool, events.PY_START, self._start)
            _mon.register_callback(tool, events.PY_YIELD, self._yield)
            _mon.register_callback(tool, events.PY_RESUME, self._resume)
            _mon.register_callback(tool, events.PY_THROW, self._throw)
            _mon.set_events(tool, _EVENTS)
            self.tool = tool
            if not self.exit_hooked:  # (off before the interpreter tears modules down)
                atexit.register(self.off)
                self.exit_hooked = True
        self.holders += 1
        return True

    def release(self) -> None:
        self.holders -= 1
        if self.holders == 0:
            self.off()

    def off(self) -> None:
        """The events unset, the tool id given back."""
        if self.tool is not None:
            tool, self.tool = self.tool, None
            _mon.set_events(tool, 0)
            events = _mon.events
            for event in (events.CALL, events.PY_START, events.PY_YIELD, events.PY_RESUME,
                          events.PY_THROW):
                _mon.register_callback(tool, event, None)
            _mon.free_tool_id(tool)
            self.guard = None

    def _call(self, code: CodeType, offset: int, fn: Any, arg0: Any) -> Any:
        """A call: a C function's is the 3.11 hook's ``c_call``."""
        kind = type(fn)
        found: tuple[str, str, int | None] | None = None
        if kind is BuiltinFunctionType:
            found = _C_FUNCTIONS.get(id(fn))
            if found is None:
                owner = fn.__self__
                if owner is random._inst:
                    found = (f"random.{fn.__name__}()", _RNG, None)
                elif isinstance(owner, type):
                    found = _CLASS_METHODS.get((owner, fn.__name__))
        elif kind is MethodDescriptorType and arg0 is random._inst:
            # (``rng.random()`` with ``rng = random._inst``: the method unbound)
            found = (f"random.{fn.__name__}()", _RNG, None)
        if found is None:
            return None if _users(code) else _DISABLE
        guard = self.guard
        if guard is not None and guard.active and get_ident() == self.thread:
            frame = _getframe(1)
            guard._judge(found, frame, frame)
        return None

    def _start(self, code: CodeType, offset: int) -> Any:
        """A Python function starts: the 3.11 hook's ``call``."""
        known = _PY_CODE_IDS.get(id(code))
        if known is None and code.co_filename != _RANDOM_FILE:
            return _DISABLE
        guard = self.guard
        if guard is None or not guard.active or get_ident() != self.thread:
            return None
        if known is not None:
            found = known[1]
            if found is _PAUSE:
                # an entry point of simdurable's, which puts the guard back on
                # its way out (``_strict._PAUSE``): off from here
                guard.active = False
                guard.paused = True
                return None
            guard.called(_getframe(1), code, found)
            return None
        frame = _getframe(1)
        if frame.f_locals.get("self") is random._inst:
            guard._record(f"random.{code.co_name}()", _RNG, frame.f_back)
        return None

    def _resume(self, code: CodeType, offset: int) -> Any:
        """A generator goes on (the 3.11 hook's ``call`` again): only an entry
        point of simdurable's (``_PAUSE``) asks anything then."""
        known = _PY_CODE_IDS.get(id(code))
        if known is None or known[1] is not _PAUSE:
            return _DISABLE
        guard = self.guard
        if guard is not None and guard.active and get_ident() == self.thread:
            guard.active = False
            guard.paused = True
        return None

    def _throw(self, code: CodeType, offset: int, exc: BaseException) -> None:
        """An exception thrown into a generator: as ``_resume`` (a PY_THROW
        cannot be disabled: ``DISABLE`` would raise, so its answer is dropped)."""
        self._resume(code, offset)

    def _yield(self, code: CodeType, offset: int, value: Any) -> Any:
        """A coroutine yields: where it waits (the 3.11 hook's ``return`` at a yield)."""
        if not code.co_flags & _CO_COROUTINE:
            return _DISABLE
        spans = _spans(code)
        if not spans:
            return _DISABLE
        frame = _getframe(1)
        line = frame.f_lineno
        if not any(first <= line <= last for first, last, _, _ in spans):
            return _DISABLE
        guard = self.guard
        if guard is not None and guard.active and get_ident() == self.thread:
            guard._waits_at(frame, code)
        return None


EVENTS = _Events()


# The code of the choosers' draws, which the 3.11 hook does not watch (made
# at the first finding: ``_check`` imports this module's).
_DRAWS: frozenset[CodeType] | None = None


def _draws() -> None:
    global _DRAWS
    from ._check._chooser import DataChooser, DataExplorer

    _DRAWS = frozenset({DataChooser.choose.__code__, DataChooser.chance.__code__,
                        DataExplorer.__call__.__code__})


class MonitoringGuard(StrictGuard):
    """``StrictGuard`` on ``sys.monitoring``'s events (see the module docstring):
    the same protocol at the entry points, ``active`` read by the callbacks.
    Made by ``_strict.new_guard()`` on 3.12 and later when a tool id is free."""

    def __init__(self) -> None:
        self._attempt: Attempt | None = None
        super().__init__()
        # (``hook`` stays None: what the entry points set is the profile
        # function that was set, the events doing the watching)
        self.hook = None
        weakref.finalize(self, EVENTS.release)

    @property
    def attempt(self) -> Attempt | None:
        return self._attempt

    @attempt.setter
    def attempt(self, attempt: Attempt | None) -> None:
        # (set as the guard is entered, in line or by ``enter``, and as it exits)
        self._attempt = attempt
        if attempt is not None:
            EVENTS.guard = self
            EVENTS.thread = get_ident()
        elif EVENTS.guard is self:
            EVENTS.guard = None

    def _record(self, name: str, instead: str, frame: FrameType | None) -> None:
        # Not a call made for a chooser's draw (Hypothesis's own clock and RNG
        # reads): with the profile hook, the chooser takes it off while it
        # draws (``sys.setprofile(None)``), which sets no flag of this guard's.
        if _DRAWS is None:
            _draws()
        back = frame
        while back is not None:
            if back.f_code in _DRAWS:  # type: ignore[operator]
                return
            back = back.f_back
        super()._record(name, instead, frame)


def make_guard() -> StrictGuard:
    """A ``MonitoringGuard``, or the profile hook's ``StrictGuard`` when every
    ``sys.monitoring`` tool id is taken."""
    if not EVENTS.hold():
        return StrictGuard()
    try:
        return MonitoringGuard()
    except BaseException:
        EVENTS.release()
        raise

