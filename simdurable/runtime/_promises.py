"""Workflow promises, signals and awakeables: completions that come from anyone.

Owns who waits on each durable promise (by workflow, key and name). A
promise is completed once, from a handler (its PROMISE_COMPLETE command) or
from outside; an awakeable is an index in a waiting journal, completed by id.
Signals sent to one invocation under one name form a queue: the n-th is
stored as the promise ``<name>/<n>`` (under ``SIGNALS`` and the invocation's
id), and the invocation's n-th ``ctx.signal(name)`` takes it, whether it came
before or after. Calls the store and ``Completions.deliver``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Final

from ._completions import Completions
from ._errors import InvalidTargetError
from ._ids import decode_promise, parse_awakeable_id
from ._invocations import Invocations
from ._journal import (
    DATA,
    KIND,
    NAME,
    RESOLVE_AWAKEABLE,
    RESOLVE_SIGNAL,
    Completion,
    Failure,
    RawEntry,
    Value,
    with_result,
)
from ._store import COMPLETED, InvocationRecord, Store
from ._trace import Tracer

PROMISE_ALREADY_COMPLETED: Final = "promise was already completed"

PromiseKey = tuple[str, str, str]  # workflow, key, promise name

# The promise "workflow" under which an invocation's signals are stored (keyed
# by its id); no service can be named so, since names have no "/".
SIGNALS: Final = "signal/"


class Promises:
    """See the module docstring."""

    def __init__(self, invocations: Invocations, completions: Completions, store: Store,
                 trace: Tracer) -> None:
        self.invocations = invocations
        self.completions = completions
        self.store = store
        self.trace = trace
        self.reset()

    def reset(self) -> None:
        # Each promise's waiters in the order they came, as the keys of a dict:
        # a handler waiting again in a loop (a reminder every 15 s until the
        # promise) adds one a time, and a list's ``in`` made that quadratic.
        self.waiters: defaultdict[PromiseKey, dict[tuple[str, int], None]] = defaultdict(dict)

    def wait_for(self, pkey: PromiseKey, waiter: tuple[str, int]) -> None:
        """``waiter`` (invocation, journal index) gets the promise's completion."""
        self.waiters[pkey][waiter] = None

    def _wake(self, pkey: PromiseKey, completion: Completion) -> None:
        for inv_id, index in self.waiters.pop(pkey, {}):
            self.completions.deliver(inv_id, index, completion)

    def complete(self, workflow: str, key: str, name: str, completion: Completion) -> bool:
        """Resolve or reject a workflow promise from outside; False if already done."""
        if self.store.promise(workflow, key, name) is not None:
            return False
        self.store.set_promise(workflow, key, name, completion)
        self._wake((workflow, key, name), completion)
        return True

    def complete_entry(self, rec: InvocationRecord, entry: RawEntry,
                       after: list[Callable[[], None]]) -> RawEntry:
        """A handler's PROMISE_COMPLETE command: stored with whether it won."""
        key = rec.key or ""
        if self.store.promise(rec.service, key, entry[NAME]) is not None:
            return with_result(entry, Failure(409, PROMISE_ALREADY_COMPLETED))
        completion = decode_promise(entry[DATA] or b"")
        self.store.set_promise(rec.service, key, entry[NAME], completion)
        pkey = (rec.service, key, entry[NAME])
        after.append(lambda: self._wake(pkey, completion))
        return with_result(entry, Value(b""))

    def complete_awakeable(self, awk: str, completion: Completion, *, quiet: bool = False
                           ) -> None:
        """Complete the awakeable ``awk``; an unknown id raises (or, ``quiet``, is traced)."""
        parsed = parse_awakeable_id(awk)
        if parsed is None or parsed[0] not in self.invocations.by_id:
            if quiet:
                self.trace("awakeable", "", f"unknown awakeable {awk}")
                return
            raise InvalidTargetError(f"no awakeable {awk!r} exists in this run")
        inv_id, index = parsed
        self.trace("awakeable", inv_id, f"{awk} completed")
        self.completions.deliver(inv_id, index, completion)


    def signal(self, inv_id: str, name: str, completion: Completion) -> None:
        """Queue signal ``name`` for invocation ``inv_id``.

        A signal for an invocation that does not exist or has ended is
        dropped (and traced), as on Restate.
        """
        rec = self.invocations.get(inv_id)
        if rec is None or rec.status == COMPLETED:
            self.trace("signal", inv_id, f"signal {name!r} dropped: no such running invocation")
            return
        n = 0
        while self.store.promise(SIGNALS, inv_id, signal_slot(name, n)) is not None:
            n += 1
        self.complete(SIGNALS, inv_id, signal_slot(name, n), completion)
        self.trace("signal", inv_id, f"signal {name!r} #{n} received")


def signal_slot(name: str, n: int) -> str:
    """The promise that holds the ``n``-th signal ``name`` (0-based) of an invocation."""
    return f"{name}/{n}"


def awakeable_completion(entry: RawEntry) -> Completion:
    """What a RESOLVE_AWAKEABLE or REJECT_AWAKEABLE command (or a signal's)
    completes its awakeable (or signal) with."""
    if entry[KIND] in (RESOLVE_AWAKEABLE, RESOLVE_SIGNAL):
        return Value(entry[DATA] or b"")
    payload = json.loads(entry[DATA] or b"{}")
    return Failure(int(payload.get("code", 500)), str(payload.get("message", "")))
