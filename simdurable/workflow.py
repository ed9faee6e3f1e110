"""``restate.workflow``: ``Workflow`` and what its handlers are made of."""

from __future__ import annotations

from ._api.serde import DefaultSerde, Serde
from ._api.service import Handler, HandlerIO, ServiceTag, Workflow
from .runtime._retry import InvocationRetryPolicy

__all__ = ["DefaultSerde", "Handler", "HandlerIO", "InvocationRetryPolicy", "Serde",
           "ServiceTag", "Workflow"]
