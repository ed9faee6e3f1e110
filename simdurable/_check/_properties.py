"""The properties: what a run must satisfy, judged against the reference run.

Each check turns what a run left behind (its ``Outcome``, the problems the
runtime recorded, the faults that fired) into ``Violation``s of one kind.
Nothing here runs handlers; ``_explore`` does, and asks these functions.
"""

from __future__ import annotations

import functools
import json
import re
import traceback
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .._api.external import Effect, FakeExternal
from ..runtime._errors import (
    HandlerError,
    InternalError,
    JournalMismatchError,
    NotFinishedError,
    StuckError,
    TerminalError,
)
from ..runtime._faults import (
    BEFORE,
    DELAY,
    FAIL,
    LOSE_RESPONSE,
    TERMINAL,
    TRANSPARENT_KINDS,
    Fault,
    FaultPoint,
    pinned_plan,
)
from ..runtime._journal import (
    AT_MS,
    CALL,
    COMMAND_KINDS,
    DATA,
    KIND,
    NAME,
    REF,
    SEND,
    SLEEP,
    WAKE_MS,
    Failure,
    Value,
    describe,
    terminal_of,
)
from ..runtime._status import ended_status
from ..runtime._store import COMPLETED, PAUSED, InvocationRecord, stored_journal
from ..runtime._trace import COMPACT_KINDS, event_text
from ._assertions import Collector
from ._report import Violation

if TYPE_CHECKING:
    from .._sim import InvocationHandle, Simulation

# Kinds a run may be judged for, most specific first (a report lists them so).
KIND_ORDER = (
    "context-misuse",
    "nondeterministic-call",
    "not-awaited",
    "late-binding",
    "nondeterminism",
    "duplicate-effect",
    "invariant",
    "outcome-changed",
    "not-serializable",
    "retry-loop",
    "stuck",
    "serialization",
    "handler-error",
)
# Transient failures and lost responses are transparent as long as the
# retries absorb them; a step that gives up makes the run's faults visible.
_TRANSPARENT = TRANSPARENT_KINDS | {FAIL, LOSE_RESPONSE}


@dataclass
class Outcome:
    """What a run of the handler left behind; what ``invariant`` receives.

    Attributes:
      status: ``completed``, ``failed`` (a terminal error), ``paused`` or an
        unfinished status such as ``waiting``.
      result: the decoded return value (None unless completed).
      error: the ``TerminalError`` the invocation ended with, if it failed.
      state: every object (or workflow) touched: ``{"Counter/a": {"count": 1}}``.
      sends: the calls and one-way messages sent, one line each.
      effects: each fake external's effects: ``{"bank": [Effect, ...]}``.
      step_runs: how many times each step's closure ran, by step name.
      faults: the faults that fired, as a plan string.
    """

    status: str
    result: Any = None
    error: TerminalError | None = None
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    sends: list[str] = field(default_factory=list)
    effects: dict[str, list[Effect]] = field(default_factory=dict)
    # Each fake's calls that gave a key already used with another payload:
    # (the effect the key applied, the call answered with its receipt).
    key_reuses: dict[str, list[tuple[Effect, Effect]]] = field(default_factory=dict)
    step_runs: dict[str, int] = field(default_factory=dict)
    finished_ms: int = -1
    raw: Any = None
    # ``faults`` as given, or None until it is first read (formatting a plan
    # costs half of reading a run's outcome, and only a failing run needs it).
    _faults: str | None = field(default=None, repr=False, compare=False)
    _fired: Callable[[], object] | None = field(default=None, repr=False, compare=False)

    @property
    def faults(self) -> str:
        """The faults that fired, as a plan string ("no faults" if none)."""
        if self._faults is None:
            self._faults = "no faults" if self._fired is None else str(self._fired())
        return self._faults

    @faults.setter
    def faults(self, text: str) -> None:
        self._faults = text

    def differences(self, other: Outcome) -> list[str]:
        """How ``other`` differs from this (reference) outcome, one line each."""
        out = []
        if (self.status, self.raw) != (other.status, other.raw):
            out.append(f"result: the reference run {self.ending()}; this run {other.ending()}")
        for obj in sorted(set(self.state) | set(other.state)):
            a, b = self.state.get(obj, {}), other.state.get(obj, {})
            if a != b:
                out.append(f"state of {obj}: the reference run left {_show(a)}; "
                           f"this run left {_show(b)}")
        if sorted(self.sends) != sorted(other.sends):
            out.append(f"messages sent: the reference run sent {_show(sorted(self.sends))}; "
                       f"this run sent {_show(sorted(other.sends))}")
        for name in sorted(set(self.effects) | set(other.effects)):
            # (by repr: an effect with a key and one without cannot be ordered)
            a_sig = sorted((e.signature() for e in self.effects.get(name, [])), key=repr)
            b_sig = sorted((e.signature() for e in other.effects.get(name, [])), key=repr)
            if a_sig != b_sig:
                out.append(f"{name} effects: the reference run applied "
                           f"{_effects(self.effects.get(name, []))}; this run applied "
                           f"{_effects(other.effects.get(name, []))}")
        return out

    def ending(self) -> str:
        """How the run ended, in a few words: "returned 3", "failed with ..."."""
        if self.status == "completed":
            # As the caller receives it: a pydantic model or dataclass as its JSON,
            # not as the repr of the decoded object.
            if isinstance(self.raw, tuple) and self.raw[0] == "ok":
                try:
                    return f"returned {_show(json.loads(self.raw[1]))}"
                except ValueError:
                    pass
            return f"returned {_show(self.result)}"
        if self.status == "failed" and self.error is not None:
            return f"failed with {self.error!r}"
        if self.status == "paused" and isinstance(self.raw, tuple) and self.raw[1]:
            return f"did not finish (paused: {self.raw[1]})"
        return f"did not finish ({self.status})"


