"""``FakeExternal``: a stand-in for a payment API, an HTTP service, a database.

Called from inside a step, ``apply`` records one effect, labelled with the
invocation, step, journal index and attempt that caused it, and returns a
receipt. A known idempotency key returns the earlier receipt and records
nothing, as a well-behaved API does. Under a fault plan the fake can also
lose its response (the effect happened, the caller sees ``ConnectionError``).
The checkers compare these effects across runs to find double charges.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Any

from ..runtime._faults import FaultPoint
from ..runtime._invocation import current_step


@dataclass(frozen=True, slots=True)
class Effect:
    """One effect applied to a fake external system."""

    op: str
    payload: Any
    idempotency_key: str | None
    receipt: str
    invocation: str | None = None
    handler: str | None = None
    step: str | None = None
    journal_index: int | None = None
    attempt: int | None = None

    def signature(self) -> tuple[str, str, str | None]:
        """What makes two effects "the same" when comparing runs."""
        return (self.op, repr(self.payload), self.idempotency_key)


class FakeExternal:
    """A fake external system that records the effects applied to it."""

    def __init__(self, name: str) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"a FakeExternal needs a name, got {name!r}")
        self.name = name
        # The module that made it, so that a reproducer imports it from there
        # (``clients.bank``), not from a handler module that imported it.
        self.defined_in: str | None = sys._getframe(1).f_globals.get("__name__")
        self.effects: list[Effect] = []
        self.calls = 0
        self.queries: list[tuple[str, Any]] = []
        self._receipts: dict[tuple[str, str], dict[str, Any]] = {}
        # The effect each key first applied, and each later call that gave the
        # same key with another payload: (first, refused) pairs (see ``apply``).
        self._keyed: dict[tuple[str, str], Effect] = {}
        self.key_reuses: list[tuple[Effect, Effect]] = []
        self._scripted: list[tuple[str | None, BaseException, int]] = []

    def __repr__(self) -> str:
        return f"FakeExternal({self.name!r}, effects={len(self.effects)})"

    def reset(self) -> None:
        """Forget every effect and scripted failure (``check`` does this per example)."""
        self.effects.clear()
        self.queries.clear()
        self._receipts.clear()
        self._keyed.clear()
        self.key_reuses.clear()
        self._scripted.clear()
        self.calls = 0

    def fail_next(self, op: str | None, exc: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``op`` (any op if None) raise ``exc``."""
        self._scripted.append((op, exc, times))

    def apply(
        self,
        op: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Apply one effect; returns its receipt ``{"id", "op", "payload"}``."""
        self.calls += 1
        self._raise_scripted(op)
        if idempotency_key is not None:
            known = self._receipts.get((op, idempotency_key))
            if known is not None:
                first = self._keyed[(op, idempotency_key)]
                if repr(payload) != repr(first.payload):
                    # A well-behaved API answers with the first receipt and
                    # applies nothing: this call's effect is lost.
                    self.key_reuses.append((first, self._effect(op, payload, idempotency_key,
                                                                 str(known["id"]))))
                # Applied before: nothing changes, but the answer can be lost
                # again on its way back (a network down for a while).
                self._maybe_lose(op)
                return dict(known)
        receipt = {
            "id": f"{self.name}-{len(self.effects) + 1}",
            "op": op,
            "payload": copy.deepcopy(payload),
        }
        effect = self._effect(op, payload, idempotency_key, receipt["id"])
        self.effects.append(effect)
        if idempotency_key is not None:
            self._receipts[(op, idempotency_key)] = receipt
            self._keyed[(op, idempotency_key)] = effect
        self._maybe_lose(op)
        return dict(receipt)

    def _effect(self, op: str, payload: Any, key: str | None, receipt: str) -> Effect:
        """An effect of ``op`` labelled with the step applying it."""
        step = current_step.get()
        return Effect(
            op=op,
            payload=copy.deepcopy(payload),
            idempotency_key=key,
            receipt=receipt,
            invocation=step.invocation if step else None,
            handler=step.handler if step else None,
            step=step.step if step else None,
            journal_index=step.index if step else None,
            attempt=step.attempt if step else None,
        )

    def _raise_scripted(self, op: str) -> None:
        """Raise the next scripted failure for ``op`` (``fail_next``), if one is left."""
        for i, (want, exc, left) in enumerate(self._scripted):
            if want in (None, op) and left > 0:
                self._scripted[i] = (want, exc, left - 1)
                raise exc

    def _maybe_lose(self, op: str) -> None:
        """Under a fault plan, lose the response: the caller sees ConnectionError."""
        step = current_step.get()
        if step is not None and step.engine is not None and step.engine.faulty:
            engine = step.engine
            point = FaultPoint(
                phase="response",
                invocation=step.invocation,
                target=step.handler,
                index=step.index,
                name=step.step,
                op=f"{self.name}.{op}",
                attempt=step.attempt,
                time_ms=engine.now_ms,
            )
            if engine.injector.lose_response(self.name, op, point):
                engine.trace("fault", step.invocation, f"{self.name}.{op}: response lost")
                raise ConnectionError(f"{self.name}.{op}: response lost")

    def query(self, op: str, payload: Any = None) -> dict[str, Any]:
        """A read: it may fail like ``apply``, but changes nothing and records no effect.

        Reads are safe to repeat, so the checkers never count them as
        duplicate effects. They are kept in ``queries`` as ``(op, payload)``.
        """
        self.calls += 1
        self._raise_scripted(op)
        self.queries.append((op, copy.deepcopy(payload)))
        self._maybe_lose(op)
        return {"op": op, "payload": copy.deepcopy(payload)}

    def ops(self, op: str | None = None) -> list[Effect]:
        """The effects applied so far, of one op or all."""
        return [e for e in self.effects if op is None or e.op == op]
