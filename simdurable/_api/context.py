"""The handler context: every durable operation a handler can perform.

The classes ``Context`` ... ``WorkflowSharedContext`` are the types handlers
annotate with (as in restate-sdk). At run time every handler receives an
``InvocationContext``, which turns each operation into one journal command of
its attempt and checks that the handler's kind allows it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import sys
import types
import typing
import uuid as _uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from sys import setprofile
from types import FrameType
from typing import Any, Final, TypeVar

from ..runtime import _fast
from ..runtime._errors import HandlerError, InternalError, SerializationError, TerminalError
from ..runtime._fast import NOT_AWAITABLE, plain_steps, replay_command, returns_as_is
from ..runtime._ids import awakeable_id, encode_promise, is_awakeable_id, is_invocation_id
from ..runtime._invocation import (
    LIVE,
    NO_DONE,
    PARKED,
    REPLAYING,
    Abort,
    Attempt,
    EngineView,
    Step,
    StepInfo,
    Wait,
    current_step,
    user_source,
)
from ..runtime._journal import (
    ATTACH,
    AWAKEABLE,
    CALL,
    CANCEL,
    CLEAR,
    CLEAR_ALL,
    COMPLETION,
    GET,
    KEYS,
    KIND,
    NAME,
    PROMISE_COMPLETE,
    PROMISE_GET,
    PROMISE_PEEK,
    REF,
    REJECT_AWAKEABLE,
    REJECT_SIGNAL,
    RESOLVE_AWAKEABLE,
    RESOLVE_SIGNAL,
    RESULT,
    RUN,
    SEND,
    SET,
    SIGNAL,
    SLEEP,
    TARGET,
    Failure,
    RawEntry,
    Value,
    raw_entry,
    terminal_of,
)
from ..runtime._registry import HandlerSpec
from ..runtime._retry import to_ms
from ..runtime._steps import NOT_RUN, RAN_PARKED
from ..runtime._store import PENDING
from ..runtime._trace import RAN_STEP
from .futures import (
    DurableCallFuture,
    DurableFuture,
    DurableSleepFuture,
    ReplayedPlainStepFuture,
    ReplayedStepFuture,
    SendHandle,
    StepFuture,
    after_in_place,
    plain_decode,
)
from .late import Watching, late_binding_check
from .lossy import LossCheck, as_is, state_key_loss, watch_set_value
from .options import RunOptions, options_from_legacy
from .serde import BytesSerde, DefaultSerde, JsonSerde, Serde
from .service import handler_of

T = TypeVar("T")

# (an object made without its class's ``__init__``: ``new_context``)
_new_object: Final = object.__new__


class AttemptFinishedEvent:
    """Set when the current attempt ends (restate-sdk's teardown signal).

    In simulation an attempt ends when the handler returns or the attempt is
    crashed, so a handler that is running never sees it set.
    """

    def is_set(self) -> bool:
        return False

    async def wait(self) -> None:
        raise HandlerError(
            "request().attempt_finished_event.wait() would wait for the end of the very attempt "
            "that waits; in simulation it never returns. Check is_set() instead."
        )


@dataclass(frozen=True)
class Request:
    """What the invocation was started with.

    ``scope`` and ``limit_key`` are always None here: a call made through
    ``ctx.scope(...)`` runs like a call without one (see ``ScopedContext``).
    ``idempotency_key`` is always None too, as restate-server 1.7.12 hands it
    to restate-sdk 1.3: a request or call made with a key (``"x"`` or ``""``)
    reads None there, and a handler that counted on it would get None on
    Restate only.
    """

    id: str
    headers: dict[str, str]
    attempt_headers: dict[str, str]
    body: bytes
    attempt_finished_event: AttemptFinishedEvent = field(default_factory=AttemptFinishedEvent)
    scope: str | None = None
    limit_key: str | None = None
    idempotency_key: str | None = None


def _decoder(serde: Serde[Any]) -> Callable[[bytes], Any]:
    return serde.deserialize


def _none(_: bytes) -> None:
    return None


# The serde of every step without a return hint: it holds no state, so one will do.
_PLAIN_SERDE: DefaultSerde[Any] = DefaultSerde()
returns_as_is(_PLAIN_SERDE)  # no hint: ints, strings, bools and None read back as written
plain_decode[:] = [_PLAIN_SERDE.deserialize]  # a plain replayed step's decoder


# What ``Context._check_id`` accepts for each kind of id, and how it says so.
_ID_SHAPES: Final[dict[str, tuple[Callable[[object], bool], str]]] = {
    "an awakeable": (is_awakeable_id,
                     "awk_<invocation>_<index>, as ctx.awakeable() returns it"),
    "an invocation": (is_invocation_id,
                      "inv_..., as ctx.request().id or a send handle's invocation_id() gives it"),
}


class Context:
    """The context of every handler: steps, timers, calls, awakeables, determinism.

    Handlers receive one at run time; they never build one. ``ObjectContext``
    and the others add keyed state and workflow promises.
    """

    # Its fields in the object itself, no values array: a handler reads its
    # context at every step, cold in a crowd (10,000 invocations in flight).
    # Every subclass adds none, so that a context's class may change
    # (``__init__``, and ``_fast.step_command``'s ``replay`` at its end).
    __slots__ = ("_attempt", "_spec", "_set_values")
    _attempt: Attempt
    _spec: HandlerSpec
    # Strict mode: the mutable values ``ctx.set`` stored, by state name, to be
    # compared with what they hold when the handler returns (``lossy.py``).
    _set_values: dict[str, tuple[Any, bytes, Serde[Any], int, str | None]] | None

    def __init__(self, attempt: Attempt, spec: HandlerSpec) -> None:
        self._attempt = attempt
        self._spec = spec
        self._set_values = None
        chosen = _class_for(attempt)
        if chosen is not None:
            self.__class__ = chosen

    def __repr__(self) -> str:
        return f"<simdurable context of {self._attempt.handler} ({self._attempt.rec.id})>"

    # -- plumbing -----------------------------------------------------------
    def _issue(self, entry: RawEntry, method: str) -> int:
        attempt = self._attempt
        guard = attempt.engine.segment_guard
        if guard is None:
            attempt.guard(method)
            return attempt.issue(entry, method)
        # Strict mode's profile hook watches the handler's code, not the
        # engine's bookkeeping of a command (crash points, faults, the store),
        # where no code of the user's runs: a tenth of a check's hook calls.
        index: int = guard.unwatched(_guarded_issue, attempt, entry, method)
        return index

    def _refuse(self, method: str, why: str) -> HandlerError:
        return HandlerError(
            f"ctx.{method}() {why}", handler=self._attempt.handler, source=user_source(3)
        )

    def _check_id(self, method: str, given: Any, what: str) -> None:
        """Pause on an id that cannot name anything. Restate fails the invocation
        there (RT0012, or RT0017 for an attach), where no ``except`` in the handler
        sees it, and retries it until its retry policy pauses it."""
        attempt = self._attempt
        attempt.guard(method)
        is_id, shape = _ID_SHAPES[what]
        if is_id(given):
            return
        err = HandlerError(f"ctx.{method}() got {given!r}, which is not {what} id ({shape}); "
                           "Restate fails the invocation on it and retries it",
                           handler=attempt.handler, source=user_source(3))
        if attempt.failure is None:
            attempt.failure = err
            attempt.plain = False
        attempt.die()
        raise Abort()

    def _writable(self, method: str) -> None:
        self._attempt.guard(method)
        spec = self._spec
        if not spec.keyed:
            raise self._refuse(method, f"needs keyed state, but {spec.service} is a Service; "
                                       "use a VirtualObject or a Workflow")
        if spec.kind == "shared":
            # restate-server 1.7 refuses the command (RT0017, "this handler type
            # cannot write state") and retries the invocation: it never goes on,
            # and no ``except`` in the handler sees it (the SDK raises nothing).
            attempt = self._attempt
            err = self._refuse(method, "is not allowed in a shared handler: shared handlers "
                                       "can only read state (Restate refuses it, RT0017, and "
                                       "retries the invocation until its retry policy "
                                       "pauses it)")
            if attempt.failure is None:
                attempt.failure = err
                attempt.plain = False
            attempt.die()
            raise Abort()

    def _readable(self, method: str) -> None:
        self._attempt.guard(method)
        if not self._spec.keyed:
            raise self._refuse(method, f"needs keyed state, but {self._spec.service} is a "
                                       "Service; use a VirtualObject or a Workflow")

    # -- identity and determinism ----------------------------------------------
    def request(self) -> Request:
        self._attempt.guard("request")
        rec = self._attempt.rec
        return Request(
            id=rec.id,
            headers=dict(rec.headers),
            attempt_headers={},
            body=rec.input,
        )

    def scope(self, scope: str) -> ScopedContext:
        """Calls and sends through the result carry ``scope`` (and a ``limit_key``).

        On Restate a scope groups resources for flow control and a limit key
        caps concurrency inside it. simdurable has one node and no
        concurrency limits, so a scoped call runs exactly like the same call
        without a scope; the scope is checked as Restate checks it.
        """
        self._attempt.guard("scope")
        _check_scope_key("scope", scope)
        return ScopedContext(self, scope)

    def random(self) -> Any:
        """A ``random.Random`` seeded by the invocation id: the same on every replay."""
        self._attempt.guard("random")
        return self._attempt.rng

    def uuid(self) -> _uuid.UUID:
        """A UUID drawn from ``random()``: stable across replays (an idempotency key)."""
        self._attempt.guard("uuid")
        return _uuid.UUID(int=self._attempt.rng.getrandbits(128), version=4)

    def time(self) -> DurableFuture[float]:
        """The current time, recorded as the step "timestamp"."""
        engine = self._attempt.engine
        if engine.clock_pins is None:
            return self.run_typed("timestamp", lambda: engine.wall_ms() / 1000)
        return self.run_typed("timestamp", lambda: _pinned_time(engine))

    # -- steps -----------------------------------------------------------------
    def run_typed(
        self,
        name: str,
        action: Callable[..., Any],
        options: RunOptions[Any] | None = None,
        /,
        *args: Any,
        **kwargs: Any,
    ) -> DurableFuture[Any]:
        """Run ``action(*args, **kwargs)`` as a step: its result is stored once."""
        # (A context made while the engine has a fused step command has that
        # command as its class's ``run_typed``: see ``__init__``.)
        # In strict mode, the profile hook watches the handler's code, not
        # simdurable's: it took itself off at this call (``_strict._PAUSE``,
        # ``guard.paused``), so that a step's bookkeeping and the calls to it
        # are not seen; it is put back on here, on the way out.
        # A step awaited at once is taken in one call there, if it can be
        # (fresh, ``_strict_fresh``; replayed with its value, ``_replayed_at_once``):
        # its value is handed back as ``_rearming``'s generator, which puts the
        # hook back on as the handler awaits it, at once (so that neither the
        # return of this call nor the start of the generator is an event).
        attempt = self._attempt
        guard = attempt.engine.segment_guard
        if guard is None or not guard.paused:
            return self._run_typed(name, action, options, args, kwargs)
        guard.paused = False
        later = False
        try:
            if options is None:
                if attempt.plain:
                    taken = _strict_fresh(attempt, guard, name, action, args, kwargs,
                                          _get_frame(0))
                elif attempt.state is REPLAYING:
                    taken = _replayed_at_once(attempt, name, action, args, kwargs, _get_frame(0))
                else:
                    taken = None
                if taken is not None:
                    if type(taken) is tuple:  # (its value)
                        later = True
                        return _rearming(taken[0], guard)  # type: ignore[return-value]
                    return taken  # type: ignore[no-any-return]
            return self._run_typed(name, action, options, args, kwargs)
        finally:
            if not later:
                guard.active = True
                setprofile(guard.hook)

    def _run_typed(self, name: str, action: Callable[..., Any], options: RunOptions[Any] | None,
                   args: tuple[Any, ...], kwargs: dict[str, Any]) -> DurableFuture[Any]:
        """``run_typed`` off its common case: replays, options, strict mode, bad input."""
        attempt = self._attempt
        # In strict mode, the profile hook watches the handler's code, not
        # simdurable's: a step's bookkeeping is a few dozen calls it need not see.
        guard = attempt.engine.segment_guard
        paused = guard is not None and guard.active
        if paused:
            guard.exit()
        try:
            if guard is not None and attempt.state is REPLAYING and options is None:
                taken = _replayed_at_once(attempt, name, action, args, kwargs, _get_frame(1))
                if taken is not None:
                    return _finished(taken[0])  # type: ignore[no-any-return]
            if not attempt.alive or current_step.get() is not None:
                attempt.guard("run_typed")  # raises
            if not isinstance(name, str):
                raise self._refuse("run_typed", f"needs a step name (str) first, got {name!r}")
            if not callable(action):
                raise self._refuse("run_typed", not_a_step_action(name, action))
            if options is not None and not isinstance(options, RunOptions) and not hasattr(
                    options, "serde"):
                # (a step's first argument put where its options go)
                raise self._refuse(
                    "run_typed", f"takes RunOptions or None after the action of step {name!r}, got "
                                 f"{type(options).__name__}; the step's arguments come after "
                                 f"it: ctx.run_typed({name!r}, action, None, *args)")
            if args or kwargs:
                _refuse_futures(self, name, args, kwargs)
            serde: Serde[Any]
            if options is None:  # RunOptions(): a plain DefaultSerde and no step backoff
                serde = _step_serde(action)
            else:
                serde = options.serde
                if isinstance(serde, DefaultSerde) and serde.type_hint is None:
                    hint = options.type_hint or _return_hint(action)
                    if hint is not None:
                        serde = DefaultSerde(hint)
            # Stamped with the time already, so that the engine need not copy it.
            engine = attempt.engine
            entry = (RUN, name, None, None, -1, engine.scheduler.now_ms, -1, "")
            if attempt.state is LIVE and attempt.cursor == len(attempt.journal):
                # what issue() would do, without the call (with completions not
                # seen yet, issue() shows them first)
                index = engine.store_command(attempt, entry)
            else:
                index = attempt.issue(entry, "run_typed")
            if index in attempt.done or (
                attempt.state is REPLAYING and attempt.completed_next == index
            ):
                # replayed with its result: nothing left to run
                return DurableFuture(attempt, index, serde.deserialize)
            pins = engine.value_pins
            if pins is not None:  # (a concurrent run's value given again: ``Engine.value_pins``)
                pinned = pins.get((attempt.rec.id, index))
                if pinned is not None and pinned[0] == name:
                    action = _pinned_value(action, serde, pinned[1])
            backoff = None if options is None else options.backoff()
            if guard is not None:  # strict mode: results that do not survive the journal,
                serde = _loss_check(serde, attempt, name, index)
                # and closures that read a variable rebound before they run
                action = _late_check(action, args, kwargs, attempt, name, index)
            attempt.register_step(index, Step(name, action, args, kwargs, serde, backoff))
            if guard is not None and _at_once(_get_frame(1)):
                # (strict mode: awaited here, the hook paused once, ``_awaited_now``)
                return _awaited_now(attempt, index, serde)  # type: ignore[no-any-return]
            return DurableFuture(attempt, index, serde.deserialize)
        finally:
            if paused:
                guard.enter(attempt)

    def run(
        self,
        name: str,
        action: Callable[..., Any],
        serde: Serde[Any] | None = None,
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: Any = None,
        args: tuple[Any, ...] | None = None,
    ) -> DurableFuture[Any]:
        """The older form of ``run_typed`` (deprecated in restate-sdk)."""
        options = options_from_legacy(serde, max_attempts, max_retry_duration, type_hint)
        return self.run_typed(name, action, options, *(args or ()))

    # -- timers ----------------------------------------------------------------
    def sleep(self, delta: timedelta, name: str | None = None) -> DurableSleepFuture:
        """A durable timer: survives crashes; virtual in simulation."""
        if not isinstance(delta, timedelta):
            raise self._refuse("sleep", f"takes a datetime.timedelta, not {type(delta).__name__}")
        attempt = self._attempt
        index = self._issue(raw_entry(SLEEP, name or "", wake_ms=to_ms(delta, 0)), "sleep")
        guard = attempt.engine.segment_guard
        if guard is not None and index not in attempt.done:  # strict mode: named if never awaited
            source = user_source(2)
            if source is not None:
                attempt.started_at[index] = source
        return DurableSleepFuture(attempt, index, _none)

    # -- calls and sends -------------------------------------------------------
    def _target(self, tpe: Any, key: str | None) -> tuple[str, str, Serde[Any], Serde[Any]]:
        handler = handler_of(tpe)
        return (
            handler.service_tag.name,
            handler.name,
            handler.handler_io.input_serde,
            handler.handler_io.output_serde,
        )

    def _do_call(
        self,
        method: str,
        service: str,
        handler: str,
        key: str | None,
        data: bytes,
        output: Serde[Any],
        *,
        send: bool,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> Any:
        self._attempt.guard(method)
        if limit_key is not None:
            if scope is None:
                raise self._refuse(method, "takes a limit_key only within a scope: "
                                           "ctx.scope(...).service_call(..., limit_key=...)")
            _check_limit_key(method, limit_key)
        self._attempt.engine.resolve(service, handler, key)
        name = f"{service}/{handler}" if key is None else f"{service}/{key}/{handler}"
        meta: dict[str, Any] = {"service": service, "handler": handler}
        if key is not None:
            meta["key"] = key
        if delay:
            meta["delay_ms"] = to_ms(delay, 0)
        if idempotency_key is not None:
            meta["idempotency_key"] = idempotency_key
        if headers:
            meta["headers"] = dict(headers)
        entry = raw_entry(SEND if send else CALL, name, data=data, ref=json.dumps(meta))
        index = self._issue(entry, method)
        callee = self._attempt.recorded(index)[REF]
        cancel = self.cancel_invocation
        if send:
            return SendHandle(callee, cancel)
        return DurableCallFuture(self._attempt, index, _decoder(output), callee, cancel)

    def _call(self, *args: Any, **kwargs: Any) -> DurableCallFuture[Any]:
        future = self._do_call(*args, **kwargs)
        assert isinstance(future, DurableCallFuture)
        return future

    def _send(self, *args: Any, **kwargs: Any) -> SendHandle:
        handle = self._do_call(*args, **kwargs)
        assert isinstance(handle, SendHandle)
        return handle

    def _serialize_arg(self, serde: Serde[Any], arg: Any, target: str) -> bytes:
        try:
            return serde.serialize(arg)
        except (TypeError, ValueError, OverflowError) as err:
            raise SerializationError(
                f"the argument of the call to {target} cannot be serialized: {err}",
                handler=self._attempt.handler,
                source=user_source(3),
            ) from None

    def service_call(
        self,
        tpe: Any,
        arg: Any = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> DurableCallFuture[Any]:
        service, handler, ins, outs = self._target(tpe, None)
        data = self._serialize_arg(ins, arg, f"{service}/{handler}")
        return self._call("service_call", service, handler, None, data, outs, send=False,
                             idempotency_key=idempotency_key, headers=headers)

    def object_call(
        self,
        tpe: Any,
        key: str,
        arg: Any = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> DurableCallFuture[Any]:
        service, handler, ins, outs = self._target(tpe, key)
        data = self._serialize_arg(ins, arg, f"{service}/{key}/{handler}")
        return self._call("object_call", service, handler, key, data, outs, send=False,
                             idempotency_key=idempotency_key, headers=headers)

    workflow_call = object_call

    def service_send(
        self,
        tpe: Any,
        arg: Any = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        service, handler, ins, outs = self._target(tpe, None)
        data = self._serialize_arg(ins, arg, f"{service}/{handler}")
        return self._send("service_send", service, handler, None, data, outs, send=True,
                             delay=send_delay, idempotency_key=idempotency_key, headers=headers)

    def object_send(
        self,
        tpe: Any,
        key: str,
        arg: Any = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        service, handler, ins, outs = self._target(tpe, key)
        data = self._serialize_arg(ins, arg, f"{service}/{key}/{handler}")
        return self._send("object_send", service, handler, key, data, outs, send=True,
                             delay=send_delay, idempotency_key=idempotency_key, headers=headers)

    workflow_send = object_send

    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> DurableCallFuture[bytes]:
        if scope is not None:
            _check_scope_key("generic_call", scope)
        return self._call("generic_call", service, handler, key, bytes(arg), BytesSerde(),
                             send=False, idempotency_key=idempotency_key, headers=headers,
                             scope=scope, limit_key=limit_key)

    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> SendHandle:
        if scope is not None:
            _check_scope_key("generic_send", scope)
        return self._send("generic_send", service, handler, key, bytes(arg), BytesSerde(),
                             send=True, delay=send_delay, idempotency_key=idempotency_key,
                             headers=headers, scope=scope, limit_key=limit_key)

    def cancel_invocation(self, invocation_id: str) -> None:
        """Cancel an invocation; an id naming none is ignored, as on Restate."""
        self._check_id("cancel_invocation", invocation_id, "an invocation")
        self._issue(raw_entry(CANCEL, invocation_id), "cancel_invocation")

    def attach_invocation(
        self, invocation_id: str, serde: Serde[Any] | None = None, type_hint: Any = None
    ) -> DurableFuture[Any]:
        """A future of invocation ``invocation_id``'s result (its failure raises
        ``TerminalError``); an unknown id fails it with code 404."""
        self._check_id("attach_invocation", invocation_id, "an invocation")
        serde = serde or DefaultSerde(type_hint)
        index = self._issue(raw_entry(ATTACH, invocation_id), "attach_invocation")
        return DurableFuture(self._attempt, index, _decoder(serde))

    # -- signals -------------------------------------------------------------------
    def signal(
        self, name: str, serde: Serde[Any] | None = None, type_hint: Any = None
    ) -> DurableFuture[Any]:
        """The value of the signal ``name`` sent to this invocation (by
        ``resolve_signal`` or ``Simulation.signal``), once it arrives; a signal
        sent before it is asked for is kept."""
        serde = serde or DefaultSerde(type_hint)
        index = self._issue(raw_entry(SIGNAL, name), "signal")
        return DurableFuture(self._attempt, index, _decoder(serde))

    def resolve_signal(
        self, invocation_id: str, name: str, value: Any, serde: Serde[Any] | None = None
    ) -> None:
        """Send signal ``name`` with ``value`` to invocation ``invocation_id``."""
        self._check_id("resolve_signal", invocation_id, "an invocation")
        data = (serde or DefaultSerde()).serialize(value)
        self._issue(raw_entry(RESOLVE_SIGNAL, f"{invocation_id}/{name}", data=data),
                    "resolve_signal")

    def reject_signal(
        self, invocation_id: str, name: str, failure_message: str, failure_code: int = 500
    ) -> None:
        """Send signal ``name`` as a failure: awaiting it raises ``TerminalError``."""
        self._check_id("reject_signal", invocation_id, "an invocation")
        data = json.dumps({"message": failure_message, "code": failure_code}).encode()
        self._issue(raw_entry(REJECT_SIGNAL, f"{invocation_id}/{name}", data=data), "reject_signal")

    # -- awakeables -------------------------------------------------------------
    def awakeable(
        self, serde: Serde[Any] | None = None, type_hint: Any = None
    ) -> tuple[str, DurableFuture[Any]]:
        """An id to hand to the outside world, and the future it completes."""
        serde = serde or DefaultSerde(type_hint)
        index = self._issue(raw_entry(AWAKEABLE), "awakeable")
        future = DurableFuture(self._attempt, index, _decoder(serde))
        # A journal recorded by Restate (replay-journals) holds the id Restate
        # gave this awakeable: the code hands that one on, as it did.
        recorded = self._attempt.journal[index][REF] if index < len(self._attempt.journal) else ""
        return recorded or awakeable_id(self._attempt.rec.id, index), future

    def resolve_awakeable(self, name: str, value: Any, serde: Serde[Any] | None = None) -> None:
        """Complete awakeable ``name``; an id naming none is ignored, as on Restate."""
        self._check_id("resolve_awakeable", name, "an awakeable")
        data = (serde or JsonSerde()).serialize(value)
        self._issue(raw_entry(RESOLVE_AWAKEABLE, name, data=data), "resolve_awakeable")

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        self._check_id("reject_awakeable", name, "an awakeable")
        data = json.dumps({"message": failure_message, "code": failure_code}).encode()
        self._issue(raw_entry(REJECT_AWAKEABLE, name, data=data), "reject_awakeable")


_KEY_PART = re.compile(r"[a-zA-Z0-9_.-]{1,36}")


def _pinned_time(engine: EngineView) -> float:
    """``ctx.time()``'s read when the engine has its reads pinned: the pinned
    value of this invocation's step at this journal index, else the clock."""
    step = current_step.get()
    pins = engine.clock_pins
    pinned = (None if step is None or pins is None
              else pins.get((step.invocation, step.index)))
    return engine.wall_ms() / 1000 if pinned is None else pinned


