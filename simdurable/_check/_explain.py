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

from dataclasses import dataclass
from typing import Any

from ..runtime._faults import DELAY, TIMER, Fault, FaultPlan, FaultPoint
from ..runtime._journal import COMMAND_KINDS, COMPLETION, RUN, SEND, SLEEP


@dataclass(frozen=True, slots=True)
class OfInvocation(Fault):
    """A delay of one invocation's step or timer, where other invocations have
    its target (a caller that called one service twice, racing the two): a
    plan names an invocation by its target, so the delay meant for the first
    callee could fire in the second. Only ``check``'s own slow runs use it;
    invocation ids are made from the order of submissions, so the reference
    run's id names the same invocation in a run with its seed."""

    invocation: str | None = None

    def matches(self, point: FaultPoint) -> bool:
        return point.invocation == self.invocation and Fault.matches(self, point)


def _pinned(plan: FaultPlan | None, invocation: str) -> FaultPlan | None:
    if plan is None:
        return None
    return FaultPlan(tuple(OfInvocation(**{f: getattr(fault, f) for f in _FIELDS},
                                        invocation=invocation) for fault in plan.faults))


_FIELDS = tuple(f for f in Fault.__dataclass_fields__)


def _completions(journal: list[Any]) -> dict[int, int]:
    return {e.target: e.at_ms for e in journal if e.kind == COMPLETION}


def delays_like(reference: list[Any], faulty: list[Any], target: str,
                ordered: bool = False, started_late: int = 0) -> FaultPlan | None:
    """The delays that give the reference run the faulty run's timing; None if none do.

    ``ordered`` adds a millisecond per place in the faulty run's order of
    completions, so that steps finishing at the same time finish in that order.
    ``started_late``: how much later the invocation started (a callee whose
    caller was late), lateness its first step inherits.
    """
    ref_done, done = _completions(reference), _completions(faulty)
    # A command's place in the reference run: the k-th command of one run is the
    # k-th of the other while their paths agree, whatever notifications came
    # between (a crash lets a callee's answer reach the journal before the next
    # command, where the reference run journaled it after).
    ref_commands = [i for i, e in enumerate(reference) if e.kind in COMMAND_KINDS]
    faulty_commands = [i for i, e in enumerate(faulty) if e.kind in COMMAND_KINDS]
    ref_at = dict(zip(faulty_commands, ref_commands, strict=False))
    faults = []
    inherited = max(0, started_late)  # how late the last completion the handler saw was
    rank = {t: k for k, t in enumerate(e.target for e in faulty if e.kind == COMPLETION)}
    # A timer the faulty run never saw fire (a step or a call beat it in a
    # select, and the handler ended) fired after the run's last entry at least;
    # so did a step that never finished (a cancellation came first).
    unfired_ms = max((e.at_ms for e in faulty), default=0) + 1
    for i, e in enumerate(faulty):
        if e.kind == COMPLETION:
            if ref_at.get(e.target) in ref_done:
                inherited = e.at_ms - ref_done[ref_at[e.target]]
            continue
        r = ref_at.get(i)
        if r is None:
            continue
        if e.kind == SEND and e.wake_ms > e.at_ms:
            # a message late in transit (or sent with a delay): as late again
            was = reference[r]
            by = (e.wake_ms - e.at_ms) - max(0, was.wake_ms - was.at_ms)
            if was.kind == SEND and by > 0:
                faults.append(Fault(DELAY, step=e.name, index=r, phase=TIMER, by_ms=by,
                                    target=target))
            continue
        if e.kind not in (RUN, SLEEP) or r not in ref_done:
            continue
        if (reference[r].kind, reference[r].name) != (e.kind, e.name):
            break  # the path forks here (the timing's doing, or not: the rerun tells)
        if i not in done:
            by = unfired_ms - ref_done[r]
            if by > 0:
                faults.append(Fault(DELAY, step=e.name, index=r, by_ms=by, target=target)
                              if e.kind == RUN else
                              Fault(DELAY, index=r, phase=TIMER, by_ms=by, target=target))
            continue
        by = (done[i] - ref_done[r]) - inherited + (rank.get(i, 0) if ordered else 0)
        if by > 0:
            if e.kind == RUN:
                faults.append(Fault(DELAY, step=e.name, index=r, by_ms=by, target=target))
            else:
                faults.append(Fault(DELAY, index=r, phase=TIMER, by_ms=by, target=target))
    return FaultPlan(tuple(faults)) if faults else None


@dataclass
class KeptRun:
    """What ``delays_like_runs`` reads of a run kept to be compared with again
    (a fault-free run at other moments of the world): its invocations and
    their journals. Not its simulation: a long-running workflow's engine and
    trace are tens of MB, and a check keeps one such run for each moments of
    the world it tried."""

    records: list[Any]
    journals: dict[str, list[Any]]

    @classmethod
    def of(cls, sim: Any) -> KeptRun:
        records = list(sim.engine.records())
        return cls(records, {rec.id: sim.journal(rec.id) for rec in records})

    def journal(self, inv_id: str) -> list[Any]:
        return self.journals[inv_id]


def delays_like_runs(reference: Any, faulty: Any, ref_id: str, faulty_id: str, target: str,
                     ordered: bool = False, pinned: bool = False) -> FaultPlan | None:
    """``delays_like`` for a whole run: the checked invocation's delays, and
    those of every invocation it called (a callee whose step was late makes
    its caller's call late: a timer raced against the call may win then, on a
    merely slow machine too). ``reference`` and ``faulty`` are the two runs'
    simulations; a callee is matched by who called it, at which journal
    index, and its target.

    ``pinned``: each callee's delays name the callee (``OfInvocation``), for
    a run where several callees share a target; None when none do."""
    faults = list(_plan_faults(delays_like(reference.journal(ref_id),
                                           faulty.journal(faulty_id), target, ordered)))
    ref_calls = _callees(reference, ref_id)
    callees = _callees(faulty, faulty_id)
    targets = [rec.target for rec in callees.values()]
    if pinned and len(set(targets)) == len(targets):
        return None
    for path, rec in callees.items():
        was = ref_calls.get(path)
        if was is None:
            continue
        plan = delays_like(reference.journal(was.id), faulty.journal(rec.id), rec.target,
                           ordered, rec.created_ms - was.created_ms)
        faults += _plan_faults(_pinned(plan, was.id) if pinned else plan)
    return FaultPlan(tuple(faults)) if faults else None


def _callees(sim: Any, root: str) -> dict[tuple[tuple[int, str], ...], Any]:
    """The invocations ``root`` called (and theirs), by their path of (caller's
    journal index, target) from ``root``."""
    by_caller: dict[str, list[Any]] = {}
    for rec in (sim.records if isinstance(sim, KeptRun) else sim.engine.records()):
        if rec.caller_id:
            by_caller.setdefault(rec.caller_id, []).append(rec)
    out: dict[tuple[tuple[int, str], ...], Any] = {}
    todo: list[tuple[str, tuple[tuple[int, str], ...]]] = [(root, ())]
    while todo:
        inv, path = todo.pop()
        for rec in by_caller.get(inv, ()):
            here = (*path, (rec.caller_index, rec.target))
            if here not in out:
                out[here] = rec
                todo.append((rec.id, here))
    return out


def _plan_faults(plan: FaultPlan | None) -> tuple[Fault, ...]:
    return () if plan is None else plan.faults
