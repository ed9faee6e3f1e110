"""simdurable: prove that durable handlers survive crashes, inside pytest.

Write handlers as with restate-sdk (``import simdurable as restate`` works),
run them in a ``Simulation`` on a virtual clock, inject crashes at any point,
and let ``check`` search for the fault plan that breaks them.
"""

from ._api.context import (
    Context as Context,
    DurablePromise as DurablePromise,
    ObjectContext as ObjectContext,
    ObjectSharedContext as ObjectSharedContext,
    Request as Request,
    WorkflowContext as WorkflowContext,
    WorkflowSharedContext as WorkflowSharedContext,
)
from ._api.external import Effect as Effect, FakeExternal as FakeExternal
from ._api.futures import (
    DurableCallFuture as DurableCallFuture,
    DurableFuture as DurableFuture,
    DurableSleepFuture as DurableSleepFuture,
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
from ._live import Executor as Executor, ExecutorStoppedError as ExecutorStoppedError
from ._sim import (
    InvocationHandle as InvocationHandle,
    RunSummary as RunSummary,
    Simulation as Simulation,
)
from ._version import __version__ as __version__
from .runtime._errors import (
    ContextMisuseError as ContextMisuseError,
    HandlerError as HandlerError,
    InternalError as InternalError,
    InvalidTargetError as InvalidTargetError,
    JournalMismatchError as JournalMismatchError,
    NonDeterminismError as NonDeterminismError,
    NondeterministicCallError as NondeterministicCallError,
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
    "NotFinishedError", "ObjectContext", "ObjectSharedContext", "Request", "RetryableError",
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

from . import world as world  # noqa: E402 - the public module of world events
