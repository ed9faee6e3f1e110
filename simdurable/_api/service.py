"""Service definitions: ``Service``, ``VirtualObject`` and ``Workflow``.

They mirror ``restate-sdk``: each keeps its handlers in
``.handlers: dict[str, Handler]``; the decorators return the user's function
unchanged (so it stays callable and can be named in ``ctx.service_call``).
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from inspect import CO_COROUTINE
from types import CodeType, FunctionType
from typing import Any, Final, Literal

from .._restate import native_services
from ..runtime._errors import SerializationError, TerminalError
from ..runtime._registry import DEFAULT_RETENTION_MS, HandlerSpec
from ..runtime._retry import InvocationRetryPolicy, to_ms
from .lossy import state_changed_after_set
from .serde import DefaultSerde, Serde, serde_for_hint

HANDLER_ATTR = "__simdurable_handler__"

ServiceKind = Literal["service", "object", "workflow"]
HandlerKind = Literal["exclusive", "shared", "workflow"] | None


@dataclass(frozen=True, slots=True)
class ServiceTag:
    kind: ServiceKind
    name: str
    description: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(slots=True)
class TypeHint:
    annotation: Any = None
    is_void: bool = False


@dataclass(slots=True)
class HandlerIO:
    accept: str = "application/json"
    content_type: str = "application/json"
    input_serde: Serde[Any] = field(default_factory=DefaultSerde)
    output_serde: Serde[Any] = field(default_factory=DefaultSerde)
    input_type: TypeHint | None = None
    output_type: TypeHint | None = None


@dataclass(slots=True)
class Handler:
    """One handler of a service, as ``restate-sdk`` describes it."""

    service_tag: ServiceTag
    handler_io: HandlerIO
    kind: HandlerKind
    name: str
    fn: Callable[..., Coroutine[Any, Any, Any]]
    arity: int
    description: str | None = None
    metadata: dict[str, str] | None = None
    invocation_retry_policy: InvocationRetryPolicy | None = None
    # How long after it completes a request's idempotency key (or, for a
    # workflow's run, the workflow id, its state and promises) is remembered.
    idempotency_retention: timedelta | None = None
    workflow_retention: timedelta | None = None

    @property
    def target(self) -> str:
        if self.service_tag.kind == "service":
            return f"{self.service_tag.name}/{self.name}"
        return f"{self.service_tag.name}/<key>/{self.name}"

    def caller_error(self, err: TerminalError) -> TerminalError:
        """The error a test gets from this handler's failed invocation."""
        return err

    async def _start(self, ctx: Any, data: bytes) -> bytes:
        """One attempt: read the input, run the function, write the output.

        For the plain serde, a natural number's digits are read, and an ``int``
        written, as it does, without its calls (``DefaultSerde.deserialize``'s
        first case, ``dumps``'s)."""
        io = self.handler_io
        if self.arity >= 2:
            serde = io.input_serde
            arg: Any
            if (type(serde) is DefaultSerde and type(data) is bytes and data.isdigit()
                    and (data >= b"1" or data == b"0")
                    and (serde.type_hint is None or serde.type_hint is int)):
                arg = int(data)  # (``deserialize``'s first case, without its call)
            else:
                try:
                    arg = serde.deserialize(data)
                except Exception as err:  # noqa: BLE001 - any parse failure is the caller's
                    # restate-sdk 1.3's words and code (a 500 TerminalError): a journal
                    # Restate recorded of such an input replays here as the same end
                    raise TerminalError(f"Unable to parse an input argument. {err}") from None
            out = await self.fn(ctx, arg)
        else:
            out = await self.fn(ctx)
        if ctx._set_values:  # (strict mode: a value changed after ctx.set)
            state_changed_after_set(ctx)
        return self._output(out)

    def _output(self, out: Any) -> bytes:
        """The handler's return value ``out`` as its output serde writes it
        (``_start``'s end; ``HandlerSpec.output`` for a function the runtime
        runs without ``_start``)."""
        io = self.handler_io
        if type(out) is int and type(io.output_serde) is DefaultSerde:
            return b"%d" % out
        try:
            return io.output_serde.serialize(out)
        except (TypeError, ValueError) as err:
            raise SerializationError(
                f"the handler returned a value that cannot be serialized: {err}",
                handler=f"{self.service_tag.name}/{self.name}",
            ) from None

    def spec(self, default_policy: InvocationRetryPolicy | None) -> HandlerSpec:
        retention = (self.workflow_retention if self.kind == "workflow"
                     else self.idempotency_retention)
        # The runtime may call the function itself (``HandlerSpec.direct``) when
        # ``_start`` is this class's and the serdes are the plain one's (an int
        # output is written without a call: ``HandlerSpec.output``), its input's
        # reading an int. Only an ``async def`` whose context is its first
        # positional parameter: ``running_context`` finds its frame by its code
        # (``_DIRECT_CODES``) and reads the context there.
        fn = self.fn
        io = self.handler_io
        direct = False
        if (type(fn) is FunctionType and type(self)._start is Handler._start
                and type(io.output_serde) is DefaultSerde):
            code = fn.__code__
            serde = io.input_serde
            direct = (bool(code.co_flags & CO_COROUTINE) and code.co_argcount >= self.arity
                      and (self.arity < 2 or (type(serde) is DefaultSerde
                                              and serde.type_hint in (None, int))))
            if direct:
                _DIRECT_CODES.add(code)
        return HandlerSpec(
            service=self.service_tag.name,
            name=self.name,
            service_kind=self.service_tag.kind,
            kind=self.kind,
            start=self._start,
            retry_policy=self.invocation_retry_policy or default_policy,
            fn=fn,
            retention_ms=DEFAULT_RETENTION_MS if retention is None else to_ms(retention, 0),
            direct=fn if direct else None,
            direct_input=self.arity >= 2,
            output=self._output if direct else None,
        )


