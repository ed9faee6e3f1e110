"""``RunOptions``: how a step's result is stored and how its failures retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from ..runtime._retry import Backoff, check_retry_fields, step_backoff
from .serde import DefaultSerde, Serde

T = TypeVar("T")

_DURATIONS = ("max_duration", "initial_retry_interval", "max_retry_interval",
              "max_retry_duration")


@dataclass
class RunOptions(Generic[T]):
    """Options of ``ctx.run_typed``.

    With every retry field unset, a failing step fails the attempt and the
    invocation retry policy applies. With any set, the step retries on its own
    policy (50 ms, x2, at most 10 s apart unless given) and, once
    ``max_attempts`` (counting the first) or ``max_duration`` runs out, its
    failure is recorded and awaiting the step raises ``TerminalError``.
    """

    serde: Serde[T] = field(default_factory=DefaultSerde)
    type_hint: type[T] | None = None
    max_attempts: int | None = None
    max_duration: timedelta | None = None
    initial_retry_interval: timedelta | None = None
    max_retry_interval: timedelta | None = None
    retry_interval_factor: float | None = None
    max_retry_duration: timedelta | None = None  # deprecated; ignored by run_typed

    def __post_init__(self) -> None:
        check_retry_fields("RunOptions", {name: getattr(self, name) for name in _DURATIONS},
                           self.max_attempts, "retry_interval_factor",
                           self.retry_interval_factor)

    def backoff(self) -> Backoff | None:
        return step_backoff(
            self.max_attempts,
            self.max_duration,
            self.initial_retry_interval,
            self.max_retry_interval,
            self.retry_interval_factor,
        )


def options_from_legacy(
    serde: Serde[Any] | None,
    max_attempts: int | None,
    max_retry_duration: timedelta | None,
    type_hint: Any,
) -> RunOptions[Any]:
    """The options of the deprecated ``ctx.run(...)`` keyword form."""
    return RunOptions(
        serde=serde or DefaultSerde(type_hint),
        type_hint=type_hint,
        max_attempts=max_attempts,
        max_duration=max_retry_duration,
    )