def _show(value: Any, limit: int = 160) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _effects(effects: Sequence[Effect]) -> str:
    if not effects:
        return "nothing"
    parts = []
    for e in effects:
        key = f", key={e.idempotency_key}" if e.idempotency_key else ""
        parts.append(f"{e.op}({_show(e.payload, 60)}{key})")
    return "[" + ", ".join(parts) + "]"


# A run's closure, in its run log's entries: (invocation, journal index, step name);
# its place (invocation, journal index).
_CLOSURE = itemgetter(0, 1, 2)
_PLACE = itemgetter(0, 1)
# The kinds of the entries ``snapshot`` lists as sent.
_SENT = frozenset({CALL, SEND})
_KIND_OF = itemgetter(KIND)
# What a command's description reads of an entry (``describe``): its kind, name
# and payload.
_DESCRIBED = itemgetter(KIND, NAME, DATA)


def closure_runs(step_log: Iterable[tuple[str, int, str, int, str]]
                 ) -> Counter[tuple[str, int, str]]:
    """How many times each closure of a run log ran, by (invocation, journal
    index, step name), in the order each first ran (counted by C code)."""
    return Counter(map(_CLOSURE, step_log))


def snapshot(sim: Simulation, handle: InvocationHandle | None,
             externals: Sequence[FakeExternal],
             step_log: Sequence[tuple[str, int, str, int, str]] | None = None,
             closures: Counter[tuple[str, int, str]] | None = None,
             records: Sequence[InvocationRecord] | None = None) -> Outcome:
    """Read a finished (or stuck) run's outcome off the simulation (``step_log``:
    its ``Engine.step_run_log``, if read already; ``closures``: its
    ``closure_runs``, if counted already; ``records``: its engine's
    ``records()``, if read already)."""
    engine = sim.engine
    if handle is None:
        return Outcome(status="not-submitted")
    rec = engine.record(handle.id)
    # (an ended invocation's, the common case, off its record: the engine's
    # status part, built at its first use, is built for a pending one only)
    status = ended_status(rec)
    if status is None:
        status = engine.status(handle.id)
    outcome = Outcome(status=status, finished_ms=rec.finished_ms)
    if rec.status == COMPLETED:
        if isinstance(rec.result, Failure):
            outcome.error = terminal_of(rec.result)
            outcome.raw = ("failed", rec.result.code, rec.result.message)
        elif isinstance(rec.result, Value):
            outcome.raw = ("ok", rec.result.data)
            try:
                outcome.result = handle.result()
            except (TerminalError, NotFinishedError, HandlerError, ValueError):
                outcome.result = None
    elif rec.status == PAUSED:
        outcome.raw = ("paused", rec.last_failure)
    for r in engine.records() if records is None else records:
        if r.key is not None:
            outcome.state[f"{r.service}/{r.key}"] = sim.state(r.service, r.key)
        journal = stored_journal(sim.store, r.id)
        if _SENT.isdisjoint(map(_KIND_OF, journal)):
            continue  # (the common case, read by C code: nothing sent)
        for e in journal:
            if e[KIND] in _SENT:
                data = (e[DATA] or b"").decode("utf-8", "replace")
                outcome.sends.append(f"{r.target} {e[KIND]} {e[NAME]} {data}")
    outcome.effects = {x.name: list(x.effects) for x in externals}
    outcome.key_reuses = {x.name: list(x.key_reuses) for x in externals if x.key_reuses}
    if closures is None and step_log is None:
        outcome.step_runs = sim.step_runs(handle)
    else:
        if closures is None:
            assert step_log is not None
            closures = closure_runs(step_log)
        # (by name in the order each name first ran, as the log gives them)
        runs: dict[str, int] = {}
        inv_id = handle.id
        for (inv, _, name), n in closures.items():
            if inv == inv_id:
                runs[name] = runs.get(name, 0) + n
        outcome.step_runs = runs
    # (the faults that fired, not ``sim.fault_plan``: an outcome kept to be
    # compared with again would keep the whole simulation through the method)
    outcome._fired = functools.partial(pinned_plan, list(sim.injector.fired))
    return outcome


