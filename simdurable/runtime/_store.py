"""Durable storage: the interface and the in-memory store.

Everything the simulated (or live) server must not lose lives behind
``Store``: invocations, journals, keyed state, workflow promises and
idempotency keys. Timers, queues and locks are *derived* from it, so a server
restarted over the same store rebuilds them and goes on. The SQLite store of
the live executor implements the same interface.
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
from dataclasses import dataclass, field
from typing import Protocol

from ._journal import Completion, Entry, RawEntry, Value, as_entries
from ._lazy import BuiltOnUse, own_keys

PENDING = "pending"
COMPLETED = "completed"
PAUSED = "paused"

# The headers of every record submitted without any: one empty dict, never
# written (a record's headers are read, copied or replaced, never changed in
# place; ``copy_record`` gives each copy its own). A dict a record was 64 bytes,
# 0.6 MiB for 10,000 invocations.
NO_HEADERS: dict[str, str] = {}


class _RecordHead:
    """The fields an attempt takes from its record as it starts (and keeps while
    it lives, so that its step tasks read no record: ``Attempt.done_bits``),
    first in its memory: with the object's header, 32 bytes, one cache line
    wherever it starts (a record of 23 slots is 224 bytes with the collector's,
    so it starts on a line or half way into one).
    A class's slots are laid out in their names' order (CPython sorts them),
    not its fields' (the positional constructor's, kept); a base's slots come
    before its subclass's."""

    __slots__ = ("done_bits", "retry_index")


class _RecordOpened(_RecordHead):
    """The fields a crowd's start task and its handler's return read or write
    (with the head's): the record's first 128 bytes, two of its lines (three
    when it starts half way into one), not four of them in names' order."""

    __slots__ = (
        "status", "service", "handler", "key", "id", "attempts", "input", "run_at_ms",
        "result", "finished_ms", "seq", "created_ms",
    )


@dataclass(slots=True)
class InvocationRecord(_RecordOpened):
    """What the server stores about one invocation.

    ``status`` is ``pending`` until the invocation ends as ``completed`` (with
    ``result``) or ``paused`` (retries exhausted, or a bug that retrying cannot
    fix). ``run_at_ms`` is when it may next start an attempt (delayed sends,
    retry backoff).
    """

    id: str
    service: str
    handler: str
    key: str | None
    input: bytes
    seq: int
    status: str = PENDING
    # Not stored: the journal indices completed so far while it is pending, as
    # the bits of one int (``Completions``), kept here rather than in a dict by
    # id (a lookup by a cold key three times a step at 10,000 invocations in
    # flight); while it has a live attempt, on that attempt, and stale here
    # (``Attempt.done_bits``). A record read back from a store starts at 0.
    done_bits: int = field(default=0, init=False, repr=False, compare=False)
    run_at_ms: int = 0
    created_ms: int = 0
    attempts: int = 0
    failures: int = 0
    result: Completion | None = None
    caller_id: str = ""
    caller_index: int = -1
    # The idempotency key it was submitted with; None: none ("" is a key, as on Restate).
    idempotency_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    last_failure: str = ""
    # Retries of the step at ``retry_index`` since its command was stored.
    retry_index: int = -1
    retry_count: int = 0
    retry_started_ms: int = 0
    cancelled: bool = False
    finished_ms: int = -1

    @property
    def target(self) -> str:
        if self.key is None:
            return f"{self.service}/{self.handler}"
        return f"{self.service}/{self.key}/{self.handler}"


_record_values = operator.attrgetter(
    *(f.name for f in dataclasses.fields(InvocationRecord) if f.init))


def copy_record(rec: InvocationRecord) -> InvocationRecord:
    """``dataclasses.replace(rec, headers=dict(rec.headers))``, several times faster.

    The memory store copies a record on every write and read; ``replace``
    walks the fields' metadata each time, this passes them positionally.
    """
    copy = InvocationRecord(*_record_values(rec))
    copy.headers = dict(rec.headers)
    return copy


class Store(Protocol):
    """Durable storage. Every write is durable when the method returns."""

    def put_invocation(self, rec: InvocationRecord) -> None: ...

    def invocation(self, inv_id: str) -> InvocationRecord | None: ...

    def invocations(self) -> list[InvocationRecord]:
        """All invocations, in submission (``seq``) order."""
        ...

    def journal(self, inv_id: str) -> list[Entry]: ...

    def append(self, inv_id: str, entry: RawEntry) -> int:
        """Append an entry; returns its journal index.

        ``entry`` is a ``RawEntry``, a plain tuple of ``Entry``'s fields in their
        order, a value's completion in it a ``Value`` or its fields, ``(data,)``
        (``as_entry`` names both); ``journal`` gives ``Entry``s back."""
        ...

    def state(self, service: str, key: str) -> dict[str, bytes]: ...

    def set_state(self, service: str, key: str, name: str, value: bytes) -> None: ...

    def clear_state(self, service: str, key: str, name: str) -> None: ...

    def clear_all_state(self, service: str, key: str) -> None: ...

    def promise(self, workflow: str, key: str, name: str) -> Completion | None: ...

    def set_promise(self, workflow: str, key: str, name: str, value: Completion) -> None: ...

    def clear_promises(self, workflow: str, key: str) -> None: ...

    def idempotency(self, scope: str) -> str | None:
        """The invocation id registered under an idempotency scope, if any."""
        ...

    def set_idempotency(self, scope: str, inv_id: str) -> None: ...

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """Group writes so that they are stored all together or not at all."""
        ...


_NOTHING_TO_GROUP: contextlib.nullcontext[None] = contextlib.nullcontext()


