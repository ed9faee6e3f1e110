"""restate-sdk services as simdurable services.

Each ``restate.Service``/``VirtualObject``/``Workflow`` becomes the simdurable
service of the same kind and name, whose handlers call the user's function
with a ``SimRestateContext`` and read and write with the restate handler's own
serdes (``handler_io``, pydantic, msgspec, dataclasses, a user's ``Serde``).
restate's ``TerminalError`` and ``RetryableError`` raised by the handler (or
found in its ``__cause__`` chain, as restate-sdk looks for them) become the
runtime's.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import traceback
import typing
import warnings
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import restate
from restate import exceptions as r_exc

from .._api.lossy import state_changed_after_set
from .._api.serde import Serde
from .._api.service import Handler, HandlerIO, Service, TypeHint, VirtualObject, Workflow
from .._codec import endpoint_of_app
from ..runtime._errors import HandlerError, RetryableError, SerializationError, TerminalError
from ..runtime._retry import InvocationRetryPolicy
from ._context import restate_context


class RestateOptionWarning(UserWarning):
    """A restate-sdk handler option that has no counterpart here."""


# Handler options that only steer a Restate server's resources: the run's
# outcome cannot depend on them here, so they are reported once, not refused.
_NOT_MODELLED = {
    "inactivity_timeout": "steps take no virtual time in a simulation, and simdurable serve "
                          "lets a step run as long as it takes",
    "abort_timeout": "steps take no virtual time in a simulation, and simdurable serve "
                     "lets a step run as long as it takes",
}
# Options that cannot change a run's outcome at all: accepted without a word.
#   journal_retention: journals are always kept, for inspection;
#   state_preload / enable_lazy_state: state is always at hand (a speed hint);
#   description / metadata: documentation.


class _IngressSerde(Serde[Any]):
    """A handler's input serde, which also takes plain JSON data from a test or a
    scenario (as the ingress takes a JSON body) for a typed input."""

    def __init__(self, serde: Any) -> None:
        self.serde = serde
        # restate's own JSON serde: its input is judged by the type hint, as ours is
        self.plain_json = isinstance(serde, restate.serde.DefaultSerde)

    def serialize(self, obj: Any) -> bytes:
        try:
            return bytes(self.serde.serialize(obj))
        except (AttributeError, TypeError, ValueError):
            if isinstance(obj, (dict, list, str, int, float, bool)):
                return json.dumps(obj).encode()
            raise

    def deserialize(self, buf: bytes) -> Any:
        return self.serde.deserialize(buf)


def _policy(service: Any, handler: Any) -> InvocationRetryPolicy | None:
    policy = handler.invocation_retry_policy or getattr(service, "invocation_retry_policy", None)
    if policy is None:
        return None
    default = InvocationRetryPolicy()
    return InvocationRetryPolicy(
        initial_interval=policy.initial_interval or default.initial_interval,
        exponentiation_factor=policy.exponentiation_factor or default.exponentiation_factor,
        max_interval=policy.max_interval or default.max_interval,
        max_attempts=policy.max_attempts or default.max_attempts,
        on_max_attempts=policy.on_max_attempts or default.on_max_attempts,
    )


def _cause_chain(err: BaseException) -> Exception | None:
    """The restate error restate-sdk would act on: ``err`` or one of its causes."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, (r_exc.TerminalError, r_exc.RetryableError)):
            return typing.cast(Exception, cause)
        cause = cause.__cause__
    return None


_COMBINATORS = os.path.join(os.path.dirname(os.path.abspath(restate.__file__)), "asyncio.py")
_RESTATE_DIR = os.path.dirname(_COMBINATORS)
_OUR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _combinator_misuse(err: Exception | None, handler: str) -> HandlerError | None:
    """restate's combinators handed something that is not a future of the
    context (a list of futures rather than the futures, a coroutine, an
    asyncio task): restate-sdk ends the invocation for good, with "All futures
    must SDK created futures.". A bug retrying cannot fix, and an ending that
    would hide it as an outcome: it pauses, naming the combinator, what it got
    and the handler's line, as simdurable's own combinators do."""
    if not isinstance(err, r_exc.TerminalError) or not err.message.startswith("All futures must"):
        return None
    called, bad, source = None, None, None
    for frame, line in traceback.walk_tb(err.__traceback__):
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename == _COMBINATORS:
            called = called or frame.f_code.co_name
            bad = frame.f_locals.get("f", bad)
        elif not filename.startswith((_RESTATE_DIR, _OUR_DIR)):
            source = f"{os.path.basename(filename)}:{line}"
    if called is None:
        return None
    what = type(bad).__name__
    fix = (f": pass the futures themselves, restate.{called}(*futures)"
           if isinstance(bad, (list, tuple)) else
           ": only the context's own futures (ctx.run_typed, ctx.sleep, calls, "
           "awakeables, promises) can be combined")
    return HandlerError(
        f"restate.{called}() got a {what}, which is not a future of this context, and "
        f"restate-sdk ends the invocation for good on it (\"{err.message}\"){fix}",
        handler=handler, source=source)


class HostedTerminalError(TerminalError, r_exc.TerminalError):
    """A hosted restate-sdk handler's failure as a test sees it (``result()``):
    both simdurable's and restate's ``TerminalError``, so a test written against
    the app (``from restate.exceptions import TerminalError``) catches it."""