@dataclass
class RunFacts:
    """Everything the properties need to know about one run."""

    sim: Simulation
    handle: InvocationHandle | None
    outcome: Outcome
    collector: Collector
    stuck: StuckError | None
    fired: list[tuple[FaultPoint | None, Fault]]
    seed: int
    world_problems: list[str] = field(default_factory=list)
    # The moment each world event had in this run (``_world.MOMENTS``).
    moments: tuple[str, ...] = ()
    # Deadlocks the app made that a world event resolved away: (handler,
    # journal index, sentence) each (``WorldDriver.hidden``).
    world_hidden: list[tuple[str, int, str]] = field(default_factory=list)

    # What judging a run reads again and again, read off its trace once (the
    # run has ended: its trace no longer changes).
    @functools.cached_property
    def step_log(self) -> list[tuple[str, int, str, int, str]]:
        """Every closure execution of the run (``Engine.step_run_log``)."""
        return list(iter(self.sim.engine.step_run_log))  # (not its ``len`` first)

    @functools.cached_property
    def records(self) -> list[InvocationRecord]:
        """The run's invocation records (``Engine.records``), in the order submitted."""
        return self.sim.engine.records()

    @functools.cached_property
    def closures(self) -> Counter[tuple[str, int, str]]:
        """How many times each closure ran (``closure_runs`` of ``step_log``)."""
        return closure_runs(self.step_log)

    @functools.cached_property
    def entries(self) -> tuple[tuple[str, str, bytes | None], ...]:
        """Each entry of the invocation's journal as a command's description
        reads it (``describe``): its kind, name and payload, read by C code.
        The same for two runs that issued the same commands, whatever their
        times: what its path is made of (``Exploration._path``)."""
        if self.handle is None:
            return ()
        return tuple(map(_DESCRIBED, stored_journal(self.sim.store, self.handle.id)))

    @functools.cached_property
    def reruns(self) -> int:
        """The closures' runs after each one's first (by invocation and journal
        index, whatever its name)."""
        return len(self.step_log) - len(set(map(_PLACE, self.closures)))

    @functools.cached_property
    def _event_records(self) -> list[tuple[Any, ...]]:
        return self.sim.event_records()

    @functools.cached_property
    def _plain_event_records(self) -> list[tuple[Any, ...]]:
        return self.sim.plain_event_records()

    def trace_events(self, kinds: Collection[str]) -> list[tuple[int, str, str, str]]:
        """``Simulation.trace_events(kinds)``: the run's events of ``kinds``
        (read off the events but each step's, when none of them is a step's
        kind: the kinds judging asks for, a restart, a retry, a pause; not
        read where none of them was written, ``Simulation.may_hold``)."""
        if not self.sim.may_hold(kinds):
            return []
        records = (self._event_records if not COMPACT_KINDS.isdisjoint(kinds)
                   else self._plain_event_records)
        return [(ev[0], ev[1], ev[2], event_text(ev)) for ev in records if ev[1] in kinds]

    @property
    def transparent(self) -> bool:
        """Only faults the runtime must hide fired, and no retries ran out."""
        if any(f.kind not in _TRANSPARENT for _, f in self.fired):
            return False
        for _, kind, _, text in self.trace_events(("step-exhausted", "killed", "paused")):
            if kind in ("step-exhausted", "killed") or (
                kind == "paused" and text.startswith("after ")
            ):
                return False
        return True


