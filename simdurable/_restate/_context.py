"""The context and futures that restate-sdk handlers receive here.

A restate-sdk handler gets a ``SimRestateContext``: an instance of every typed
context class of restate-sdk (``restate.Context``, ``ObjectContext``,
``WorkflowContext``, ...), each operation turned into the same journal command
simdurable's own context issues. Its futures are restate-sdk's
``ServerDurableFuture`` (so restate's ``gather``/``select``/``wait_completed``/
``as_completed`` accept them, however the user imported those) and raise
restate's ``TerminalError`` where the runtime fails them.

restate's combinators rely on three things of a future and its context, read
from restate-sdk's ``restate/asyncio.py``: ``isinstance(f, ServerDurableFuture)``
with ``f.context``, ``f.handle`` and ``f.is_completed()``; an awaitable
``context.create_poll_or_cancel_coroutine(unresolved)`` taking restate's
``AllCompletedUnresolvedFuture``/``FirstCompletedUnresolvedFuture`` of
``SingleUnresolvedFuture(handle)``; and ``context.vm.is_completed(handle)``.
Here a handle is the command's journal index.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
import weakref
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

from restate import context as r_context, exceptions as r_exc, serde as r_serde
from restate.handler import handler_from_callable
from restate.server_context import (
    ServerCallDurableFuture,
    ServerDurableFuture,
    ServerDurableSleepFuture,
    restate_context_is_replaying,
)
from restate.types import extract_core_type
from restate.vm import (
    AllCompletedUnresolvedFuture,
    FirstCompletedUnresolvedFuture,
    SingleUnresolvedFuture,
)

from .._api.context import InvocationContext, not_a_step_action
from .._api.futures import DurableCallFuture, DurableFuture, _WaitFor
from .._api.late import PASS_THROUGH
from .._api.lossy import AS_IS_SERDES
from .._api.options import RunOptions as SdRunOptions
from .._api.service import handler_of
from ..runtime._errors import HandlerError, RetryableError, TerminalError
from ..runtime._ids import encode_promise
from ..runtime._invocation import REPLAYING, Wait
from ..runtime._journal import PROMISE_COMPLETE, PROMISE_PEEK, Failure, Value, raw_entry


def to_restate_error(err: TerminalError) -> r_exc.TerminalError:
    return r_exc.TerminalError(err.message, err.status_code, metadata=err.metadata)


# restate-sdk's default argument: "no serde given, choose by the type".
_DEFAULT: Any = r_serde.DefaultSerde()
# restate-sdk's default serde is json.dumps and json.loads for a str, an int, a
# float or a bool typed so or not at all: strict mode's loss check need not
# decode what it wrote of those (tests/restate_sdk/test_strict_hosted_late.py
# checks that it still is).
AS_IS_SERDES.add(r_serde.DefaultSerde)


def _none(_: bytes) -> None:
    return None


class SimFuture(ServerDurableFuture):
    """One journal command's result, as restate-sdk's future of it."""

    def __init__(self, context: SimRestateContext, inner: DurableFuture[Any]) -> None:
        # ServerDurableFuture.__init__ wants a VM coroutine; only its fields matter.
        self.context = context
        self.handle = inner._index
        self._inner = inner
        context.mark_replaying()  # issuing the command may have ended the replay

    def is_completed(self) -> bool:
        # restate's combinators ask this of every future they are given, and
        # may return without waiting: being asked counts as being waited on.
        # (``DurableFuture.done()`` without its call: strict mode's profile
        # hook sees every Python call the handler's path makes.)
        attempt = self._inner._attempt
        handle = self.handle
        awaited = attempt.awaited
        if handle not in awaited:  # (asked again each time restate's loop wakes)
            awaited.add(handle)
        return handle in attempt.done

    def __await__(self) -> Generator[Any, Any, Any]:
        # (a ``TerminalError`` of the runtime leaves as restate's)
        inner = self._inner
        try:
            return (yield from inner.__await__())
        except TerminalError as err:
            raise to_restate_error(err) from None
        finally:  # (``mark_replaying`` without its call)
            restate_context_is_replaying.set(inner._attempt.state is REPLAYING)

    def __repr__(self) -> str:
        return f"<restate future #{self.handle} {'done' if self._inner.done() else 'pending'}>"


class SimSleepFuture(SimFuture, ServerDurableSleepFuture):
    """``ctx.sleep``."""


class SimCallFuture(SimFuture, ServerCallDurableFuture):
    """A call: its result, and the callee's invocation id at once."""

    async def invocation_id(self) -> str:
        inner = self._inner
        assert isinstance(inner, DurableCallFuture)
        return await inner.invocation_id()

    async def cancel_invocation(self) -> None:
        inner = self._inner
        assert isinstance(inner, DurableCallFuture)
        await inner.cancel_invocation()


