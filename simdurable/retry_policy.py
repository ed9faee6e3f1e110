"""``restate.retry_policy``: how failed attempts of an invocation are retried."""

from __future__ import annotations

from .runtime._retry import InvocationRetryPolicy

__all__ = ["InvocationRetryPolicy"]
