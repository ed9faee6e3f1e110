"""Per-key locks: one exclusive handler at a time per virtual object key.

Owns the queue of invocations per (service, key); its head holds the key.
Shared handlers and services take no lock. Calls only the registry; what to
start when a key is released is the lifecycle's business.
"""

from __future__ import annotations

from collections import defaultdict

from ._registry import Registry
from ._store import InvocationRecord


class KeyLocks:
    """The queue per key; see the module docstring."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.queues: dict[tuple[str, str], list[str]] = defaultdict(list)

    def reset(self) -> None:
        self.queues = defaultdict(list)

    def join(self, rec: InvocationRecord) -> bool:
        """Queue ``rec`` for its key (once); True if it may run now."""
        if not self.registry.spec_of(rec).exclusive:
            return True
        assert rec.key is not None
        queue = self.queues[(rec.service, rec.key)]
        if rec.id not in queue:
            queue.append(rec.id)
        return queue[0] == rec.id

    def holds(self, rec: InvocationRecord) -> bool:
        if not self.registry.spec_of(rec).exclusive:
            return True
        assert rec.key is not None
        queue = self.queues.get((rec.service, rec.key))
        return queue is not None and bool(queue) and queue[0] == rec.id

    def release(self, rec: InvocationRecord) -> str | None:
        """``rec`` gives up its key; returns the invocation that holds it now, if any."""
        if not self.registry.spec_of(rec).exclusive:
            return None
        assert rec.key is not None
        queue = self.queues.get((rec.service, rec.key))
        if queue and rec.id in queue:
            head = queue[0] == rec.id
            queue.remove(rec.id)
            if head and queue:
                return queue[0]
        return None

    def head(self, service: str, key: str) -> str:
        return self.queues[(service, key)][0]
