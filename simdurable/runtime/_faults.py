"""Fault plans, and the injector consulted at every fault point.

A ``FaultPlan`` is plain data: a list of ``Fault``s, each naming where it fires
(a step or operation name or journal index, an attempt, a phase) or when (a
virtual time). A plan prints as a short string and parses back from it::

    crash(step=charge, phase=effect-done, attempt=1); restart(at=5s)

Fault points are explicit. Around every operation an attempt issues there is a
``before`` point (the command is not stored yet) and an ``after-store`` point
(it is); a step adds ``effect-done``: its closure ran, its result is not
stored yet. Faults the plan does not name can come from an explorer, which the
checkers plug in as ``Injector.explore``.
"""

from __future__ import annotations

import builtins
import importlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Final

from ._journal import (
    ATTACH,
    CANCEL,
    REJECT_AWAKEABLE,
    REJECT_SIGNAL,
    RESOLVE_AWAKEABLE,
    RESOLVE_SIGNAL,
)

BEFORE: Final = "before"
EFFECT_DONE: Final = "effect-done"
AFTER_STORE: Final = "after-store"
PHASES: Final = (BEFORE, EFFECT_DONE, AFTER_STORE)
# A durable timer is being stored: a ``delay`` fault here makes it fire later.
TIMER: Final = "timer"

CRASH: Final = "crash"
FAIL: Final = "fail"
TERMINAL: Final = "terminal"
DELAY: Final = "delay"
LOSE_RESPONSE: Final = "lose-response"
SUSPEND: Final = "suspend"
RESTART: Final = "restart"
KINDS: Final = (CRASH, FAIL, TERMINAL, DELAY, LOSE_RESPONSE, SUSPEND, RESTART)

# What a fault point (``at_point``) and a step's run (``step_outcome``) can fire.
POINT_KINDS: Final = (CRASH, SUSPEND, RESTART)
STEP_KINDS: Final = (FAIL, TERMINAL, DELAY)

# Faults the runtime hides: they must not change an invocation's outcome.
TRANSPARENT_KINDS: Final = frozenset({CRASH, DELAY, SUSPEND, RESTART})