_START_CODE = Handler._start.__code__
# The code of each handler function the runtime may run without ``_start``.
_DIRECT_CODES: set[CodeType] = set()


def running_context() -> Any:
    """The context of the handler whose code is running now, or None.

    Found on the stack (the frame of ``Handler._start``, or of a handler's
    function run without it: its first parameter, a context), so that code
    called from a handler (a logging filter, ``current_context()``) knows its
    invocation without the runtime tracking it.
    """
    from .context import InvocationContext

    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code is _START_CODE:
            return frame.f_locals.get("ctx")
        if code in _DIRECT_CODES:
            ctx = frame.f_locals.get(code.co_varnames[0])
            if isinstance(ctx, InvocationContext):
                return ctx
        frame = frame.f_back  # type: ignore[assignment]
    return None


def handler_of(fn: Any) -> Handler:
    """The ``Handler`` behind a decorated function; a clear error otherwise."""
    handler = getattr(fn, HANDLER_ATTR, None)
    if isinstance(handler, Handler):
        return handler
    name = getattr(fn, "__qualname__", repr(fn))
    raise TypeError(
        f"{name} is not a handler: decorate it with @service.handler() (or @workflow.main()) "
        "before naming it in a call"
    )


def _retention(option: str, value: timedelta | None) -> timedelta | None:
    if value is not None and (not isinstance(value, timedelta) or value < timedelta(0)):
        raise ValueError(f"{option} must be a timedelta of zero or more, not {value!r}")
    return value


def _media_type(option: str, value: Any) -> str:
    if not isinstance(value, str) or "/" not in value or not value.isascii():
        raise ValueError(f"{option} must be a media type like 'application/json', not {value!r}")
    return value


