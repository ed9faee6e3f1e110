"""``restate.context``: the types handlers annotate with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, Union

from ._api.context import (
    AttemptFinishedEvent,
    Context,
    DurablePromise,
    KeyValueStore,
    ObjectContext,
    ObjectSharedContext,
    Request,
    ScopedContext,
    WorkflowContext,
    WorkflowSharedContext,
)
from ._api.futures import (
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    SendHandle,
)
from ._api.options import RunOptions
from ._api.serde import DefaultSerde, Serde

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - restate-sdk's name
O = TypeVar("O")  # noqa: E741 - restate-sdk's name

HandlerType = Union[Callable[[Any, I], Awaitable[O]], Callable[[Any], Awaitable[O]]]
RunAction = Union[Callable[..., Coroutine[Any, Any, T]], Callable[..., T]]

__all__ = [
    "AttemptFinishedEvent", "Context", "DefaultSerde", "DurablePromise", "HandlerType",
    "KeyValueStore", "ObjectContext", "ObjectSharedContext", "Request",
    "RestateDurableCallFuture", "RestateDurableFuture", "RestateDurableSleepFuture", "RunAction",
    "RunOptions", "ScopedContext", "SendHandle", "Serde", "WorkflowContext",
    "WorkflowSharedContext",
]
