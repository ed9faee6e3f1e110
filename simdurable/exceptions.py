"""``restate.exceptions``: the errors a handler raises or catches."""

from __future__ import annotations

from .runtime._errors import RetryableError, TerminalError
from .runtime._invocation import Abort


class SdkInternalBaseException(BaseException):
    """restate-sdk's base of the exceptions that unwind a handler; do not catch them.

    simdurable unwinds a handler (crash, suspension) with its own ``Abort``;
    ``is_internal_exception`` recognises both.
    """


class SuspendedException(SdkInternalBaseException):
    """restate-sdk raises it when an invocation suspends; never raised here."""


class SdkInternalException(SdkInternalBaseException):
    """restate-sdk raises it on a retryable failure of an attempt; never raised here."""


def is_internal_exception(e: BaseException) -> bool:
    """Whether ``e`` unwinds the handler for the runtime: re-raise it if you catch it."""
    return isinstance(e, (SdkInternalBaseException, Abort))


__all__ = [
    "RetryableError", "SdkInternalBaseException", "SdkInternalException", "SuspendedException",
    "TerminalError", "is_internal_exception",
]