class SimSendHandle(r_context.SendHandle):
    """A one-way send."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def invocation_id(self) -> str:
        return typing.cast(str, await self._inner.invocation_id())

    async def cancel_invocation(self) -> None:
        await self._inner.cancel_invocation()


class _VM:
    """The one question restate's combinators ask the VM: is this handle done?"""

    def __init__(self, ctx: InvocationContext) -> None:
        self._ctx = ctx

    def is_completed(self, handle: int) -> bool:
        attempt = self._ctx._attempt
        awaited = attempt.awaited
        if handle not in awaited:
            awaited.add(handle)
        return handle in attempt.done


class _AttemptFinished(r_context.AttemptFinishedEvent):
    """``request().attempt_finished_event``: set once the attempt has ended."""

    def __init__(self, ctx: InvocationContext) -> None:
        self._ctx = ctx

    def is_set(self) -> bool:
        return not self._ctx._attempt.alive

    async def wait(self) -> None:
        raise HandlerError(
            "request().attempt_finished_event.wait() needs a background task, which a "
            "handler here cannot start; check is_set() instead",
            handler=self._ctx._attempt.handler,
        )


def _leaves(unresolved: Any) -> tuple[tuple[int, ...], bool]:
    """The handles of restate's unresolved future, and whether all must complete."""
    if isinstance(unresolved, SingleUnresolvedFuture):
        return (unresolved.handle,), True
    if isinstance(unresolved, (AllCompletedUnresolvedFuture, FirstCompletedUnresolvedFuture)):
        handles = []
        for child in unresolved.children:
            if not isinstance(child, SingleUnresolvedFuture):
                raise HandlerError("nested restate combinators are not supported here")
            handles.append(child.handle)
        return tuple(handles), isinstance(unresolved, AllCompletedUnresolvedFuture)
    raise HandlerError(f"unknown restate future combination {type(unresolved).__name__}")


def _typed(serde: Any, type_hint: Any) -> Any:
    """restate's rule: a ``DefaultSerde`` takes the type hint, any other serde is used as is."""
    if isinstance(serde, r_serde.DefaultSerde):
        return serde.with_maybe_type(type_hint)
    return serde


def _translate(err: Exception) -> Exception:
    """restate's step error as the runtime's."""
    if isinstance(err, r_exc.TerminalError):
        return TerminalError(err.message, err.status_code, err.metadata)
    if isinstance(err, r_exc.RetryableError):
        return RetryableError(err.message, err.status_code, err.retry_after)
    return err


def _step(action: Callable[[], Any], given: Any = None) -> Callable[[], Any]:
    """``action`` with restate's step errors turned into the runtime's. (``given``:
    the function of which ``action`` is a ``functools.partial`` just made, asked
    instead whether it is async: the same answer, without unwrapping the partial.)"""
    if inspect.iscoroutinefunction(action if given is None else given):
        async def run_async() -> Any:
            try:
                return await action()
            except (r_exc.TerminalError, r_exc.RetryableError) as err:
                raise _translate(err) from err

        return _wraps(run_async, action, given is not None)

    def run() -> Any:
        try:
            return action()
        except (r_exc.TerminalError, r_exc.RetryableError) as err:
            raise _translate(err) from err

    return _wraps(run, action, given is not None)


