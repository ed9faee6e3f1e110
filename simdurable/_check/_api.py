"""``check`` and ``replay``: the public entry points of the checkers."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

from .._api.external import FakeExternal
from .._sim import check_duration, check_retry_policy, check_signature
from ..runtime._faults import FaultPlan
from ..runtime._retry import InvocationRetryPolicy
from ._chooser import RecordingChooser, ScriptedChooser
from ._explore import Exploration, Target, fewer_collections, make_target
from ._parallel import MAX_EXAMPLES, jobs_from
from ._properties import Outcome
from ._replay import Case, DidNotReproduce, as_case, forced_case
from ._report import Report
from ._world import WorldEvent


def check(
    services: Sequence[Any],
    invoke: str,
    input: Any = None,
    externals: Sequence[FakeExternal] = (),
    setup: Callable[[], object] | None = None,
    invariant: Callable[[Outcome], object] | None = None,
    max_examples: int = 200,
    seed: int = 0,
    strict: bool = True,
    *,
    replay: FaultPlan | str | None = None,
    single_faults: bool = True,
    liveness: timedelta = timedelta(hours=1),
    retry_policy: InvocationRetryPolicy | None = None,
    coverage: bool = False,
    self_check: bool = True,
    max_steps: int = 100_000,
    hash_seeds: Sequence[int] | None = None,
    progress: Callable[[int, str], object] | None = None,
    world: Sequence[WorldEvent] = (),
    concurrent: int | Sequence[tuple[str, Any]] = 1,
    wall_budget: float | None = 60.0,
    jobs: int | Literal["auto"] = 1,
) -> Report:
    """Explore crashes, failures and schedules of one invocation; report violations.

    Runs the fault-free reference run, then every single fault at every fault
    point of it, then ``max_examples`` Hypothesis examples mixing faults and
    scheduling, shrinking each new kind of failure to a minimal fault plan.

    Args:
      services: the services to host (``Service``/``VirtualObject``/``Workflow``).
      invoke: the target, "Greeter/greet" or "Counter/<key>/add".
      input: the invocation's input.
      externals: fake externals, reset before every run; their effects are compared.
      setup: called before every run (reset your own fakes here).
      invariant: ``invariant(outcome)`` raises if the outcome is wrong.
      max_examples: Hypothesis examples (0 skips that phase).
      seed: seeds the reference run and Hypothesis.
      strict: report clock/RNG/uuid4 calls made outside steps.
      replay: run only this fault plan (with ``seed``) and judge it.
      single_faults: try every single fault exhaustively.
      liveness: how much longer than the reference run a faulty run may take.
      coverage: measure which handler lines ran only under faults (coverage.py).
      self_check: the harness checks itself: the reference run, and every run
        that leaves its path, twice with traces compared; the reference run
        again every 25 runs (it must take its first path).
      hash_seeds: the ``PYTHONHASHSEED`` values of the processes the reference
        run is repeated in (two or more; ``None``: 1 and 2), with the world's
        events, whose operations are compared: catches iteration over sets of strings, which differs
        between service processes. The reference run is also made in a new
        process and again in it, and compared: catches a handler that
        decides by what an earlier invocation left in a module (a cache).
        The processes are started once and reused by later checks. Needs
        importable services (module globals); ``()`` turns both off.
      world: what the outside world does (``simdurable.world`` events:
        resolve or reject a promise or an awakeable, call or send to a
        handler, advance time), in order, each at its time or once the run
        waits; the same in every run. ``WorldError`` if one names nothing the
        fault-free run created.
      concurrent: run invocations at once with the target: a count (the
        target that many times, same input) or a list of ``(target, input)``
        (at most 4 in all). Then every run whose faults are transparent must
        end as some one-at-a-time order of them ends, in state and results;
        otherwise it is a ``not-serializable`` violation (a lost update).
        Each one-way message they send is an invocation of its own, one at
        a time as well (two senders' messages to a key keep no order).
      wall_budget: seconds of wall-clock time one run may take; a handler
        spinning in plain Python (a loop with no ``await``) is stopped then
        and reported ``stuck`` with its line. None: no limit.
      jobs: worker processes to share the single faults and the generated
        examples among (warm, one ``PYTHONHASHSEED`` each, reused by later
        checks). The report is the same whatever the number. ``"auto"``:
        one for every core this process may use. The workers
        import the services, externals, ``setup`` and ``invariant`` by name:
        if one is not a module global, the check runs in this process and
        a note says why.
      progress: ``progress(runs, phase)`` is called after every run (the CLI
        shows it on a terminal); ``phase`` names the phase in words.

    Raises ``DidNotReproduce`` when replaying a case (``replay=``,
    ``replaying``, ``@reproduce``) that shows no violation; ``InternalError``
    if simdurable catches itself breaking exactly-once.
    """
    if (not isinstance(max_examples, int) or isinstance(max_examples, bool)
            or not 0 <= max_examples <= MAX_EXAMPLES):
        raise ValueError(f"max_examples must be an integer from 0 to {MAX_EXAMPLES} (a longer "
                         f"campaign is a soak over seeds), not {max_examples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, not {seed!r}")
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, not {max_steps!r}")
    if wall_budget is not None and (isinstance(wall_budget, bool)
                                    or not isinstance(wall_budget, (int, float))):
        raise TypeError(f"wall_budget must be seconds > 0 or None, not {wall_budget!r}")
    if replay is not None and not isinstance(replay, (str, FaultPlan)):
        raise TypeError("replay must be a fault plan string like "
                        f"'crash(step=charge, phase=effect-done)' or a FaultPlan, not {replay!r}")
    if hash_seeds is not None and (
            isinstance(hash_seeds, (str, bytes)) or not isinstance(hash_seeds, Sequence)
            or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 0
                       for h in hash_seeds)):
        raise TypeError("hash_seeds must be a sequence of PYTHONHASHSEED integers like (1, 2), "
                        f"or () to turn the check off; not {hash_seeds!r}")
    jobs = jobs_from("jobs", jobs)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(runs, phase) or None, "
                        f"not {progress!r}")
    if progress is not None:
        check_signature("progress", progress, "progress(runs, phase)", 2)
    check_retry_policy(retry_policy)
    check_duration("liveness", liveness)
    t = make_target(services, invoke, input, externals, setup, invariant, strict,
                    retry_policy, liveness, max_steps, world, concurrent)
    if wall_budget is not None and not wall_budget > 0:
        raise ValueError(f"wall_budget must be seconds > 0 or None, not {wall_budget!r}")
    t.wall_budget = wall_budget
    case = forced_case()
    if case is None and replay is not None:
        case = as_case(replay, seed)
    if case is not None:
        report = run_case(t, case)
        if report.ok:
            recorded = f" (it was recorded as {case.kind})" if case.kind else ""
            unfired = "".join(f"; {n}" for n in report.notes if "never fired" in n)
            raise DidNotReproduce(
                f"the case {str(case.plan)!r} with seed {case.seed} ran without a "
                f"violation{recorded}: the bug may be fixed, or the handler changed{unfired}"
            )
        return report
    from ._process import DEFAULT_HASH_SEEDS

    # The hash seeds of the processes the reference run is repeated in (with the
    # world's events, at the reference run's moments).
    seeds = DEFAULT_HASH_SEEDS if hash_seeds is None else tuple(hash_seeds)
    _start_workers(t.services, seeds, jobs if single_faults or max_examples > 0 else 1,
                   coverage)
    probe = None
    if coverage:
        from ._coverage import CoverageProbe

        probe = CoverageProbe(t.services)
        t.coverage = probe
        probe.begin()
    threshold = fewer_collections()
    try:
        ex = Exploration(t, seed, self_check, progress)
        points = ex.reference()
        hopeless = ex.hopeless()
        if hopeless:
            single = examples = 0
            ex.notes.add(hopeless)
            ex.points.clear()
        else:
            lanes = None
            if jobs > 1 and (single_faults or max_examples > 0):
                from ._parallel import Lanes

                opened = Lanes.open(ex, ex.single_fault_cases(points), jobs)
                if isinstance(opened, str):
                    ex.notes.add(f"jobs={jobs}: {opened}")
                else:
                    lanes = opened
            if lanes is None:
                single = ex.single_faults(points) if single_faults else 0
                ex.world_moments()
                examples = ex.hypothesis(max_examples) if max_examples > 0 else 0
            else:
                with lanes:
                    single = lanes.single_faults() if single_faults else 0
                    ex.world_moments()
                    examples = lanes.examples(max_examples) if max_examples > 0 else 0
        ex.keep(ex.sometimes_violations(), f"all {ex.runs_made()} runs")
        note = None
        from ._process import hash_seed_violation

        # Only a reference run that finished is worth repeating elsewhere.
        finished = ex.ref is not None and ex.ref.stuck is None
        if len(seeds) >= 2 and finished and "nondeterminism" not in ex.found:
            found = hash_seed_violation(t.services, t.externals, t.setup, t.invoke, t.input,
                                        seed, list(seeds), max_steps, t.world)
            if isinstance(found, str):
                if hash_seeds is not None:  # asked for: say why it did not run
                    note = found
            elif found is not None and found.kind not in ex.found:
                ex.found[found.kind] = found
        if seeds and finished and "nondeterminism" not in ex.found:
            from ._process import process_state_violation

            state = process_state_violation(t.services, t.externals, t.setup, t.invoke,
                                            t.input, seed, seeds[0], max_steps, t.world)
            if isinstance(state, str):
                if hash_seeds is not None and note is None:
                    note = state
            elif state is not None:
                ex.found["nondeterminism"] = state
        report = ex.report(single, examples)
        if note:
            report.notes.append(note)
    finally:
        gc.set_threshold(*threshold)
        if probe is not None:
            report_coverage = probe.end(ex.reached)
    if probe is not None:
        report.coverage = report_coverage
    return report


def _start_workers(services: Sequence[Any], hash_seeds: Sequence[int], jobs: int,
                   coverage: bool) -> None:
    """Start the worker processes this check will use, without waiting for them.

    Their start (an interpreter and imports, a second or so) then overlaps
    the reference run and, with ``jobs=1``, the whole exploration, rather
    than coming after it. None for services a worker cannot import.
    """
    from ._names import modules_of
    from ._process import _names

    if _names(services, modules_of(services)) is None:
        return
    wanted = set(hash_seeds) if len(hash_seeds) >= 2 else set()
    preload: list[str] = []
    if jobs > 1 and not coverage:
        from ._workers import can_fork

        if not can_fork():  # else the parts go to workers forked when they are sent
            wanted |= set(range(1, jobs))  # and this process: N - 1 workers
            preload = ["hypothesis", "simdurable._check._parallel"]
    if wanted:
        from ._workers import pool

        pool().start(sorted(wanted), preload)


def run_case(t: Target, case: Case) -> Report:
    """Judge one case: the reference run with its seed, then the case itself."""
    ex = Exploration(t, case.seed, self_check=True)
    ex.reference()
    if case.plan or case.schedule is not None or case.moments is not None:
        schedule = case.schedule

        def chooser() -> RecordingChooser | ScriptedChooser:
            return RecordingChooser(case.seed) if schedule is None else ScriptedChooser(schedule)

        facts, violations = ex.run(case.seed, plan=case.plan, chooser=chooser(),
                                   again=lambda: (chooser(), None), moments=case.moments)
        unfired = [f for f in case.plan.faults if not any(g is f for _, g in facts.fired)]
        if unfired:
            # A plan fault that never fires replays nothing: say so rather
            # than let "no violation" read as "fixed".
            ex.notes.add(f"the replayed plan's fault(s) {FaultPlan(tuple(unfired))} never "
                         f"fired: the step, attempt or phase they name was not reached"
                         + _unknown_steps(unfired, [ex.ref, facts]))
        for v in violations:
            v.schedule = schedule
        ex.keep(violations, f"replaying {case.origin}")
    ex.keep(ex.sometimes_violations(), "the replayed runs")
    report = ex.report(0, 0)
    report.replayed = True
    return report


def _unknown_steps(faults: Sequence[Any], runs: Sequence[Any]) -> str:
    """For faults naming a step or operation no run journaled (a misspelt name),
    the names the runs did journal."""
    from .._scenario._schema import did_you_mean

    names = sorted({e.name for run in runs if run is not None
                    for h in run.sim.invocations() for e in run.sim.journal(h)
                    if e.is_command and e.name})
    out = ""
    for f in faults:
        step = getattr(f, "step", None)
        if step is not None and step not in names:
            out += (f"; no step or operation is named {step!r} in the runs"
                    f"{did_you_mean(step, names)} (names seen: {', '.join(names) or 'none'})")
    return out


def replay(
    plan: FaultPlan | str | None = None,
    seed: int = 0,
    *,
    services: Sequence[Any],
    invoke: str,
    input: Any = None,
    externals: Sequence[FakeExternal] = (),
    setup: Callable[[], object] | None = None,
    invariant: Callable[[Outcome], object] | None = None,
    strict: bool = True,
    schedule: list[int] | None = None,
    blob: str | None = None,
    retry_policy: InvocationRetryPolicy | None = None,
    world: Sequence[WorldEvent] = (),
    concurrent: int | Sequence[tuple[str, Any]] = 1,
) -> Report:
    """Run one case (a fault plan and a seed, or a report's blob) and judge it.

    Returns the report; unlike ``check`` under ``replaying`` it does not raise
    when the case passes.
    """
    t = make_target(services, invoke, input, externals, setup, invariant, strict,
                    retry_policy, timedelta(hours=1), 100_000, world, concurrent)
    case = as_case(plan, seed, schedule, blob)
    return run_case(t, case)
