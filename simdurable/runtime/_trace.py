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

Such a flat trace also holds the run log (``RunLog``, ``compact``): a step's
"step" event carries its run (``RAN_STEP``), and an express step whose closure
traced nothing writes its command's "entry" event, its run and its "step"
event as one record (``RAN``). ``events`` spells each out as the events it
stands for, and ``RunLog`` reads the runs out of them: one write a step
instead of three.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any, Final

from ._errors import InternalError
from ._journal import RUN, describe_command

# ``(t_ms, kind, inv, text)`` or ``(t_ms, kind, inv, form, *args)``: the args are
# plain immutable values, which the garbage collector need not keep scanning.
Event = tuple[Any, ...]

# The form of an event whose text is already written (a deferred host's
# ``(t_ms, kind, inv, "text", text)``).
TEXT: Final = "text"
# A flat trace's records that stand for more than one event (``compact``):
# ``(t_ms, "step", inv, RAN_STEP, name, index, attempt, target)``, a "step"
# event and its closure's run; ``(t_ms, "entry", inv, RAN, index, name,
# attempt, target, t_step)``, an express step's "entry" event (its command, a
# "run" form at ``t_ms``), its run, and its "step" event at ``t_step``;
# ``(t_ms, inv, name, RAN_TASK, index)``, a crowd's step task's "step" event
# and its closure's run, as ``RAN_STEP`` with its kind (always "step"), its
# attempt's number and its target left out: ``runs`` reads those two from the
# invocation's last "attempt" event, which its attempt wrote at its start,
# before any of its steps (three values less at each of a crowd's steps: the
# values a record holds cost about 45 instructions each to write, and the
# trace's growth, new memory, a cache line each 8 values).
# ``(t_ms, inv, name, ISSUED, index)``: an express step's "entry" event (a
# "run" form) where it is not run at once (a crowd's: its step task runs it
# later), its kind and form left out, a value less.
RAN_STEP: Final = "ran_step"
RAN: Final = "ran"
RAN_TASK: Final = "ran_task"
ISSUED: Final = "issued"


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


def target_text(service: str, key: str | None, handler: str) -> str:
    """An invocation's target from its parts (``InvocationRecord.target``)."""
    return f"{service}/{handler}" if key is None else f"{service}/{key}/{handler}"


def attempt_text(number: int, service: str, key: str | None, handler: str,
                 replaying: int) -> str:
    """The text of an "attempt" event: which attempt, and how much it replays
    (the target in parts: the record's own strings, none made for the trace)."""
    target = target_text(service, key, handler)
    return f"attempt {number} of {target}" + (
        f" (replaying {replaying} entries)" if replaying else ""
    )


def submit_text(service: str, key: str | None, handler: str, delay_ms: int) -> str:
    """The text of a "submit" event (the target in parts, as ``attempt_text``)."""
    target = target_text(service, key, handler)
    return target + (f" delay={delay_ms}ms" if delay_ms else "")


def done_text(service: str, key: str | None, handler: str, data: bytes) -> str:
    """The text of a "done" event of an invocation that returned ``data`` (the
    record's own bytes: only the start is shown)."""
    target = target_text(service, key, handler)
    return f"{target} -> {data[:80].decode('utf-8', 'replace')}"


def _as_is(text: str) -> str:
    return text


_FORMS: Final[dict[str, Callable[..., str]]] = {
    TEXT: _as_is, "command": _command_text, "run": _run_text, "step": _step_text,
    "attempt": attempt_text, "submit": submit_text, "done": done_text,
}
# How many args each form takes (after ``t_ms, kind, inv, form``).
_ARITY: Final[dict[str, int]] = {TEXT: 1, "command": 4, "run": 2, "step": 2, "attempt": 5,
                                 "submit": 4, "done": 4, RAN_STEP: 4, RAN: 5, RAN_TASK: 1,
                                 ISSUED: 1}


def compact(sink: Callable[[Event], None] | None, deferred: bool) -> list[Any] | None:
    """The flat trace a host's sink writes to when its steps may write
    compact records there (a deferred host whose sink is a list's own
    ``extend``, read back only through ``events``: the simulation), else None.
    ``COMPACT`` off (tests compare runs both ways), always None."""
    flat = getattr(sink, "__self__", None)
    if (COMPACT and deferred and type(flat) is list
            and getattr(sink, "__name__", None) == "extend"):
        return flat
    return None


# Whether steps write compact records into a flat trace (``compact``): an
# optimisation that must not change what a run reads back.
COMPACT = True


def events(flat: list[Any]) -> Iterator[Event]:
    """The events of a deferred host's flat trace (``list.extend`` as its sink),
    each compact record spelt out as the events it stands for."""
    arity = _ARITY
    i, n = 0, len(flat)
    while i < n:
        form = flat[i + 3]
        end = i + 4 + arity[form]
        if form == RAN_STEP or form == RAN:
            t, kind, inv, _, *args = flat[i:end]
            if form == RAN:
                index, name, _, _, t_step = args
                yield (t, kind, inv, "run", index, name)
                yield (t_step, "step", inv, "step", name, index)
            else:
                yield (t, kind, inv, "step", args[0], args[1])
        elif form == RAN_TASK:
            yield (flat[i], "step", flat[i + 1], "step", flat[i + 2], flat[i + 4])
        elif form == ISSUED:
            yield (flat[i], "entry", flat[i + 1], "run", flat[i + 4], flat[i + 2])
        else:
            yield tuple(flat[i:end])
        i = end