def problem_violations(run: RunFacts) -> list[Violation]:
    """Handler bugs the runtime recorded: misuse, mismatches, nondeterministic calls."""
    out = []
    for err in run.sim.problems:
        kind = getattr(err, "kind", "handler-error")
        first, _, rest = err.detail.partition("\n")
        v = Violation(kind=kind, message=first,
                      handler=err.handler, step=err.step, journal_index=err.journal_index,
                      source=err.source, details=rest or None)
        if isinstance(err, JournalMismatchError):
            v.journal_diff = journal_diff(run, err)
        out.append(v)
    return out


def journal_diff(run: RunFacts, err: JournalMismatchError) -> str:
    """The journal up to the mismatch, then what it held and what replay issued."""
    sim = run.sim
    rec = next((r for r in sim.engine.records() if r.target == err.handler), None)
    if rec is None:
        return ""
    lines = []
    for i, e in enumerate(sim.journal(rec.id)):
        if err.journal_index is not None and i >= err.journal_index:
            break
        if e[KIND] in COMMAND_KINDS:
            lines.append(f"    #{i:<3} {describe(e)}")
    lines.append(f"  - #{err.journal_index:<3} {err.recorded}      (in the journal)")
    lines.append(f"  + #{err.journal_index:<3} {err.issued}      (issued on replay)")
    return "\n".join(lines)


RETRY_LOOP_ATTEMPTS = 3


_STEP_REASON = re.compile(r'step "(.*?)" \(#(\d+)\) failed: ')


def retry_loop_violations(run: RunFacts) -> list[Violation]:
    """An invocation whose every attempt fails the same way at the same line of
    the user's code: retrying cannot fix it (a bug, not a transient failure).
    Without faults, the same failure raised by simdurable itself (a step's
    value its serde cannot store) counts too; with faults, an injected failure
    names no line of the user's, and repeating it is the fault plan's doing."""
    engine = run.sim.engine
    out = []
    for rec in run.records:
        if rec.status == COMPLETED:
            continue
        reason, where, in_a_row, failed_last = engine.retried.get(rec.id, ("", None, 0, 0))
        if (in_a_row < RETRY_LOOP_ATTEMPTS or (where is None and run.fired)
                or (rec.attempts != failed_last and rec.status != PAUSED)):
            # (a later attempt got past it: three lost responses of a step,
            # then the step's value, and a wait the run ended in; the attempt
            # that paused the invocation failed as the ones before it)
            continue
        ended = "and was paused" if rec.status == PAUSED else "and is still retrying"
        # A step's exception ends the attempt; an ``except`` around its await
        # never sees it (restatedev/sdk-typescript#624).
        how = ("; its exception never reaches the handler's except (the attempt ends, and "
               "the step runs again): give the step RunOptions(max_attempts=...) and catch the "
               "TerminalError it raises when they run out"
               if reason.startswith("step ") and where is not None else "")
        # The step and journal index a step's failure names (``_steps``' reason).
        named = _STEP_REASON.match(reason)
        out.append(Violation(
            kind="retry-loop",
            message=f"{rec.target} {reason.replace('handler raised', 'raised', 1)} on every "
                    f"attempt ({rec.attempts} attempts, {ended}): retrying cannot fix it{how}",
            handler=rec.target, source=where,
            step=named.group(1) if named else None,
            journal_index=int(named.group(2)) if named else None,
            details=engine.raised.get(rec.id) or None,
        ))
    return out