def _check_scope_key(method: str, scope: Any) -> None:
    if not isinstance(scope, str) or not _KEY_PART.fullmatch(scope):
        raise HandlerError(
            f"ctx.{method}(): the scope {scope!r} must be 1 to 36 characters of "
            "[a-zA-Z0-9_.-]", source=user_source(3))


def _check_limit_key(method: str, limit_key: Any) -> None:
    parts = limit_key.split("/") if isinstance(limit_key, str) else [None]
    if len(parts) > 2 or not all(isinstance(p, str) and _KEY_PART.fullmatch(p) for p in parts):
        raise HandlerError(
            f"{method}(): the limit_key {limit_key!r} must be one or two levels separated by "
            "'/', each 1 to 36 characters of [a-zA-Z0-9_.-]", source=user_source(4))


# ``Context.run_typed``'s code: ``_at_once`` reads the frame of its caller only
# when ``_run_typed`` was called from it (its caller's is the handler's).
_RUN_TYPED_CODE: Final = Context.run_typed.__code__
_get_frame: Final = sys._getframe
_running_step: Final = current_step.var.get
_set_current_step: Final = current_step.var.set
# By a call's offset in its caller: (the caller's code, whether the call is awaited
# at once there), for ``_at_once``; another code at the offset takes it over.
_AT_ONCE: dict[int, tuple[types.CodeType, bool]] = {}
# Strict mode's twin of ``_fast._sites`` (which only the fused step command, not
# strict mode's, fills): by the offset of a call awaited at once in its caller,
# (the caller's code, the action last called there if it holds nothing of a run,
# else None, its serde, the closure caller of the call's one keyword or None
# (``_fast.keyword_run``), that keyword), for ``_strict_fresh`` and
# ``_replayed_at_once``. What
# it assumes is ``_sites``'s (docs/decisions.md, "The step call's head per call
# site"): a kept function's return hint is the one it had when first called there.
_STRICT_SITES: dict[int, tuple[types.CodeType, Any, Serde[Any], Any, str | None]] = {}


