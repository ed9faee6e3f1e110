"""``restate.asyncio``: combinators over durable futures, with restate's shapes."""

from __future__ import annotations

from ._api.futures import RestateDurableFuture, as_completed, gather, select, wait_completed
from .runtime._errors import TerminalError

__all__ = ["RestateDurableFuture", "TerminalError", "as_completed", "gather", "select",
           "wait_completed"]
