"""Replaying recorded journals against the handler code as it is now.

A deploy whose new code takes another path over the journal of an invocation
already in flight breaks that invocation (Restate's error 570). This module
answers, before the deploy, for every recorded invocation: does the current
code replay its journal?

Each invocation is replayed by one ``Attempt`` (the runtime's own replay path,
see docs/architecture.md "One step, fresh and replayed") over a stand-in for
the engine that stores nothing and runs nothing: a command the code issues is
matched against the journal (``same_command``), a completion is read from it,
and no step closure ever runs. The replay stops where the journal ends: the
first command issued past it (or a wait on something the journal never
completed) is where the invocation would go on live.

The verdicts:

* ``replays``: the code issued the journal's commands in order, with the same
  names and payloads, saw its completions where it saw them before, and (for
  an invocation that ended) ended the same way with nothing more to issue.
* ``diverges``: the first journal index where it did not, the recorded entry
  and what the code did instead, and the line of the current code.
* ``cannot-judge``: the journal cannot be replayed here, and why (a service
  or handler the code no longer has, a journal with entries simdurable does
  not model, ...).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from .._api.context import InvocationContext
from .._api.service import Handler, collect_handlers
from .._codec import UNDECODABLE_INPUT, StoredValues, journal_codec_of, undecodable_input
from ..runtime._errors import HandlerError, JournalMismatchError, TerminalError
from ..runtime._faults import Injector
from ..runtime._invocation import LIVE, PARKED, REPLAYING, Abort, Attempt, Wait, user_source
from ..runtime._journal import (
    AWAKEABLE,
    CANCELLED,
    COMMAND_KINDS,
    COMPLETION,
    SIGNAL,
    Completion,
    Entry,
    RawEntry,
    Value,
    describe,
    failure_of,
)
from ..runtime._registry import HandlerSpec
from ..runtime._running import close, where_raised
from ..runtime._steps import NOT_RUN
from ..runtime._store import COMPLETED, InvocationRecord, copy_record

REPLAYS: Final = "replays"
DIVERGES: Final = "diverges"
CANNOT_JUDGE: Final = "cannot-judge"

# Exit statuses of ``simdurable replay-journals`` (and ``ReplayReport.exit_code``).
EXIT_REPLAYS: Final = 0
EXIT_DIVERGES: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_CANNOT_JUDGE: Final = 3

KNOWN_KINDS: Final = COMMAND_KINDS | {COMPLETION, CANCELLED}


# Restate numbers a handler's awakeables as signals from 17 on, in the order the
# handler creates them (ids 1..16 are the runtime's own: 1 is the cancellation).
FIRST_AWAKEABLE_SIGNAL: Final = 17


@dataclass(frozen=True, slots=True)
class SignalNote:
    """A completion of an awakeable or of a named signal, as Restate journals it:
    a notification with no command before it (Restate journals no command for
    ``ctx.awakeable()`` or ``ctx.signal()``).

    ``position``: the journal index (in ``RecordedInvocation.journal``) it
    came before; ``signal``: the awakeable's signal index (17, 18, ...) or the
    signal's name; ``ref``: the awakeable's id as Restate gave it to the
    handler ("" for a named signal).
    """

    position: int
    signal: int | str
    result: Completion
    source_index: int | None = None


@dataclass(frozen=True, slots=True)
class RecordedInvocation:
    """One invocation as a source recorded it: its record and its journal.

    ``origin`` says where it was read from (a path, a server), for messages.
    ``unjudgeable``, when set, is why the source could not give the whole
    journal (an entry with no counterpart here). ``source_indices``, when the
    source numbers its entries otherwise (Restate), is the source's index of
    each entry. ``signals`` is set (to the completions of awakeables and named
    signals, possibly none) when the source journals no command for
    ``ctx.awakeable()`` and ``ctx.signal()`` (Restate): the replay then puts
    each such command where the code makes it, as Restate's own replay does.
    ``awakeable_ids``, for such a source, gives the id the k-th awakeable had
    (Restate's ``sign_1...``), so that code handing it on replays.
    """

    record: InvocationRecord
    journal: list[Entry]
    origin: str = ""
    unjudgeable: str = ""
    source_indices: tuple[int, ...] | None = None
    signals: tuple[SignalNote, ...] | None = None
    awakeable_ids: Callable[[int], str] | None = None
    # Its values are as a server stored them (a Restate server, a dev-executor
    # database): through the app's journal value codec, if it has one; not as the
    # serde made them (a simulation's store).
    as_stored: bool = False

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def ended(self) -> bool:
        """Whether the invocation had finished (returned or failed for good)."""
        return self.record.status == COMPLETED


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The verdict on one recorded invocation.

    Attributes:
      invocation: its id; ``target``: ``Service/handler`` or ``Object/key/handler``.
      verdict: ``replays``, ``diverges`` or ``cannot-judge``.
      ended: whether the recorded invocation had finished.
      entries: how many journal entries were recorded.
      index: for ``diverges``, the first journal index where the code went
        another way (the journal's length if it went past the end).
      recorded / new: the recorded entry there, and what the code did instead.
      source: ``file.py:line`` of the current code that did it, when known.
      reason: for ``cannot-judge``, why; for ``diverges``, the whole story.
      source_index: the same place as ``index`` in the source's own numbering
        (Restate's journal index), when the source numbers entries otherwise.
    """

    invocation: str
    target: str
    verdict: str
    ended: bool
    entries: int
    index: int | None = None
    recorded: str | None = None
    new: str | None = None
    source: str | None = None
    reason: str = ""
    source_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == REPLAYS

    def describe(self) -> str:
        """One paragraph: what happened to this invocation, for a person."""
        head = (f"{self.invocation} {self.target} "
                f"({'ended' if self.ended else 'in flight'}, {self.entries} entries): ")
        if self.verdict == REPLAYS:
            return head + "replays"
        if self.verdict == CANNOT_JUDGE:
            return head + f"cannot be judged: {self.reason}"
        where = f" (#{self.source_index} in the source's journal)" \
            if self.source_index is not None else ""
        lines = [head + f"diverges at journal index #{self.index}{where}",
                 f"  recorded: {self.recorded}",
                 f"  new code: {self.new}" + (f"  ({self.source})" if self.source else "")]
        if self.reason:
            lines.append(f"  {self.reason}")
        return "\n".join(lines)


@dataclass(slots=True)
class ReplayReport:
    """Every verdict of one ``replay_journals`` call, in the source's order."""

    results: list[ReplayResult] = field(default_factory=list)
    source: str = ""

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.results if r.verdict == verdict)

    @property
    def ok(self) -> bool:
        """True when every invocation replays (none diverges, none left unjudged)."""
        return all(r.ok for r in self.results)

    @property
    def diverging(self) -> list[ReplayResult]:
        return [r for r in self.results if r.verdict == DIVERGES]

    @property
    def exit_code(self) -> int:
        """0: all replay; 1: one or more diverge; 3: none diverges, some cannot be judged."""
        if self.diverging:
            return EXIT_DIVERGES
        if self.count(CANNOT_JUDGE):
            return EXIT_CANNOT_JUDGE
        return EXIT_REPLAYS

    def summary(self) -> str:
        return (f"{len(self.results)} invocation(s): {self.count(REPLAYS)} replay, "
                f"{self.count(DIVERGES)} diverge, {self.count(CANNOT_JUDGE)} cannot be judged")

    def __str__(self) -> str:
        lines = [r.describe() for r in self.results if not r.ok]
        lines.append(self.summary() + (f" ({self.source})" if self.source else ""))
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """``AssertionError`` with the report when an invocation does not replay."""
        if not self.ok:
            raise AssertionError(str(self))