def stuck_violation(run: RunFacts, reference_end_ms: int | None,
                    liveness_ms: int) -> Violation | None:
    """Invocations that did not finish once faults stopped, or took too long."""
    engine = run.sim.engine
    if run.world_hidden:
        handler, index, why = run.world_hidden[0]
        return Violation(kind="stuck", message="a deadlock the world hid: " + why,
                         handler=handler, journal_index=index)
    if run.stuck is not None:
        return Violation(kind="stuck", message=str(run.stuck).splitlines()[0],
                         details="\n".join(run.stuck.waiting))
    paused_by_bug = {err.handler for err in run.sim.problems}
    waiting = []
    for rec in run.records:
        if rec.status == COMPLETED or rec.target in paused_by_bug:
            continue
        waiting.append(f"{rec.target} ({rec.id[:16]}): {engine.waiting_on(rec.id)}")
    if waiting:
        # Only a run that injected faults has faults that stopped.
        when = "after the faults stopped" if run.fired else "and no fault was injected"
        return Violation(
            kind="stuck",
            message=f"{len(waiting)} invocation(s) never finished {when}: " + waiting[0],
            details="\n".join(waiting),
        )
    end = run.outcome.finished_ms
    late = sum(f.by_ms or 0 for _, f in run.fired if f.kind == DELAY)  # injected lateness
    if reference_end_ms is None:
        return None
    limit = reference_end_ms + liveness_ms + late
    if end > limit and end > limit + _timers_waited(run, end):
        return Violation(
            kind="stuck",
            message=f"finished at {end / 1000:.3f}s, more than {liveness_ms / 1000:g}s after "
                    f"the reference run ({reference_end_ms / 1000:.3f}s): a retry storm?",
        )
    return None


def _timers_waited(run: RunFacts, end: int) -> int:
    """How long the run's durable timers ran, every one that fired by ``end``.

    A fault may send a handler down the path it keeps for when an answer does
    not come (a caller whose step failed for good never completes the promise
    the run waits on, until its three-day timeout): such a run ends late by its
    timers, not by retries."""
    engine = run.sim.engine
    return sum(e[WAKE_MS] - e[AT_MS] for rec in run.records
               for e in stored_journal(engine.store, rec.id)
               if e[KIND] == SLEEP and e[AT_MS] <= e[WAKE_MS] <= end)


def _same_operation(e: Effect) -> tuple[str | None, int | None, str, str]:
    """An effect's identity whatever its key: one step's operation with one payload.

    A step that mints a new idempotency key on each attempt (``uuid4()``
    inside its closure) applies the same operation twice behind two keys:
    grouping by key would hide the duplicate.
    """
    return (e.invocation, e.journal_index, e.op, repr(e.payload))


def duplicate_violations(run: RunFacts, ref: Outcome | None) -> list[Violation]:
    """The same effect applied twice by one step of one invocation, with or without keys."""
    out = []
    for name, effects in run.outcome.effects.items():
        groups = Counter(_same_operation(e) for e in effects)
        ref_groups: Counter[Any] = Counter()
        if ref is not None:
            ref_groups = Counter(_same_operation(e) for e in ref.effects.get(name, []))
        for group, n in groups.items():
            if n <= max(1, ref_groups[group]):
                continue
            same = [e for e in effects if _same_operation(e) == group]
            first = same[0]
            cause = _cause(run, group[0], group[1])
            payload = _show(first.payload, 80)
            keys = [e.idempotency_key for e in same if e.idempotency_key is not None]
            if keys:
                why = (f"each attempt used a new idempotency key ({', '.join(keys[:3])}): a key "
                       f"made inside the step changes when the step runs again; make it before "
                       f"the step (ctx.uuid()) and pass it in")
            else:
                why = "and the effect carries no idempotency key"
            if first.step is None:  # the handler's own code: it runs again on every replay
                by = "outside any step, by the handler's own code"
                fired = next((f"a {fault.kind}{_at(point)}" for point, fault in run.fired
                              if fault.kind not in (FAIL, TERMINAL, DELAY)), "a retry")
                cause = f"{fired} made the handler run that code again"
                if not keys:
                    why = ("and the effect carries no idempotency key: apply it in a step "
                           "(ctx.run_typed), with a key made before the step (ctx.uuid())")
                attempts = None  # (an effect outside a step knows no attempt)
            else:
                by = f"by step \"{first.step}\""
                attempts = "attempts that applied it: " + ", ".join(str(e.attempt) for e in same)
            out.append(Violation(
                kind="duplicate-effect",
                message=f"{name}.{first.op}({payload}) was applied {n} times {by}: {cause}, {why}",
                handler=first.handler, step=first.step, journal_index=group[1],
                details=attempts,
            ))
    return out