class FaultPlanError(ValueError):
    """A fault plan (string or data) that cannot be understood.

    ``column`` is the 1-based position in the plan string where the problem
    starts (None for a plan given as data); ``str()`` names it first, so a
    long plan's error points at the part to fix.
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"at column {column}: {message}")


@dataclass(frozen=True, slots=True)
class FaultPoint:
    """Where an attempt is when the injector is asked."""

    phase: str
    invocation: str
    target: str
    index: int
    name: str
    op: str
    attempt: int
    time_ms: int


# Commands named by an id the run made (an invocation's, an awakeable's), not
# by a name in the handler's code: a fault plan names them by their
# invocation's target and journal index instead, which a reader can follow
# and which stay the same when the ids do not.
NAMED_BY_ID: Final = frozenset({ATTACH, CANCEL, RESOLVE_AWAKEABLE, REJECT_AWAKEABLE,
                                RESOLVE_SIGNAL, REJECT_SIGNAL})


def plan_name(point: FaultPoint) -> str | None:
    """The step name a fault plan gives ``point``: its name, unless it has none
    or is an id (``NAMED_BY_ID``)."""
    return None if point.op in NAMED_BY_ID else point.name or None


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault. Unset fields match anything.

    Attributes:
      kind: one of ``KINDS``.
      step: the step (or operation) name the fault targets.
      index: the journal index it targets.
      phase: ``before``, ``effect-done`` or ``after-store`` (crash, suspend,
        restart).
      attempt: the invocation attempt (1-based) it fires on.
      target: the invocation target it applies to ("Greeter/greet").
      times: how many times it fires (``fail``: attempts that fail).
      exception: the exception type raised by ``fail`` ("ConnectionError").
      message: the message of the raised exception or terminal error.
      status: the status code of a ``terminal`` fault.
      at_ms: virtual time at which a time-triggered fault fires.
      by_ms: the delay a ``delay`` fault adds.
      external, operation: the fake external (and its operation) whose
        response a ``lose-response`` fault loses.
    """

    kind: str
    step: str | None = None
    index: int | None = None
    phase: str | None = None
    attempt: int | None = None
    target: str | None = None
    times: int = 1
    exception: str | None = None
    message: str | None = None
    status: int | None = None
    at_ms: int | None = None
    by_ms: int | None = None
    external: str | None = None
    operation: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultPlanError(
                f"unknown fault kind {self.kind!r}; expected one of: {', '.join(KINDS)}"
            )
        if self.phase == TIMER and self.kind != DELAY:
            raise FaultPlanError(
                f"phase {TIMER!r} is only for delay faults (a timer that fires late), "
                f"not for {self.kind!r}"
            )
        if self.kind == DELAY and self.phase not in (None, TIMER):
            raise FaultPlanError(
                f"a delay's phase is {TIMER!r} (a timer fires late) or unset (a step runs "
                f"late), not {self.phase!r}"
            )
        if self.phase is not None and self.phase not in (*PHASES, TIMER):
            raise FaultPlanError(
                f"unknown phase {self.phase!r}; expected one of: {', '.join((*PHASES, TIMER))}"
            )
        if self.times < 1:
            raise FaultPlanError(f"times must be >= 1, not {self.times}")
        if self.attempt is not None and self.attempt < 1:
            raise FaultPlanError(f"attempt must be >= 1 (attempts count from 1), not {self.attempt}")
        if self.index is not None and self.index < 0:
            raise FaultPlanError(f"index must be >= 0, not {self.index}")
        for name in ("at_ms", "by_ms"):
            ms = getattr(self, name)
            if ms is not None and not 0 <= ms <= MAX_DURATION_MS:
                raise FaultPlanError(
                    f"{name[:-3]} must be between 0 and {MAX_DURATION}, "
                    f"not {ms} ms"
                )
        if self.exception is not None:
            exception_type(self.exception)  # refused now, not when the fault fires

    def matches(self, point: FaultPoint) -> bool:
        if self.at_ms is not None:
            return False
        if self.step is not None and self.step != point.name:
            return False
        if self.index is not None and self.index != point.index:
            return False
        if self.attempt is not None and self.attempt != point.attempt:
            return False
        if self.target is not None and self.target != point.target:
            return False
        return True

    def __str__(self) -> str:
        args = []
        for f in fields(self):
            if f.name == "kind":
                continue
            value = getattr(self, f.name)
            if value is None or (f.name == "times" and value == 1):
                continue
            if f.name in ("at_ms", "by_ms"):
                args.append(f"{f.name[:-3]}={_format_ms(value)}")
            else:
                args.append(f"{f.name}={_format_value(value)}")
        return f"{self.kind}({', '.join(args)})"


def _format_ms(ms: int) -> str:
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


_BARE = re.compile(r"[A-Za-z0-9_.:/\-]+")


def _format_value(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _BARE.fullmatch(text) and not text.isdigit():  # fullmatch: "$" would let "x\n" by
        return text
    return json.dumps(text)


_DURATION = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ms|s|m|h|d)", re.ASCII)
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# The longest duration anywhere in a plan or scenario: far beyond any test,
# and small enough that virtual time plus it stays exact and fits SQLite.
MAX_DURATION_MS: Final = 100_000 * 86_400_000
MAX_DURATION: Final = "100000d"


