"""Invocations: their records, their ids, and the duplicates they absorb.

Owns the in-memory view of the store's invocation records (every write goes
through ``put``) and the sequence numbers that order them. Decides what a
submission becomes: a new invocation, or the earlier one with the same
idempotency key (for a workflow's run, the same workflow id) while its
retention lasts. Calls the registry, the store and the trace; it schedules
nothing (the lifecycle does).
"""

from __future__ import annotations

from typing import Final

from ._ids import hashed_invocation_id, invocation_id_text, make_id
from ._registry import HandlerSpec, Registry
from ._scheduler import Scheduler
from ._store import COMPLETED, NO_HEADERS, PENDING, InvocationRecord, MemoryStore, Store
from ._trace import Tracer

WORKFLOW_ALREADY_INVOKED: Final = "the workflow method was already invoked"

# Invocation ids already derived, by their parts: every Simulation of a check
# (and of a test's loop) submits the same first invocations, and the id's
# SHA-256 cost as much as the rest of the submission's bookkeeping.
_IDS: dict[tuple[object, ...], str] = {}
_IDS_MAX: Final = 4096


def invocation_id(*parts: object) -> str:
    """``make_id("inv", *parts)``, remembered (the same parts, the same id)."""
    found = _IDS.get(parts)
    if found is None:
        if len(_IDS) >= _IDS_MAX:
            _IDS.clear()
        found = _IDS[parts] = make_id("inv", *parts)
    return found


def plain_invocation_id(service: str, key: str | None, handler: str, seq: int) -> str:
    """``invocation_id(service, key, handler, seq)``, a plain submission's,
    its id written out in one expression where it is not remembered (no
    ``make_id`` call, ``map`` and ``join``: 15,000 instructions an id became
    9,000, at every submission of a run longer than the ones before)."""
    parts = (service, key, handler, seq)
    found = _IDS.get(parts)
    if found is None:
        found = new_plain_invocation_id(parts)
    return found


def new_plain_invocation_id(parts: tuple[str, str | None, str, int]) -> str:
    """``plain_invocation_id``'s id for ``(service, key, handler, seq)`` not
    remembered yet: derived, and remembered (``Lifecycle.submit`` looks it up
    in ``_IDS`` itself first)."""
    service, key, handler, seq = parts
    found = hashed_invocation_id(invocation_id_text(service, key, handler), seq)
    # Remembered for a run's first invocations only: a run of more than
    # ``_IDS_MAX`` emptied the cache every ``_IDS_MAX`` submissions, the ids
    # of its first ones with it, so that the next such run (a benchmark's
    # repetition, a test's loop) found none of its ids again
    if seq < _IDS_MAX:
        if len(_IDS) >= _IDS_MAX:
            _IDS.clear()
        _IDS[parts] = found
    return found