# Ids a run draws for itself, different in every invocation: an awakeable's id
# (the callback a request carries), a uuid, a long hex token.
_DRAWN_ID = re.compile(r"awk_[0-9A-Za-z]+_[0-9]+|prom_[0-9A-Za-z]+|inv_[0-9A-Za-z]+|"
                       r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                       r"[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}")


def _without_drawn_ids(payload: Any) -> str:
    """A payload's JSON with the ids a run draws for itself masked: two
    requests that differ only there are one request made twice."""
    return _DRAWN_ID.sub("<id>", _show(payload, 1 << 20))


def key_reuse_violations(run: RunFacts) -> list[Violation]:
    """One idempotency key given for two different effects, by two steps (or
    two invocations): the API answers the second with the first's receipt and
    applies nothing, so the second payment, mail or booking is silently lost.
    A key made from the cart's id alone, used again by a second checkout of the
    changed cart, is the usual cause. A step's own retries are not counted: a
    new payload on a retry is the step's, and shows as a changed effect.
    Restate's own idempotency keys alike (``invocation_key_reuses``)."""
    return key_reuses_found(run.outcome.key_reuses) + invocation_key_reuses(run)


def _decoded(data: bytes | None) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError:
        return data


def invocation_key_reuses(run: RunFacts) -> list[Violation]:
    """A call or send given an idempotency key that an earlier call or send of
    the same handler (and object key) used with another argument: Restate
    scopes a key to its target, runs the first invocation only, and answers
    the second with the first's result, so the second request is silently
    lost (restatedev/restate#1324: the key's scope is the invocation target).
    Found from the callers' journals: a call's entry holds its argument and
    the id of the invocation that took it."""
    if all(rec.idempotency_key is None for rec in run.records):
        return []  # (the common case: no key given, nothing to walk)
    engine = run.sim.engine
    records = {rec.id: rec for rec in run.records}
    for rec in records.values():
        for index, e in enumerate(stored_journal(engine.store, rec.id)):
            if e[KIND] not in (CALL, SEND) or not isinstance(e[REF], str):
                continue
            taken = records.get(e[REF])
            if taken is None or taken.idempotency_key is None:  # ("" is a key)
                continue
            asked, ran = _decoded(e[DATA]), _decoded(taken.input)
            if _without_drawn_ids(asked) == _without_drawn_ids(ran):
                continue  # the call that made it, or the same request again: what keys are for
            how = "send" if e[KIND] == SEND else "call"
            return [Violation(
                kind="duplicate-effect",
                message=(f"the {how} #{index} to {taken.target}({_show(asked, 80)}) gave "
                         f"idempotency key {taken.idempotency_key!r}, which {taken.target}"
                         f"({_show(ran, 80)}) had been invoked with: Restate scopes the key to "
                         f"the handler (and object key), runs that invocation only and answers "
                         f"this {how} with its result, so this request is lost; a key must name "
                         f"one request (add what changes, such as the item or its position)"),
                handler=rec.target, journal_index=index,
            )]
    return []