class _Clock:
    """The scheduler a replay's context reads the time from: time stands still."""

    now_ms = 0


class _PastEnd(Abort):
    """The code issued a command past the end of the journal: replay stops there."""


class ReplayHost:
    """The engine as an attempt sees it, for a replay: nothing is stored or run.

    ``store_command`` is reached only once the journal is used up (the attempt
    is live): it notes the command and ends the attempt. ``run_lone_step`` runs
    nothing, so an awaited step the journal never completed is a wait.
    """

    payload_checks = True  # (``EngineView``)
    clock_pins: dict[tuple[str, int], float] | None = None  # (``EngineView``: the clock)
    value_pins: dict[tuple[str, int], tuple[str, bytes]] | None = None  # (``EngineView``)

    segment_guard = None
    issue_step: Callable[..., Any] | None = None  # every command reaches ``store_command``
    step_lane: Callable[[Any], Any] | None = None  # every await takes the general way
    command_parts: tuple[Any, ...] | None = ()  # (read by those two only)
    lane_parts: tuple[Any, ...] | None = ()

    def __init__(self, handlers: dict[tuple[str, str], HandlerSpec]) -> None:
        self.handlers = handlers
        self.scheduler: Any = _Clock()
        self.injector = Injector()
        self.past_end: tuple[RawEntry, str | None] | None = None
        self.misuse: HandlerError | None = None

    @property
    def now_ms(self) -> int:
        return 0

    @property
    def faulty(self) -> bool:
        return False

    def wall_ms(self) -> int:
        return 0

    def trace(self, kind: str, inv: str, text: str) -> None:
        pass

    def resolve(self, service: str, handler: str, key: str | None) -> Any:
        # A callee need not be among the services replayed: the call is
        # compared with the journal, never made.
        return self.handlers.get((service, handler))

    def store_command(self, attempt: Attempt, entry: RawEntry) -> int:
        self.past_end = (entry, user_source(2))
        attempt.die()
        raise _PastEnd()

    def run_lone_step(self, attempt: Attempt, index: int) -> int:
        return NOT_RUN

    def record_misuse(self, inv_id: str, err: Any) -> None:
        if self.misuse is None:
            self.misuse = err


