"""``restate.logging``: loggers that stay quiet while a handler replays.

A handler re-runs from the top after a crash or a suspension; what it logged
before the journal's end was logged the first time, so these loggers drop it.
"""

from __future__ import annotations

import logging as _logging

from ._api.service import running_context
from .runtime._invocation import REPLAYING


def getLogger(name: str | None = None) -> _logging.Logger:  # noqa: N802 - restate-sdk's name
    """``logging.getLogger(name)`` with a ``RestateLoggingFilter``."""
    logger = _logging.getLogger(name)
    if not any(isinstance(f, RestateLoggingFilter) for f in logger.filters):
        logger.addFilter(RestateLoggingFilter())
    return logger


class RestateLoggingFilter(_logging.Filter):
    """Drops records logged by a handler while it replays its journal."""

    def filter(self, record: _logging.LogRecord) -> bool:
        if not super().filter(record):
            return False
        ctx = running_context()
        attempt = getattr(ctx, "_attempt", None)
        return getattr(attempt, "state", None) is not REPLAYING


__all__ = ["RestateLoggingFilter", "getLogger"]
