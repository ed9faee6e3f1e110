"""Retry policies: when the next attempt starts, and when to give up.

Two policies exist, as in Restate. A step with any retry field in its
``RunOptions`` follows its own exponential policy (50 ms, x2, at most 10 s
apart by default) and, once exhausted, its failure is recorded as terminal.
Otherwise failures fall to the invocation retry policy (Restate 1.6+ defaults:
500 ms, x2, at most 60 s apart, 70 attempts, then the invocation is paused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final


def to_ms(value: timedelta | float | int | None, default_ms: int) -> int:
    """Milliseconds from a timedelta (or seconds as a number)."""
    if value is None:
        return default_ms
    if isinstance(value, timedelta):
        return round(value.total_seconds() * 1000)
    return round(float(value) * 1000)


@dataclass(frozen=True, slots=True)
class Backoff:
    """An exponential backoff with bounds, in milliseconds."""

    initial_ms: int
    factor: float
    max_interval_ms: int
    max_attempts: int | None = None
    max_duration_ms: int | None = None

    def delay_ms(self, failures: int) -> int:
        """The delay after the ``failures``-th failure (1-based).

        Past the float range (x2 after ~1,025 failures of a policy that retries
        for ever) the delay is the bound it reached long before: the power
        overflowed, and the simulation stopped on a bare ``OverflowError``."""
        if not self.initial_ms:
            return 0   # (not 0 * inf, a nan, for factor=inf)
        try:
            delay = self.initial_ms * (self.factor ** max(0, failures - 1))
        except OverflowError:
            return self.max_interval_ms
        if delay >= self.max_interval_ms:   # (also inf)
            return self.max_interval_ms
        return int(round(delay))

    def exhausted(self, failures: int, elapsed_ms: int) -> bool:
        if self.max_attempts is not None and failures >= self.max_attempts:
            return True
        if self.max_duration_ms is not None and elapsed_ms >= self.max_duration_ms:
            return True
        return False


def check_retry_fields(owner: str, durations: dict[str, object], attempts: object,
                       factor_name: str, factor: object) -> None:
    """A retry policy's fields (an invocation's or a step's), checked where it is
    written, so that the error's line is the caller's: a wrong one failed only
    at a first retry, deep in the run, or made a negative delay. None is left
    to the default."""
    for name, value in durations.items():
        if value is None:
            continue
        if not isinstance(value, timedelta):
            raise TypeError(f"{owner}.{name} takes a datetime.timedelta, not "
                            f"{type(value).__name__} ({value!r:.80})")
        if value < timedelta(0):
            raise ValueError(f"{owner}.{name} must not be negative, not {value!r}")
    if attempts is not None:
        if type(attempts) is bool or not isinstance(attempts, int):
            raise TypeError(f"{owner}.max_attempts takes an int, not "
                            f"{type(attempts).__name__} ({attempts!r:.80})")
        if attempts < 1:
            raise ValueError(f"{owner}.max_attempts must be >= 1, not {attempts}")
    if factor is not None:
        if type(factor) is bool or not isinstance(factor, (int, float)):
            raise TypeError(f"{owner}.{factor_name} takes a number, not "
                            f"{type(factor).__name__} ({factor!r:.80})")
        if not factor >= 1:   # (nan too)
            raise ValueError(f"{owner}.{factor_name} must be >= 1, not {factor}")


STEP_DEFAULT_INITIAL_MS: Final = 50
STEP_DEFAULT_FACTOR: Final = 2.0
STEP_DEFAULT_MAX_INTERVAL_MS: Final = 10_000


@dataclass(frozen=True, slots=True)
class InvocationRetryPolicy:
    """How failed attempts of an invocation are retried.

    ``on_max_attempts`` is ``"pause"`` (the invocation stops and waits for a
    person) or ``"kill"`` (it fails with a terminal error).
    """

    initial_interval: timedelta = timedelta(milliseconds=500)
    exponentiation_factor: float = 2.0
    max_interval: timedelta = timedelta(seconds=60)
    max_attempts: int | None = 70
    on_max_attempts: str = "pause"

    def __post_init__(self) -> None:
        # restate-sdk's fields default to None, "the server's default": the same here.
        if self.on_max_attempts is None:
            object.__setattr__(self, "on_max_attempts", "pause")
        if self.exponentiation_factor is None:
            object.__setattr__(self, "exponentiation_factor", 2.0)
        if self.on_max_attempts not in ("pause", "kill"):
            raise ValueError(
                f"on_max_attempts must be 'pause' or 'kill', not {self.on_max_attempts!r}"
            )
        check_retry_fields("InvocationRetryPolicy", {
            "initial_interval": self.initial_interval, "max_interval": self.max_interval},
            self.max_attempts, "exponentiation_factor", self.exponentiation_factor)

    def backoff(self) -> Backoff:
        return Backoff(
            initial_ms=to_ms(self.initial_interval, 500),
            factor=self.exponentiation_factor,
            max_interval_ms=to_ms(self.max_interval, 60_000),
            max_attempts=self.max_attempts,
        )


def step_backoff(
    max_attempts: int | None,
    max_duration: timedelta | None,
    initial_retry_interval: timedelta | None,
    max_retry_interval: timedelta | None,
    retry_interval_factor: float | None,
) -> Backoff | None:
    """The step's own policy, or None when the invocation policy applies."""
    if (max_attempts is None and max_duration is None and initial_retry_interval is None
            and max_retry_interval is None and retry_interval_factor is None):
        return None
    return Backoff(
        initial_ms=to_ms(initial_retry_interval, STEP_DEFAULT_INITIAL_MS),
        factor=STEP_DEFAULT_FACTOR if retry_interval_factor is None else retry_interval_factor,
        max_interval_ms=to_ms(max_retry_interval, STEP_DEFAULT_MAX_INTERVAL_MS),
        max_attempts=max_attempts,
        max_duration_ms=None if max_duration is None else to_ms(max_duration, 0),
    )