def _naming(fn: Callable[[bytes], bytes], what: str) -> Callable[[bytes], bytes]:
    """``fn``, its failure naming ``what`` it failed on."""

    def named(data: bytes) -> bytes:
        try:
            return fn(data)
        except Exception as err:  # noqa: BLE001 - told, with where
            raise _CodecFailure(f"{type(err).__name__}: {err}, on {what}") from err

    return named


class _CodecFailure(Exception):
    """The codec failed on a recorded value (the message says which)."""


def _where_defined(fn: Any) -> str | None:
    try:
        code = inspect.unwrap(fn).__code__
    except (AttributeError, ValueError):
        return None
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"


def _show_end(completion: Completion | None) -> str:
    if completion is None:
        return "the end of the journal"
    if isinstance(completion, Value):
        return "the invocation's end: returned"
    return f"the invocation's end: failed {completion.code}: {completion.message}"


def _same_end(recorded: Completion | None, new: Completion) -> bool:
    if recorded is None:
        return True
    if isinstance(recorded, Value) or isinstance(new, Value):
        return isinstance(recorded, Value) and isinstance(new, Value)
    return recorded.code == new.code and recorded.message == new.message


def _next_command(journal: list[Entry], cursor: int) -> int | None:
    for i in range(cursor, len(journal)):
        if journal[i].kind in COMMAND_KINDS:
            return i
    return None


def unknown_kind(journal: list[Entry]) -> int | None:
    """The index of the first entry whose kind simdurable does not model, if any."""
    for i, entry in enumerate(journal):
        if entry.kind not in KNOWN_KINDS:
            return i
    return None


def _made_instead(result: ReplayResult) -> Entry | None:
    """The awakeable or signal command the code made where the journal went on."""
    if result.verdict != DIVERGES or result.new is None:
        return None
    if result.new == AWAKEABLE:
        return Entry(AWAKEABLE)
    prefix = f'{SIGNAL} "'
    if result.new.startswith(prefix) and result.new.endswith('"'):
        return Entry(SIGNAL, result.new[len(prefix):-1])
    return None


