"""Journal entries: what an invocation did, in the order it did it.

A journal interleaves *commands* (operations the handler issued, in issue
order) and *notifications* (completions of earlier commands, in the order the
running attempt saw them). Replay walks the same sequence: commands are matched
against what the handler issues again, notifications become visible to the
handler at the same points as in the original run. That is what makes
``select`` and ``wait_completed`` deterministic on replay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from operator import countOf, itemgetter
from typing import Final, Literal, NamedTuple, Union

from ._errors import TerminalError

# Command kinds. Each ctx operation issues exactly one command.
RUN: Final = "run"
SLEEP: Final = "sleep"
GET: Final = "get"
SET: Final = "set"
CLEAR: Final = "clear"
CLEAR_ALL: Final = "clear_all"
KEYS: Final = "state_keys"
CALL: Final = "call"
SEND: Final = "send"
AWAKEABLE: Final = "awakeable"
RESOLVE_AWAKEABLE: Final = "resolve_awakeable"
REJECT_AWAKEABLE: Final = "reject_awakeable"
PROMISE_GET: Final = "promise"
PROMISE_PEEK: Final = "promise_peek"
PROMISE_COMPLETE: Final = "promise_complete"
CANCEL: Final = "cancel_invocation"
# Signals: a named value sent to one invocation (``name`` is the signal's name;
# a resolve/reject's ``name`` is "<invocation id>/<signal name>").
SIGNAL: Final = "signal"
RESOLVE_SIGNAL: Final = "resolve_signal"
REJECT_SIGNAL: Final = "reject_signal"
# Waiting for another invocation's result (``name`` is its id).
ATTACH: Final = "attach_invocation"
# The one notification kind: the completion of the command at ``target``.
COMPLETION: Final = "completion"
# A notification with no command: the invocation was cancelled.
CANCELLED: Final = "cancelled"

COMMAND_KINDS: Final = frozenset(
    {
        RUN, SLEEP, GET, SET, CLEAR, CLEAR_ALL, KEYS, CALL, SEND, AWAKEABLE,
        RESOLVE_AWAKEABLE, REJECT_AWAKEABLE, PROMISE_GET, PROMISE_PEEK,
        PROMISE_COMPLETE, CANCEL, SIGNAL, RESOLVE_SIGNAL, REJECT_SIGNAL, ATTACH,
    }
)
# Commands whose payload is compared on replay (like Restate's payload checks).
PAYLOAD_CHECKED: Final = frozenset(
    {SET, CALL, SEND, RESOLVE_AWAKEABLE, REJECT_AWAKEABLE, PROMISE_COMPLETE, RESOLVE_SIGNAL,
     REJECT_SIGNAL}
)


class Value(NamedTuple):
    """A successful completion; ``data`` is the serialized value.

    Completions are named tuples, like entries: immutable and cheap to build.
    """

    data: bytes

    @property
    def ok(self) -> Literal[True]:
        return True


class Failure(NamedTuple):
    """A terminal failure, re-raised as ``TerminalError(message, code, metadata)``.

    ``metadata`` is the error's metadata as sorted pairs (a tuple keeps the
    completion hashable and its order fixed): Restate passes it on to the caller
    of a call that failed, and to the replay of a step that failed.
    """

    code: int
    message: str
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> Literal[False]:
        return False


Completion = Union[Value, Failure]

# A completion as the runtime keeps it: a step's value is the exact tuple
# ``(data,)``, the fields of a ``Value`` (a tuple subclass costs about 1,300
# instructions more to make and free: no free list, the generic allocator),
# made on every fresh step; a ``Value`` (made on colder paths, or read back
# from a store) reads alike. A failure is a ``Failure`` either way, so a
# completion's test is ``isinstance(c, Failure)`` (or, on the step paths,
# ``type(c) is not Failure``) and its data ``c[0]``. Users get ``Value``s:
# ``as_entry``.
RawCompletion = Union[tuple[bytes], Failure]


def metadata_pairs(metadata: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """An error's metadata as a ``Failure`` keeps it: sorted pairs, ``()`` for none."""
    if not metadata:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in metadata.items()))


# ``<Thing object at 0x7f3bb9184ed0>``: an object's address, which differs
# between two runs of the same seed (and between processes).
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")