def repeated_call_violations(run: RunFacts, ref: Outcome | None) -> list[Violation]:
    """One handler calling the same target with the same argument again, both
    calls' invocations applying the same effect, more often than in the
    reference run: a call the handler stopped waiting for (a timer won the race
    against it) is not cancelled by that, and runs on to its end, so calling
    again duplicates its effect whatever keys the callee draws (each
    invocation draws its own). Found from the callee records' caller and
    argument; only calls, as a send made twice is meant twice."""
    if ref is None:
        return []  # (the reference run itself: what it does is what is meant)
    groups: dict[tuple[str, str, bytes], list[str]] = {}
    for rec in run.records:
        if rec.caller_id:
            groups.setdefault((rec.caller_id, rec.target, rec.input), []).append(rec.id)
    repeated = {k: ids for k, ids in groups.items() if len(ids) > 1}
    if not repeated:
        return []  # (the common case: no target called twice with one argument)
    by_invocation: dict[str, list[tuple[str, Effect]]] = {}
    for name, effects in run.outcome.effects.items():
        for e in effects:
            if e.invocation is not None:
                by_invocation.setdefault(e.invocation, []).append((name, e))
    ref_count: Counter[tuple[str, str | None, str, str]] = Counter()
    for name, effects in ref.effects.items():
        for one in {(name, e.handler, e.op, _without_drawn_ids(e.payload), e.invocation)
                    for e in effects}:
            ref_count[one[:4]] += 1
    engine = run.sim.engine
    records = {rec.id: rec for rec in run.records}
    for (caller, target, data), ids in repeated.items():
        firsts: dict[tuple[str, str | None, str, str], tuple[str, Effect]] = {}
        by: dict[tuple[str, str | None, str, str], set[str]] = {}
        for inv in ids:
            for name, e in by_invocation.get(inv, []):
                what = (name, e.handler, e.op, _without_drawn_ids(e.payload))
                by.setdefault(what, set()).add(inv)
                firsts.setdefault(what, (name, e))
        for what, invs in by.items():
            n = len(invs)
            if n < 2 or n <= ref_count[what]:
                continue
            journal = stored_journal(engine.store, caller)
            at = [records[i].caller_index for i in ids]
            if not all(0 <= i < len(journal) and journal[i][KIND] == CALL for i in at):
                continue
            name, first = firsts[what]
            caller_rec = records.get(caller)
            who = caller_rec.target if caller_rec is not None else caller
            calls = " and ".join(f"#{i}" for i in at[:3])
            return [Violation(
                kind="duplicate-effect",
                message=(f"{who} called {target}({_show(_decoded(data), 80)}) again with the "
                         f"same argument (calls {calls}), and {n} of those invocations applied "
                         f"{name}.{first.op}({_show(first.payload, 80)}): a call the handler "
                         f"stopped waiting for (a timer won the race) runs on to its end, so "
                         f"calling again applies its effect twice; give the calls one "
                         f"idempotency key (a call with the key of an earlier one attaches to "
                         f"it and gets its result), or await the first call"),
                handler=who, journal_index=at[-1],
            )]
    return []


def key_reuses_found(key_reuses: dict[str, list[tuple[Effect, Effect]]]) -> list[Violation]:
    """``key_reuse_violations`` of the fakes' ``key_reuses`` (a scenario's run
    reads them too), by fake name: at most one per fake."""
    out = []
    for name, reuses in key_reuses.items():
        for first, again in reuses:
            if (first.invocation, first.journal_index) == (again.invocation,
                                                           again.journal_index):
                continue
            if _without_drawn_ids(first.payload) == _without_drawn_ids(again.payload):
                continue  # one request, each run's own callback id or nonce in it
            where = (f'step "{again.step}" (#{again.journal_index})' if again.step
                     else "the handler's own code")
            first_where = (f'step "{first.step}" (#{first.journal_index})' if first.step
                           else "the handler's own code")
            same = ("this invocation" if first.invocation == again.invocation
                    else f"another invocation, of {first.handler}")
            out.append(Violation(
                kind="duplicate-effect",
                message=(f"{name}.{again.op}({_show(again.payload, 80)}) by {where} gave "
                         f"idempotency key {again.idempotency_key!r}, which "
                         f"{name}.{first.op}({_show(first.payload, 80)}) of {first_where} in "
                         f"{same} had used: the API answers with that receipt "
                         f"({first.receipt}) and applies nothing, so this effect is lost; a "
                         f"key must name one effect (add what changes, such as the cart's "
                         f"version or the item, or draw it with ctx.uuid() per effect)"),
                handler=again.handler, step=again.step, journal_index=again.journal_index,
            ))
            break
    return out


