"""Is a changed outcome the faults' doing, or could a slow machine do the same?

A crash makes the steps after it run later: a step reading the time
(``ctx.time()``) reads a later time, a step raced against a timer may lose
the race. A handler may well return something else then; so would it on a
machine that is merely slow. ``delays_like`` builds the fault-free plan that
replays the faulty run's timing (each step and timer late by as much as it
was late in the faulty run, beyond the delay it inherited from what it
waited for); if that plan reaches the same outcome, no fault is needed for
it and ``outcome-changed`` is not reported.
"""

from __future__ import annotations

from typing import Any

from ..runtime._faults import DELAY, TIMER, Fault, FaultPlan
from ..runtime._journal import COMPLETION, RUN, SLEEP


def _completions(journal: list[Any]) -> dict[int, int]:
    return {e.target: e.at_ms for e in journal if e.kind == COMPLETION}


def delays_like(reference: list[Any], faulty: list[Any], target: str,
                ordered: bool = False) -> FaultPlan | None:
    """The delays that give the reference run the faulty run's timing; None if none do.

    ``ordered`` adds a millisecond per place in the faulty run's order of
    completions, so that steps finishing at the same time finish in that order.
    """
    ref_done, done = _completions(reference), _completions(faulty)
    faults = []
    inherited = 0  # how late the last completion the handler saw was
    rank = {t: k for k, t in enumerate(e.target for e in faulty if e.kind == COMPLETION)}
    for i, e in enumerate(faulty):
        if e.kind == COMPLETION:
            if e.target in ref_done:
                inherited = e.at_ms - ref_done[e.target]
            continue
        if e.kind not in (RUN, SLEEP) or i not in done or i not in ref_done:
            continue
        if i >= len(reference) or (reference[i].kind, reference[i].name) != (e.kind, e.name):
            break  # the path forks here (the timing's doing, or not: the rerun tells)
        by = (done[i] - ref_done[i]) - inherited + (rank.get(i, 0) if ordered else 0)
        if by > 0:
            if e.kind == RUN:
                faults.append(Fault(DELAY, step=e.name, index=i, by_ms=by, target=target))
            else:
                faults.append(Fault(DELAY, index=i, phase=TIMER, by_ms=by, target=target))
    return FaultPlan(tuple(faults)) if faults else None
