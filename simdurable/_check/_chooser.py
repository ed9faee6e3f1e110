"""Choosers and explorers: where a run's decisions come from.

Under Hypothesis a schedule decision is a draw from the test's data, read as
an offset from what ``RandomChooser(seed)`` would pick. Shrinking drives the
offsets to zero, so a minimal example usually replays exactly from its seed
alone; fault decisions are drawn from the same data, so Hypothesis shrinks
faults and schedule together.

A run is re-run for the harness's self-check from the decisions it recorded
(``ScriptedChooser``, ``ScriptedExplorer``): same decisions, same trace, or
something outside the simulation leaked in.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..runtime._faults import (
    AFTER_STORE,
    BEFORE,
    CRASH,
    DELAY,
    EFFECT_DONE,
    FAIL,
    LOSE_RESPONSE,
    RESTART,
    SUSPEND,
    TERMINAL,
    TIMER,
    Fault,
    FaultPoint,
)
from ..runtime._invocation import current_step
from ..runtime._journal import RUN as RUN_OP
from ..runtime._running import profile_back
from ..runtime._scheduler import RandomChooser

CRASH_PHASES = (BEFORE, EFFECT_DONE, AFTER_STORE)
STEP_PHASE = "step"
# Which fault kinds can fire at which kind of fault point.
KINDS_AT: dict[str, tuple[str, ...]] = {
    BEFORE: (CRASH, SUSPEND, RESTART),
    EFFECT_DONE: (CRASH, SUSPEND, RESTART),
    AFTER_STORE: (CRASH, SUSPEND, RESTART),
    STEP_PHASE: (FAIL, TERMINAL, DELAY),
    TIMER: (DELAY,),
    LOSE_RESPONSE: (LOSE_RESPONSE,),
}
DELAYS_MS = (10, 1_000, 60_000)
_RES = 256


def never_compensating(point: FaultPoint) -> bool:
    return False


def _st() -> Any:
    """``hypothesis.strategies``, imported on first use: ``import simdurable`` stays light."""
    from hypothesis import strategies

    return strategies


class DataChooser(RandomChooser):
    """Schedule decisions drawn from Hypothesis data, as offsets from a seeded RNG."""

    def __init__(self, data: Any, seed: int, draw: Callable[[Any], Any] | None = None) -> None:
        super().__init__(seed)
        self._draw = fast_draw(data) if draw is None else draw
        self.decisions: list[int] = []
        self.offsets: list[int] = []
        self._ints: dict[int, Any] = {}

    def choose(self, n: int, label: str) -> int:
        base = self.rng.randrange(n)
        strategy = self._ints.get(n)
        if strategy is None:
            strategy = self._ints[n] = _st().integers(0, n - 1)
        # Decisions are drawn while handler code runs: strict mode's profile
        # hook is off meanwhile, or Hypothesis's own clock and RNG calls would
        # be taken for the handler's. (Inline, not a context manager: this
        # runs at every decision and fault point.)
        hook = sys.getprofile()
        if hook is not None:
            sys.setprofile(None)
        try:
            offset: int = self._draw(strategy)
        finally:
            if hook is not None:
                profile_back(hook)
        choice = (base + offset) % n
        self.offsets.append(offset)
        self.decisions.append(choice)
        return choice

    def chance(self, p: float, label: str) -> bool:
        if p <= 0:
            return False
        hook = sys.getprofile()
        if hook is not None:
            sys.setprofile(None)
        try:
            flip: bool = self._draw(_st().booleans())
        finally:
            if hook is not None:
                profile_back(hook)
        hit = (self.rng.random() < p) != flip
        self.offsets.append(int(flip))
        self.decisions.append(int(hit))
        return hit


class RecordingChooser(RandomChooser):
    """``RandomChooser`` that remembers its decisions (for the self-check)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.decisions: list[int] = []

    def choose(self, n: int, label: str) -> int:
        choice = super().choose(n, label)
        self.decisions.append(choice)
        return choice

    def chance(self, p: float, label: str) -> bool:
        if p <= 0:
            return False
        hit = super().chance(p, label)
        self.decisions.append(int(hit))
        return hit


class ScheduleChooser(RandomChooser):
    """Another run's decisions while they fit, then ``RandomChooser(seed)``'s.

    A faulty run found under Hypothesis took a schedule of its own (offsets
    from its seed's); a fault-free run on that schedule tells whether the
    schedule alone ends the run the same way. Any decisions make a schedule
    the handler allows, so this one need not match the faulty run's beyond
    its first fault."""

    def __init__(self, decisions: list[int], seed: int) -> None:
        super().__init__(seed)
        self._script = decisions
        self._i = 0

    def choose(self, n: int, label: str) -> int:
        i = self._i
        if i < len(self._script) and self._script[i] < n:
            self._i = i + 1
            return self._script[i]
        self._i = len(self._script)  # the rest of the run is the seed's
        return super().choose(n, label)

    def chance(self, p: float, label: str) -> bool:
        if p <= 0:
            return False
        if self._i < len(self._script):
            return bool(self.choose(2, label))
        return super().chance(p, label)