def without_addresses(text: str) -> str:
    """``text`` with every default repr's memory address masked: a message
    that names an object reads the same in every run of a seed, so the
    harness's own determinism check does not take it for a difference."""
    return _ADDRESS.sub("at 0x…", text) if "at 0x" in text else text


def failure_of(err: TerminalError) -> Failure:
    """The completion a ``TerminalError`` is recorded as, metadata included (an
    object's address in its message masked: see ``without_addresses``)."""
    return Failure(err.status_code, without_addresses(err.message), metadata_pairs(err.metadata))


def terminal_of(failure: Failure) -> TerminalError:
    """The ``TerminalError`` a failed completion raises, as Restate re-raises it."""
    return TerminalError(failure.message, failure.code, dict(failure.metadata) or None)


# A journal entry as the runtime stores and reads it: an exact tuple of the
# fields of ``Entry``, in its order, read by position with the constants below.
# A tuple subclass (``Entry``) costs more than twice as much to make and free (no
# free list, the generic allocator and ``subtype_dealloc``), and its field reads
# are descriptor calls the interpreter never specialises; two entries a step.
# ``Entry`` (a named tuple, so also a ``RawEntry``) is what users, reports and
# the executor read: ``MemoryStore.journal`` makes them at that edge.
RawEntry = tuple[str, str, bytes | None, RawCompletion | None, int, int, int, str]
KIND: Final = 0
NAME: Final = 1
DATA: Final = 2
RESULT: Final = 3
TARGET: Final = 4
AT_MS: Final = 5
WAKE_MS: Final = 6
REF: Final = 7


class Entry(NamedTuple):
    """One journal entry (immutable: a copy is ``entry._replace(field=...)``).

    A named tuple over the fields of a ``RawEntry``: the journal the runtime
    keeps holds exact tuples, read by position (``KIND``...); an ``Entry`` is
    what a journal read from a store gives (``Simulation.journal``, reports).

    Attributes:
      kind: a command kind, ``completion`` or ``cancelled``.
      name: the step name, state key, call target, promise or awakeable id.
      data: the command's payload (state value, call argument), compared on replay.
      result: for commands that complete at once (``get``, ``state_keys``...),
        their completion; for a ``completion`` notification, the completion.
      target: for a ``completion``, the journal index of the command it completes.
      at_ms: virtual (or real) time in milliseconds when the entry was stored.
      wake_ms: for ``sleep``, when it is due; for ``send``, when it is delivered.
      ref: a related id: the callee's invocation id for calls and sends.
    """

    kind: str
    name: str = ""
    data: bytes | None = None
    result: Completion | None = None
    target: int = -1
    at_ms: int = 0
    wake_ms: int = -1
    ref: str = ""

    @property
    def is_command(self) -> bool:
        return self.kind in COMMAND_KINDS

    def describe(self) -> str:
        """A short human-readable form used in reports and mismatch errors."""
        return describe(self)


def raw_entry(kind: str, name: str = "", data: bytes | None = None,
              result: Completion | None = None, target: int = -1, at_ms: int = 0,
              wake_ms: int = -1, ref: str = "") -> RawEntry:
    """A ``RawEntry`` with ``Entry``'s defaults (for the runtime's colder writers)."""
    return (kind, name, data, result, target, at_ms, wake_ms, ref)


_new_tuple: Final = tuple.__new__


def as_entry(entry: RawEntry) -> Entry:
    """``entry`` as an ``Entry`` (itself if it is one already), its result a
    ``Value`` where the runtime kept a value as ``(data,)``."""
    result = entry[3]
    if type(result) is tuple:  # (an ``Entry`` made of a raw one too: ``Entry(*entry)``)
        return _new_tuple(Entry, (entry[0], entry[1], entry[2], _new_tuple(Value, result),
                                  entry[4], entry[5], entry[6], entry[7]))
    return entry if type(entry) is Entry else _new_tuple(Entry, entry)


def as_entries(journal: Sequence[RawEntry]) -> list[Entry]:
    """A journal as users and reports read it: a new list of ``Entry``."""
    return [as_entry(e) if type(e[3]) is tuple else e if type(e) is Entry
            else _new_tuple(Entry, e) for e in journal]