def _wraps(fn: Callable[[], Any], action: Any, fresh_partial: bool) -> Callable[[], Any]:
    """``functools.wraps(action)(fn)``; for a ``functools.partial`` just made
    (nothing set on it), what that copies set directly: its class's module and
    docstring (it has no name, qualified name or annotations) and itself."""
    if not fresh_partial:
        return functools.wraps(action)(fn)
    fn.__module__ = _PARTIAL_MODULE
    fn.__doc__ = _PARTIAL_DOC
    fn.__wrapped__ = action  # type: ignore[attr-defined]
    return fn


# (strict mode's late-binding check: what ``_step`` makes reads nothing but the
# action it wraps, its ``__wrapped__``)
PASS_THROUGH.update(id(c) for c in _step.__code__.co_consts if isinstance(c, types.CodeType))


_PARTIAL_MODULE = functools.partial.__module__
_PARTIAL_DOC = functools.partial.__doc__


# restate's ``RunOptions()``: a step's options when none are given.
_PLAIN_RUN: Any = r_context.RunOptions()
# The runtime's options of a step without options, by the step's type hint:
# the same for every such step (a serde keeps only its type), made once
# rather than copied, checked and built at every step.
_PLAIN_STEP_OPTIONS: dict[Any, SdRunOptions[Any]] = {}


def _step_options(options: Any, hint: Any) -> SdRunOptions[Any]:
    """The runtime's options of a step with restate's ``options`` and type ``hint``
    (restate's rule: a ``DefaultSerde`` takes the type, core of an optional)."""
    serde = options.serde
    if isinstance(serde, r_serde.DefaultSerde):
        kind, core = extract_core_type(hint)
        if kind in ("simple", "optional"):
            hint = core
        serde = serde.with_maybe_type(hint)
    return SdRunOptions(
        serde=serde,
        max_attempts=options.max_attempts,
        max_duration=options.max_duration,
        initial_retry_interval=getattr(options, "initial_retry_interval", None),
        max_retry_interval=getattr(options, "max_retry_interval", None),
        retry_interval_factor=getattr(options, "retry_interval_factor", None),
    )


def _check_delay(ctx: SimRestateContext, method: str, send_delay: Any) -> None:
    """A send's delay is a ``timedelta``: restate-sdk reads its ``total_seconds()``,
    and a number fails there on every retry (as ``ctx.sleep`` refuses one)."""
    if send_delay is not None and not isinstance(send_delay, timedelta):
        raise ctx._sd._refuse(method, f"takes send_delay as a datetime.timedelta, not "
                                      f"{type(send_delay).__name__}: restate-sdk fails on it "
                                      f"on every retry")


class SimDurablePromise(r_context.DurablePromise):
    """A workflow's promise; ``resolve``/``reject`` act when called, as in restate."""

    def __init__(self, ctx: SimRestateContext, name: str, serde: Any) -> None:
        super().__init__(name=name, serde=r_serde.DefaultSerde() if serde is None else serde)
        self._ctx = ctx

    def _issue(self, kind: str, data: bytes | None, method: str, decode: Callable[[bytes], Any]) -> Any:
        sd = self._ctx._sd
        sd._attempt.guard(method)
        index = sd._issue(raw_entry(kind, self.name, data=data), method)
        return SimFuture(self._ctx, DurableFuture(sd._attempt, index, decode))

    def value(self) -> Any:
        sd = self._ctx._sd
        return self._ctx._wrap(sd.promise(self.name, serde=self.serde).value())

    def resolve(self, value: Any) -> Any:
        data = encode_promise(Value(self.serde.serialize(value)))
        return self._issue(PROMISE_COMPLETE, data, "promise().resolve", _none)

    def reject(self, message: str, code: int = 500) -> Any:
        data = encode_promise(Failure(code, message))
        return self._issue(PROMISE_COMPLETE, data, "promise().reject", _none)

    def peek(self) -> Any:
        self._ctx._sd.promise(self.name)  # refuses outside workflows, as value() does
        return self._issue(PROMISE_PEEK, None, "promise().peek", self.serde.deserialize)

    def __await__(self) -> Generator[Any, Any, Any]:
        return typing.cast(Generator[Any, Any, Any], self.value().__await__())