class ScriptedChooser:
    """Replays recorded decisions; notes where the run asks for more or other ones."""

    def __init__(self, decisions: list[int]) -> None:
        self.decisions = decisions
        self._i = 0
        self.diverged: str | None = None

    def _next(self, n: int, label: str) -> int:
        if self._i >= len(self.decisions):
            if self.diverged is None:
                self.diverged = f"decision #{self._i} ({label} among {n}) was not made before"
            return 0
        value = self.decisions[self._i]
        self._i += 1
        if value >= n:
            if self.diverged is None:
                self.diverged = f"decision #{self._i - 1} ({label}) had fewer options"
            return 0
        return value

    def choose(self, n: int, label: str) -> int:
        return self._next(n, label)

    def chance(self, p: float, label: str) -> bool:
        if p <= 0:
            return False
        return bool(self._next(2, label))


@dataclass(frozen=True)
class Swarm:
    """The fault mix of one example (swarm testing): enabled kinds and a rate."""

    kinds: frozenset[str]
    rate: float
    budget: int

    @staticmethod
    def from_seed(seed: int) -> Swarm:
        rng = random.Random(seed ^ 0x5EED_F417)
        families = (CRASH, FAIL, DELAY, LOSE_RESPONSE, SUSPEND, RESTART, TERMINAL)
        kinds = frozenset(k for k in families if rng.random() < 0.5) or frozenset({CRASH})
        rate = rng.choice((0.05, 0.15, 0.3))
        return Swarm(kinds, rate, rng.randint(1, 6))

    def describe(self) -> str:
        return f"{'+'.join(sorted(self.kinds))} at {self.rate:.0%}, at most {self.budget}"


Draw = Callable[[int], int]


def fast_draw(data: Any) -> Callable[[Any], Any]:
    """A draw from a test case's data with only what generating and shrinking use.

    ``data`` is the test case's ``ConjectureData`` (or ``st.data()``'s object
    around it). ``DataObject.draw`` wraps every draw in what only a failing
    example's printout and Hypothesis's explain phase use (a description, an
    argument span, two copies of the global RNG's state), and
    ``ConjectureData.draw`` at the top of a test times every draw and checks
    the strategy again. What is left here is what ``ConjectureData.draw`` does
    for a nested draw: the strategy's span around its own ``do_draw``, and the
    value recorded on the span. The choices and the spans are the same, so
    Hypothesis generates and shrinks the same examples; a run draws at every
    fault point, and this is half the cost of each draw.
    """
    conjecture = getattr(data, "conjecture_data", data)
    full = getattr(conjecture, "draw", None)
    if not callable(full):
        return data.draw  # type: ignore[no-any-return]  # a Hypothesis without it
    lean = _span_draw(conjecture)
    return _stopping_once_frozen(conjecture, full) if lean is None else lean