class ScopedContext:
    """Calls and sends within a scope: what ``ctx.scope(name)`` returns.

    On Restate a scope is part of the callee's identity and a ``limit_key``
    caps how many invocations of the scope run at once. simdurable runs one
    node without such limits: a scoped call behaves as the same call without
    a scope (its scope and limit key are checked as Restate checks them).
    """

    def __init__(self, ctx: Context, scope: str) -> None:
        self._ctx = ctx
        self.scope = scope

    def _target(self, tpe: Any) -> tuple[str, str, Serde[Any], Serde[Any]]:
        return self._ctx._target(tpe, None)

    def service_call(
        self,
        tpe: Any,
        arg: Any = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> DurableCallFuture[Any]:
        service, handler, ins, outs = self._target(tpe)
        data = self._ctx._serialize_arg(ins, arg, f"{service}/{handler}")
        return self._ctx._call("service_call", service, handler, None, data, outs, send=False,
                               idempotency_key=idempotency_key, headers=headers,
                               scope=self.scope, limit_key=limit_key)

    def service_send(
        self,
        tpe: Any,
        arg: Any = None,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        service, handler, ins, outs = self._target(tpe)
        data = self._ctx._serialize_arg(ins, arg, f"{service}/{handler}")
        return self._ctx._send("service_send", service, handler, None, data, outs, send=True,
                               delay=send_delay, idempotency_key=idempotency_key,
                               headers=headers, scope=self.scope, limit_key=limit_key)

    def object_call(
        self,
        tpe: Any,
        key: str,
        arg: Any = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> DurableCallFuture[Any]:
        service, handler, ins, outs = self._target(tpe)
        data = self._ctx._serialize_arg(ins, arg, f"{service}/{key}/{handler}")
        return self._ctx._call("object_call", service, handler, key, data, outs, send=False,
                               idempotency_key=idempotency_key, headers=headers,
                               scope=self.scope, limit_key=limit_key)

    def object_send(
        self,
        tpe: Any,
        key: str,
        arg: Any = None,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        service, handler, ins, outs = self._target(tpe)
        data = self._ctx._serialize_arg(ins, arg, f"{service}/{key}/{handler}")
        return self._ctx._send("object_send", service, handler, key, data, outs, send=True,
                               delay=send_delay, idempotency_key=idempotency_key,
                               headers=headers, scope=self.scope, limit_key=limit_key)

    workflow_call = object_call
    workflow_send = object_send


class ObjectSharedContext(Context):
    """A shared handler of a virtual object: reads state, cannot write it."""

    __slots__ = ()

    def key(self) -> str:
        self._attempt.guard("key")
        key = self._attempt.rec.key
        if key is None:
            raise self._refuse("key", f"is only for virtual objects and workflows; "
                                      f"{self._spec.service} is a Service")
        return key

    # -- state -----------------------------------------------------------------
    def get(
        self,
        name: str,
        serde: Serde[Any] | None = None,
        type_hint: Any = None,
        entry_name: str | None = None,
    ) -> DurableFuture[Any]:
        self._readable("get")
        serde = serde or DefaultSerde(type_hint)
        index = self._issue(raw_entry(GET, name), "get")
        return DurableFuture(self._attempt, index, _decoder(serde))

    def state_keys(self, entry_name: str | None = None) -> DurableFuture[list[str]]:
        self._readable("state_keys")
        index = self._issue(raw_entry(KEYS), "state_keys")
        return DurableFuture(self._attempt, index, lambda b: list(json.loads(b or b"[]")))


class KeyValueStore:
    """restate-sdk's name for the state methods; ``ObjectContext`` is one."""

    __slots__ = ()


class ObjectContext(ObjectSharedContext, KeyValueStore):
    """An exclusive handler of a virtual object: reads and writes state."""

    __slots__ = ()

    def set(
        self,
        name: str,
        value: Any,
        serde: Serde[Any] | None = None,
        entry_name: str | None = None,
    ) -> None:
        self._writable("set")
        given = serde
        serde = serde or DefaultSerde()
        try:
            data = serde.serialize(value)
        except (TypeError, ValueError, OverflowError) as err:
            raise SerializationError(
                f"ctx.set({name!r}, ...): the value cannot be serialized: {err}",
                handler=self._attempt.handler,
                source=user_source(2),
            ) from None
        index = self._issue(raw_entry(SET, name, data=data), "set")
        if self._attempt.engine.segment_guard is not None:
            # strict mode: state that does not come back as it was written, and
            # a value changed in place after it was stored
            if given is None:
                state_key_loss(self._attempt, name, value, data, serde, index)
            watch_set_value(self, name, value, data, serde, index)

    def clear(self, name: str, entry_name: str | None = None) -> None:
        self._writable("clear")
        self._issue(raw_entry(CLEAR, name), "clear")
        if self._set_values:
            self._set_values.pop(name, None)

    def clear_all(self, entry_name: str | None = None) -> None:
        self._writable("clear_all")
        self._issue(raw_entry(CLEAR_ALL), "clear_all")
        if self._set_values:
            self._set_values = None


class WorkflowSharedContext(ObjectSharedContext):
    """A shared handler of a workflow: reads state and uses promises."""

    __slots__ = ()

    # -- workflows --------------------------------------------------------------
    def promise(
        self, name: str, serde: Serde[Any] | None = None, type_hint: Any = None
    ) -> DurablePromise[Any]:
        self._attempt.guard("promise")
        if self._spec.service_kind != "workflow":
            raise self._refuse("promise", f"is only for workflows; {self._spec.service} is not one")
        return DurablePromise(self, name, serde or DefaultSerde(type_hint))



class WorkflowContext(ObjectContext, WorkflowSharedContext):
    """The main handler of a workflow: state and promises."""

    __slots__ = ()


class DurablePromise(typing.Generic[T]):
    """A workflow's durable promise, completed once, awaited by any handler."""

    def __init__(self, ctx: Context, name: str, serde: Serde[T]) -> None:
        self.name = name
        self.serde = serde
        self._ctx = ctx

    def value(self) -> DurableFuture[T]:
        ctx = self._ctx
        index = ctx._issue(raw_entry(PROMISE_GET, self.name), "promise().value")
        attempt = ctx._attempt
        if attempt.engine.segment_guard is not None:  # strict mode: named if never awaited
            source = user_source(2)
            if source is not None:
                attempt.started_at[index] = source
        return DurableFuture(attempt, index, _decoder(self.serde))

    def __await__(self) -> typing.Generator[Any, None, T]:
        return self.value().__await__()

    def peek(self) -> DurableFuture[T | None]:
        """The value if the promise is completed, else None, without waiting."""
        ctx = self._ctx
        index = ctx._issue(raw_entry(PROMISE_PEEK, self.name), "promise().peek")
        return DurableFuture(ctx._attempt, index, _decoder(self.serde))

    def resolve(self, value: T) -> DurableFuture[None]:
        """Complete the promise with ``value`` now; await the result to learn
        whether it was already completed (a ``TerminalError`` then)."""
        ctx = self._ctx
        data = encode_promise(Value(self.serde.serialize(value)))
        index = ctx._issue(raw_entry(PROMISE_COMPLETE, self.name, data=data), "promise().resolve")
        return DurableFuture(ctx._attempt, index, _none)

    def reject(self, message: str, code: int = 500) -> DurableFuture[None]:
        """Complete the promise with a failure now, as ``resolve`` does."""
        ctx = self._ctx
        data = encode_promise(Failure(code, message))
        index = ctx._issue(raw_entry(PROMISE_COMPLETE, self.name, data=data), "promise().reject")
        return DurableFuture(ctx._attempt, index, _none)



class InvocationContext(WorkflowContext):
    """The one implementation behind every context type; checks kinds at run time."""

    __slots__ = ()


def _context_class(run_typed: Callable[..., Any]) -> type:
    """An ``InvocationContext`` whose ``run_typed`` is ``run_typed``, a form of
    the fused step command (``_fast.step_command``, which makes one of each:
    ``fresh_context``, ``replay_context``, ``express_context``), given the
    context itself. Named as its base, as a user sees it."""
    return type("InvocationContext", (InvocationContext,), {
        "__slots__": (), "__module__": __name__, "__qualname__": "InvocationContext",
        "__doc__": InvocationContext.__doc__, "run_typed": run_typed})


class _WrappedCommand(InvocationContext):
    """A context whose engine's ``issue_step`` is not the fused step command
    but a wrapper of it (a test's, a benchmark's): every step through it,
    given the attempt (as the fused command takes it too)."""

    __slots__ = ()

    def run_typed(self, /, *args: Any, **kwargs: Any) -> Any:
        attempt = self._attempt
        issue = attempt.engine.issue_step
        if issue is None:  # (taken away since: the general way)
            return Context.run_typed(self, *args, **kwargs)
        return issue(attempt, *args, **kwargs)


def _class_for(attempt: Attempt) -> type[InvocationContext] | None:
    """The class of a context for ``attempt`` (None: the one it was made
    with). Where its engine has the fused step command
    (``_fast.step_command``), ``ctx.run_typed`` is it: a class attribute of
    the class taken for the attempt's state (a subclass of
    ``InvocationContext`` with that command as its ``run_typed``,
    ``_context_class``), not a method bound to each attempt: an object fewer
    an invocation, and a line fewer read at each step."""
    engine: Any = attempt.engine
    issue = engine.issue_step
    if issue is None:
        return None
    if issue is not _fast.fresh_issue:
        # a wrapper of it (a test's or a benchmark's): every step through it
        return _WrappedCommand
    state = attempt.state
    if state is LIVE:
        # A live attempt's: ``express`` where its engine lets steps be express
        # (a new attempt's common case is written out in ``new_context``)
        chosen: type[InvocationContext] = _fast.fresh_context_of(attempt)
        return chosen
    if state is REPLAYING and replay_command(issue) is not None:
        # An attempt that replays: the replay's own command, which gives
        # this context the fresh command's class when the replay is over
        # (``_fast.replay_command``, ``_fast.fresh_context_of``)
        _fast.replay_start(attempt)
        chosen = _fast.replay_context
        return chosen
    chosen = _fast.fresh_context
    return chosen


def new_context(attempt: Attempt, spec: HandlerSpec) -> InvocationContext:
    """``InvocationContext(attempt, spec)``, the engine's ``make_context``:
    made as an object of the class its ``__init__`` would give it, not given
    that class after (writing ``__class__`` compares the two classes'
    layouts), with no ``__init__`` call."""
    engine: Any = attempt.engine
    if (attempt.state is LIVE and engine.issue_step is _fast.fresh_issue
            and engine.step_lane is not None and (steps := engine.steps).express
            and steps.in_place):
        # (``_class_for``'s common case, a new attempt's, written out: a call less)
        ctx: InvocationContext = _new_object(_fast.express_context)
    else:
        chosen = _class_for(attempt)
        ctx = _new_object(InvocationContext if chosen is None else chosen)
    ctx._attempt = attempt
    ctx._spec = spec
    ctx._set_values = None
    return ctx


# The serdes of plain functions' steps, by function, with the return annotation
# they were made from: valid while the function keeps it (get_type_hints costs
# microseconds, and a handler asks again for every step it issues). Bounded, as
# closures made anew by every invocation would otherwise fill it.
_SERDES: dict[Any, tuple[Any, Serde[Any]]] = {}
_SERDES_MAX: Final = 4096
_NO_HINT = object()


def _general_run_typed(attempt: Attempt, name: str, action: Callable[..., Any],
                       options: RunOptions[Any] | None, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> DurableFuture[Any]:
    """``run_typed``'s general way, for the fused step command (which has the
    attempt, not its context) to hand what it does not take to."""
    ctx = InvocationContext.__new__(InvocationContext)
    ctx._attempt = attempt
    ctx._set_values = None
    return ctx._run_typed(name, action, options, args, kwargs)


def _plain_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a step's call may be taken at once in strict mode (``_replayed_at_once``,
    ``_strict_fresh``): no step's closure runs (a step in a step is a misuse,
    refused the general way) and every argument is a plain value (the general way's
    ``_refuse_futures`` names a future)."""
    holding = _running_step()  # (``current_step.get()`` is None, without its call)
    if holding is not None and (type(holding) is StepInfo or holding.step is not None):
        return False
    if args:
        for value in args:
            if not isinstance(value, NOT_AWAITABLE):
                return False
    if kwargs:
        for key in kwargs:
            if not isinstance(kwargs[key], NOT_AWAITABLE):
                return False
    return True


def _replayed_at_once(attempt: Attempt, name: Any, action: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any], caller: FrameType) -> Any:
    """Strict mode (no fused step command there): a step ``run_typed`` replays
    with its value, whose call the handler awaits at once (``_fast.awaited_at``),
    taken where ``_run_typed`` has the profile hook paused: its command at the
    cursor and its value right after it, matched, seen and decoded as
    ``Attempt.issue`` and its future's ``__await__`` would (``Attempt.replayed_next``),
    the step marked awaited, and handed back as ``(value,)``, or None
    (nothing written) for anything else, which goes the general way: a misuse,
    a name or action it would refuse, an argument that is not a plain value
    (``_refuse_futures`` names a future), a journal that holds another entry
    there, a failure, a cancellation, a call not awaited at once. ``caller``:
    the frame of ``_run_typed``'s caller. The general way's future and its
    ``__await__`` pause the hook again, and their frames and calls are profile
    events (a strict replayed step: BENCHMARKS.md, "A crash run's replay in
    strict mode, thirty-second pass")."""
    if not attempt.alive or type(name) is not str or not callable(action) or (
            caller.f_code is not _RUN_TYPED_CODE):
        return None  # (``caller``: ``Context.run_typed``, or another of ``_run_typed``'s)
    if not _plain_call(args, kwargs):
        return None
    if attempt.cancel_pending:
        return None
    site = _strict_site(caller, action, kwargs)  # (None: not awaited at once)
    if site is None:
        return None
    serde = site[2]
    journal = attempt.journal
    index = attempt.cursor
    try:
        recorded = journal[index]
        after = journal[index + 1]
    except IndexError:
        return None
    completion = after[RESULT]
    if (recorded[KIND] != RUN or recorded[NAME] != name or recorded[RESULT] is not None
            or after[KIND] != COMPLETION or after[TARGET] != index
            or completion is None or isinstance(completion, Failure)):
        return None  # (``same_command`` of a run: its kind and name)
    try:
        value = serde.deserialize(completion[0])
    except Exception:  # noqa: BLE001 - its await says so, as before
        return None
    # ``Attempt.issue``'s writes (the cursor past the command, the completion
    # next), then those of the await's ``replayed_next``
    attempt.completed_next = index
    attempt.see(index, completion)
    at = index + 2
    attempt.cursor = at
    if at >= len(journal):
        attempt.state = LIVE
        attempt.plain = (attempt.alive and not attempt.cancel_pending
                         and attempt.failure is None)
    attempt.awaited.add(index)
    return (value,)


# Strict mode's awaitable of a step's value where the profile hook is back on
# before the ``await`` (``run_typed``'s general way, ``_awaited_now``): a
# finished future of asyncio's own (C) type, whose ``await`` hands the value
# back in C, with no frame of its own, so that the hook sees no event of it
# (``_fast.ready``'s generator is two: its start and its return). It needs a
# loop only for ``get_debug()``, here a C function too; a result set with no
# callbacks schedules nothing, and a future never awaited warns nothing.
# (``_fast.ready`` where asyncio has no C future.)
_NO_LOOP: Final = types.SimpleNamespace(get_debug=bool)
_Future: Final[Any] = asyncio.Future


@types.coroutine
def _rearming(value: Any, guard: Any) -> Generator[Any, Any, Any]:
    """The awaitable of a step's value that ``Context.run_typed`` hands back
    with the profile hook still off, to an ``await`` right after the call
    (``_at_once``: nothing of the handler's runs between): it puts the hook
    back on as it starts, as ``run_typed`` would have on its way out, so that
    the hook sees only its return (two events a step in all, with the call of
    ``run_typed``). Cheaper than ``_finished``'s future, with no more events."""
    guard.active = True
    setprofile(guard.hook)
    return value
    yield  # (a generator function: ``types.coroutine`` makes its generators awaitable)


@types.coroutine
def _waiting(future: DurableFuture[Any], parked: bool, guard: Any) -> Generator[Any, Any, Any]:
    """Strict mode's ``after_in_place``: the rest of the await of a step taken
    at once that did not hand back its value (it waits as a task, or for its
    resume task, or failed). The profile hook takes itself off at its start and
    at each resume (``_strict._PAUSE``: ``guard.paused`` then); it puts the hook
    back on before each ``yield`` and before the step's value is read back, or
    its failure raised. Started, resumed or thrown into while the hook is off
    (a teardown's ``close()``), it leaves the hook as it is."""
    watched = guard.paused
    guard.paused = False
    attempt, index = future._attempt, future._index
    try:
        if parked:
            if watched:
                watched = False
                guard.active = True
                setprofile(guard.hook)
            try:
                yield PARKED
            finally:  # (a resume, or a throw, with the hook on: paused at it)
                watched = guard.paused
                guard.paused = False
        while index not in attempt.done and not attempt.replayed_next(index):
            wait = Wait((index,))
            if watched:
                watched = False
                guard.active = True
                setprofile(guard.hook)
            try:
                yield wait
            finally:
                watched = guard.paused
                guard.paused = False
        completion = attempt.done[index]
        failure = terminal_of(completion) if isinstance(completion, Failure) else None
    finally:
        if watched:
            guard.active = True
            setprofile(guard.hook)
    if failure is not None:
        raise failure
    return future._decode(completion[0])  # type: ignore[arg-type]  # (watched, as in ``_result``)


def _finished(value: Any) -> Any:
    future = _Future(loop=_NO_LOOP)
    future.set_result(value)
    return future


if _Future.__module__ != "_asyncio":
    _finished = _fast.ready


def _at_once(caller: FrameType) -> bool:
    """Whether ``caller``, the frame of ``_run_typed``'s caller, is
    ``Context.run_typed``'s, called by code that awaits the call at once
    (``_fast.awaited_at``: nothing of the handler's runs between the call and
    its ``await``)."""
    if caller.f_code is not _RUN_TYPED_CODE:
        return False
    handler = caller.f_back  # (its caller: the handler's code, or a helper's)
    if handler is None:
        return False
    # (``_fast.awaited_at``'s answer, kept by the call's offset: its own cache's
    # key is (code, offset), and a code object's hash is made anew at each ask)
    at = handler.f_lasti
    code = handler.f_code
    site = _AT_ONCE.get(at)
    if site is None or site[0] is not code:
        if len(_AT_ONCE) >= _fast.SITES:
            _AT_ONCE.clear()
        site = _AT_ONCE[at] = (code, _fast.awaited_at(code, at))
    return site[1]


def _strict_site(caller: FrameType, action: Any, kwargs: dict[str, Any]
                 ) -> tuple[types.CodeType, Any, Serde[Any], Any, str | None] | None:
    """The site entry of a step whose call, made from ``Context.run_typed``'s frame
    ``caller``, its caller awaits at once (``_at_once``), else None: read from
    ``_STRICT_SITES`` (the caller's code and the action checked by identity,
    the callers in line) or worked out and kept there. The action is kept only
    where it holds nothing of a run (a module's function: no closure cells, no
    defaults), as ``_fast.site_of`` keeps it; a closure's serde is asked anew
    (``_step_serde``, whose cache is by closure)."""
    handler = caller.f_back
    if handler is None:
        return None
    at = handler.f_lasti
    code = handler.f_code
    site = _STRICT_SITES.get(at)
    if site is not None and site[0] is code:
        if site[1] is action:
            return site
    elif not _at_once(caller):
        return None
    serde = _step_serde(action)
    kept = action if (type(action) is types.FunctionType and action.__closure__ is None
                      and action.__defaults__ is None
                      and action.__kwdefaults__ is None) else None
    keyword = next(iter(kwargs)) if len(kwargs) == 1 else None
    run = None if keyword is None else _fast.keyword_run(keyword)
    if len(_STRICT_SITES) >= _fast.SITES:
        _STRICT_SITES.clear()
    site = _STRICT_SITES[at] = (code, kept, serde, run, None if run is None else keyword)
    return site


def _awaited_now(attempt: Attempt, index: int, serde: Serde[Any]) -> Any:
    """Strict mode: a fresh step just registered, whose call the handler awaits
    at once (``_at_once``), awaited here, where ``_run_typed`` has the profile
    hook paused: what its future's ``__await__`` would do first (the step marked
    awaited, run in place or queued, its completion seen), with no generator of
    its own and no second pause of the hook. Its value comes back as
    ``_finished(value)``; anything else as the rest of that ``__await__``
    (``_waiting``: a failure raised, a wait for a step queued or for the
    handler's resume), or, for an attempt over, the future itself, whose
    ``__await__`` says so. Between the call's return and its ``await`` the hook
    would see only simdurable's own frames (the return of ``run_typed``, the
    start of ``__await__``), none of them a read it reports."""
    future: DurableFuture[Any] = DurableFuture(attempt, index, serde.deserialize)
    if not attempt.alive:
        return future
    attempt.awaited.add(index)
    if index not in attempt.done and attempt.cursor < len(attempt.journal):
        attempt.replayed_next(index)  # the notifications before it, in journal order
    handed = NOT_RUN
    if index not in attempt.done:
        handed = attempt.engine.run_lone_step(attempt, index)
        if handed != RAN_PARKED:
            attempt.replayed_next(index)
    if handed != RAN_PARKED and index in attempt.done:
        completion = attempt.done[index]
        if not isinstance(completion, Failure):
            return _finished(serde.deserialize(completion[0]))
    return _waiting(future, handed == RAN_PARKED, attempt.engine.segment_guard)


def _strict_fresh(attempt: Attempt, guard: Any, name: Any, action: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any], caller: FrameType) -> Any:
    """Strict mode: a fresh step whose call the handler awaits at once, taken
    in ``Context.run_typed`` with the profile hook paused, in one call: the
    writes of ``_run_typed``, its future's ``__await__`` and
    ``Engine.run_lone_step`` (``_fast.lone_step``) for a step run in place, in
    the same order (its command stored, as ``Commands.store_command`` stores a
    step's; it run in a copy of the handler's context; its value stored and
    seen), and its value handed back as ``(value,)``. None, with
    nothing written, for anything else, which goes the general way: a misuse,
    a name or action it would refuse, an argument that is not a plain value,
    a call not awaited at once, a fault that may fire at the step, other work
    ready, another step not started yet, a value pinned (``Engine.value_pins``).
    ``caller``: the frame of ``Context.run_typed``, whose caller awaits it.

    Its checks are strict mode's where they may find something: the value is
    checked for loss (``LossCheck``, made only for a value that does not come
    back as it is, ``lossy.as_is``); the step is marked awaited. Its closure
    is not watched for late binding: it runs before anything of the handler's
    can (awaited at once, run in place), and nothing else is watched, so that
    no look is due before or after it either (taken only while the
    simulation's ``Watching`` has no entry). No registration, future or
    ``LossCheck`` is made for its value (a failure, or a value not stored at
    once, has them made then, for ``finish_step``)."""
    if type(name) is not str or not callable(action):
        return None
    # (``_plain_call``, in line)
    holding = _running_step()
    if holding is not None and (type(holding) is StepInfo or holding.step is not None):
        return None
    if args:
        for value in args:
            if not isinstance(value, NOT_AWAITABLE):
                return None
    if kwargs:
        for key in kwargs:
            if not isinstance(kwargs[key], NOT_AWAITABLE):
                return None
    engine: Any = attempt.engine
    watching = guard.late
    if engine.value_pins is not None or (watching is not None and watching.entries):
        return None
    steps = engine.steps
    scheduler = engine.scheduler
    injector = engine.injector
    journal = attempt.journal
    index = len(journal)
    if (scheduler.ready or not steps.in_place or attempt.issued is not None
            or attempt._unscheduled or attempt.cursor != index
            or index >= scheduler.max_journal or scheduler.tasks_run >= scheduler.max_tasks
            or attempt.done_bits >> index & 1
            or (injector.armed and not injector.spares(name))):
        return None
    # Awaited at once, and its serde: its call site's (``_STRICT_SITES``), in line
    # for a kept action called again there, else ``_strict_site``
    handler = caller.f_back
    site = None if handler is None else _STRICT_SITES.get(handler.f_lasti)
    if site is None or site[1] is not action or site[0] is not handler.f_code:  # type: ignore[union-attr]
        site = _strict_site(caller, action, kwargs)
        if site is None:
            return None
    serde = site[2]
    # (the site's one keyword alone: its value passed to that keyword's closure
    # caller, ``_fast.keyword_run``, not the dict unpacked again)
    run = site[3]
    if run is not None:
        if len(kwargs) == 1 and not args:
            try:
                one = kwargs[site[4]]  # type: ignore[index]
            except KeyError:
                run = None
        else:
            run = None
    parts = guard.step_parts
    if parts is None or parts[0] is not steps:
        parts = guard.step_parts = (steps, *_fast.step_parts(steps))
    (_, finish, running, _, _, trace, log_run, _, invocations, store_append, journals,
     set_step, reset_step) = parts
    # ``Commands.store_command`` for a step's command, no fault armed at it
    inv_id = attempt.inv_id
    now = scheduler.now_ms
    entry = (RUN, name, None, None, -1, now, -1, "")
    stored_journal = None if journals is None else journals.get(inv_id)
    if stored_journal is not None:  # (``MemoryStore.append`` without its call)
        stored_journal.append(entry)
        stored = len(stored_journal) - 1
    else:
        stored = engine.store.append(inv_id, entry)
    if stored != index:
        raise InternalError(
            f"journal of {inv_id} out of step: stored at #{stored}, attempt expected #{index}")
    if attempt.own_journal:
        journal.append(entry)
    attempt.cursor = index + 1
    if trace.sink is not None:
        trace.event((now, "entry", inv_id, "command", index, RUN, name, None))
    attempt.awaited.add(index)  # (its future's ``__await__``)
    # ``_fast.lone_step``'s run
    wait = _fast.new_tuple(Wait, ((index,), False))
    attempt.waiting = wait
    scheduler.tasks_run += 1
    number = attempt.number
    running.in_place = attempt
    try:
        info = _fast.new_tuple(StepInfo, (inv_id, attempt.handler, name, index, number, engine))
        token = set_step(info)
        running.step_holder = None
        try:
            # (``_fast.closure_in_step``'s work, with no frame of ours between)
            context = attempt.context.copy()
            context.run(_set_current_step, info)
            if run is not None:
                result = context.run(run, action, one, steps, name)
            else:
                result = context.run(_fast.closure_value, action, args, kwargs, steps, name)
            outcome: tuple[str, Any] = ("ok", result)
        except TerminalError as err:
            outcome = ("terminal", err)
        except Exception as err:  # noqa: BLE001 - step failures are data
            outcome = ("error", err)
        finally:
            reset_step(token)
        if log_run is None:  # (the run with its "step" event)
            trace.event((scheduler.now_ms, "step", inv_id, RAN_STEP, name, index, number,
                         attempt.handler))
        else:
            log_run((inv_id, index, name, number, attempt.handler))
            if trace.sink is not None:
                trace.event((scheduler.now_ms, "step", inv_id, "step", name, index))
        stored_now = False
        inv_rec = invocations.by_id.get(inv_id)
        if (
            outcome[0] == "ok"
            and attempt.alive
            and attempt.failure is None
            and attempt.waiting is wait
            and running.attempts.get(inv_id) is attempt
            and (not injector.armed or injector.spares(name))
            and inv_rec is not None
            and inv_rec.status == PENDING
            and inv_rec.retry_index != index
            and not attempt.done_bits >> index & 1
        ):
            try:
                # (a value of ``_fast.AS_IS_TYPES`` through the plain serde, which
                # reads them back as written, ``returns_as_is``: stored and handed
                # back as it is, nothing for the loss check to compare)
                as_written = serde is _PLAIN_SERDE and type(result) in _fast.AS_IS_TYPES
                if not as_written:
                    data = _checked_serialize(serde, result, attempt, name, index)
                elif type(result) is int and 0 <= result < _fast.SMALL_INTS:
                    # (what the plain serde writes for a small int, made once:
                    # ``_fast.INT_DIGITS``, as ``express`` writes it)
                    data = _fast.INT_DIGITS[result]
                else:
                    data = serde.serialize(result)
                stored_now = True
            except (TypeError, ValueError, OverflowError) as err:
                if as_written:  # (the check says so, and raises again)
                    try:
                        _checked_serialize(serde, result, attempt, name, index)
                    except (TypeError, ValueError, OverflowError):
                        pass
                outcome = ("error", _fast.unstorable(attempt, name, index, err))
        if not stored_now:
            # (the registration ``finish_step`` reads, made now: its serde checked)
            spec = Step(name, action, args, kwargs, _loss_check(serde, attempt, name, index))
            finish(attempt, index, spec, outcome)
        else:
            completion = (data,)  # a value as the runtime keeps it (``RawCompletion``)
            done = (COMPLETION, "", None, completion, index, scheduler.now_ms, -1, "")
            if attempt.own_journal:
                if journals is not None:
                    journals[inv_id].append(done)  # its command is there already
                else:
                    store_append(inv_id, done)
            journal.append(done)
            try:
                attempt.done_bits |= _fast.bits_at[index]
            except IndexError:
                attempt.done_bits |= 1 << index
            if not attempt.resume_scheduled:
                attempt.cursor = len(journal)
                completions = attempt.done  # (``Attempt.see``, in line)
                if index not in completions:
                    if completions is NO_DONE:
                        completions = attempt.completed()
                    completions[index] = completion
                    registered = attempt.steps
                    if registered:  # (a step never registered: ``express``'s test)
                        registered.pop(index, None)
                attempt.resume_scheduled = True
                running.resume_at = len(scheduler.ready)
    finally:
        running.in_place = None
    handed = _fast.resume_in_place(running, scheduler, attempt, wait)
    # (its future's ``__await__`` from here; ``Attempt.replayed_next`` in line
    # for a journal read to its end)
    if handed != RAN_PARKED and (index in attempt.done if attempt.cursor >= len(journal)
                                 else attempt.replayed_next(index)):
        seen = attempt.done[index]
        if not isinstance(seen, Failure):
            if stored_now and as_written and seen[0] is data:
                return (result,)  # (what ``serde`` would read back)
            return (serde.deserialize(seen[0]),)
    return _waiting(DurableFuture(attempt, index, serde.deserialize), handed == RAN_PARKED,
                    guard)


def _checked_serialize(serde: Serde[Any], obj: Any, attempt: Attempt, name: str,
                       index: int) -> bytes:
    """``_loss_check(serde, ...).serialize(obj)``, the check made only where it
    may report: not for a value ``serde`` gives back as it is (``lossy.as_is``),
    unless the serde cannot store it (the check then says so, and raises)."""
    if as_is(serde, obj):
        try:
            return serde.serialize(obj)
        except (TypeError, ValueError, OverflowError):
            pass
    return _loss_check(serde, attempt, name, index).serialize(obj)


def _loss_check(serde: Serde[Any], attempt: Attempt, name: str, index: int) -> Serde[Any]:
    engine, inv = attempt.engine, attempt.rec.id

    def report(err: SerializationError) -> None:
        engine.record_misuse(inv, err)

    source = user_source(2)
    if source is not None:
        attempt.started_at[index] = source  # named if the step is never awaited
    return LossCheck(serde, report, attempt.handler, name, index, source)


def _guarded_issue(attempt: Attempt, entry: RawEntry, method: str) -> int:
    attempt.guard(method)
    return attempt.issue(entry, method)


def _pinned_value(action: Callable[..., Any], serde: Serde[Any], data: bytes
                  ) -> Callable[..., Any]:
    """``action``, run for its effects, returning the value ``data`` stores
    (``Engine.value_pins``): a step's value that differs run to run (a clock,
    a uuid4) is an input of its invocation, as a request's is, and the
    invocation run one at a time is given the one it had at once. A value the
    serde cannot read back is left as the closure returned it."""
    def given(result: Any) -> Any:
        try:
            return serde.deserialize(data)
        except Exception:  # noqa: BLE001 - then the closure's own value
            return result

    run: Callable[..., Any]
    if inspect.iscoroutinefunction(action):
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            return given(await action(*args, **kwargs))

        run = run_async
    else:
        def run_plain(*args: Any, **kwargs: Any) -> Any:
            result = action(*args, **kwargs)
            # (a plain function's awaitable: refused as it is, ``_fast.closure_value``)
            return result if inspect.isawaitable(result) else given(result)

        run = run_plain
    wrapper: Any = run
    wrapper.__wrapped__ = action
    wrapper._simdurable_action = action  # (see _fast.closure_value)
    return run


def _late_check(action: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                attempt: Attempt, name: str, index: int) -> Callable[..., Any]:
    engine, inv = attempt.engine, attempt.rec.id
    guard = engine.segment_guard
    watching: Watching | None = guard.late
    if watching is None:
        watching = guard.late = Watching()
    plain = watching.plain_step(action, args, kwargs)
    if plain is not None:
        return plain

    def report(err: HandlerError) -> None:
        engine.record_misuse(inv, err)

    return late_binding_check(action, args, kwargs, report, attempt.handler, name, index,
                              attempt.started_at.get(index), watching, attempt)


def _step_serde(action: Callable[..., Any]) -> Serde[Any]:
    """The serde of a step without ``RunOptions``: JSON, typed by the return hint."""
    if type(action) is not types.FunctionType:
        hint = _resolve_return_hint(action)
        return _PLAIN_SERDE if hint is None else DefaultSerde(hint)
    raw = action.__annotations__.get("return", _NO_HINT)
    if raw is _NO_HINT:
        return _PLAIN_SERDE  # the common case, without the cost of get_type_hints
    cached = _SERDES.get(action)
    if cached is not None and cached[0] is raw:
        return cached[1]
    hint = _resolve_return_hint(action)
    serde = _PLAIN_SERDE if hint is None else DefaultSerde(hint)
    if len(_SERDES) >= _SERDES_MAX:
        _SERDES.clear()
    _SERDES[action] = (raw, serde)
    return serde


def _return_hint(action: Callable[..., Any]) -> Any:
    serde = _step_serde(action)
    return serde.type_hint if isinstance(serde, DefaultSerde) else None


def _resolve_return_hint(action: Callable[..., Any]) -> Any:
    try:
        hint = typing.get_type_hints(action).get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations mean no hint
        return None
    if hint is type(None):
        return None
    if inspect.isclass(hint) and hint in (str, int, float, bool, dict, list):
        return None
    return hint


__all__ = [
    "Context",
    "ObjectContext",
    "ObjectSharedContext",
    "WorkflowContext",
    "WorkflowSharedContext",
    "InvocationContext",
    "DurablePromise",
    "KeyValueStore",
    "ScopedContext",
    "AttemptFinishedEvent",
    "Request",
    "TerminalError",
]


def not_a_step_action(name: str, action: object, hint: str = "") -> str:
    """Why ``action`` cannot be step ``name``'s, with ``hint`` after it unless
    it is a coroutine. A coroutine is what calling an async function returned
    (``ctx.run_typed("receipt", send(order))``): it is closed here, since
    nothing can await it any more, so that Python does not warn of it later,
    at whatever line the garbage collector runs; its text says what to write."""
    if inspect.iscoroutine(action):
        action.close()
        return (f"needs a callable for step {name!r}, got a coroutine, what calling "
                f"{action.__qualname__}() returned: pass the async function and its "
                f"arguments (ctx.run_typed({name!r}, {action.__name__}, ...))")
    return f"needs a callable for step {name!r}, got {type(action).__name__}{hint}"


def _refuse_futures(ctx: Any, step: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A future passed into a step is a forgotten ``await``: say what to write."""
    for value in args:  # (the common arguments, at a type check each, nothing made)
        if not isinstance(value, NOT_AWAITABLE):
            break
    else:
        for value in kwargs.values():
            if not isinstance(value, NOT_AWAITABLE):
                break
        else:
            return
    named: list[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
    for where, value in named:
        if isinstance(value, NOT_AWAITABLE):  # the common arguments, at a type check each
            continue
        if isinstance(value, DurableFuture) or inspect.isawaitable(value):
            arg = f"{where}=" if isinstance(where, str) else str(where)
            what = f"argument {arg}"
            kw = arg if arg.endswith("=") else "x="
            # (a plain step's future is a DurableFuture to the user)
            shown = ("DurableFuture" if type(value) in (StepFuture, ReplayedStepFuture,
                                                        ReplayedPlainStepFuture)
                     else type(value).__name__)
            raise ctx._refuse(
                "run_typed",
                f'got a {shown} as {what} of step "{step}": an `await` is '
                f"missing where that value was made.\n"
                f'  x = ctx.get("x")          ; await ctx.run_typed("{step}", fn, {kw}x)'
                f"   # incorrect!\n"
                f'  x = await ctx.get("x")    ; await ctx.run_typed("{step}", fn, {kw}x)'
                f"   # correct!",
            )


# A plain step's future and serde, for the runtime's fused ``run_typed`` (``_fast.step_command``).
plain_steps(StepFuture, DurableFuture, ReplayedStepFuture, ReplayedPlainStepFuture, _step_serde,
            _SERDES, _NO_HINT, _general_run_typed, after_in_place, _context_class)