def _place_signals(inv: RecordedInvocation, placed: list[tuple[int, Entry]]
                   ) -> tuple[RecordedInvocation, list[int]]:
    """``inv`` with the awakeable and signal commands of ``placed`` put in its
    journal, each followed (at once, or where it was recorded if later) by its
    completion; and, for each entry of the new journal, the recorded entry it
    stands before (for placing the next command).

    A command placed before recorded entry ``j`` comes after the notifications
    recorded before ``j``: a replay takes the notifications at its cursor
    before it matches the next command, so the code had seen them when it
    made the command there."""
    journal, indices = inv.journal, inv.source_indices
    by_point: dict[int, list[Entry]] = {}
    for at, command in placed:
        by_point.setdefault(at, []).append(command)
    notes: dict[int, list[SignalNote]] = {}
    for note in inv.signals or ():
        notes.setdefault(note.position, []).append(note)
    out: list[Entry] = []
    origin: list[int] = []
    source: list[int] = []
    moved: dict[int, int] = {}  # recorded index -> new index
    command_of: dict[int | str, int] = {}  # signal -> index of its command
    early: dict[int | str, SignalNote] = {}  # completions recorded before their command
    made: dict[str, int] = {}  # ctx.signal(name) made so far, by name
    taken: dict[str, int] = {}  # completions of a named signal met so far, by name
    awakeables = 0

    def source_at(j: int) -> int:
        if indices is None:
            return j
        return indices[j] if j < len(indices) else (indices[-1] + 1 if indices else j)

    def complete(note: SignalNote, j: int) -> None:
        out.append(Entry(COMPLETION, result=note.result, target=command_of[note.signal]))
        origin.append(j)
        source.append(note.source_index if note.source_index is not None else source_at(j))

    for j in range(len(journal) + 1):
        for note in notes.get(j, []):
            key = note.signal
            if isinstance(key, str):
                taken[key] = taken.get(key, 0) + 1
                key = f"{key}#{taken[key]}"
            note = dataclasses.replace(note, signal=key)
            if key in command_of:
                complete(note, j)
            else:
                early[key] = note
        for command in by_point.get(j, []):
            if command.kind == AWAKEABLE:
                signal: int | str = FIRST_AWAKEABLE_SIGNAL + awakeables
                awakeables += 1
            else:
                made[command.name] = made.get(command.name, 0) + 1
                signal = f"{command.name}#{made[command.name]}"
            command_of[signal] = len(out)
            out.append(command)
            origin.append(j)
            source.append(source_at(j))
            if signal in early:
                complete(early.pop(signal), j)
        if j < len(journal):
            entry = journal[j]
            if entry.kind == COMPLETION and entry.target in moved:
                entry = entry._replace(target=moved[entry.target])
            moved[j] = len(out)
            out.append(entry)
            origin.append(j)
            source.append(source_at(j))
    built = dataclasses.replace(inv, journal=out, source_indices=tuple(source))
    return built, origin