@dataclass(slots=True)
class RestateHandler(Handler):
    """A simdurable ``Handler`` running a restate-sdk handler function."""

    restate_handler: Any = None
    # restate's ``ingress_private`` (the handler's, else its service's): an outside
    # client may not invoke it; ``simdurable serve``'s ingress refuses it as
    # Restate's does. Tests and other handlers invoke it (docs/decisions.md).
    ingress_private: bool = False

    def caller_error(self, err: TerminalError) -> TerminalError:
        return HostedTerminalError(err.message, err.status_code, err.metadata)

    async def _start(self, ctx: Any, data: bytes) -> bytes:
        rh = self.restate_handler
        rctx = restate_context(ctx)
        rctx.mark_replaying()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for manager in rh.context_managers or []:
                    await stack.enter_async_context(manager())
                if rh.arity == 2:
                    try:
                        arg = rh.handler_io.input_serde.deserialize(data)
                    except Exception as err:  # noqa: BLE001 - as restate-sdk: any parse failure
                        raise r_exc.TerminalError(
                            f"Unable to parse an input argument. {err}") from err
                    out = await rh.fn(rctx, arg)
                else:
                    out = await rh.fn(rctx)
            if ctx._set_values:  # (strict mode: a value changed after ctx.set)
                state_changed_after_set(ctx)
            try:
                return bytes(rh.handler_io.output_serde.serialize(out))
            except (AttributeError, TypeError, ValueError) as err:
                raise SerializationError(
                    f"the handler returned a value that cannot be serialized: {err}",
                    handler=f"{self.service_tag.name}/{self.name}",
                ) from None
        except (TerminalError, RetryableError, SerializationError):
            raise
        except Exception as err:
            found = _cause_chain(err)
            misuse = _combinator_misuse(found, f"{self.service_tag.name}/{self.name}")
            try:
                if misuse is not None:
                    raise misuse from None
                if isinstance(found, r_exc.TerminalError):
                    raise TerminalError(found.message, found.status_code, found.metadata) from err
                if isinstance(found, r_exc.RetryableError):
                    # With the user's traceback: a retry-loop report names the line
                    # that raised it, as it does for any other exception.
                    raise RetryableError(found.message, found.status_code, found.retry_after
                                         ).with_traceback(found.__traceback__) from err
                raise
            finally:
                # Errors kept in this frame's variables would make a cycle with
                # the traceback of the error raised through it (as ``except ...
                # as err`` does not), and through ``ctx`` keep the run's whole
                # engine alive until a full collection: a 24-hour workflow's is
                # tens of MB, and a check runs it many times.
                found = misuse = None
        finally:
            rctx.mark_replaying(False)


# Converted once per restate service, so that a service seen twice is one service.
_CONVERTED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_KINDS: dict[str, type[Any]] = {"service": Service, "object": VirtualObject,
                                "workflow": Workflow}


def _retention(value: Any) -> timedelta | None:
    return value if isinstance(value, timedelta) else None


def _warn_unmodelled(service: Any, rh: Any) -> None:
    for option, why in _NOT_MODELLED.items():
        value = getattr(rh, option, None)
        if value is None:
            value = getattr(service, option, None)
        if value not in (None, False):
            warnings.warn(
                f"{service.name}/{rh.name}: restate option {option}={value!r} has no effect "
                f"in simdurable ({why})", RestateOptionWarning, stacklevel=4)
    private = rh.ingress_private if rh.ingress_private is not None else getattr(
        service, "ingress_private", None)
    if private:
        warnings.warn(
            f"{service.name}/{rh.name}: restate option ingress_private=True: simdurable "
            f"serve's HTTP ingress refuses it (400, as Restate's does); a test invokes it "
            f"as other handlers do", RestateOptionWarning, stacklevel=4)


def convert(service: Any) -> Any:
    """The simdurable service that runs restate-sdk ``service``."""
    found = _CONVERTED.get(service)
    if found is not None:
        return found
    if getattr(service, "explicit_recovery", False):
        raise ValueError(f"{service.name}: restate's explicit recovery (a preview feature) is "
                         "not supported by simdurable")
    tag = service.service_tag
    native = _KINDS[tag.kind](tag.name, description=tag.description, metadata=tag.metadata)
    for rh in service.handlers.values():
        if getattr(rh, "explicit_recovery", False):
            raise ValueError(f"{service.name}/{rh.name}: restate's explicit recovery (a "
                             "preview feature) is not supported by simdurable")
        _warn_unmodelled(service, rh)
        io = rh.handler_io
        in_type, out_type = io.input_type, io.output_type
        fn = inspect.unwrap(rh.fn)
        native.handlers[rh.name] = RestateHandler(
            service_tag=native.service_tag,
            handler_io=HandlerIO(
                accept=io.accept, content_type=io.content_type,
                input_serde=_IngressSerde(io.input_serde), output_serde=io.output_serde,
                input_type=TypeHint(getattr(in_type, "annotation", None),
                                    bool(getattr(in_type, "is_void", rh.arity < 2))),
                output_type=TypeHint(getattr(out_type, "annotation", None),
                                     bool(getattr(out_type, "is_void", False))),
            ),
            kind=rh.kind,
            name=rh.name,
            fn=fn,
            arity=rh.arity,
            description=rh.description,
            metadata=rh.metadata,
            invocation_retry_policy=_policy(service, rh),
            idempotency_retention=_retention(rh.idempotency_retention
                                             or getattr(service, "idempotency_retention", None)),
            workflow_retention=_retention(rh.workflow_retention),
            restate_handler=rh,
            ingress_private=bool(rh.ingress_private if rh.ingress_private is not None
                                 else getattr(service, "ingress_private", None)),
        )
    native.restate_service = service  # where it came from, for reports
    _CONVERTED[service] = native
    return native


def services_of_app(app: Any) -> list[Any] | None:
    """The services bound to a ``restate.app(...)`` value, or None if ``app`` is not one."""
    endpoint = endpoint_of_app(app)
    return None if endpoint is None else list(endpoint.services.values())


def is_service(obj: Any) -> bool:
    return isinstance(obj, (restate.Service, restate.VirtualObject, restate.Workflow))