def parse_duration_ms(text: str) -> int:
    """"250ms", "5s", "2m", "1h", "30d" -> milliseconds (ASCII digits only)."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise FaultPlanError(
            f"bad duration {_short(text)}; expected a number and a unit, "
            "like 250ms, 5s, 2m, 1h, 30d"
        )
    whole, frac, unit = m.group(1).lstrip("0") or "0", m.group(2) or "", m.group(3)
    if len(whole) > 15:
        raise FaultPlanError(
            f"duration {_short(text)} is too long; the limit is {MAX_DURATION}"
        )
    if len(frac) > 9:
        raise FaultPlanError(f"duration {_short(text)} has more than 9 decimals")
    unit_ms = _UNIT_MS[unit]
    # Exact integer arithmetic: a float would round "0.1s" differently on
    # the way back, and turn a long number into inf.
    scaled = int(whole + frac) * unit_ms
    scale: int = 10 ** len(frac)
    ms = (2 * scaled + scale) // (2 * scale)  # round half up
    if ms > MAX_DURATION_MS:
        raise FaultPlanError(
            f"duration {_short(text)} is too long; the limit is {MAX_DURATION}"
        )
    return ms


def _short(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut short: an error must not echo a 5,000-digit number."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_INT_FIELDS: Final = frozenset({"index", "attempt", "times", "status"})
_FIELD_NAMES: Final = frozenset(f.name for f in fields(Fault)) - {"kind", "at_ms", "by_ms"}


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """An ordered list of faults; prints as a string that ``parse`` reads back."""

    faults: tuple[Fault, ...] = ()

    def __str__(self) -> str:
        return "; ".join(str(f) for f in self.faults) if self.faults else "no faults"

    def __bool__(self) -> bool:
        return bool(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def __add__(self, other: FaultPlan) -> FaultPlan:
        return FaultPlan(self.faults + other.faults)

    @staticmethod
    def parse(text: str) -> FaultPlan:
        """Read a plan written by ``str(plan)``; raises ``FaultPlanError``.

        Every error names the column (1-based, in ``text``) where it starts.
        """
        if not isinstance(text, str):
            raise FaultPlanError(f"a fault plan is a string, not {type(text).__name__}")
        if not text.strip() or text.strip() == "no faults":
            return FaultPlan()
        return FaultPlan(tuple(
            _parse_fault(part, at) for part, at in _split_top(text, ";", 0) if part.strip()
        ))


_FAULT = re.compile(r"([a-z][a-z\-]*)\s*\((.*)\)\s*", re.S | re.ASCII)
_INT = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def _parse_fault(part: str, at: int) -> Fault:
    """One ``kind(field=value, ...)``; ``at`` is its offset in the whole plan."""
    lead = len(part) - len(part.lstrip())
    at += lead
    part = part.strip()
    m = _FAULT.fullmatch(part)
    if not m:
        raise FaultPlanError(
            f"cannot read fault {_short(part)}; expected kind(field=value, ...), "
            f"like crash(step=charge, phase=effect-done)", at + 1,
        )
    kind = m.group(1)
    if kind not in KINDS:
        raise FaultPlanError(
            f"unknown fault kind {kind!r}; expected one of: {', '.join(KINDS)}", at + 1
        )
    kwargs: dict[str, object] = {}
    for arg, arg_at in _split_top(m.group(2), ",", at + m.start(2)):
        arg_at += len(arg) - len(arg.lstrip())
        arg = arg.strip()
        if not arg:
            continue
        if "=" not in arg:
            raise FaultPlanError(f"in {kind}(...): expected field=value, got {_short(arg)}",
                                 arg_at + 1)
        name, raw = arg.split("=", 1)
        name = name.strip()
        raw_at = arg_at + len(name) + 1 + (len(raw) - len(raw.lstrip()))
        raw = raw.strip()
        if name in ("at", "by"):
            key = f"{name}_ms"
        elif name in _FIELD_NAMES:
            key = name
        else:
            raise FaultPlanError(
                f"in {kind}(...): unknown field {name!r}; expected one of: "
                f"{', '.join(sorted(_FIELD_NAMES | {'at', 'by'}))}", arg_at + 1,
            )
        if key in kwargs:
            raise FaultPlanError(f"in {kind}(...): {name} is given twice", arg_at + 1)
        value = _unquote(raw, raw_at)
        try:
            kwargs[key] = _field_value(name, value)
            if name == "exception":
                exception_type(value)
        except FaultPlanError as err:
            raise FaultPlanError(f"in {kind}(...): {err.message}", raw_at + 1) from None
    try:
        return Fault(kind=kind, **kwargs)  # type: ignore[arg-type]
    except FaultPlanError as err:
        raise FaultPlanError(f"in {kind}(...): {err.message}", at + 1) from None


def _unquote(raw: str, at: int) -> str:
    if not raw.startswith('"'):
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise FaultPlanError(
            f"badly quoted value {_short(raw)}: {err.msg}; write it as a JSON string, "
            'like "a, b"', at + err.pos + 1,
        ) from None
    except RecursionError:  # pragma: no cover - a string cannot nest
        raise FaultPlanError(f"badly quoted value {_short(raw)}", at + 1) from None
    if not isinstance(value, str):  # pragma: no cover - '"' starts only a string
        raise FaultPlanError(f"badly quoted value {_short(raw)}", at + 1)
    return value


def _field_value(name: str, value: str) -> object:
    if name in ("at", "by"):
        return parse_duration_ms(value)
    if name in _INT_FIELDS:
        if not _INT.fullmatch(value):
            raise FaultPlanError(f"{name} must be an integer, not {_short(value)}")
        return int(value)
    return value


def _split_top(text: str, sep: str, offset: int) -> list[tuple[str, int]]:
    """Split on ``sep`` outside of double-quoted strings and parentheses.

    Each part comes with its offset (``offset`` plus its place in ``text``).
    An unterminated quote or an unbalanced parenthesis is refused here, at
    the column where it opens.
    """
    parts: list[tuple[str, int]] = []
    start, depth, quote_at, escaped = 0, 0, -1, False
    opened: list[int] = []
    for i, ch in enumerate(text):
        if quote_at >= 0:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quote_at = -1
            continue
        if ch == '"':
            quote_at = i
        elif ch == "(":
            depth += 1
            opened.append(i)
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FaultPlanError("a ')' that closes nothing", offset + i + 1)
            opened.pop()
        elif ch == sep and depth == 0:
            parts.append((text[start:i], offset + start))
            start = i + 1
    if quote_at >= 0:
        raise FaultPlanError('a quote (") that is never closed', offset + quote_at + 1)
    if opened:
        raise FaultPlanError("a '(' that is never closed", offset + opened[-1] + 1)
    parts.append((text[start:], offset + start))
    return parts


def phase_of(fault: Fault) -> str:
    """The phase a fault fires at: its own, or its kind's default."""
    if fault.phase is not None:
        return fault.phase
    return AFTER_STORE if fault.kind in (RESTART, SUSPEND) else BEFORE