def with_at_ms(entry: RawEntry, at_ms: int) -> RawEntry:
    """``entry`` stored at ``at_ms`` (``Entry._replace(at_ms=...)`` of a raw entry)."""
    return (entry[0], entry[1], entry[2], entry[3], entry[4], at_ms, entry[6], entry[7])


def with_result(entry: RawEntry, result: Completion) -> RawEntry:
    """``entry`` with ``result`` (``Entry._replace(result=...)`` of a raw entry)."""
    return (entry[0], entry[1], entry[2], result, entry[4], entry[5], entry[6], entry[7])


def with_ref_wake(entry: RawEntry, ref: str, wake_ms: int) -> RawEntry:
    """``entry`` with ``ref`` and ``wake_ms`` (a call's callee, a timer's due time)."""
    return (entry[0], entry[1], entry[2], entry[3], entry[4], entry[5], wake_ms, ref)


def is_command(entry: RawEntry) -> bool:
    return entry[KIND] in COMMAND_KINDS


def describe(entry: RawEntry) -> str:
    """A short human-readable form of an entry, used in reports and mismatch errors."""
    kind = entry[KIND]
    if kind == COMPLETION:
        outcome = "failed" if isinstance(entry[RESULT], Failure) else "ok"
        return f"completion of #{entry[TARGET]} ({outcome})"
    if kind == CANCELLED:
        return "cancelled"
    return describe_command(kind, entry[NAME], entry[DATA])


def describe_command(kind: str, name: str, data: bytes | None) -> str:
    """``describe()`` of a command, from the fields it shows."""
    text = f"{kind}"
    if name:
        text += f' "{name}"'
    if kind in PAYLOAD_CHECKED and data is not None:
        shown = data[:60].decode("utf-8", "replace")
        text += f" {shown}"
    return text


def same_command(recorded: RawEntry, issued: RawEntry) -> bool:
    """Whether replaying ``issued`` over ``recorded`` is deterministic."""
    if recorded[KIND] != issued[KIND] or recorded[NAME] != issued[NAME]:
        return False
    if recorded[KIND] in PAYLOAD_CHECKED and recorded[DATA] != issued[DATA]:
        return False
    return True


def same_header(recorded: RawEntry, issued: RawEntry) -> bool:
    """``same_command`` without the payload: Restate's check when the endpoint has
    a journal value codec (its encoded values may differ from one attempt to the
    next: an encryption's nonce), as restate-sdk asks its VM for then."""
    return recorded[KIND] == issued[KIND] and recorded[NAME] == issued[NAME]


# An entry's kind and target, read by C code over a whole journal (``steps_prefix``).
_KIND: Final = itemgetter(0)
_TARGET: Final = itemgetter(4)
# The completed indices of a journal of steps up to ``EVENS_SIZE`` entries, made
# once (``steps_prefix``: sliced, not made an int at a time per journal).
EVENS_SIZE: Final = 2048
_EVENS: Final = list(range(0, EVENS_SIZE, 2))


def steps_prefix(journal: list[RawEntry]) -> int:
    """How many leading entries of ``journal`` are steps, each a ``run``
    command completed by the entry right after it: all its entries (but a
    last one left alone), or none. Checked by C code over the journal's
    columns (``map``, ``countOf``, a list's ``==``: half the time of
    comparing the targets one by one through ``map(eq, ..., count())``),
    with no bytecode an entry; the kinds counted as ``map`` gives them (no
    list of them made) and the completions sliced once for their kinds and
    targets (callgrind, a 200-entry journal: 107,000 -> 100,000 instructions
    a call). Such
    entries wait on nothing outside, their completed indices are the even
    ones, and a step replayed over them need not read their kinds and
    targets again (``Completions.plain_steps``)."""
    size = len(journal) & -2
    half = size >> 1
    completions = journal[1:size:2]
    return size if (
        countOf(map(_KIND, journal[0:size:2]), RUN) == half
        and countOf(map(_KIND, completions), COMPLETION) == half
        and list(map(_TARGET, completions)) == (
            _EVENS[:half] if size <= EVENS_SIZE else list(range(0, size, 2)))
    ) else 0
