"""Errors, split by whose fault they are.

``TerminalError`` is the handler-facing failure of the durable model. Everything
else derives from ``SimdurableError``: ``HandlerError`` when the user's handler
broke a rule of durable execution, ``InternalError`` when simdurable itself is
wrong. Errors carry structured attributes so reports never parse messages.
"""

from __future__ import annotations

from typing import Any


class TerminalError(Exception):
    """A failure that must not be retried.

    Raised by a handler or a step, it is recorded in the journal, re-raised
    identically on replay, and ends the invocation when uncaught.
    """

    def __init__(
        self,
        message: str,
        status_code: int = 500,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"TerminalError({self.message!r}, status_code={self.status_code})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TerminalError):
            return NotImplemented
        return (self.message, self.status_code) == (other.message, other.status_code)

    def __hash__(self) -> int:
        return hash((self.message, self.status_code))


class RetryableError(Exception):
    """A failure to retry, optionally after a delay chosen by the handler."""

    def __init__(
        self,
        message: str,
        status_code: int = 500,
        retry_after: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


def describe_location(
    handler: str | None, step: str | None, journal_index: int | None, source: str | None
) -> str:
    """'handler H, step "s" (journal #3, file.py:14)': where something happened."""
    parts = []
    if handler:
        parts.append(f"handler {handler}")
    if step is not None:
        parts.append(f'step "{step}"')
    loc = []
    if journal_index is not None:
        loc.append(f"journal #{journal_index}")
    if source:
        loc.append(source)
    text = ", ".join(parts)
    if loc:
        text += f" ({', '.join(loc)})" if text else ", ".join(loc)
    return text


class SimdurableError(Exception):
    """Base class of every error simdurable raises about itself or user code."""


class HandlerError(SimdurableError):
    """The user's handler broke a rule of durable execution.

    Attributes name where: ``handler`` ("Service/handler"), ``step`` (the step
    name, if any), ``journal_index`` and ``source`` ("file.py:14").
    """

    kind = "handler-error"

    def __init__(
        self,
        message: str,
        *,
        handler: str | None = None,
        step: str | None = None,
        journal_index: int | None = None,
        source: str | None = None,
    ) -> None:
        self.handler = handler
        self.step = step
        self.journal_index = journal_index
        self.source = source
        self.detail = message
        super().__init__(self._render())

    def _where(self) -> str:
        return describe_location(self.handler, self.step, self.journal_index, self.source)

    def _render(self) -> str:
        where = self._where()
        return f"{where}: {self.detail}" if where else self.detail


class ContextMisuseError(HandlerError):
    """The handler context was used inside a step's closure."""

    kind = "context-misuse"


class NondeterministicCallError(HandlerError):
    """A source of nondeterminism (clock, RNG, uuid4...) was used outside a step."""

    kind = "nondeterministic-call"


class NotAwaitedError(HandlerError):
    """A step or timer the handler started and then returned without waiting for.

    Not awaited, a step's closure runs only if the handler happens to wait on
    something else first (and never if it returns), and a timer delays nothing.
    """

    kind = "not-awaited"


class JournalMismatchError(HandlerError):
    """Replay issued a different operation than the journal holds (Restate's 570)."""

    kind = "nondeterminism"

    def __init__(
        self,
        message: str,
        *,
        recorded: str | None = None,
        issued: str | None = None,
        **where: Any,
    ) -> None:
        self.recorded = recorded
        self.issued = issued
        super().__init__(message, **where)


NonDeterminismError = JournalMismatchError


class SerializationError(HandlerError):
    """A value could not be serialized or deserialized with its serde."""

    kind = "serialization"


class InvalidTargetError(SimdurableError, LookupError):
    """A target such as "Greeter/greet" names no registered handler."""


class StuckError(SimdurableError):
    """The run made no progress within its bounds (deadlock or unbounded loop)."""

    def __init__(self, message: str, waiting: list[str] | None = None, *,
                 wall_clock: bool = False) -> None:
        super().__init__(message)
        self.waiting = waiting or []
        # Stopped by the run's wall-clock budget, not by its own bounds: a
        # loaded machine may stop one run and not another of the same path.
        self.wall_clock = wall_clock


class NotFinishedError(SimdurableError):
    """An invocation's result was asked for before it finished."""


class InternalError(SimdurableError):
    """simdurable broke one of its own invariants: this is a bug in simdurable."""


class NotAnExceptionError(SimdurableError):
    """A handler or a step raised a ``BaseException`` that is not an ``Exception``
    (``SystemExit`` from ``sys.exit()``, a class of the user's own), on a live
    executor. restate-sdk does not catch it: on a Restate server the attempt
    ends without an answer and the invocation is retried from its journal. The
    executor does the same, with this error (the original is its
    ``__cause__``) as the attempt's failure, rather than end on it."""
