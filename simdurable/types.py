"""``restate.types``: ``HarnessEnvironment``, which needs a Restate server."""

from __future__ import annotations

from ._server_only import HarnessEnvironment, RestateClient

__all__ = ["HarnessEnvironment", "RestateClient"]
