"""Hypothesis strategies for fault plans and schedules, for your own ``@given`` tests.

``check`` explores for you; these let you write the property yourself and
keep Hypothesis's example database, shrinking and ``@reproduce_failure``::

    from hypothesis import given
    import simdurable as sd
    from simdurable import strategies as sds

    @given(plan=sds.fault_plans(steps=["charge", "ship"]), chooser=sds.schedules())
    def test_checkout_survives(plan, chooser):
        sim = sd.Simulation([shop], faults=plan, chooser=chooser)
        h = sim.invoke("Shop/checkout", order)
        sim.run()
        assert len(bank.effects) == 1, str(plan)

A drawn plan shrinks toward fewer, simpler faults; a drawn schedule toward
submission order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import strategies as st

from .runtime._faults import (
    AFTER_STORE,
    BEFORE,
    CRASH,
    DELAY,
    EFFECT_DONE,
    FAIL,
    KINDS,
    LOSE_RESPONSE,
    RESTART,
    SUSPEND,
    TERMINAL,
    Fault,
    FaultPlan,
)
from .runtime._scheduler import Chooser

__all__ = ["faults", "fault_plans", "schedules", "seeds"]

_PHASED = (CRASH, SUSPEND, RESTART)


class _RandomChooser:
    """A chooser over a Hypothesis-controlled ``random.Random``: it shrinks."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def choose(self, n: int, label: str) -> int:
        return self._rng.randrange(n)

    def chance(self, p: float, label: str) -> bool:
        return p > 0 and self._rng.random() < p

    def __repr__(self) -> str:
        return "schedules()"


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}; expected some of: {', '.join(KINDS)}")
    if not kinds:
        raise ValueError("kinds must name at least one fault kind")
    return tuple(kinds)


@st.composite
def _fault(draw: st.DrawFn, steps: tuple[str, ...], kinds: tuple[str, ...],
           max_attempt: int) -> Fault:
    kind = draw(st.sampled_from(kinds))
    step = draw(st.sampled_from(steps)) if steps else None
    attempt = draw(st.integers(1, max_attempt))
    if kind in _PHASED:
        phase = draw(st.sampled_from((EFFECT_DONE, BEFORE, AFTER_STORE)))
        return Fault(kind, step=step, phase=phase, attempt=attempt)
    if kind == FAIL:
        times = draw(st.integers(1, 3))
        exc = draw(st.sampled_from(("ConnectionError", "TimeoutError", "OSError")))
        return Fault(FAIL, step=step, times=times, exception=exc)
    if kind == TERMINAL:
        return Fault(TERMINAL, step=step, attempt=attempt, message="injected terminal failure")
    if kind == DELAY:
        by = draw(st.sampled_from((10, 1_000, 60_000)))
        return Fault(DELAY, step=step, attempt=attempt, by_ms=by)
    return Fault(LOSE_RESPONSE, step=step, attempt=attempt)


def faults(steps: Sequence[str] = (), kinds: Sequence[str] = (CRASH, FAIL, DELAY,
           LOSE_RESPONSE, SUSPEND, RESTART), max_attempt: int = 2) -> st.SearchStrategy[Fault]:
    """One fault at a named step (any step if ``steps`` is empty).

    ``terminal`` is left out of the default kinds: it changes the outcome on
    purpose. Crash, suspend and restart get a phase: before, effect-done or
    after-store.
    """
    if isinstance(steps, str):
        raise TypeError(f"steps must be a list of step names, not the string {steps!r}")
    if max_attempt < 1:
        raise ValueError(f"max_attempt must be >= 1, not {max_attempt}")
    return _fault(tuple(steps), _check_kinds(kinds), max_attempt)


def fault_plans(steps: Sequence[str] = (), kinds: Sequence[str] = (CRASH, FAIL, DELAY,
                LOSE_RESPONSE, SUSPEND, RESTART), max_faults: int = 3,
                max_attempt: int = 2) -> st.SearchStrategy[FaultPlan]:
    """Fault plans of up to ``max_faults`` faults; shrinks toward the empty plan."""
    if max_faults < 0:
        raise ValueError(f"max_faults must be >= 0, not {max_faults}")
    return st.lists(faults(steps, kinds, max_attempt), max_size=max_faults).map(
        lambda fs: FaultPlan(tuple(fs))
    )


def schedules() -> st.SearchStrategy[Chooser]:
    """A ``Chooser`` for ``Simulation(chooser=...)`` whose decisions Hypothesis controls."""
    return st.randoms(use_true_random=False).map(_RandomChooser)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``Simulation(seed=...)``; shrinks toward 0."""
    return st.integers(0, 2**32 - 1)