class Replayer:
    """Replays recorded invocations against one set of services."""

    def __init__(self, services: Iterable[Any]) -> None:
        self._handlers: dict[tuple[str, str], Handler] = collect_handlers(services)
        self._specs = {k: h.spec(None) for k, h in self._handlers.items()}
        # The app's journal value codec: a stored journal's values are decoded as
        # restate-sdk decodes them, and commands are matched without their payloads,
        # as its VM does with a codec (an encryption's nonce differs every time).
        codec = journal_codec_of(services)
        self._codec = None if codec is None else StoredValues(codec)

    def replay(self, inv: RecordedInvocation) -> ReplayResult:
        rec, journal = inv.record, inv.journal
        base = dict(invocation=rec.id, target=rec.target, ended=inv.ended,
                    entries=len(journal))
        spec = self._specs.get((rec.service, rec.handler))
        if spec is None:
            known = sorted(s for s, _ in self._specs)
            if rec.service in known:
                handlers = sorted(h for s, h in self._specs if s == rec.service)
                why = (f"the current code has no handler {rec.handler!r} in service "
                       f"{rec.service!r} (it has: {', '.join(handlers)})")
            else:
                why = (f"the current code has no service {rec.service!r} (services given: "
                       f"{', '.join(dict.fromkeys(known)) or 'none'})")
            return ReplayResult(verdict=CANNOT_JUDGE, reason=why, **base)  # type: ignore[arg-type]
        if spec.keyed != (rec.key is not None):
            why = (f"{rec.service} is now a {spec.service_kind}, but the invocation was "
                   + ("keyed" if rec.key is not None else "not keyed"))
            return ReplayResult(verdict=CANNOT_JUDGE, reason=why, **base)  # type: ignore[arg-type]
        if inv.unjudgeable:
            return ReplayResult(verdict=CANNOT_JUDGE, reason=inv.unjudgeable,
                                **base)  # type: ignore[arg-type]
        bad = unknown_kind(journal)
        if bad is not None:
            why = (f"journal entry #{bad} is of kind {journal[bad].kind!r}, which simdurable "
                   "does not model")
            return ReplayResult(verdict=CANNOT_JUDGE, reason=why, **base)  # type: ignore[arg-type]
        if self._codec is not None and inv.as_stored:
            try:
                inv = self._decoded(inv)
            except _CodecFailure as err:
                why = f"the app's journal_value_codec.decode raised {err}"
                return ReplayResult(verdict=CANNOT_JUDGE, reason=why,
                                    **base)  # type: ignore[arg-type]
        if inv.signals is not None:
            inv, result = self._replay_placing_signals(spec, inv, base)
        else:
            result = self._replay(spec, inv, base)
        if result.index is not None and inv.source_indices is not None:
            indices = inv.source_indices
            at = indices[result.index] if result.index < len(indices) else None
            if at is None and indices:  # past the end: after the source's last entry
                at = indices[-1] + 1
            result = dataclasses.replace(result, source_index=at)
        return result

    def _decoded(self, inv: RecordedInvocation) -> RecordedInvocation:
        """``inv`` with its values through the codec's ``decode``, as the handler reads them."""
        codec = self._codec
        assert codec is not None
        journal = inv.journal
        entries = []
        for i, e in enumerate(journal):
            command = journal[e.target].kind if 0 <= e.target < len(journal) else None
            entries.append(codec.entry(e, command, _naming(codec.decode, f"journal entry #{i}")))
        rec = copy_record(inv.record)
        rec.input = _naming(codec.decode, "its input")(rec.input)
        signals = None if inv.signals is None else tuple(
            dataclasses.replace(n, result=codec.completion(
                n.result, _naming(codec.decode, f"signal {n.signal!r}'s value")))
            for n in inv.signals)
        return dataclasses.replace(inv, record=rec, journal=entries, signals=signals)

    def _replay_placing_signals(self, spec: HandlerSpec, inv: RecordedInvocation,
                                base: dict[str, Any]
                                ) -> tuple[RecordedInvocation, ReplayResult]:
        """Replay a journal without awakeable or signal commands (Restate's).

        Where the code makes an awakeable (or awaits a named signal) and the
        journal holds none, its command is put there and the replay starts
        again: the k-th awakeable takes the completion of signal 16 + k, the
        n-th ``ctx.signal(name)`` the n-th completion of that name, as on
        Restate, which checks neither where they were made. A completion
        recorded before the place the code now makes its awakeable comes right
        after it (it had already arrived)."""
        placed: list[tuple[int, Entry]] = []  # (before which recorded entry, command)
        signals = inv.signals or ()
        for _ in range(len(inv.journal) + len(signals) + 100):
            built, origin = _place_signals(inv, placed)
            result = self._replay(spec, built, base)
            command = _made_instead(result)
            if command is None or result.index is None:
                return built, result
            at = origin[result.index] if result.index < len(origin) else len(inv.journal)
            if command.kind == AWAKEABLE:
                k = sum(1 for _, c in placed if c.kind == AWAKEABLE)
                ref = inv.awakeable_ids(FIRST_AWAKEABLE_SIGNAL + k) if inv.awakeable_ids \
                    else ""
                command = command._replace(ref=ref)
            placed.append((at, command))
        return built, result  # pragma: no cover - every round places one command

    def _replay(self, spec: HandlerSpec, inv: RecordedInvocation,
                base: dict[str, Any]) -> ReplayResult:
        rec, journal = inv.record, inv.journal
        host = ReplayHost(self._specs)
        host.payload_checks = self._codec is None
        attempt = Attempt(host, rec, list[RawEntry](journal), rec.attempts, spec.service_kind)
        ctx = InvocationContext(attempt, spec)
        coro: Coroutine[Any, Any, bytes] = spec.start(ctx, rec.input)
        if self._codec is not None and UNDECODABLE_INPUT in rec.headers:
            coro.close()  # (serve's ingress kept a body the codec refused: it fails so)
            coro = _failing(undecodable_input())
        attempt.coro = coro
        throw: BaseException | None = None
        try:
            while True:
                try:
                    # (in the attempt's own context, as the simulation's)
                    if throw is not None:
                        exc, throw = throw, None
                        yielded = attempt.context.run(coro.throw, exc)
                    else:
                        yielded = attempt.context.run(coro.send, None)
                except StopIteration as stop:
                    return self._ended(inv, attempt, spec, Value(stop.value or b""), base)
                except TerminalError as err:
                    return self._ended(inv, attempt, spec,
                                       failure_of(err), base)
                except Abort:
                    return self._aborted(inv, attempt, host, base)
                except Exception as err:  # noqa: BLE001 - whatever the new code raises
                    return self._raised(inv, attempt, err, base)
                if not attempt.alive:
                    return self._aborted(inv, attempt, host, base)
                if yielded is PARKED:  # pragma: no cover - no step runs in place here
                    continue
                if not isinstance(yielded, Wait):
                    odd = HandlerError(f"the handler awaited {type(yielded).__name__}, which "
                                       "is not a simdurable future")
                    return self._raised(inv, attempt, odd, base)
                if attempt.on_wait(yielded):
                    throw = attempt.take_cancel(yielded)
                    continue
                if attempt.failure is not None:
                    return self._aborted(inv, attempt, host, base)
                return self._blocked(inv, attempt, yielded, base)
        finally:
            attempt.die()
            close(coro, attempt.context)

    # -- how the replay ended ---------------------------------------------------------
    def _ended(self, inv: RecordedInvocation, attempt: Attempt, spec: HandlerSpec,
               end: Completion, base: dict[str, Any]) -> ReplayResult:
        journal = inv.journal
        left = _next_command(journal, attempt.cursor) if attempt.state == REPLAYING else None
        new = ("the handler returned" if isinstance(end, Value)
               else f"the handler failed {end.code}: {end.message}")
        if left is not None:
            return ReplayResult(
                verdict=DIVERGES, index=left, recorded=journal[left].describe(), new=new,
                source=_where_defined(spec.fn),
                reason="the current code ends before issuing what the journal holds there",
                **base)
        if inv.ended and not _same_end(inv.record.result, end):
            return ReplayResult(
                verdict=DIVERGES, index=len(journal), recorded=_show_end(inv.record.result),
                new=new, source=_where_defined(spec.fn),
                reason="the same journal now ends the invocation another way", **base)
        return ReplayResult(verdict=REPLAYS, **base)

    def _aborted(self, inv: RecordedInvocation, attempt: Attempt, host: ReplayHost,
                 base: dict[str, Any]) -> ReplayResult:
        failure = attempt.failure
        if isinstance(failure, JournalMismatchError):
            return ReplayResult(
                verdict=DIVERGES, index=failure.journal_index, recorded=failure.recorded,
                new=failure.issued, source=failure.source,
                reason=("the current code issues another command than the journal holds "
                        "there"), **base)
        if failure is not None:
            return self._raised(inv, attempt, failure, base)
        if host.past_end is not None:
            if not inv.ended:
                return ReplayResult(verdict=REPLAYS, **base)
            entry, source = host.past_end
            return ReplayResult(
                verdict=DIVERGES, index=len(inv.journal), recorded=_show_end(inv.record.result),
                new=describe(entry), source=source,
                reason="the invocation ended there, and the current code issues more", **base)
        if host.misuse is not None:
            return self._raised(inv, attempt, host.misuse, base)
        return ReplayResult(verdict=CANNOT_JUDGE,  # pragma: no cover - every abort is noted
                            reason="the replay was stopped for no reason it recorded", **base)

    def _raised(self, inv: RecordedInvocation, attempt: Attempt, err: BaseException,
                base: dict[str, Any]) -> ReplayResult:
        journal = inv.journal
        left = _next_command(journal, attempt.cursor) if attempt.state == REPLAYING else None
        if left is None and not inv.ended:
            # Past the journal, the attempt is live: what it does there is new
            # work, not a replay of old.
            return ReplayResult(verdict=REPLAYS, **base)
        source = getattr(err, "source", None) or where_raised(err)
        index = left if left is not None else len(journal)
        recorded = journal[left].describe() if left is not None else _show_end(
            inv.record.result)
        return ReplayResult(
            verdict=DIVERGES, index=index, recorded=recorded,
            new=f"the handler raised {err!r}", source=source,
            reason="the current code fails where the journal went on", **base)

    def _blocked(self, inv: RecordedInvocation, attempt: Attempt, wait: Wait,
                 base: dict[str, Any]) -> ReplayResult:
        if not inv.ended or attempt.state != LIVE:
            return ReplayResult(verdict=REPLAYS, **base)
        return ReplayResult(
            verdict=DIVERGES, index=len(inv.journal), recorded=_show_end(inv.record.result),
            new=f"wait on #{', #'.join(map(str, wait.indices))}", source=None,
            reason="the invocation ended there, and the current code waits for more", **base)


async def _failing(err: BaseException) -> bytes:
    raise err