def _stopping_once_frozen(conjecture: Any, full: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``full`` (``ConjectureData.draw``), raising the test case's StopTest
    again once it has overrun, as ``_span_draw``'s draw does (see there)."""
    try:
        from hypothesis.errors import StopTest
    except ImportError:  # pragma: no cover - an older Hypothesis
        return full
    if not hasattr(conjecture, "frozen") or not hasattr(conjecture, "testcounter"):
        return full  # pragma: no cover - an older Hypothesis

    def draw(strategy: Any) -> Any:
        if conjecture.frozen:
            raise StopTest(conjecture.testcounter)
        return full(strategy)

    return draw


def _span_draw(conjecture: Any) -> Callable[[Any], Any] | None:
    """``conjecture.draw`` for a nested draw, or None if this Hypothesis lacks its parts."""
    try:
        from hypothesis.errors import StopTest
        from hypothesis.internal.conjecture.choice import ValueHole
        from hypothesis.strategies._internal.lazy import unwrap_strategies as unwrap
    except ImportError:  # pragma: no cover - an older Hypothesis
        return None
    record = getattr(conjecture, "_ConjectureData__span_record", None)
    start = getattr(conjecture, "start_span", None)
    stop = getattr(conjecture, "stop_span", None)
    remember = getattr(record, "record_value_for_span", None)
    if (record is None or not hasattr(record, "span_count") or not callable(start)
            or not callable(stop) or not callable(remember)
            or not hasattr(conjecture, "prefix") or not hasattr(conjecture, "index")
            or not hasattr(conjecture, "frozen") or not hasattr(conjecture, "testcounter")):
        return None
    full = conjecture.draw
    parts: dict[Any, tuple[int, Callable[[Any], Any]]] = {}

    def draw(strategy: Any) -> Any:
        if conjecture.frozen:
            # The test case ran out of choices (an overrun) and its StopTest
            # was swallowed on the way out: by a handler's ``finally:`` that
            # awaits, which suspends the handler there. Stop again.
            raise StopTest(conjecture.testcounter)
        known = parts.get(strategy)
        if known is None:
            unwrapped: Any = unwrap(strategy)  # type: ignore[no-untyped-call]
            known = parts[strategy] = (unwrapped.label, unwrapped.do_draw)
        prefix = conjecture.prefix
        if prefix is not None and conjecture.index < len(prefix) and isinstance(
                prefix[conjecture.index], ValueHole):
            return full(strategy)  # the shrinker asks this draw to re-encode a value
        label, do_draw = known
        index = record.span_count
        start(label)
        try:
            value = do_draw(conjecture)
            remember(index, value)
            return value
        finally:
            stop()

    return draw


def data_draw(data: Any, fetch: Callable[[Any], Any] | None = None) -> Draw:
    """``draw(n)``: an index in ``range(n)`` from Hypothesis data (shrinks to 0);
    ``fetch`` draws from a strategy (``fast_draw(data)`` if not given)."""
    cache: dict[int, Any] = {}
    if fetch is None:
        fetch = fast_draw(data)

    def draw(n: int) -> int:
        strategy = cache.get(n)
        if strategy is None:
            strategy = cache[n] = _st().integers(0, n - 1)
        value: int = fetch(strategy)
        return value

    return draw


# The fault points of one command in one attempt, in the order a run passes
# them (``GROUP_OF[op]``: a step's four, another command's two). They are
# decided together, by one draw at the first of them the attempt reaches.
GROUPED = (BEFORE, STEP_PHASE, EFFECT_DONE, AFTER_STORE)
_COMMAND_POINTS = (BEFORE, AFTER_STORE)


@dataclass
class DataExplorer:
    """Proposes faults at fault points within a swarm mix.

    ``draw`` comes from Hypothesis data (``data_draw``), or from a seeded RNG
    when ``check`` runs inside the user's own ``@given`` test, where a nested
    Hypothesis run is not allowed.

    One draw decides the crash and step fault points of one command in one
    attempt (before, the step itself, effect done, after the store): whether
    any fires, and which, at the swarm's rate for each point. A draw is the
    largest part of a fault point's cost in a check (Hypothesis records,
    spans and mutates every one), and most commands get no fault: a step's
    four points cost one draw instead of up to four. Shrinking a draw to 0
    still removes the command's fault. A response lost and a timer's delay
    are drawn at their own points.
    """

    draw: Draw
    swarm: Swarm
    delays: tuple[int, ...] = ()
    log: list[tuple[FaultPoint, Fault | None]] = field(default_factory=list)
    used: int = 0
    ran: set[tuple[str, int | None]] = field(default_factory=set)
    terminal: bool = False  # a terminal failure was injected in this run
    # Attempts a step's own retry limit allows, by handler and index (the
    # reference run's ``RecordingExplorer.bounds``), and the failed ones so far.
    bounds: dict[tuple[str, int], int] = field(default_factory=dict)
    failed: dict[tuple[str, int], int] = field(default_factory=dict)
    # Each command's decision, by (invocation, index, attempt): the phase and
    # kind of the fault still to fire at one of its points, or None.
    planned: dict[tuple[str, int, int], tuple[str, str] | None] = field(default_factory=dict)
    # Whether a point's command is compensation: its invocation was cancelled,
    # or handed a terminal failure, or its handler had a TerminalError of its
    # own in hand (``execute`` asks the run's engine). A compensation follows
    # a failure for good already, so no terminal failure is injected into it by
    # default.
    compensating: Callable[[FaultPoint], bool] = never_compensating

    def __call__(self, point: FaultPoint) -> Fault | None:
        # Unwatched by strict mode, as every draw (see ``DataChooser.choose``).
        hook = sys.getprofile()
        if hook is not None:
            sys.setprofile(None)
        try:
            fault = self._propose(point)
        finally:
            if hook is not None:
                profile_back(hook)
        self.log.append((point, fault))
        if point.phase == EFFECT_DONE:
            self.ran.add((point.invocation, point.index))
        if fault is not None and fault.kind in (FAIL, LOSE_RESPONSE):
            key = (point.target, point.index)
            self.failed[key] = n = self.failed.get(key, 0) + 1
            if n >= self.bounds.get(key, n + 1):
                # The step gives up: the run's one failure for good, as an
                # injected terminal failure would be (its compensation runs).
                self.terminal = True
        return fault

    def quiet_at(self, point: FaultPoint) -> bool:
        """Whether no fault will fire at the step of ``point`` (its "step" point)
        or after it: its command's draw, made before it, planned none. The
        runtime then runs the step in place (``Steps.run_lone_step``), without
        asking at the step point itself. A response its closure loses is
        still drawn for: in place, it is a closure's exception like any other.
        """
        return self.planned.get((point.invocation, point.index, point.attempt), 0) is None

    def _kinds(self, point: FaultPoint, phase: str) -> list[str]:
        """The swarm's kinds that may fire at ``phase`` of ``point``'s command."""
        kinds = [k for k in KINDS_AT.get(phase, ()) if k in self.swarm.kinds]
        if TERMINAL in kinds and ((point.invocation, point.index) in self.ran
                                  or self.terminal or self.compensating(point)):
            # A step fails for good before its effect, not after an earlier
            # attempt applied it (that only a lost response can do); and once
            # per run: the steps after a failure (or after a cancellation of
            # their invocation) are mostly its compensation, which failing for
            # good too is a fault to ask for, not a default.
            kinds.remove(TERMINAL)
        return kinds

    def _propose(self, point: FaultPoint) -> Fault | None:
        phase = point.phase
        if phase not in GROUPED:
            return self._propose_alone(point)
        key = (point.invocation, point.index, point.attempt)
        plan = self.planned[key] if key in self.planned else self._plan(point)
        if plan is None or plan[0] != phase:
            self.planned[key] = plan
            return None
        self.planned[key] = None  # fired: nothing more at this command's later points
        return make_fault(plan[1], point, self.draw, self.delays)

    def _plan(self, point: FaultPoint) -> tuple[str, str] | None:
        """One draw for the points of ``point``'s command from this one on."""
        if self.used >= self.swarm.budget:
            return None
        phases = GROUPED if point.op == RUN_OP else _COMMAND_POINTS
        rest = phases[phases.index(point.phase):] if point.phase in phases else (point.phase,)
        choices = [(p, kinds) for p in rest if (kinds := self._kinds(point, p))]
        if not choices:
            return None
        m = len(choices)
        # Each point fires at the swarm's rate, so the command does at 1 - (1 - rate)^m.
        fires = max(1, round(_RES * (1 - (1 - self.swarm.rate) ** m)))
        threshold = _RES - fires
        value = self.draw(_RES)
        if value < threshold:
            return None
        # Which point, and which kind there, from the same value: consecutive
        # values take the (point, kind) pairs in turn, so that every pair is
        # about as likely (Hypothesis favours the ends of a range: a value
        # cut into one block per pair would favour the last one; another
        # draw would favour the first).
        pairs = [(p, k) for p, kinds in choices for k in kinds]
        phase, kind = pairs[(value - threshold) % len(pairs)]
        self.used += 1
        self.terminal = self.terminal or kind == TERMINAL
        return phase, kind

    def _propose_alone(self, point: FaultPoint) -> Fault | None:
        """A fault point drawn on its own: a lost response, a timer's delay."""
        if self.used >= self.swarm.budget:
            return None
        kinds = self._kinds(point, point.phase)
        if not kinds:
            return None
        threshold = _RES - max(1, round(_RES * self.swarm.rate))
        value = self.draw(_RES)
        if value < threshold:
            return None
        kind = kinds[(value - threshold) * len(kinds) // (_RES - threshold)]
        self.used += 1
        self.terminal = self.terminal or kind == TERMINAL
        return make_fault(kind, point, self.draw, self.delays)


def delays_for(horizon_ms: int) -> tuple[int, ...]:
    """The delays to draw from: fixed ones, and one past the handler's longest timer.

    A handler racing a step against a 15-minute timeout shows what it does
    when the timeout wins only if a step can be late by more than that.
    """
    if horizon_ms + 1_000 > DELAYS_MS[-1]:
        return (*DELAYS_MS, horizon_ms + 1_000)
    return DELAYS_MS


def make_fault(kind: str, point: FaultPoint, draw: Draw | None = None,
               delays: tuple[int, ...] = ()) -> Fault:
    """The fault of ``kind`` to fire at ``point`` (a delay's length from ``draw``)."""
    if kind in (CRASH, SUSPEND, RESTART):
        return Fault(kind, phase=point.phase)
    if kind == FAIL:
        return Fault(FAIL, exception="ConnectionError", message="injected transient failure")
    if kind == TERMINAL:
        return Fault(TERMINAL, message="injected terminal failure", status=500)
    if kind == DELAY:
        delays = delays or DELAYS_MS
        by = delays[0] if draw is None else delays[draw(len(delays))]
        return Fault(DELAY, by_ms=by, phase=TIMER if point.phase == TIMER else None)
    external, _, operation = point.op.partition(".")
    return Fault(LOSE_RESPONSE, external=external or None, operation=operation or None)


def step_attempts(backoff: Any) -> int | None:
    """How many attempts a step with its own retry options makes at most, or
    None when they do not bound it (the invocation's policy retries it)."""
    if backoff is None:
        return None
    if backoff.max_attempts is not None:
        return int(backoff.max_attempts)
    if backoff.max_duration_ms is None:
        return None
    # Steps take no virtual time: only the delays between attempts count.
    failures, elapsed = 1, 0
    while not backoff.exhausted(failures, elapsed) and failures < MAX_LOST_IN_A_ROW:
        elapsed += backoff.delay_ms(failures)
        failures += 1
    return failures


# The most attempts of one step a fault plan loses the response of (a step
# retried by duration with a tiny interval would otherwise make thousands).
MAX_LOST_IN_A_ROW = 100


@dataclass
class RecordingExplorer:
    """Fires nothing; remembers every fault point a run passed (the reference run),
    and, for each step whose external call's response can be lost, how many
    attempts its own retry options allow (``bounds``, by handler and index)."""

    points: list[FaultPoint] = field(default_factory=list)
    bounds: dict[tuple[str, int], int] = field(default_factory=dict)
    # The points passed of commands that were compensation, by
    # (invocation, index, attempt): its compensation, where the single faults inject no
    # failure for good (see ``DataExplorer.compensating``).
    compensating_points: set[tuple[str, int, int]] = field(default_factory=set)
    compensating: Callable[[FaultPoint], bool] = never_compensating
    # Where in ``points`` each of ``compensating_points`` was first passed.
    compensating_at: dict[tuple[str, int, int], int] = field(default_factory=dict)
    # What its questions decided, each with where in ``points`` (``_explore.Compensating``):
    # whether a command's handler had a failure in hand as it issued it, and the
    # invocations whose journal held a failure.
    decided: dict[tuple[str, int], tuple[bool, int]] = field(default_factory=dict)
    failed_at: dict[str, int] = field(default_factory=dict)

    def __call__(self, point: FaultPoint) -> Fault | None:
        self.points.append(point)
        if self.compensating(point):
            key = (point.invocation, point.index, point.attempt)
            if key not in self.compensating_points:
                self.compensating_points.add(key)
                self.compensating_at[key] = len(self.points) - 1
        if point.phase == LOSE_RESPONSE:
            step = current_step.get()  # the step whose closure makes the call
            attempt = None if step is None else step.engine.running.get(step.invocation)
            spec = None if attempt is None else attempt.steps.get(step.index)  # type: ignore[union-attr]
            bound = None if spec is None else step_attempts(spec.backoff)
            if bound is not None:
                self.bounds[(point.target, point.index)] = bound
        return None


@dataclass
class ScriptedExplorer:
    """Gives the recorded answers again, in order (the self-check re-run)."""

    log: list[tuple[FaultPoint, Fault | None]]
    i: int = 0
    diverged: str | None = None

    def quiet_at(self, point: FaultPoint) -> bool:
        """Whether the recorded run ran this step in place: its answers go on
        after the step point, which it never asked about (``DataExplorer.quiet_at``)."""
        if self.i >= len(self.log):
            return True
        seen = self.log[self.i][0]
        return (seen.phase, seen.index, seen.name, seen.attempt) != (
            point.phase, point.index, point.name, point.attempt)

    def __call__(self, point: FaultPoint) -> Fault | None:
        if self.i >= len(self.log):
            if self.diverged is None:
                self.diverged = f"fault point #{self.i} ({point.phase} of {point.name!r}) is new"
            return None
        seen, answer = self.log[self.i]
        self.i += 1
        if self.diverged is None and (seen.phase, seen.index, seen.name, seen.attempt) != (
            point.phase, point.index, point.name, point.attempt
        ):
            self.diverged = (
                f"fault point #{self.i - 1} was {seen.phase} of {seen.name!r} #{seen.index}, "
                f"now {point.phase} of {point.name!r} #{point.index}"
            )
        return answer
