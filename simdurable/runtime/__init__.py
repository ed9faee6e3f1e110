"""The sans-I/O durable runtime: journal, attempts, engine, scheduler, faults, store.

Nothing here imports trio, sqlite3, yaml, pytest or hypothesis: hosts (the
simulation, the live executor) drive it from the edges.
"""

from ._engine import Engine, HandlerSpec, StepRequest
from ._errors import (
    ContextMisuseError,
    HandlerError,
    InternalError,
    InvalidTargetError,
    JournalMismatchError,
    NonDeterminismError,
    NondeterministicCallError,
    NotAwaitedError,
    NotFinishedError,
    RetryableError,
    SerializationError,
    SimdurableError,
    StuckError,
    TerminalError,
)
from ._faults import Fault, FaultPlan, FaultPlanError, FaultPoint, Injector
from ._invocation import Attempt, StepInfo, current_step
from ._journal import Completion, Entry, Failure, Value
from ._retry import InvocationRetryPolicy
from ._scheduler import Chooser, FirstChooser, RandomChooser, Scheduler
from ._store import InvocationRecord, MemoryStore, Store

__all__ = [
    "Attempt", "Chooser", "Completion", "ContextMisuseError", "Engine", "Entry", "Failure",
    "Fault", "FaultPlan", "FaultPlanError", "FaultPoint", "FirstChooser", "HandlerError",
    "HandlerSpec", "Injector", "InternalError", "InvalidTargetError", "InvocationRecord",
    "InvocationRetryPolicy", "JournalMismatchError", "MemoryStore", "NonDeterminismError",
    "NondeterministicCallError", "NotAwaitedError", "NotFinishedError", "RandomChooser", "RetryableError",
    "Scheduler", "SerializationError", "SimdurableError", "StepInfo", "StepRequest", "Store",
    "StuckError", "TerminalError", "Value", "current_step",
]