class _ServiceBase:
    _kind: ServiceKind = "service"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        idempotency_retention: timedelta | None = None,
        **_restate_options: Any,
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"a service name must be a non-empty string without '/': {name!r}")
        self.service_tag = ServiceTag(self._kind, name, description, metadata)
        self.handlers: dict[str, Handler] = {}
        self.invocation_retry_policy = invocation_retry_policy
        self.idempotency_retention = _retention("idempotency_retention",
                                                idempotency_retention)

    @property
    def name(self) -> str:
        return self.service_tag.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, handlers={list(self.handlers)})"

    def _decorate(
        self,
        name: str | None,
        kind: HandlerKind,
        input_serde: Serde[Any] | None,
        output_serde: Serde[Any] | None,
        invocation_retry_policy: InvocationRetryPolicy | None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        idempotency_retention: timedelta | None = None,
        workflow_retention: timedelta | None = None,
        options: dict[str, Any] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        decorator = "main" if kind == "workflow" else "handler"
        if callable(name):
            what = getattr(name, "__name__", "fn")
            raise TypeError(
                f"@svc.{decorator} needs parentheses: it was given the function {what} as its "
                f"name.\n\n  @svc.{decorator}\n  async def {what}(ctx, ...):    # incorrect!"
                f"\n\n  @svc.{decorator}()\n  async def {what}(ctx, ...):    # correct!"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a handler's name must be a str, not {type(name).__name__}")
        idempotency_retention = _retention("idempotency_retention", idempotency_retention)
        workflow_retention = _retention("workflow_retention", workflow_retention)
        # restate-sdk's content types: the ingress checks a request's against
        # ``accept`` and answers with ``content_type`` (``simdurable serve`` too)
        accept = _media_type("accept", (options or {}).get("accept", "application/json"))
        content_type = _media_type("content_type",
                                   (options or {}).get("content_type", "application/json"))

        def wrapper(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not inspect.iscoroutinefunction(fn):
                what = getattr(fn, "__name__", repr(fn))
                raise TypeError(
                    f"handler {self.name}/{name or what} must be an async function, but "
                    f"{what} is not.\n\n  @svc.handler()\n  def {what}(ctx, ...):"
                    f"        # incorrect!\n\n  @svc.handler()\n  async def {what}(ctx, ...):"
                    f"  # correct!"
                )
            handler_name = name or fn.__name__
            if handler_name in self.handlers:
                raise ValueError(f"{self.name} already has a handler named {handler_name!r}")
            params = list(inspect.signature(fn).parameters.values())
            arity = len(params)
            if arity not in (1, 2):
                ctx_type = _CONTEXT_TYPES[(self._kind, kind or "exclusive")]
                given = ", ".join(p.name for p in params)
                wanted = f"ctx: restate.{ctx_type}" + (", input" if arity else "")
                raise TypeError(
                    f"handler {self.name}/{handler_name} must take (ctx) or (ctx, input); "
                    f"it takes {arity} parameters. The context comes first.\n\n"
                    f"  async def {fn.__name__}({given}):    # incorrect!\n"
                    f"  async def {fn.__name__}({wanted}):    # correct!"
                )
            try:
                hints = typing.get_type_hints(fn)
            except Exception:  # noqa: BLE001 - unresolved annotations: no hints
                hints = {}
            in_hint = hints.get(params[1].name) if arity == 2 else None
            out_hint = hints.get("return")
            handler_io = HandlerIO(
                accept=accept,
                content_type=content_type,
                input_serde=input_serde or serde_for_hint(in_hint),
                output_serde=output_serde or serde_for_hint(out_hint),
                input_type=TypeHint(in_hint, in_hint is None),
                output_type=TypeHint(out_hint, out_hint in (None, type(None))),
            )
            handler = Handler(
                service_tag=self.service_tag,
                handler_io=handler_io,
                kind=kind,
                name=handler_name,
                fn=fn,
                arity=arity,
                description=description,
                metadata=metadata,
                invocation_retry_policy=invocation_retry_policy or self.invocation_retry_policy,
                idempotency_retention=(self.idempotency_retention if idempotency_retention is None
                                       else idempotency_retention),
                workflow_retention=workflow_retention,
            )
            self.handlers[handler_name] = handler
            setattr(fn, HANDLER_ATTR, handler)
            return fn

        return wrapper


# The context type a handler receives, by service kind and handler kind.
_CONTEXT_TYPES: Final[dict[tuple[str, str], str]] = {
    ("service", "exclusive"): "Context",
    ("object", "exclusive"): "ObjectContext",
    ("object", "shared"): "ObjectSharedContext",
    ("workflow", "workflow"): "WorkflowContext",
    ("workflow", "shared"): "WorkflowSharedContext",
}


class Service(_ServiceBase):
    """A stateless service: each invocation runs on its own."""

    _kind: ServiceKind = "service"

    def handler(
        self,
        name: str | None = None,
        *,
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        idempotency_retention: timedelta | None = None,
        **_restate_options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorate(
            name, None, input_serde, output_serde, invocation_retry_policy, description, metadata,
            idempotency_retention=idempotency_retention, options=_restate_options,
        )


class VirtualObject(_ServiceBase):
    """Keyed state with one writer per key: exclusive handlers queue per key."""

    _kind: ServiceKind = "object"

    def handler(
        self,
        name: str | None = None,
        kind: Literal["exclusive", "shared"] = "exclusive",
        *,
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        idempotency_retention: timedelta | None = None,
        **_restate_options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if kind not in ("exclusive", "shared"):
            raise ValueError(f"kind must be 'exclusive' or 'shared', not {kind!r}")
        return self._decorate(
            name, kind, input_serde, output_serde, invocation_retry_policy, description, metadata,
            idempotency_retention=idempotency_retention, options=_restate_options,
        )


class Workflow(_ServiceBase):
    """A workflow: ``@wf.main()`` runs once per id; other handlers are shared."""

    _kind: ServiceKind = "workflow"

    def main(
        self,
        name: str | None = None,
        *,
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        workflow_retention: timedelta | None = None,
        **_restate_options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """The run handler: once per workflow id, until ``workflow_retention``
        (default 24 h) after it completes."""
        return self._decorate(
            name, "workflow", input_serde, output_serde, invocation_retry_policy,
            description, metadata, workflow_retention=workflow_retention,
            options=_restate_options,
        )

    def handler(
        self,
        name: str | None = None,
        *,
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        idempotency_retention: timedelta | None = None,
        **_restate_options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorate(
            name, "shared", input_serde, output_serde, invocation_retry_policy,
            description, metadata, idempotency_retention=idempotency_retention,
            options=_restate_options,
        )


AnyService = Service | VirtualObject | Workflow


class App:
    """What ``app(services)`` returns: the services of one endpoint.

    On a Restate deployment it is the ASGI application; here every host
    (``Simulation``, ``check``, the pytest plugin, ``simdurable serve``)
    accepts it wherever it accepts a list of services.
    """

    # ``app(journal_value_codec=...)``'s codec or provider (``simdurable._codec``)
    journal_value_codec: Any = None

    def __init__(self, services: Iterable[Any]) -> None:
        self.services: list[Any] = []
        for svc in services:
            self.bind(svc)

    def bind(self, svc: Any) -> None:
        if not isinstance(handlers_attr(svc), dict):
            raise TypeError(f"app() takes Service, VirtualObject and Workflow objects, not "
                            f"{svc!r}")
        if any(s.name == svc.name for s in self.services):
            raise ValueError(f"app(): two services are named {svc.name!r}")
        self.services.append(svc)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.services)

    def __len__(self) -> int:
        return len(self.services)

    def __repr__(self) -> str:
        return f"app({self.services!r})"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError(
            "this app speaks to a Restate server, which simdurable replaces: serve it with "
            "`simdurable serve module:app`, or test it with simdurable.Simulation(app)"
        )


def handlers_attr(obj: Any) -> Any:
    """``obj.handlers``, or None: also for an object whose own ``__getattr__`` raises
    (a lazy proxy named where services go), which is then refused in words."""
    try:
        return getattr(obj, "handlers", None)
    except Exception:  # noqa: BLE001 - no service, whatever it raised
        return None


def collect_handlers(services: Iterable[Any]) -> dict[tuple[str, str], Handler]:
    """The handlers of ``services``; ``TypeError``/``ValueError`` name a bad one."""
    if isinstance(services, (str, bytes)) or not isinstance(services, Iterable):
        raise TypeError("services must be a list of Service/VirtualObject/Workflow objects")
    found: dict[tuple[str, str], Handler] = {}
    flat: list[Any] = []
    for item in services:
        flat.extend(item if isinstance(item, App) else [item])
    for svc in native_services(flat):
        handlers = handlers_attr(svc)
        if not isinstance(handlers, dict):
            raise TypeError(
                f"{svc!r} is not a service: pass Service, VirtualObject or Workflow objects"
                " (simdurable's or restate-sdk's), or a restate.app(...)"
            )
        for h in handlers.values():
            key = (svc.name, h.name)
            if key in found:
                raise ValueError(f"two handlers are named {svc.name}/{h.name}")
            found[key] = h
    return found