def _unwatched(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with strict mode's profile hook off while it runs, back on
    before it returns or raises. Only for methods whose work is simdurable's and
    restate-sdk's bookkeeping, where no code of the user's runs (no serde, no
    step function, no type hint evaluated): the hook watches the handler's code,
    and in a check of a workflow that waits in a loop nine calls in ten it saw
    were the engine's own (BENCHMARKS.md, twenty-second pass). A method that
    also runs user code keeps that part watched (``resolve``, ``run_typed``)."""

    def unwatched(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._guard.unwatched(method, self, *args, **kwargs)

    return functools.wraps(method)(unwatched)


class _StrictDurablePromise(SimDurablePromise):
    """A promise in strict mode (``_unwatched``)."""

    def __init__(self, ctx: SimRestateContext, name: str, serde: Any) -> None:
        super().__init__(ctx, name, serde)
        self._guard = ctx._guard

    value = _unwatched(SimDurablePromise.value)
    reject = _unwatched(SimDurablePromise.reject)
    peek = _unwatched(SimDurablePromise.peek)
    _issue = _unwatched(SimDurablePromise._issue)  # (resolve's serde stays watched)


class SimScopedContext(r_context.ScopedContext):
    """``ctx.scope(name)``: calls as from the context. Scopes and limit keys group
    invocations for a server's concurrency limits; here nothing limits them."""

    def __init__(self, ctx: SimRestateContext) -> None:
        self._ctx = ctx

    def service_call(self, tpe: Any, arg: Any, limit_key: str | None = None,
                     idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:
        return self._ctx.service_call(tpe, arg, idempotency_key, headers)

    def service_send(self, tpe: Any, arg: Any, send_delay: timedelta | None = None,
                     limit_key: str | None = None, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:
        return self._ctx.service_send(tpe, arg, send_delay, idempotency_key, headers)

    def object_call(self, tpe: Any, key: str, arg: Any, limit_key: str | None = None,
                    idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> Any:
        return self._ctx.object_call(tpe, key, arg, idempotency_key, headers)

    def object_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                    limit_key: str | None = None, idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> Any:
        return self._ctx.object_send(tpe, key, arg, send_delay, idempotency_key, headers)

    workflow_call = object_call
    workflow_send = object_send


class SimRestateContext(r_context.WorkflowContext, r_context.WorkflowSharedContext):
    """Every restate-sdk context type at once; simdurable's context checks at run
    time what the handler's kind allows (as for its own handlers)."""

    def __init__(self, sd: InvocationContext) -> None:
        self._sd = sd
        self.vm = _VM(sd)
        self.extension_data: dict[str, Any] = {}
        # strict mode's guard (None outside it); see ``_StrictRestateContext``
        self._guard = sd._attempt.engine.segment_guard

    def __repr__(self) -> str:
        return f"<restate context of {self._sd._attempt.handler} ({self._sd._attempt.rec.id})>"

    # -- plumbing -----------------------------------------------------------
    def _wrap(self, inner: DurableFuture[Any]) -> SimFuture:
        return SimFuture(self, inner)

    def create_poll_or_cancel_coroutine(self, unresolved: Any) -> Any:
        """Wait as restate's combinators ask (see the module docstring): an
        awaitable, not a coroutine (one frame fewer to resume at each wake;
        restate-sdk awaits it at once)."""
        handles, all_ = _leaves(unresolved)
        attempt = self._sd._attempt
        attempt.awaited.update(handles)
        return _Polling(self, _WaitFor(attempt, Wait(handles, all=all_)))

    def mark_replaying(self, replaying: bool | None = None) -> None:
        """Tell restate-sdk's logging filter (``restate.getLogger()``) whether the
        handler is replaying its journal: it drops log records while it is."""
        if replaying is None:
            replaying = self._sd._attempt.state is REPLAYING
        restate_context_is_replaying.set(replaying)

    # -- identity and determinism ---------------------------------------------
    def request(self) -> Any:
        req = self._sd.request()
        fields = {f for f in getattr(r_context.Request, "__dataclass_fields__", {})}
        values = dict(id=req.id, headers=req.headers, attempt_headers=req.attempt_headers,
                      body=req.body, attempt_finished_event=_AttemptFinished(self._sd),
                      idempotency_key=req.idempotency_key)
        return r_context.Request(**{k: v for k, v in values.items() if k in fields})

    def key(self) -> str:
        return self._sd.key()

    def random(self) -> Any:
        return self._sd.random()

    def uuid(self) -> Any:
        return self._sd.uuid()

    def time(self) -> Any:
        return self._wrap(self._sd.time())

    # -- steps ----------------------------------------------------------------
    def _refuse_action(self, method: str, name: str, action: Any) -> HandlerError:
        """A step's action that is not a function: most often what calling it
        returned (``ctx.run_typed("charge", charge(key))``), the call made
        outside the step. restate-sdk fails in ``inspect.signature``, and each
        retry fails the same way; simdurable pauses at once, as for its own
        ``run_typed``."""
        return self._sd._refuse(method, not_a_step_action(
            name, action, f": pass the function and its arguments (ctx.run_typed({name!r}, fn, "
                          "x=...)), not what calling it returned"))

    def run_typed(self, name: str, action: Callable[..., Any],
                  options: Any = None, /, *args: Any, **kwargs: Any) -> Any:
        if not callable(action):
            raise self._refuse_action("run_typed", name, action)
        options = _PLAIN_RUN if options is None else options
        hint = None
        if isinstance(options.serde, r_serde.DefaultSerde):
            hint = options.type_hint
            if hint is None:
                # (evaluates the step function's annotations: code of the
                # user's, watched in strict mode, where the rest is not)
                hint = _return_hint(action)
        return self._run_step(name, action, options, hint, args, kwargs)

    def _run_step(self, name: str, action: Callable[..., Any], options: Any, hint: Any,
                  args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``run_typed`` once the step's type hint is known."""
        func = functools.partial(action, *args, **kwargs)
        if options is _PLAIN_RUN:  # no options given: by the hint, made once
            try:
                sd_options = _PLAIN_STEP_OPTIONS.get(hint)
            except TypeError:  # (an unhashable hint)
                sd_options = None
            if sd_options is None:
                sd_options = _step_options(options, hint)
                try:
                    if len(_PLAIN_STEP_OPTIONS) >= 256:
                        _PLAIN_STEP_OPTIONS.clear()
                    _PLAIN_STEP_OPTIONS[hint] = sd_options
                except TypeError:
                    pass
        else:
            sd_options = _step_options(options, hint)
        return self._wrap(self._sd.run_typed(name, _step(func, action), sd_options))

    def run(self, name: str, action: Callable[..., Any], serde: Any = _DEFAULT,
            max_attempts: int | None = None, max_retry_duration: timedelta | None = None,
            type_hint: Any = None, args: tuple[Any, ...] | None = None) -> Any:
        if not callable(action):
            raise self._refuse_action("run", name, action)
        if isinstance(serde, r_serde.DefaultSerde):
            if type_hint is None:
                type_hint = _return_hint(action)
            serde = serde.with_maybe_type(type_hint)
        func = functools.partial(action, *args) if args is not None else action
        sd_options = SdRunOptions(serde=serde, max_attempts=max_attempts,
                                  max_duration=max_retry_duration)
        return self._wrap(self._sd.run_typed(name, _step(func), sd_options))

    def sleep(self, delta: timedelta, name: str | None = None) -> Any:
        return SimSleepFuture(self, self._sd.sleep(delta, name))

    # -- state ----------------------------------------------------------------
    def get(self, name: str, serde: Any = _DEFAULT, type_hint: Any = None,
            entry_name: str | None = None) -> Any:
        return self._wrap(self._sd.get(name, serde=_typed(serde, type_hint)))

    def state_keys(self, entry_name: str | None = None) -> Any:
        return self._wrap(self._sd.state_keys())

    def set(self, name: str, value: Any, serde: Any = _DEFAULT,
            entry_name: str | None = None) -> None:
        self._sd.set(name, value, serde=_typed(serde, type(value)))
        self.mark_replaying()

    def clear(self, name: str, entry_name: str | None = None) -> None:
        self._sd.clear(name)
        self.mark_replaying()

    def clear_all(self, entry_name: str | None = None) -> None:
        self._sd.clear_all()
        self.mark_replaying()

    # -- calls ------------------------------------------------------------------
    def _call(self, method: str, tpe: Any, arg: Any, key: str | None, *, send: bool,
              send_delay: timedelta | None = None, idempotency_key: str | None = None,
              headers: dict[str, str] | None = None) -> Any:
        _check_delay(self, method, send_delay)
        if key is not None and not isinstance(key, str):
            raise self._sd._refuse(method, f"takes the key as a str, not {type(key).__name__} "
                                           f"({key!r}): restate-sdk fails on it on every retry")
        try:
            target = handler_from_callable(tpe)
        except (ValueError, TypeError):
            target = handler_of(tpe)  # a simdurable handler, or its clear error
        service, handler = target.service_tag.name, target.name
        data = self._sd._serialize_arg(target.handler_io.input_serde, arg,
                                       f"{service}/{handler}")
        out = self._sd._do_call(method, service, handler, key, bytes(data),
                                target.handler_io.output_serde, send=send, delay=send_delay,
                                idempotency_key=idempotency_key, headers=headers)
        if send:
            self.mark_replaying()
            return SimSendHandle(out)
        return SimCallFuture(self, out)

    def service_call(self, tpe: Any, arg: Any, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:
        return self._call("service_call", tpe, arg, None, send=False,
                          idempotency_key=idempotency_key, headers=headers)

    def service_send(self, tpe: Any, arg: Any, send_delay: timedelta | None = None,
                     idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:
        return self._call("service_send", tpe, arg, None, send=True, send_delay=send_delay,
                          idempotency_key=idempotency_key, headers=headers)

    def object_call(self, tpe: Any, key: str, arg: Any, idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> Any:
        return self._call("object_call", tpe, arg, key, send=False,
                          idempotency_key=idempotency_key, headers=headers)

    def object_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                    idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> Any:
        return self._call("object_send", tpe, arg, key, send=True, send_delay=send_delay,
                          idempotency_key=idempotency_key, headers=headers)

    workflow_call = object_call
    workflow_send = object_send

    def generic_call(self, service: str, handler: str, arg: bytes, key: str | None = None,
                     idempotency_key: str | None = None, headers: dict[str, str] | None = None,
                     scope: str | None = None, limit_key: str | None = None) -> Any:
        out = self._sd._do_call("generic_call", service, handler, key, bytes(arg),
                                r_serde.BytesSerde(), send=False,
                                idempotency_key=idempotency_key, headers=headers)
        return SimCallFuture(self, out)

    def generic_send(self, service: str, handler: str, arg: bytes, key: str | None = None,
                     send_delay: timedelta | None = None, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None, scope: str | None = None,
                     limit_key: str | None = None) -> Any:
        _check_delay(self, "generic_send", send_delay)
        out = self._sd._do_call("generic_send", service, handler, key, bytes(arg),
                                r_serde.BytesSerde(), send=True, delay=send_delay,
                                idempotency_key=idempotency_key, headers=headers)
        self.mark_replaying()
        return SimSendHandle(out)

    def scope(self, scope: str) -> Any:
        return SimScopedContext(self)

    def cancel_invocation(self, invocation_id: str) -> None:
        if invocation_id is None:
            raise ValueError("invocation_id cannot be None")
        self._sd.cancel_invocation(invocation_id)
        self.mark_replaying()

    def attach_invocation(self, invocation_id: str, serde: Any = _DEFAULT,
                          type_hint: Any = None) -> Any:
        return self._wrap(self._missing("attach_invocation")(
            invocation_id, serde=_typed(serde, type_hint)))

    # -- awakeables, signals and promises ---------------------------------------
    def awakeable(self, serde: Any = _DEFAULT, type_hint: Any = None) -> Any:
        name, inner = self._sd.awakeable(serde=_typed(serde, type_hint))
        return name, self._wrap(inner)

    def resolve_awakeable(self, name: str, value: Any,
                          serde: Any = _DEFAULT) -> None:
        self._sd.resolve_awakeable(name, value, serde=_typed(serde, type(value)))
        self.mark_replaying()

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        self._sd.reject_awakeable(name, failure_message, failure_code)
        self.mark_replaying()

    def signal(self, name: str, serde: Any = _DEFAULT, type_hint: Any = None) -> Any:
        return self._wrap(self._missing("signal")(name, serde=_typed(serde, type_hint)))

    def resolve_signal(self, invocation_id: str, name: str, value: Any,
                       serde: Any = _DEFAULT) -> None:
        self._missing("resolve_signal")(invocation_id, name, value,
                                        serde=_typed(serde, type(value)))
        self.mark_replaying()

    def reject_signal(self, invocation_id: str, name: str, failure_message: str,
                      failure_code: int = 500) -> None:
        self._missing("reject_signal")(invocation_id, name, failure_message, failure_code)
        self.mark_replaying()

    def promise(self, name: str, serde: Any = _DEFAULT,
                type_hint: Any = None) -> Any:
        self._sd.promise(name)  # refuses outside workflows, naming the handler
        made = SimDurablePromise if self._guard is None else _StrictDurablePromise
        return made(self, name, _typed(serde, type_hint))

    def _missing(self, method: str) -> Callable[..., Any]:
        """The runtime's ``method``, or a clear refusal where it has none yet."""
        found = getattr(self._sd, method, None)
        if found is None:
            raise HandlerError(f"ctx.{method}() is not supported by simdurable yet",
                               handler=self._sd._attempt.handler)
        return typing.cast(Callable[..., Any], found)

    # -- extensions ---------------------------------------------------------------
    def get_extension_data(self, key: str) -> Any:
        return self.extension_data.get(key)

    def set_extension_data(self, key: str, value: Any) -> None:
        self.extension_data[key] = value


class _StrictRestateContext(SimRestateContext):
    """The context in strict mode: its bookkeeping not watched (``_unwatched``)."""

    sleep = _unwatched(SimRestateContext.sleep)
    time = _unwatched(SimRestateContext.time)
    key = _unwatched(SimRestateContext.key)
    state_keys = _unwatched(SimRestateContext.state_keys)
    clear = _unwatched(SimRestateContext.clear)
    clear_all = _unwatched(SimRestateContext.clear_all)
    create_poll_or_cancel_coroutine = _unwatched(
        SimRestateContext.create_poll_or_cancel_coroutine)
    _run_step = _unwatched(SimRestateContext._run_step)  # (after the step's type hint)


def restate_context(sd: InvocationContext) -> SimRestateContext:
    """The context a restate-sdk handler gets, strict mode's if it is on."""
    made = SimRestateContext if sd._attempt.engine.segment_guard is None else \
        _StrictRestateContext
    return made(sd)


class _Polling:
    """Awaits ``inner``, raising the runtime's ``TerminalError`` as restate's,
    and tells restate-sdk's logging whether the handler replays once it is done."""

    __slots__ = ("_ctx", "_inner")

    def __init__(self, ctx: SimRestateContext, inner: _WaitFor) -> None:
        self._ctx = ctx
        self._inner = inner

    def __await__(self) -> Generator[Any, Any, Any]:
        try:
            return (yield from self._inner.__await__())
        except TerminalError as err:
            raise to_restate_error(err) from None
        finally:
            self._ctx.mark_replaying()


# Each step function's return annotation, as restate-sdk finds a step's type
# (``inspect.signature(action, eval_str=True)``): worked out once per function,
# not at every step (a tenth of a run of a handler that runs a step in a loop,
# a reminder every 15 s for a day). Weakly keyed: a function that goes (a
# lambda made in the loop) is forgotten with it.
_RETURN_HINTS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _return_hint(action: Callable[..., Any]) -> Any:
    if type(action) is types.FunctionType:
        own = action.__dict__
        if ("return" not in action.__annotations__ and "__wrapped__" not in own
                and "__signature__" not in own):
            # A plain function without a return annotation (every lambda, made
            # anew at each step of a loop): what inspect.signature would answer.
            return inspect.Signature.empty
    try:
        return _RETURN_HINTS[action]
    except (KeyError, TypeError):  # (TypeError: unhashable, or not weakly referable)
        pass
    hint = inspect.signature(action, eval_str=True).return_annotation
    try:
        _RETURN_HINTS[action] = hint
    except TypeError:
        pass  # (a builtin, or unhashable: asked again next time)
    return hint