def stored_journal(store: Store, inv_id: str) -> list[RawEntry]:
    """``store``'s journal of ``inv_id`` for a reader by position: the memory
    store's tuples as they are (no ``Entry`` made for each), any other store's
    ``journal`` (an ``Entry`` is a ``RawEntry`` too)."""
    if type(store) is MemoryStore:
        return store.raw_journal(inv_id)
    return list(store.journal(inv_id))


class MemoryStore:
    """The store of the simulation: plain dicts. A record put is kept as it is
    (whoever puts it changes it only to put it again); reads are copies. An
    engine's records (``Invocations.by_id``) are the objects its store holds,
    loaded copies put back (``Invocations.reload``): a put of a record the
    engine changed and had put before is a write of what is there, which its
    crowd's start and end leave out."""

    def __init__(self) -> None:
        self.lazily_built = False  # (its own as well as the class's: see ``_lazy``)
        self._invocations: dict[str, InvocationRecord] = {}
        # Journals of exact tuples (``RawEntry``), as the runtime writes them.
        self._journals: dict[str, list[RawEntry]] = {}

    # Keyed state, workflow promises and idempotency keys: made at their first
    # use (``_lazy``), as the simulation of plain services never has any.
    _state: BuiltOnUse[dict[tuple[str, str], dict[str, bytes]]] = BuiltOnUse(lambda s: {})
    _promises: BuiltOnUse[dict[tuple[str, str, str], Completion]] = BuiltOnUse(lambda s: {})
    _idempotency: BuiltOnUse[dict[str, str]] = BuiltOnUse(lambda s: {})
    # True once a part above is built (not to be ``reset``).
    lazily_built = False

    def reset(self) -> None:
        """This store as ``MemoryStore()`` makes it, none of the parts above
        built, for an engine taken again once nothing else holds it
        (``Simulation.__del__``, which writes these two lines out: a change
        here goes there too): one object fewer made and freed a run."""
        self._invocations = {}
        self._journals.clear()  # (the same dict: an engine's kept step parts hold it)

    def put_invocation(self, rec: InvocationRecord) -> None:
        # Kept as given, not copied: its writer (the engine) changes a record
        # only to put it again at once, and every read hands out a copy. A
        # copy per write was three per invocation (submitted, started, ended).
        self._invocations[rec.id] = rec

    def invocation(self, inv_id: str) -> InvocationRecord | None:
        rec = self._invocations.get(inv_id)
        return None if rec is None else copy_record(rec)

    def invocations(self) -> list[InvocationRecord]:
        recs = sorted(self._invocations.values(), key=lambda r: r.seq)
        return [copy_record(r) for r in recs]

    def has_invocations(self) -> bool:
        return bool(self._invocations)

    def journal(self, inv_id: str) -> list[Entry]:
        return as_entries(self._journals.get(inv_id, []))

    def raw_journal(self, inv_id: str) -> list[RawEntry]:
        """A copy of the journal as stored, its entries exact tuples: for the
        runtime's own readers (``stored_journal``), which read by position."""
        return list(self._journals.get(inv_id, ()))

    def journal_length(self, inv_id: str) -> int:
        return len(self._journals.get(inv_id, ()))

    def live_journal(self, inv_id: str) -> list[RawEntry]:
        """The stored journal itself, not a copy: a live attempt's own journal
        (``Running.open``), so that an entry is appended once, not to two lists."""
        journal = self._journals.get(inv_id)
        if journal is None:
            journal = self._journals[inv_id] = []
        return journal

    def append(self, inv_id: str, entry: RawEntry) -> int:
        journal = self._journals.get(inv_id)
        if journal is None:
            journal = self._journals[inv_id] = []
        # Kept as an exact tuple (an ``Entry`` given, say by a test or a
        # benchmark building a store, is copied, its ``Value`` as ``(data,)``):
        # its readers' subscripts are specialised only for exact tuples.
        if type(entry) is not tuple:
            result = entry[3]
            entry = ((entry[0], entry[1], entry[2], (result[0],), entry[4], entry[5], entry[6],
                      entry[7]) if type(result) is Value else tuple(entry))  # type: ignore[assignment]
        journal.append(entry)
        return len(journal) - 1

    def state(self, service: str, key: str) -> dict[str, bytes]:
        return dict(self._state.get((service, key), {}))

    def state_keys_of(self, service: str) -> list[str]:
        return sorted(k for (s, k), v in self._state.items() if s == service and v)

    def set_state(self, service: str, key: str, name: str, value: bytes) -> None:
        self._state.setdefault((service, key), {})[name] = value

    def clear_state(self, service: str, key: str, name: str) -> None:
        self._state.get((service, key), {}).pop(name, None)

    def clear_all_state(self, service: str, key: str) -> None:
        self._state.pop((service, key), None)

    def promise(self, workflow: str, key: str, name: str) -> Completion | None:
        return self._promises.get((workflow, key, name))

    def set_promise(self, workflow: str, key: str, name: str, value: Completion) -> None:
        self._promises[(workflow, key, name)] = value

    def clear_promises(self, workflow: str, key: str) -> None:
        for name in [k for k in self._promises if k[0] == workflow and k[1] == key]:
            del self._promises[name]

    def idempotency(self, scope: str) -> str | None:
        return self._idempotency.get(scope)

    def set_idempotency(self, scope: str, inv_id: str) -> None:
        self._idempotency[scope] = inv_id

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        return _NOTHING_TO_GROUP  # every write is already "durable" and in memory


own_keys(MemoryStore)  # (its parts built on use: see ``own_keys``)
