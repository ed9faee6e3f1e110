"""``always`` and ``sometimes``: properties a handler states about itself.

Inside ``check`` every call is recorded per message: an ``always`` that is
ever false is a violation of the run it happened in; a ``sometimes`` that was
reached but never true across the whole exploration is a violation of the
exploration (a hazard the tests never exercised, or a branch that never
works). Outside ``check`` both only return their condition, so handlers can
keep them in production code.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sometimes:
    """What the exploration saw of one ``sometimes`` message."""

    message: str
    source: str | None
    reached: int = 0
    true: int = 0


@dataclass
class AlwaysFailure:
    message: str
    source: str | None
    details: Any = None


@dataclass
class Collector:
    """Assertions seen during one run (``always``) or a whole check (``sometimes``)."""

    failures: list[AlwaysFailure] = field(default_factory=list)
    sometimes: dict[str, Sometimes] = field(default_factory=dict)


_current: ContextVar[Collector | None] = ContextVar("simdurable_assertions", default=None)


def _dying() -> bool:
    """Whether the caller runs while its attempt unwinds (a crash, or a dropped
    coroutine closed later by the garbage collector): not durable progress."""
    from ..runtime._invocation import Abort

    exc = sys.exc_info()[1]
    return isinstance(exc, (GeneratorExit, Abort))


def _caller() -> str | None:
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"


def always(condition: object, message: str, details: Any = None) -> bool:
    """Assert that ``condition`` holds every time this line runs.

    Under ``check`` a false condition is an ``invariant`` violation of that
    run; the handler goes on (raising would turn it into a retry).
    """
    ok = bool(condition)
    collector = _current.get()
    if collector is not None and not ok and not _dying():
        if not any(f.message == message for f in collector.failures):
            collector.failures.append(AlwaysFailure(message, _caller(), details))
    return ok


def sometimes(condition: object, message: str, details: Any = None) -> bool:
    """Assert that ``condition`` is true at least once across the exploration.

    Under ``check``, a message reached but never true in any run is reported
    as an ``invariant`` violation: a path the exploration never exercised.
    """
    ok = bool(condition)
    collector = _current.get()
    if collector is not None and not _dying():
        seen = collector.sometimes.get(message)
        if seen is None:
            seen = collector.sometimes[message] = Sometimes(message, _caller())
        seen.reached += 1
        seen.true += ok
    return ok
