"""The live dev executor: the runtime on trio, a real clock, SQLite and HTTP."""

from ._executor import Executor as Executor, LiveInvocation as LiveInvocation
from ._sqlite import SqliteStore as SqliteStore, StoreError as StoreError

__all__ = ["Executor", "LiveInvocation", "SqliteStore", "StoreError"]
