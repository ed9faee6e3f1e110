"""The registry: which handlers exist, and how a target names one.

Owns the handler specs a host registers. Calls nothing but the errors it
raises; every other part of the runtime asks it for a handler's spec.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from ._errors import InvalidTargetError
from ._ids import invocation_id_text
from ._retry import InvocationRetryPolicy
from ._store import InvocationRecord

# Restate's default idempotency and workflow retention: 24 hours.
DEFAULT_RETENTION_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """What the engine knows of a handler.

    ``start(ctx, input_bytes)`` returns the coroutine of one attempt; it
    deserializes the input, runs the user's function and returns the
    serialized output.
    """

    service: str
    name: str
    service_kind: str  # "service" | "object" | "workflow"
    kind: str | None  # None | "exclusive" | "shared" | "workflow"
    start: Callable[[Any, bytes], Coroutine[Any, Any, bytes]]
    retry_policy: InvocationRetryPolicy | None = None
    fn: Any = None
    # How long after completion a duplicate (same idempotency key; for a
    # workflow's run, same workflow id) still gets this invocation.
    retention_ms: int = DEFAULT_RETENTION_MS
    # A handler the runtime may start without ``start``'s coroutine around its
    # function (one coroutine less, and no frame that each of the handler's
    # waits and resumes crosses): ``direct`` is then the function, called
    # ``direct(ctx)``, or, with ``direct_input``, ``direct(ctx, n)`` for an
    # input that is a natural number's digits (as the plain serde reads them;
    # any other input goes through ``start``); ``output`` writes its return
    # value as ``start`` would (``Attempt.output``), an int as its digits
    # without the call (its output serde is the plain one). None: always ``start``.
    direct: Callable[..., Coroutine[Any, Any, Any]] | None = None
    direct_input: bool = False
    output: Callable[[Any], bytes] | None = None
    # Derived once (read several times for every invocation): whether the
    # handler's target has a key, and whether it holds that key while it runs.
    keyed: bool = field(init=False, repr=False, compare=False)
    exclusive: bool = field(init=False, repr=False, compare=False)
    # The target of every invocation of an unkeyed handler, "Service/handler"
    # (``InvocationRecord.target``), made once: each attempt holds this one
    # string instead of formatting its own (None for a keyed handler).
    plain_target: str | None = field(init=False, repr=False, compare=False)
    # The text an unkeyed handler's invocation id hashes, up to its sequence
    # number's digits (``_ids.invocation_id_text``), made once (None for a
    # keyed handler).
    id_text: bytes | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keyed = self.service_kind in ("object", "workflow")
        object.__setattr__(self, "keyed", keyed)
        object.__setattr__(self, "exclusive",
                           keyed and self.kind in ("exclusive", "workflow", None))
        object.__setattr__(self, "plain_target",
                           None if keyed else f"{self.service}/{self.name}")
        object.__setattr__(self, "id_text",
                           None if keyed else invocation_id_text(self.service, None, self.name))


class Registry:
    """The handlers, by (service, handler name)."""

    def __init__(self, handlers: dict[tuple[str, str], HandlerSpec]) -> None:
        self.handlers = handlers
        # The app's ``journal_value_codec`` (or its provider), if it has one:
        # what the host checks journal values with (``simdurable._codec``). (In
        # the instance: a class attribute's read, at every ``Simulation``, costs more.)
        self.journal_codec: Any = None

    def get(self, service: str, handler: str) -> HandlerSpec | None:
        return self.handlers.get((service, handler))

    def spec_of(self, rec: InvocationRecord) -> HandlerSpec:
        return self.handlers[(rec.service, rec.handler)]

    def resolve(self, service: str, handler: str, key: str | None) -> HandlerSpec:
        """The handler a target names, or an error that says what is wrong with it."""
        spec = self.handlers.get((service, handler))
        if spec is None:
            known = sorted(f"{s}/{h}" for s, h in self.handlers)
            # A target with more parts reads as Object/<key with slashes>/handler:
            # say so, or "Shop/checkout/extra" would be reported as "Shop/extra".
            read = "" if key is None else f" (read as {service}/<key {key!r}>/{handler})"
            raise InvalidTargetError(
                f"no handler {service}/{handler} is registered{read}; known handlers: "
                f"{', '.join(known) or '(none)'}"
            )
        if spec.keyed and key is None:
            raise InvalidTargetError(
                f"{service} is a {'virtual object' if spec.service_kind == 'object' else 'workflow'}"
                f": its handlers need a key, like \"{service}/<key>/{handler}\""
            )
        if not spec.keyed and key is not None:
            raise InvalidTargetError(
                f"{service} is a service: its handlers take no key, like \"{service}/{handler}\""
            )
        return spec
