"""``RunOptions``: how a step's result is stored and how its failures retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from ..runtime._retry import Backoff, step_backoff
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
        # Checked here, where the handler's line is the caller's: a wrong type
        # would otherwise fail deep in the step's retry, at every attempt.
        for name in _DURATIONS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, timedelta):
                raise TypeError(f"RunOptions.{name} takes a datetime.timedelta, not "
                                f"{type(value).__name__} ({value!r})")
        attempts = self.max_attempts
        if attempts is not None and (type(attempts) is bool or not isinstance(attempts, int)):
            raise TypeError(f"RunOptions.max_attempts takes an int, not "
                            f"{type(attempts).__name__} ({attempts!r})")
        factor = self.retry_interval_factor
        if factor is not None and (type(factor) is bool or not isinstance(factor, (int, float))):
            raise TypeError(f"RunOptions.retry_interval_factor takes a number, not "
                            f"{type(factor).__name__} ({factor!r})")
        if attempts is not None and attempts < 1:
            raise ValueError(f"RunOptions.max_attempts must be >= 1, not {attempts}")
        if factor is not None and not factor >= 1:   # (nan too)
            raise ValueError(f"RunOptions.retry_interval_factor must be >= 1, not {factor}")

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