def exception_type(name: str) -> type[Exception]:
    """The exception type a ``fail`` fault names: a builtin or a dotted path.

    Resolved when the fault is made, so that a misspelt name (or one that is
    no ``Exception``, like ``KeyboardInterrupt``) is refused at once instead
    of turning into some other failure when the fault fires.
    """
    exc_type: object
    if "." in name:
        module, _, attr = name.rpartition(".")
        if not all(_NAME.fullmatch(p) for p in name.split(".")):
            raise FaultPlanError(f"{_short(name)} is not a dotted name like mypkg.errors.Timeout")
        try:
            exc_type = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            raise FaultPlanError(f"unknown exception type {_short(name)}") from None
        except Exception as err:  # noqa: BLE001 - the user's module failed to import
            raise FaultPlanError(
                f"cannot import {module!r} for the exception type: {type(err).__name__}: {err}"
            ) from None
    else:
        exc_type = getattr(builtins, name, None) if _NAME.fullmatch(name) else None
        if exc_type is None:
            raise FaultPlanError(
                f"unknown exception type {_short(name)}; use a builtin name (ConnectionError) "
                f"or a dotted path (mypkg.errors.Timeout)"
            )
    if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
        raise FaultPlanError(
            f"{_short(name)} is not an Exception type (a step can only fail with one)"
        )
    return exc_type


def make_exception(fault: Fault) -> BaseException:
    """The exception a ``fail`` fault raises inside a step."""
    exc_type = exception_type(fault.exception or "ConnectionError")
    message = fault.message or "injected by fault plan"
    try:
        return exc_type(message)
    except Exception as err:  # noqa: BLE001 - a type that needs other arguments
        raise FaultPlanError(
            f"{exc_type.__name__}({message!r}) cannot be made: {err}; name an exception "
            "type that takes a message"
        ) from None


