"""Trace events whose texts are formatted only when read.

An event is ``(t_ms, kind, inv, text)``; for a host that formats texts only
when read (``deferred``) every event is ``(t_ms, kind, inv, form, *args)``
instead: a form name and plain values, formatted by ``event_text`` on demand
(equal events give equal text). Formatting each line at once would cost more
than the step itself, and most simulations never print their trace.

Each form has a fixed number of args, so a host may keep its events in one
flat list (``list.extend`` as the sink) and read them back with ``events``:
8 bytes a value instead of a tuple an event (10,000 concurrent 5-step
invocations keep 130,000 events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from ._journal import RUN, describe_command

# ``(t_ms, kind, inv, text)`` or ``(t_ms, kind, inv, form, *args)``: the args are
# plain immutable values, which the garbage collector need not keep scanning.
Event = tuple[Any, ...]

# The form of an event whose text is already written (a deferred host's
# ``(t_ms, kind, inv, "text", text)``).
TEXT: Final = "text"


def event_text(event: Event) -> str:
    """The text of a trace event, formatting a deferred one."""
    if len(event) == 4:
        text: str = event[3]
        return text
    return _FORMS[event[3]](*event[4:])


def _command_text(index: int, kind: str, name: str, data: bytes | None) -> str:
    return f"#{index} {describe_command(kind, name, data)}"


def _run_text(index: int, name: str) -> str:
    """A plain step's command (``_fast.step_command``): the "command" form's
    text from two values instead of four (10,000 concurrent 5-step
    invocations keep 50,000 of them)."""
    return _command_text(index, RUN, name, None)


def _step_text(name: str, index: int) -> str:
    return f'ran step "{name}" #{index}'


def attempt_text(number: int, service: str, key: str | None, handler: str,
                 replaying: int) -> str:
    """The text of an "attempt" event: which attempt, and how much it replays
    (the target in parts: the record's own strings, none made for the trace)."""
    target = f"{service}/{handler}" if key is None else f"{service}/{key}/{handler}"
    return f"attempt {number} of {target}" + (
        f" (replaying {replaying} entries)" if replaying else ""
    )


def submit_text(service: str, key: str | None, handler: str, delay_ms: int) -> str:
    """The text of a "submit" event (the target in parts, as ``attempt_text``)."""
    target = f"{service}/{handler}" if key is None else f"{service}/{key}/{handler}"
    return target + (f" delay={delay_ms}ms" if delay_ms else "")


def done_text(service: str, key: str | None, handler: str, data: bytes) -> str:
    """The text of a "done" event of an invocation that returned ``data`` (the
    record's own bytes: only the start is shown)."""
    target = f"{service}/{handler}" if key is None else f"{service}/{key}/{handler}"
    return f"{target} -> {data[:80].decode('utf-8', 'replace')}"


def _as_is(text: str) -> str:
    return text


_FORMS: Final[dict[str, Callable[..., str]]] = {
    TEXT: _as_is, "command": _command_text, "run": _run_text, "step": _step_text,
    "attempt": attempt_text, "submit": submit_text, "done": done_text,
}
# How many args each form takes (after ``t_ms, kind, inv, form``).
_ARITY: Final[dict[str, int]] = {TEXT: 1, "command": 4, "run": 2, "step": 2, "attempt": 5,
                                 "submit": 4, "done": 4}


def events(flat: list[Any]) -> Iterator[Event]:
    """The events of a deferred host's flat trace (``list.extend`` as its sink)."""
    arity = _ARITY
    i, n = 0, len(flat)
    while i < n:
        end = i + 4 + arity[flat[i + 3]]
        yield tuple(flat[i:end])
        i = end


class Tracer:
    """Where the runtime's parts write trace events: a host's sink, or nowhere.

    ``deferred``: the per-entry and per-step events go to the sink unformatted
    (a host that formats them only when read, as the simulation does).
    """

    def __init__(self, sink: Callable[[Event], None] | None, clock: Any,
                 deferred: bool = False) -> None:
        self.sink = sink
        self.clock = clock  # anything with ``now_ms``: the scheduler
        self.deferred = deferred
        # A per-entry or per-step event, ``(t_ms, kind, inv, form, *args)``:
        # straight to the sink when it formats events itself (one call a step).
        self.event: Callable[[Event], None] = (
            _nowhere if sink is None else sink if deferred else self._formatted
        )

    def __call__(self, kind: str, inv: str, text: str) -> None:
        if self.sink is not None:
            if self.deferred:  # every event of a deferred host has a form
                self.sink((self.clock.now_ms, kind, inv, TEXT, text))
            else:
                self.sink((self.clock.now_ms, kind, inv, text))

    def _formatted(self, event: Event) -> None:
        assert self.sink is not None
        self.sink((*event[:3], event_text(event)))


def _nowhere(event: Event) -> None:
    pass


Run = tuple[str, int, str, int, str]  # (invocation, index, step, attempt, target)


class RunLog:
    """Every closure execution, ``(invocation, index, step, attempt, target)``:
    the exactly-once self-check reads it. Kept as one flat list of values (8
    bytes each, instead of a tuple a run); ``append`` takes a run's tuple and
    is the list's own ``extend``, so recording a run costs no Python call."""

    __slots__ = ("_flat", "append")

    def __init__(self) -> None:
        self._flat: list[Any] = []
        self.append: Callable[[Run], None] = self._flat.extend

    def __iter__(self) -> Iterator[Run]:
        values = iter(self._flat)
        return zip(values, values, values, values, values, strict=False)

    def __len__(self) -> int:
        return len(self._flat) // 5

    def __getitem__(self, i: int) -> Run:
        n = len(self)
        if not -n <= i < n:
            raise IndexError("run log index out of range")
        start = 5 * (i % n)
        run: Run = tuple(self._flat[start:start + 5])
        return run

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunLog):
            return self._flat == other._flat
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunLog({list(self)!r})"

    def clear(self) -> None:
        self._flat.clear()