# The forms of the records that stand for more than one event (``compact``), and
# the kinds of the events they stand for: every one "step" or "entry".
_COMPACT_FORMS: Final = frozenset({RAN_STEP, RAN, RAN_TASK, ISSUED})
COMPACT_KINDS: Final = frozenset({"step", "entry"})


def plain_events(flat: list[Any]) -> list[Event]:
    """The events of a flat trace (as ``events``) but for those its compact
    records stand for, which are all of ``COMPACT_KINDS``: a reader of other
    kinds (a restart, a retry, an attempt given up) reads the same events of
    those kinds, without a tuple made for each step's."""
    arity = _ARITY
    compact = _COMPACT_FORMS
    out = []
    i, n = 0, len(flat)
    while i < n:
        form = flat[i + 3]
        end = i + 4 + arity[form]
        if form not in compact:
            out.append(tuple(flat[i:end]))
        i = end
    return out


def runs(flat: list[Any]) -> Iterator[Run]:
    """The runs a flat trace's compact records hold, in the order written
    (a ``RAN_TASK`` record's attempt and target: its invocation's last
    "attempt" event's)."""
    arity = _ARITY
    # Each invocation's attempt so far: where its last "attempt" event is,
    # then, from its first ``RAN_TASK`` on, its number and target
    attempts: dict[str, Any] = {}
    i, n = 0, len(flat)
    while i < n:
        form = flat[i + 3]
        if form == RAN_TASK:
            inv = flat[i + 1]
            attempt = attempts.get(inv)
            if type(attempt) is not tuple:
                if attempt is None:
                    raise InternalError(f"a step of {inv} ran with no attempt in the trace")
                # (``Attempt.handler``: the record's target, ``InvocationRecord.target``)
                service, key, handler = flat[attempt + 5:attempt + 8]
                attempt = attempts[inv] = (flat[attempt + 4],
                                           target_text(service, key, handler))
            yield (inv, flat[i + 4], flat[i + 2], attempt[0], attempt[1])
            i += 5
            continue
        if form == "attempt":
            attempts[flat[i + 2]] = i
        elif form == RAN_STEP:
            yield (flat[i + 2], flat[i + 5], flat[i + 4], flat[i + 6], flat[i + 7])
        elif form == RAN:
            yield (flat[i + 2], flat[i + 4], flat[i + 5], flat[i + 6], flat[i + 7])
        i += 4 + arity[form]


# The kinds of the events the runtime writes through ``Tracer.event`` (a form
# and its values); an event of any other kind is a text, written by a
# tracer's call (``Tracer.kinds``).
EVENT_KINDS: Final = frozenset({"submit", "attempt", "done", "step", "entry"})


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
        # The kinds of the texts written to the sink (a restart, a retry, a
        # pause: none in a run without faults or failures), so that a reader
        # of such kinds reads the events only where one was written.
        self.kinds: set[str] = set()

    def __call__(self, kind: str, inv: str, text: str) -> None:
        if self.sink is not None:
            self.kinds.add(kind)
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
    is the list's own ``extend``, so recording a run costs no Python call.

    Over a compact flat trace (``trace``, the list a host's sink extends, see
    ``compact``), the runs are read out of the trace's records (``runs``): a
    step writes its run with its "step" event, one write instead of two. A
    run given to ``append`` (never a step's way there: a run noted by hand)
    then reads after the trace's."""

    __slots__ = ("_flat", "append", "trace")

    def __init__(self, trace: list[Any] | None = None) -> None:
        self._flat: list[Any] = []
        self.append: Callable[[Run], None] = self._flat.extend
        self.trace = trace

    def __iter__(self) -> Iterator[Run]:
        values = iter(self._flat)
        if self.trace is not None:
            return chain(runs(self.trace),
                         zip(values, values, values, values, values, strict=False))
        return zip(values, values, values, values, values, strict=False)

    def __len__(self) -> int:
        if self.trace is not None:
            return sum(1 for _ in runs(self.trace)) + len(self._flat) // 5
        return len(self._flat) // 5

    def __getitem__(self, i: int) -> Run:
        n = len(self)
        if not -n <= i < n:
            raise IndexError("run log index out of range")
        if self.trace is not None:
            return list(self)[i]
        start = 5 * (i % n)
        run: Run = tuple(self._flat[start:start + 5])
        return run

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunLog):
            if self.trace is None and other.trace is None:
                return self._flat == other._flat
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunLog({list(self)!r})"

    def clear(self) -> None:
        if self.trace is not None:
            raise InternalError("a run log read out of a trace is emptied with its trace")
        self._flat.clear()