Explorer = Callable[[FaultPoint], "Fault | None"]

# The plan of a run with no faults, and the step names no fault is aimed at
# (both immutable: shared by every injector that has them).
_NO_FAULTS: Final = FaultPlan()
_NOTHING_AIMED: Final[frozenset[str]] = frozenset()


class Injector:
    """Consulted at every fault point; answers with the fault to fire, if any.

    Plan faults fire first, each up to ``times``; then ``explore`` (set by the
    checkers) may propose one. Every fired fault is appended to ``fired`` so a
    run can print the plan that actually happened.

    ``armed`` says whether a fault point could fire anything: a plan fault has
    firings left, or an explorer proposes. Once not, the engine skips the
    points. It is kept up to date rather than computed, as every step reads it.
    ``aimed_at`` narrows it to the step names the faults left name (None:
    any), kept up to date alike; ``spares(name)`` reads both.
    """

    def __init__(self, plan: FaultPlan | None = None, explore: Explorer | None = None) -> None:
        self.plan = plan if plan is not None else _NO_FAULTS
        self.fired: list[tuple[FaultPoint | None, Fault]] = []
        faults = self.plan.faults
        self._left = [f.times for f in faults] if faults else []
        self._explore = explore
        self._enabled = True
        # Called (once, then dropped) with the point where a plan fault first
        # fires: a checker that records the run from there on.
        self.on_fire: Callable[[FaultPoint], None] | None = None
        self.armed = False
        self.aimed_at: frozenset[str] | None = _NOTHING_AIMED
        if self._left or explore is not None:  # (else disarmed, as it is already)
            self._rearm()

    def _rearm(self) -> None:
        self.armed = self._enabled and (self._explore is not None or any(self._left))
        self.aimed_at = self._aimed_at() if self.armed else _NOTHING_AIMED

    def _aimed_at(self) -> frozenset[str] | None:
        """The step names the faults left can fire at; None: any step or operation
        (an explorer, or a fault not aimed at a named one)."""
        if self._explore is not None:
            return None
        names = []
        for fault, left in zip(self.plan.faults, self._left, strict=True):
            if left <= 0 or fault.at_ms is not None:  # spent, or fired by the clock
                continue
            if fault.step is None:
                return None
            names.append(fault.step)
        return frozenset(names)

    def spares(self, name: str) -> bool:
        """Whether no fault can fire at any point of the step or operation ``name``
        (``Fault.matches`` needs its name): its fault points need not be asked, so
        a run crashing at step k takes the fault-free path for every other step."""
        aimed = self.aimed_at
        return not self.armed or (aimed is not None and name not in aimed)

    @property
    def explore(self) -> Explorer | None:
        return self._explore

    @explore.setter
    def explore(self, explore: Explorer | None) -> None:
        self._explore = explore
        self._rearm()

    @property
    def enabled(self) -> bool:
        """False turns every fault off (the checkers' fault-free re-runs)."""
        return self._enabled

    @enabled.setter
    def enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        self._rearm()

    def untouched(self) -> bool:
        """Whether it is still as ``Injector()`` makes it: no plan, explorer or
        fault ever given, none fired, never turned off (an engine taken again
        then keeps it, ``Simulation.__del__``, which writes this test out:
        a change here goes there too)."""
        return (self.plan is _NO_FAULTS and not self.fired and self._explore is None
                and self._enabled)

    def add(self, fault: Fault) -> None:
        """Add a fault to the plan."""
        self.plan = self.plan + FaultPlan((fault,))
        self._left.append(fault.times)
        self._rearm()

    def _spend(self, i: int) -> None:
        self._left[i] -= 1
        self._rearm()

    def _take(self, point: FaultPoint, kinds: tuple[str, ...], phase: str | None) -> Fault | None:
        if not self.enabled:
            return None
        for i, fault in enumerate(self.plan.faults):
            if self._left[i] <= 0 or fault.kind not in kinds:
                continue
            if phase is not None and phase_of(fault) != phase:
                continue
            if phase is None and fault.phase == TIMER:
                continue  # a timer's delay, not a step's
            if fault.matches(point):
                self._spend(i)
                self.fired.append((point, fault))
                if self.on_fire is not None:
                    on_fire, self.on_fire = self.on_fire, None
                    on_fire(point)
                return fault
        if self.explore is not None:
            proposed = self.explore(point)
            if proposed is not None and proposed.kind in kinds:
                self.fired.append((point, proposed))
                return proposed
        return None

    def may_fire(self, kinds: tuple[str, ...], phase: str | None) -> bool:
        """Whether a point of ``phase`` could fire a fault of ``kinds`` at all.

        False means ``at_point`` (``POINT_KINDS``) or ``step_outcome``
        (``STEP_KINDS``, phase None) would answer None whatever the point, so
        the engine need not build one.
        """
        if not self.enabled:
            return False
        if self.explore is not None:
            return True
        for fault, left in zip(self.plan.faults, self._left, strict=True):
            if left > 0 and fault.kind in kinds and (phase is None or phase_of(fault) == phase):
                return True
        return False

    def quiet_at(self, point: FaultPoint) -> bool:
        """Whether nothing at all could fire at ``point``'s step, whatever the
        phase or kind: no plan fault left that matches it, and no explorer, or
        one whose own ``quiet_at(point)`` says it will propose nothing there."""
        if not self.enabled:
            return True
        if self.explore is not None:
            quiet = getattr(self.explore, "quiet_at", None)
            if quiet is None or not quiet(point):
                return False
        for fault, left in zip(self.plan.faults, self._left, strict=True):
            if left > 0 and fault.matches(point):
                return False
        return True

    def at_point(self, point: FaultPoint) -> Fault | None:
        """A crash, suspension or restart to fire at this point, if any."""
        return self._take(point, POINT_KINDS, point.phase)

    def step_outcome(self, point: FaultPoint) -> Fault | None:
        """A failure or delay to inject instead of/around running a step."""
        return self._take(point, STEP_KINDS, None)

    def timer_delay(self, point: FaultPoint) -> Fault | None:
        """A delay for the timer being stored at this point (phase ``timer``)."""
        return self._take(point, (DELAY,), TIMER)

    def lose_response(self, external: str, operation: str, point: FaultPoint) -> bool:
        """Whether a fake external's response to this call is lost."""
        if not self.enabled:
            return False
        for i, fault in enumerate(self.plan.faults):
            if fault.kind != LOSE_RESPONSE or self._left[i] <= 0:
                continue
            if fault.external not in (None, external) or fault.operation not in (None, operation):
                continue
            if fault.matches(point):
                self._spend(i)
                self.fired.append((point, fault))
                return True
        if self.explore is not None:
            probe = replace(point, phase=LOSE_RESPONSE, op=f"{external}.{operation}")
            proposed = self.explore(probe)
            if proposed is not None and proposed.kind == LOSE_RESPONSE:
                self.fired.append((point, proposed))
                return True
        return False

    def timed(self) -> list[Fault]:
        """Faults triggered by virtual time, in plan order."""
        return [f for f in self.plan.faults if f.at_ms is not None]

    def fired_plan(self) -> FaultPlan:
        """The faults that actually fired, pinned to where they fired."""
        return pinned_plan(self.fired)


def pinned_plan(fired: Sequence[tuple[FaultPoint | None, Fault]]) -> FaultPlan:
    """The faults that fired (``Injector.fired``), pinned to where they fired."""
    pinned = []
    for point, fault in fired:
        if point is None or fault.at_ms is not None:
            pinned.append(fault)
            continue
        name = plan_name(point)
        pinned.append(
            replace(
                fault,
                step=name,
                index=point.index if name is None else fault.index,
                attempt=point.attempt,
                target=point.target if point.op in NAMED_BY_ID else fault.target,
                times=1,
            )
        )
    return FaultPlan(tuple(pinned))
