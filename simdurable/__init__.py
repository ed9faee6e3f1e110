"""simdurable: prove that durable handlers survive crashes, inside pytest.

Write handlers as with restate-sdk (``import simdurable as restate`` works),
run them in a ``Simulation`` on a virtual clock, inject crashes at any point,
and let ``check`` search for the fault plan that breaks them.
"""

import typing as _typing

# restate-sdk's submodules (``restate.exceptions``, ``restate.serde``, ...) and
# all its other names, so that ``import simdurable as restate`` serves programs
# written for it.
from . import (
    asyncio as asyncio,
    context as context,
    context_managers as context_managers,
    endpoint as endpoint,
    entry_codec as entry_codec,
    exceptions as exceptions,
    extensions as extensions,
    handler as handler,
    logging as logging,
    object as object,
    retry_policy as retry_policy,
    serde as serde,
    service as service,
    types as types,
    workflow as workflow,
)
from ._api.context import (
    Context as Context,
    DurablePromise as DurablePromise,
    ObjectContext as ObjectContext,
    ObjectSharedContext as ObjectSharedContext,
    Request as Request,
    ScopedContext as ScopedContext,
    WorkflowContext as WorkflowContext,
    WorkflowSharedContext as WorkflowSharedContext,
)
from ._api.external import Effect as Effect, FakeExternal as FakeExternal
from ._api.futures import (
    DurableCallFuture as DurableCallFuture,
    DurableFuture as DurableFuture,
    DurableSleepFuture as DurableSleepFuture,
    RestateDurableCallFuture as RestateDurableCallFuture,
    RestateDurableFuture as RestateDurableFuture,
    RestateDurableSleepFuture as RestateDurableSleepFuture,
    SendHandle as SendHandle,
    as_completed as as_completed,
    gather as gather,
    select as select,
    wait_completed as wait_completed,
)
from ._api.options import RunOptions as RunOptions
from ._api.serde import (
    BytesSerde as BytesSerde,
    DefaultSerde as DefaultSerde,
    JsonSerde as JsonSerde,
    Serde as Serde,
)
from ._api.service import (
    Handler as Handler,
    Service as Service,
    VirtualObject as VirtualObject,
    Workflow as Workflow,
)
from ._as_restate import install_as_restate as install_as_restate
from ._check import (
    DidNotReproduce as DidNotReproduce,
    Outcome as Outcome,
    Report as Report,
    Violation as Violation,
    WorldError as WorldError,
    WorldEvent as WorldEvent,
    always as always,
    check as check,
    replay as replay,
    replaying as replaying,
    reproduce as reproduce,
    sometimes as sometimes,
    write_chrome_trace as write_chrome_trace,
)
from ._replay import (
    JournalSourceError as JournalSourceError,
    RecordedInvocation as RecordedInvocation,
    ReplayReport as ReplayReport,
    ReplayResult as ReplayResult,
    export_journals as export_journals,
    replay_journals as replay_journals,
)
from ._server_only import (
    ConnectError as ConnectError,
    HarnessEnvironment as HarnessEnvironment,
    HttpError as HttpError,
    RestateClient as RestateClient,
    RestateClientSendHandle as RestateClientSendHandle,
    ServerOnlyError as ServerOnlyError,
    connect as connect,
    create_client as create_client,
    create_test_harness as create_test_harness,
    test_harness as test_harness,
    with_connection as with_connection,
)
from ._sim import (
    InvocationHandle as InvocationHandle,
    RunSummary as RunSummary,
    Simulation as Simulation,
)
from ._version import __version__ as __version__
from .endpoint import app as app
from .entry_codec import (
    JournalValueCodec as JournalValueCodec,
    JournalValueCodecProvider as JournalValueCodecProvider,
)
from .exceptions import (
    SdkInternalBaseException as SdkInternalBaseException,
    is_internal_exception as is_internal_exception,
)
from .logging import RestateLoggingFilter as RestateLoggingFilter, getLogger as getLogger
from .runtime._errors import (
    ContextMisuseError as ContextMisuseError,
    HandlerError as HandlerError,
    InternalError as InternalError,
    InvalidTargetError as InvalidTargetError,
    JournalMismatchError as JournalMismatchError,
    NonDeterminismError as NonDeterminismError,
    NondeterministicCallError as NondeterministicCallError,
    NotAwaitedError as NotAwaitedError,
    NotFinishedError as NotFinishedError,
    RetryableError as RetryableError,
    SerializationError as SerializationError,
    SimdurableError as SimdurableError,
    StuckError as StuckError,
    TerminalError as TerminalError,
)
from .runtime._faults import (
    Fault as Fault,
    FaultPlan as FaultPlan,
    FaultPlanError as FaultPlanError,
)
from .runtime._journal import Entry as Entry
from .runtime._retry import InvocationRetryPolicy as InvocationRetryPolicy

__all__ = [
    "BytesSerde", "Context", "ContextMisuseError", "DefaultSerde", "DurableCallFuture",
    "DurableFuture", "DurablePromise", "DurableSleepFuture", "Effect", "Entry",
    "FakeExternal", "Fault", "FaultPlan", "FaultPlanError", "Handler", "HandlerError",
    "InternalError", "InvalidTargetError", "InvocationHandle", "InvocationRetryPolicy",
    "JournalMismatchError", "JsonSerde", "NonDeterminismError", "NondeterministicCallError",
    "NotAwaitedError", "NotFinishedError", "ObjectContext", "ObjectSharedContext", "Request", "RetryableError",
    "RunOptions", "RunSummary", "SendHandle", "Serde", "SerializationError", "Service",
    "SimdurableError", "Simulation", "StuckError", "TerminalError", "VirtualObject",
    "Workflow", "WorkflowContext", "WorkflowSharedContext", "as_completed", "gather",
    "select", "wait_completed",
]
__all__ += [
    "DidNotReproduce", "Outcome", "Report", "Violation", "always", "check", "replay",
    "replaying", "reproduce", "sometimes", "write_chrome_trace",
]
__all__ += ["Executor", "ExecutorStoppedError", "WorldError", "WorldEvent"]
__all__ += ["JournalSourceError", "RecordedInvocation", "ReplayReport", "ReplayResult",
            "export_journals", "replay_journals"]

__all__ += [
    "ConnectError", "HarnessEnvironment", "HttpError", "JournalValueCodec",
    "JournalValueCodecProvider", "RestateClient", "RestateClientSendHandle",
    "RestateDurableCallFuture", "RestateDurableFuture", "RestateDurableSleepFuture",
    "RestateLoggingFilter", "ScopedContext", "SdkInternalBaseException", "ServerOnlyError", "app",
    "connect", "create_client", "create_test_harness", "getLogger", "is_internal_exception",
    "logging", "test_harness", "with_connection", "install_as_restate",
]

from . import world as world  # noqa: E402 - the public module of world events

if _typing.TYPE_CHECKING:
    from ._live import Executor as Executor, ExecutorStoppedError as ExecutorStoppedError

# The dev executor (trio, SQLite, HTTP) is imported when first named: a third of
# ``import simdurable``, which every check's worker process and command pays.
_LAZY = {"Executor": "._live", "ExecutorStoppedError": "._live"}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