def _at(point: FaultPoint | None) -> str:
    """Where a fault fired, as a report says it: ' before set "n" (#1)',
    ' at effect-done of run "charge" (#2)'."""
    if point is None:
        return ""
    what = f'{point.op} "{point.name}"' if point.name else point.op
    if point.index >= 0:
        what += f" (#{point.index})"
    return f" before {what}" if point.phase == BEFORE else f" at {point.phase} of {what}"


def _cause(run: RunFacts, inv: str | None, index: int | None) -> str:
    for point, fault in run.fired:
        if point is not None and point.invocation == inv and point.index == index:
            if fault.kind == LOSE_RESPONSE:
                return "the response was lost after the effect happened, so the step ran again"
            if fault.kind not in (FAIL, TERMINAL, DELAY):
                return (f"a {fault.kind} at {point.phase} (the closure ran, its result was not "
                        f"stored) made the step run again")
    for point, fault in run.fired:
        if fault.kind not in (FAIL, TERMINAL, DELAY):
            return f"a {fault.kind}{_at(point)} came before the step's result was stored"
    return "the step's closure ran again before its result was stored"


def invariant_violations(run: RunFacts,
                         invariant: Callable[[Outcome], object] | None) -> list[Violation]:
    """``always`` assertions that failed, and the user's invariant over the outcome."""
    out = []
    for failure in run.collector.failures:
        out.append(Violation(kind="invariant", message=f"always({failure.message!r}) was false",
                             source=failure.source,
                             details=None if failure.details is None else _show(failure.details)))
    if invariant is not None:
        try:
            invariant(run.outcome)
        except InternalError:
            raise
        except Exception as err:  # noqa: BLE001 - any exception is the invariant failing
            frames = traceback.extract_tb(err.__traceback__)
            src = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else None
            text = str(err) or type(err).__name__
            out.append(Violation(kind="invariant",
                                 message=f"the invariant failed: {type(err).__name__}: {text}",
                                 source=src))
    return out


def outcome_violation(run: RunFacts, ref: Outcome, unstable: set[str]) -> Violation | None:
    """A transparent fault changed the result, state, messages or effects.

    ``unstable`` names the parts ("result", "bank effects") that already
    differed between two fault-free runs: step values that are not
    reproducible, which no comparison can judge.
    """
    if not run.transparent or not run.fired:
        return None
    if all(f.kind == DELAY for _, f in run.fired):
        return None  # only lateness: a slow machine may end so too (a timeout won its race)
    diffs = [d for d in ref.differences(run.outcome) if d.split(":", 1)[0] not in unstable]
    if not diffs:
        return None
    return Violation(
        kind="outcome-changed",
        message="a transparent fault changed the outcome: " + diffs[0],
        handler=run.handle.target if run.handle is not None else None,
        details="\n".join(diffs),
    )


def check_exactly_once(run: RunFacts) -> None:
    """The harness's own promise: every re-run of a closure has a cause.

    Raises ``InternalError`` when a step's closure ran more often than the
    crashes, restarts, suspensions and failed attempts of its invocation can
    explain (a stored step running again is caught by the engine itself).
    """
    if not run.reruns:
        return  # (no closure ran twice)
    counts: Counter[tuple[str, int]] = Counter()
    for (inv, index, _), n in run.closures.items():  # (counted once: ``RunFacts.closures``)
        counts[inv, index] += n
    events = run.trace_events(("restart", "retry", "suspend"))
    restarts = sum(1 for _, kind, _, _ in events if kind == "restart")
    for (inv, index), n in counts.items():
        if n <= 1:
            continue
        causes = restarts + sum(1 for _, kind, who, _ in events
                                if who == inv and kind in ("retry", "suspend"))
        if n - 1 > causes:
            raise InternalError(
                f"exactly-once self-check failed: step #{index} of {inv} ran {n} times, but "
                f"only {causes} crash(es)/failure(s) can explain a re-run. This is a bug in "
                f"simdurable; please report it with the fault plan {run.outcome.faults!r} "
                f"and seed {run.seed}."
            )
