"""Trace texts formatted only when read.

The engine records an event per entry and per step; formatting each line at
once would cost more than the step itself. A deferred text is a tuple of a
form name and plain values, rendered on demand: equal tuples render equal text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ._journal import describe_command

# ``(form, *args)``: ``form`` names one of ``_FORMS``; the args are plain immutable
# values, which the garbage collector need not keep scanning.
Deferred = tuple[Any, ...]


def render_text(text: str | Deferred) -> str:
    """The text of a trace event, formatting a deferred one."""
    if isinstance(text, str):
        return text
    return _FORMS[text[0]](*text[1:])


def _command_text(index: int, kind: str, name: str, data: bytes | None) -> str:
    return f"#{index} {describe_command(kind, name, data)}"


def _step_text(name: str, index: int) -> str:
    return f'ran step "{name}" #{index}'


_FORMS: Final[dict[str, Callable[..., str]]] = {"command": _command_text, "step": _step_text}