class Invocations:
    """The records, by id; see the module docstring."""

    def __init__(self, registry: Registry, store: Store, scheduler: Scheduler,
                 trace: Tracer) -> None:
        self.registry = registry
        self.store = store
        self.scheduler = scheduler
        self.trace = trace
        self.by_id: dict[str, InvocationRecord] = {}
        self.seq = 0

    def reload(self) -> list[InvocationRecord]:
        """Read every record from the store again (after a restart)."""
        store = self.store
        records = store.invocations()
        self.seq = max((r.seq for r in records), default=0)
        self.by_id = by_id = {rec.id: rec for rec in records}
        if type(store) is MemoryStore:
            # (the copies put back: the store holds the same object as ``by_id``
            # for every id, as after a submission, so that a crowd's start and
            # end need not put a record that is there already, a lookup among
            # all the invocations each: ``MemoryStore``)
            store._invocations.update(by_id)
        return records

    def get(self, inv_id: str) -> InvocationRecord | None:
        return self.by_id.get(inv_id)

    def record(self, inv_id: str) -> InvocationRecord:
        return self.by_id[inv_id]

    def all(self) -> list[InvocationRecord]:
        return sorted(self.by_id.values(), key=lambda r: r.seq)

    def put(self, rec: InvocationRecord) -> None:
        self.by_id[rec.id] = rec
        self.store.put_invocation(rec)

    # -- new invocations and duplicates ------------------------------------------
    def new(
        self,
        spec: HandlerSpec,
        key: str | None,
        input: bytes,
        delay_ms: int,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
        inv_id: str | None,
        caller: tuple[str, int] | None,
        send: bool,
    ) -> tuple[InvocationRecord | None, str, bool]:
        """Store what a submission becomes: ``(record, id, duplicate)``.

        ``record`` is None when an earlier invocation absorbs the submission
        (``id`` is that one's): the same idempotency key, or a workflow's run
        *sent* again (Restate answers ``PreviouslyAccepted``). ``duplicate``: a
        workflow's run *called* again while its first run is retained, stored
        so that it can fail as Restate's does.
        """
        now = self.scheduler.now_ms
        service, handler = spec.service, spec.name
        self.seq = seq = self.seq + 1
        duplicate = False
        if idempotency_key is None and spec.kind != "workflow":
            # (most submissions: ``registered`` would find no scope, so no
            # earlier invocation to absorb or renew)
            scope = None
            if inv_id is None:
                inv_id = plain_invocation_id(service, key, handler, seq)
        else:
            scope, existing = self.registered(spec, key, idempotency_key)
            renewed = existing is not None and self.expired(existing, spec)
            if renewed:
                assert existing is not None
                self._forget(existing, spec)
                existing = None
            if existing is not None and (spec.kind != "workflow" or send):
                return None, existing, False
            duplicate = existing is not None
            if duplicate:
                inv_id = invocation_id("wf-dup", service, key, seq)
            elif spec.kind == "workflow":
                inv_id = invocation_id("wf", service, key, *((seq,) if renewed else ()))
            else:
                inv_id = invocation_id("ik", service, key, handler, idempotency_key,
                                       *((seq,) if renewed else ()))
        # (positionally, in the fields' order: half the cost of by keyword, timeit)
        rec = InvocationRecord(
            inv_id, service, handler, key, input, seq, PENDING,
            now + delay_ms if delay_ms > 0 else now, now, 0, 0, None,
            caller[0] if caller else "", caller[1] if caller else -1,
            idempotency_key, dict(headers) if headers else NO_HEADERS,
        )
        self.by_id[inv_id] = rec
        self.store.put_invocation(rec)
        if scope is not None and not duplicate:
            self.store.set_idempotency(scope, inv_id)
        if seq > self.scheduler.max_invocations:
            self.too_many(rec)
        return rec, inv_id, duplicate

    def too_many(self, rec: InvocationRecord) -> None:
        """Stop the run: ``rec`` is past ``max_invocations``."""
        self.scheduler.stop(
            f"{rec.target} was invocation number {self.seq}, past "
            f"max_invocations={self.scheduler.max_invocations:.0f}: a handler that sends "
            "or calls in a loop without end? If it is meant to, raise the limit: "
            "Simulation(max_invocations=...)"
        )

    def deduplicated_by(self, service: str, handler: str, key: str | None,
                        idempotency_key: str | None, *, now_ms: int | None = None
                        ) -> str | None:
        """The invocation a submission would get instead of a new one, if any:
        the one with its idempotency key (or, for a workflow's run, its
        workflow id), while its retention lasts (at ``now_ms``: a live host's
        clock runs on between its turns)."""
        spec = self.registry.get(service, handler)
        if spec is None:
            return None
        _, existing = self.registered(spec, key, idempotency_key)
        if existing is None or self.expired(existing, spec, now_ms):
            return None
        return existing

    def registered(self, spec: HandlerSpec, key: str | None, idempotency_key: str | None
                   ) -> tuple[str | None, str | None]:
        """Where a submission's duplicates are registered, and the invocation there."""
        scope = _scope(spec, key, idempotency_key)
        return scope, self.store.idempotency(scope) if scope is not None else None

    def expired(self, inv_id: str, spec: HandlerSpec, now_ms: int | None = None) -> bool:
        rec = self.by_id.get(inv_id)
        now = self.scheduler.now_ms if now_ms is None else now_ms
        return (rec is not None and rec.status == COMPLETED
                and now >= rec.finished_ms + spec.retention_ms)

    def _forget(self, inv_id: str, spec: HandlerSpec) -> None:
        """Retention over: a duplicate now starts anew. A workflow's state and
        promises go with its run, as Restate purges them."""
        rec = self.by_id[inv_id]
        what = "workflow id" if spec.kind == "workflow" else "idempotency key"
        self.trace("expired", inv_id, f"{rec.target}: retention ended "
                                      f"{self.scheduler.now_ms - rec.finished_ms - spec.retention_ms}"
                                      f"ms ago; its {what} starts a new invocation")
        if spec.kind == "workflow" and rec.key is not None:
            self.store.clear_all_state(rec.service, rec.key)
            self.store.clear_promises(rec.service, rec.key)


def _scope(spec: HandlerSpec, key: str | None, idempotency_key: str | None) -> str | None:
    """Where a submission's duplicates are looked up: by workflow id for a
    workflow's run, else by idempotency key (None: every submission is new; an
    empty key is a key, as restate-server 1.7.12 takes it)."""
    if spec.kind == "workflow":
        return f"wf\x1f{spec.service}\x1f{key}"
    if idempotency_key is not None:
        return key_scope(spec.service, key, spec.name, idempotency_key)
    return None


def key_scope(service: str, key: str | None, handler: str, idempotency_key: str) -> str:
    """The scope of an idempotency key: the handler, its object key and the key."""
    return f"ik\x1f{service}\x1f{key}\x1f{handler}\x1f{idempotency_key}"
