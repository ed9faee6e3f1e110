"""The live dev executor: the runtime on trio, a real clock, SQLite and HTTP."""

from ._executor import (
    Executor as Executor,
    ExecutorStoppedError as ExecutorStoppedError,
    LiveInvocation as LiveInvocation,
)
from ._sqlite import SqliteStore as SqliteStore, StoreError as StoreError

__all__ = ["Executor", "ExecutorStoppedError", "LiveInvocation", "SqliteStore", "StoreError"]
