"""Trace events whose texts are formatted only when read.

An event is ``(t_ms, kind, inv, text)``; the engine's events for every entry
and step are ``(t_ms, kind, inv, form, *args)`` instead: a form name and plain
values, formatted by ``event_text`` on demand (equal events give equal text).
Formatting each line at once would cost more than the step itself, and most
simulations never print their trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ._journal import describe_command

# ``(t_ms, kind, inv, text)`` or ``(t_ms, kind, inv, form, *args)``: the args are
# plain immutable values, which the garbage collector need not keep scanning.
Event = tuple[Any, ...]


def event_text(event: Event) -> str:
    """The text of a trace event, formatting a deferred one."""
    if len(event) == 4:
        text: str = event[3]
        return text
    return _FORMS[event[3]](*event[4:])


def _command_text(index: int, kind: str, name: str, data: bytes | None) -> str:
    return f"#{index} {describe_command(kind, name, data)}"


def _step_text(name: str, index: int) -> str:
    return f'ran step "{name}" #{index}'


_FORMS: Final[dict[str, Callable[..., str]]] = {"command": _command_text, "step": _step_text}
