"""Replaying one case: ``replay``, ``replaying``, ``@reproduce`` and ``DidNotReproduce``.

A case is a fault plan and a seed (plus, rarely, scheduling decisions the seed
alone does not give). ``replay`` runs one case and judges it as ``check``
would. ``replaying`` and ``@reproduce`` make every ``check`` inside them run
that case instead of exploring, and raise ``DidNotReproduce`` when it passes:
a fixed bug, or a case from another version.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from ..runtime._errors import SimdurableError
from ..runtime._faults import FaultPlan
from ._report import _version, decode_blob

F = TypeVar("F", bound=Callable[..., Any])


class DidNotReproduce(SimdurableError):
    """A replayed case ran without the violation it was recorded with."""


@dataclass(frozen=True)
class Case:
    plan: FaultPlan
    seed: int
    schedule: list[int] | None = None
    kind: str | None = None
    origin: str = "replay"
    # When each world event happened (``check(world=...)``), if not as in the
    # reference run.
    moments: tuple[str, ...] | None = None


_forced: ContextVar[Case | None] = ContextVar("simdurable_forced_case", default=None)
# How many checks took the forced case: a ``@reproduce`` whose test never
# called ``check`` must not pass as if the failure were fixed.
_taken: ContextVar[list[int] | None] = ContextVar("simdurable_forced_taken", default=None)


def forced_case() -> Case | None:
    case = _forced.get()
    taken = _taken.get()
    if case is not None and taken is not None:
        taken[0] += 1
    return case


def case_from_blob(blob: str) -> Case:
    data = decode_blob(blob)
    if data["v"] != _version():
        raise DidNotReproduce(
            f"Attempting to reproduce a failure from a different version of simdurable: the "
            f"blob was written by {data['v']}, this is {_version()}. Fault points and "
            f"schedules may differ between versions; find the failure again with check()."
        )
    moments = data.get("moments")
    return Case(FaultPlan.parse(data["plan"]), int(data["seed"]), data.get("schedule"),
                data.get("kind"), origin="blob",
                moments=None if moments is None else tuple(moments))


def as_case(plan: FaultPlan | str | None, seed: int, schedule: list[int] | None = None,
            blob: str | None = None) -> Case:
    if blob is not None:
        return case_from_blob(blob)
    if plan is None:
        plan = FaultPlan()
    if isinstance(plan, str):
        plan = FaultPlan.parse(plan)
    return Case(plan, seed, schedule)


@contextlib.contextmanager
def replaying(plan: FaultPlan | str | None = None, seed: int = 0, *,
              blob: str | None = None) -> Iterator[None]:
    """Make every ``check`` in this block replay one case instead of exploring.

    ``check`` then raises ``DidNotReproduce`` if the case shows no violation.
    """
    token = _forced.set(as_case(plan, seed, blob=blob))
    try:
        yield
    finally:
        _forced.reset(token)


def reproduce(version: str, blob: str) -> Callable[[F], F]:
    """Decorate a test to replay the case a report printed, as Hypothesis's
    ``@reproduce_failure`` does: ``@simdurable.reproduce("0.1.0", "eJy...")``."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if version != _version():
                raise DidNotReproduce(
                    f"Attempting to reproduce a failure from a different version of "
                    f"simdurable: {version}, this is {_version()}. Remove the decorator "
                    f"and let check() find the failure again."
                )
            token = _forced.set(case_from_blob(blob))
            taken = [0]
            token_taken = _taken.set(taken)
            try:
                result = fn(*args, **kwargs)
            finally:
                _forced.reset(token)
                _taken.reset(token_taken)
            if not taken[0]:
                raise DidNotReproduce(
                    f"@simdurable.reproduce on {getattr(fn, '__name__', fn)!r}: the test "
                    f"never called simdurable.check(), so nothing replayed the case. Put the "
                    f"decorator on the test that calls check()."
                )
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