# Each policy's ``Backoff`` (``policy_backoff``), by the policy's id, with the policy
# (held, so that its id is not another's while kept); past ``BACKOFFS`` of them, emptied.
_backoffs: dict[int, tuple[InvocationRetryPolicy, Backoff]] = {}
BACKOFFS: Final = 256


def policy_backoff(policy: InvocationRetryPolicy) -> Backoff:
    """``policy.backoff()``, made once for a policy (frozen, its fields
    immutable): every crash, failed attempt and restart asks it again, and it
    is a frozen dataclass's five writes and two ``to_ms`` (a subclass's own,
    which may answer otherwise, is asked each time)."""
    if type(policy) is not InvocationRetryPolicy:
        return policy.backoff()
    found = _backoffs.get(id(policy))
    if found is not None and found[0] is policy:
        return found[1]
    if len(_backoffs) >= BACKOFFS:
        _backoffs.clear()
    backoff = policy.backoff()
    _backoffs[id(policy)] = (policy, backoff)
    return backoff


def retry_delay(
    policy: InvocationRetryPolicy, failures: int, *, counts: bool, delay_ms: int | None,
    retry_after: timedelta | float | int | None,
) -> int | None:
    """How long until an invocation's next attempt, after its ``failures``-th failure.

    None: the policy's attempts are used up (``on_max_attempts`` says what
    then). A failure that does not count (a step's own backoff chose
    ``delay_ms``) never uses them up; a ``retry_after`` the error asked for
    wins over the policy's delay.
    """
    if counts:
        backoff = policy_backoff(policy)
        if backoff.exhausted(failures, 0):
            return None
        if delay_ms is None:
            delay_ms = backoff.delay_ms(failures)
    if retry_after is not None:
        delay_ms = to_ms(retry_after, 0)
    return delay_ms or 0
