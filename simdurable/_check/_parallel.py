"""``check(jobs=N)``: the single-fault phase and the generated examples over N processes.

The work is cut into parts that do not depend on the number of workers: the
single faults in slices of the fixed case list, the generated examples in
blocks of ``EXAMPLES_PER_BLOCK``, each block from its own Hypothesis seed.
Workers (forked from this process for each phase, or the warm processes of
``_workers``, PYTHONHASHSEED 1 to N: ``_workers.lanes``) each run the
reference run once per check, then parts, and send back what a part
counted and found. The parent merges the parts in their order, exactly as if
it had run them one after the other; so the report for a seed is the same
whatever N.

A block of examples depends on the kinds of violation already found (a
round stops at a new kind). A block is sent with the kinds found by the
blocks merged so far; when its turn to be merged comes and blocks before it
found more, it is run again with them. That costs time only when a check
fails, never a different report.

Workers import the target by name: services, fake externals, ``setup`` and
``invariant`` must be module globals (or module-level functions). Otherwise
the check runs in one process and says why in a note.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import importlib
import json
import os
import pickle
import select
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._codec import received, sent_codec
from ..runtime._faults import Fault, FaultPlan
from ._explore import Exploration, Target, example_blocks, fewer_collections
from ._names import modules_of, name_of
from ._workers import Worker, WorkerError, lanes, ready, task

if TYPE_CHECKING:
    from ._soak import Outcome, SoakTarget

# Single-fault parts per worker: enough to even out parts of unequal cost.
PARTS_PER_JOB = 4
# More workers than this is a typo (-j 100000), not a machine: each is a Python process.
MAX_JOBS = 256
# More examples than this is a typo (10**22), not a check: a million examples
# take a quarter of an hour at least; a longer campaign is a soak over seeds.
MAX_EXAMPLES = 1_000_000
# How long a worker given no more parts may take to answer those it was sent.
DRAIN_SECONDS = 120.0


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask where the system has one
    (``taskset``, a container's cpuset), else the machine's count; at most ``MAX_JOBS``."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_JOBS))


def jobs_from(name: str, value: object) -> int:
    """A jobs setting as a number of worker processes: an integer from 1 to ``MAX_JOBS``,
    or ``"auto"`` for every core this process may use (``usable_cores``). ``name`` is the
    flag or field, for the error; a float or a bool is refused, not cut."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return usable_cores()
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        n = int(value)
    if n is None or not 1 <= n <= MAX_JOBS:
        # A flag's value as typed; a configuration's as written there ('many', 2.0).
        shown = value if isinstance(value, str) and name.startswith("-") else repr(value)
        raise ValueError(f"{name} must be an integer from 1 to {MAX_JOBS} or \"auto\" "
                         f"(worker processes; auto is one per usable core, {usable_cores()} "
                         f"here), not {shown}")
    return n


def _importable(obj: Any, modules: list[str]) -> str | None:
    """``module.attr`` a worker process can import to get ``obj`` itself."""
    name = name_of(obj, modules)
    if name is not None and "." in name:
        return name
    mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(mod, str) or not isinstance(qual, str) or "<" in qual or "." in qual \
            or mod == "__main__":
        return None
    try:
        found = getattr(importlib.import_module(mod), qual, None)
    except Exception:  # noqa: BLE001 - whatever stops the import, it is not importable
        return None
    return f"{mod}.{qual}" if found is obj else None


def _load(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def target_spec(t: Target) -> dict[str, Any] | str:
    """What a worker needs to build the same target, or why it cannot."""
    modules = modules_of(t.services)
    names: dict[str, Any] = {"services": [], "externals": []}
    for what, objs in (("services", t.services), ("externals", t.externals)):
        for obj in objs:
            name = _importable(obj, modules)
            if name is None:
                label = getattr(obj, "name", None) or type(obj).__name__
                return (f"ran in one process, not in worker processes: {what[:-1]} "
                        f"{label!r} is not a module global a worker can import (defined "
                        f"inside a function?)")
            names[what].append(name)
    for what, fn in (("setup", t.setup), ("invariant", t.invariant)):
        names[what] = None
        if fn is not None:
            names[what] = _importable(fn, modules)
            if names[what] is None:
                return (f"ran in one process, not in worker processes: the {what} "
                        f"{getattr(fn, '__qualname__', fn)!r} is not a module-level function "
                        f"a worker can import")
    try:
        names["codec"] = sent_codec(t.services)
    except ValueError as err:
        return f"ran in one process, not in worker processes: {err}"
    rest = replace(t, services=[], externals=[], setup=None, invariant=None, coverage=None)
    try:
        names["rest"] = _dump(rest)
    except Exception as err:  # noqa: BLE001 - any pickling failure means: stay here
        return (f"ran in one process, not in worker processes: the input or the world "
                f"cannot be sent to another process ({type(err).__name__}: {err})")
    return names


def target_of(spec: dict[str, Any]) -> Target:
    """In a worker: the target ``target_spec`` described, its objects imported here."""
    t: Target = _undump(spec["rest"])
    t.services = received([_load(n) for n in spec["services"]], spec.get("codec"))
    t.externals = [_load(n) for n in spec["externals"]]
    t.setup = None if spec["setup"] is None else _load(spec["setup"])
    t.invariant = None if spec["invariant"] is None else _load(spec["invariant"])
    return t


def reference_digest(ex: Exploration, cases: Sequence[Fault | tuple[Fault, ...]]) -> str:
    """A fingerprint of the reference run and its single faults, to compare processes."""
    assert ex.ref is not None
    h = hashlib.sha256()
    for line in ex.ref.sim.trace():
        h.update(line.encode("utf-8", "replace") + b"\n")
    for case in cases:
        plan = FaultPlan(case if isinstance(case, tuple) else (case,))
        h.update(str(plan).encode("utf-8", "replace") + b"\n")
    return h.hexdigest()


def _dump(obj: Any) -> str:
    return base64.b64encode(pickle.dumps(obj)).decode("ascii")


def _undump(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - our own worker's answer


# In a worker: the exploration of the check being served, after its reference run.
# A forked worker finds the parent's own there (``Lanes._open`` puts it there for
# the fork): no import, no reference run of its own.
_CURRENT: dict[str, tuple[Exploration, list[Fault | tuple[Fault, ...]], str]] = {}


@task
def explore_part(args: dict[str, Any]) -> dict[str, Any]:
    """In a worker: run one part of a check's exploration; return its tally."""
    token = args["token"]
    got = _CURRENT.get(token)
    if got is None:
        _CURRENT.clear()
        ex = Exploration(target_of(args["spec"]), args["seed"], args["self_check"])
        points = ex.reference()
        cases = ex.single_fault_cases(points)
        got = _CURRENT[token] = (ex, cases, reference_digest(ex, cases))
    ex, cases, digest = got
    if digest != args["digest"]:
        return {"mismatch": True}
    ex.progress = None  # a forked parent's progress line is the parent's to show
    ex.reset_tally()
    part = args["part"]
    n = 0
    threshold = fewer_collections()
    try:
        if part[0] == "single":
            run_single_part(ex, cases, part)
        else:
            n = ex.hypothesis_block(part[1], part[2], known=args["known"])
    finally:
        gc.set_threshold(*threshold)
    return {"n": n, "tally": _dump(ex.tally())}


def run_single_part(ex: Exploration, cases: list[Fault | tuple[Fault, ...]],
                    part: Sequence[Any]) -> None:
    """A part of the single-fault phase: ``("single", start, stop, pairs)``, ``pairs``
    None for a part of the single faults themselves (the list is not whole yet),
    else the crashes in a compensation they found (``_dump``ed), which follow them."""
    if part[3] is None:
        ex.run_single_faults(cases, part[1], part[2], False)
    else:
        ex.run_single_faults(cases + _undump(part[3]), part[1], part[2])


# A part's answer: the examples it ran and its tally; None: run it again here, in order.
_Answer = tuple[int, dict[str, Any]] | None


class Lanes:
    """Runs the parts of one check's phases over this process and N - 1 workers,
    and merges them in order.

    The parts of a phase are taken in order by whichever lane is free: a worker
    (kept two parts ahead, so that it never waits for this process to read its
    answer) or this process itself, between reading answers. Where a part ran
    does not change what it finds: it starts from the reference run and the
    kinds found by the parts merged before it was taken, and the parts are
    merged in their order. The workers are forked (or reserved) once per check,
    when the first phase starts, and end as the ``with`` block of the lanes ends.
    """

    def __init__(self, ex: Exploration, cases: list[Fault | tuple[Fault, ...]], jobs: int,
                 spec: dict[str, Any]) -> None:
        self.ex = ex
        self.cases = cases
        self.jobs = jobs
        self.args = {"spec": spec, "seed": ex.seed, "self_check": ex.self_check,
                     "digest": reference_digest(ex, cases)}
        self.args["token"] = hashlib.sha256(repr(sorted(self.args.items())).encode()
                                            ).hexdigest()
        self._stack = ExitStack()
        self._workers: list[Worker] | None = None

    @classmethod
    def open(cls, ex: Exploration, cases: list[Fault | tuple[Fault, ...]], jobs: int
             ) -> Lanes | str:
        """Lanes for this check, or the note saying why it runs in one process."""
        if ex.t.coverage is not None:
            return "ran in one process, not in worker processes: coverage is measured here"
        spec = target_spec(ex.t)
        if isinstance(spec, str):
            return spec
        return cls(ex, cases, jobs, spec)

    def __enter__(self) -> Lanes:
        return self

    def __exit__(self, *exc: Any) -> None:
        """End the workers (each told to stop at once, they end together). After a
        failure, warm workers that may still owe answers are closed, not kept."""
        try:
            self._stack.__exit__(*exc)
        finally:
            self._workers = None

    def single_faults(self) -> int:
        """The single faults over the lanes, then the crashes in a compensation
        their failures for good found (``Exploration.single_faults``)."""
        ex = self.ex
        singles = len(self.cases)
        self._run(self._single_parts(0, singles, None), dependent=False)
        pairs = ex.compensation_cases()
        if pairs:
            self._run(self._single_parts(singles, singles + len(pairs), _dump(pairs)),
                      dependent=False)
        ex.end_single_faults(singles, singles + len(pairs))
        return singles + len(pairs)

    def _single_parts(self, start: int, stop: int, pairs: str | None
                      ) -> list[tuple[Any, ...]]:
        n = stop - start
        size = max(1, -(-n // (self.jobs * PARTS_PER_JOB)))
        return [("single", a, min(stop, a + size), pairs) for a in range(start, stop, size)]

    def examples(self, max_examples: int) -> int:
        from hypothesis.control import currently_in_test_context

        if currently_in_test_context():  # Hypothesis forbids nesting: seeded, here
            return self.ex.hypothesis(max_examples)
        parts = [("examples", j, size) for j, size in enumerate(example_blocks(max_examples))]
        return self._run(parts, dependent=True)

    def _open(self) -> list[Worker]:
        """The check's N - 1 workers, started on first use (forks inherit this
        process's exploration through ``_CURRENT``)."""
        if self._workers is None:
            token = str(self.args["token"])
            _CURRENT.clear()
            _CURRENT[token] = (self.ex, self.cases, str(self.args["digest"]))
            try:
                self._workers = list(self._stack.enter_context(lanes(self.jobs - 1)))
            finally:
                _CURRENT.clear()  # here, the check's own exploration is not a worker's
        return self._workers

    def _here(self, part: tuple[Any, ...]) -> int:
        """Run a part in this process, on the check's own exploration, at its turn."""
        if part[0] == "single":
            run_single_part(self.ex, self.cases, part)
            return 0
        return self.ex.hypothesis_block(part[1], part[2])

    def _mine(self, part: tuple[Any, ...], known: frozenset[str],
              between: Callable[[], None] = lambda: None) -> _Answer:
        """Run a part in this process as a worker would: its own tally, merged at its
        turn. The check's counts are set aside meanwhile and put back after.
        ``between`` is called after each run (to keep the workers fed)."""
        ex = self.ex
        saved = dict(vars(ex))
        ex.progress = lambda runs, phase: between()
        ex.reset_tally()
        try:
            if part[0] == "single":
                run_single_part(ex, self.cases, part)
                n = 0
            else:
                n = ex.hypothesis_block(part[1], part[2], known=sorted(known))
            return n, ex.tally()
        finally:
            vars(ex).update(saved)

    def _run(self, parts: list[tuple[Any, ...]], dependent: bool) -> int:
        """Run the parts over the lanes; merge them in order; the examples run."""
        ex = self.ex
        total = 0
        workers = self._open()
        sent: dict[Worker, deque[tuple[int, frozenset[str]]]] = {w: deque() for w in workers}
        done: dict[int, tuple[frozenset[str], _Answer]] = {}
        pending = deque(range(len(parts)))
        merged = 0

        def drop(w: Worker) -> None:
            """A worker that failed is given no more (in this phase or the next);
            what it held runs here, in order. A warm worker serves later checks:
            the answers to what it was sent are read, so that none is left behind."""
            for i, known in sent.pop(w):
                done[i] = (known, None)
                if w.alive():
                    try:
                        w.receive(DRAIN_SECONDS)
                    except WorkerError:
                        pass
            workers.remove(w)

        def collect(timeout: float | None) -> None:
            """Take the answers the workers have ready, waiting up to ``timeout``."""
            for w in ready([w for w, queue in sent.items() if queue], timeout):
                while w in sent and sent[w]:
                    i, known = sent[w].popleft()  # answers come in the order sent
                    try:
                        answer = w.receive(0)
                    except WorkerError:
                        done[i] = (known, None)
                        drop(w)
                        break
                    if "mismatch" in answer:
                        # Its reference run differs (the hash seed?): no more parts.
                        done[i] = (known, None)
                        drop(w)
                        break
                    done[i] = (known, (answer["n"], _undump(answer["tally"])))
                    if not w.has_answer():
                        break

        # The kinds found by the parts merged so far: what a part is sent with.
        known_now = [frozenset(ex.found)]

        def feed() -> None:
            """Send each worker parts up to two ahead (one near the end, so that the
            lanes end together), and take the answers ready. Called between the runs
            of a part this process runs too, so that no worker waits for it."""
            for w, queue in list(sent.items()):
                depth = 2 if len(pending) > len(sent) + 1 else 1
                while pending and len(queue) < depth:
                    i = pending.popleft()
                    known = known_now[0]
                    try:
                        w.send("explore_part", __name__,
                               dict(self.args, part=list(parts[i]), known=sorted(known)))
                    except WorkerError:
                        done[i] = (known, None)
                        drop(w)
                        break
                    queue.append((i, known))
            collect(0)

        while merged < len(parts):
            known_now[0] = frozenset(ex.found)
            feed()
            while merged in done:
                known, answer = done.pop(merged)
                if answer is None:
                    total += self._here(parts[merged])
                else:
                    n, tally = answer
                    if dependent and known != frozenset(ex.found) and tally["found"]:
                        # Parts before it found more, and so did it: with their
                        # kinds known it may stop elsewhere. Run it again. (A part
                        # that found nothing new runs the same with more known.)
                        pending.appendleft(merged)
                        break
                    ex.merge(tally)
                    total += n
                merged += 1
                if ex.progress is not None:
                    ex.progress(ex.runs, ex.phase)
            if merged >= len(parts) or merged in done:
                continue
            if pending:
                i = pending.popleft()
                known = known_now[0] = frozenset(ex.found)
                done[i] = (known, self._mine(parts[i], known, feed))
            elif any(sent.values()):
                collect(None)
            else:  # pragma: no cover - every part is done, pending or sent
                raise AssertionError(f"part {merged} of {len(parts)} is nowhere")
        return total


# -- simdurable soak -j N: whole checks spread over the workers ----------------------


def seed_digest(t: Target, seed: int) -> str:
    """The fingerprint (``reference_digest``) of a check's reference run with this seed."""
    ex = Exploration(t, seed)
    points = ex.reference()
    return reference_digest(ex, ex.single_fault_cases(points))


# In a worker: the soak target being served, and the check's target for its digest.
_SOAK: dict[str, tuple[SoakTarget, Target]] = {}


@task
def soak_check(args: dict[str, Any]) -> dict[str, Any]:
    """In a worker: one check of a soak campaign, if its reference run is the parent's."""
    from ._soak import SoakTarget, check_once

    token = args["token"]
    got = _SOAK.get(token)
    if got is None:
        _SOAK.clear()
        target = target_of(args["spec"])
        t = SoakTarget("", target.services, target.invoke, target.input, target.externals,
                       list(target.world), args["concurrent"])
        got = _SOAK[token] = (t, target)
    t, target = got
    if seed_digest(target, args["seed"]) != args["digest"]:
        return {"mismatch": True}
    error, violations = check_once(t, args["seed"], args["max_examples"], args["strict"])
    return {"error": error, "violations": [list(v) for v in violations]}


def _soak_specs(targets: Sequence[SoakTarget], max_examples: int, strict: bool
                ) -> tuple[list[tuple[Target, dict[str, Any]] | None], list[str]]:
    """Per target, what a worker needs to check it (None: check it here); notes why not."""
    from datetime import timedelta

    from ..runtime._errors import SimdurableError
    from ._explore import make_target

    out: list[tuple[Target, dict[str, Any]] | None] = []
    notes = []
    for t in targets:
        try:
            target = make_target(t.services, t.invoke, t.input, t.externals, None, None,
                                 strict, None, timedelta(hours=1), 100_000, t.world,
                                 t.concurrent)
        except (SimdurableError, TypeError, ValueError):
            out.append(None)  # each check says why, here
            continue
        spec = target_spec(target)
        if isinstance(spec, str):
            notes.append(f"{t.label} {spec}")
            out.append(None)
            continue
        args: dict[str, Any] = {"spec": spec, "concurrent": t.concurrent,
                                "max_examples": max_examples, "strict": strict}
        args["token"] = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()
        out.append((target, args))
    return out, notes


def spread_checks(targets: Sequence[SoakTarget], seeds: range, max_examples: int,
                  strict: bool, jobs: int, over_budget: Callable[[int], bool],
                  show: Callable[[int, SoakTarget], None],
                  take: Callable[[int, int, Outcome], None]) -> list[str]:
    """Run a soak's checks (seed after seed, each target) over the workers.

    Each check runs whole in one worker (``jobs=1`` there); the outcomes are
    handed to ``take`` in seed order, then target order, as one process would
    give them. A worker whose reference run differs from this process's (a
    handler whose path follows the hash seed) leaves that check to this
    process, as do failed workers and targets the workers cannot import
    (returned as notes). ``over_budget(n)`` is asked before seed ``n`` starts.
    """
    from ..runtime._errors import SimdurableError
    from ._soak import check_once

    specs, notes = _soak_specs(targets, max_examples, strict)
    order = [(n, i) for n in range(len(seeds)) for i in range(len(targets))]
    done: dict[int, dict[str, Any] | None] = {}  # None: to be checked here
    nxt = merged = 0
    stop = len(order)
    with lanes(jobs) as reserved:
        idle: list[Worker] = list(reversed(reserved))
        busy: dict[Worker, int] = {}
        while merged < stop:
            # Not far ahead of the merged checks: the budget is asked as seeds start.
            while nxt < stop and nxt - merged < 2 * jobs:
                n, i = order[nxt]
                if i == 0 and over_budget(n):
                    stop = nxt
                    break
                spec = specs[i]
                if spec is not None and not idle and (busy or merged < nxt):
                    break  # wait for a worker
                k, nxt = nxt, nxt + 1
                if spec is None or not idle:  # no worker left
                    done[k] = None
                    continue
                target, args = spec
                try:
                    digest = seed_digest(target, seeds[n])
                except (SimdurableError, TypeError, ValueError):
                    done[k] = None  # the check says why, here
                    continue
                w = idle.pop()
                try:
                    w.send("soak_check", __name__, dict(args, seed=seeds[n], digest=digest))
                except WorkerError:
                    done[k] = None
                    continue
                busy[w] = k
            if merged >= stop:
                break
            if merged not in done:
                ready, _, _ = select.select(list(busy), [], [])
                for w in ready:
                    k = busy.pop(w)
                    try:
                        answer = w.receive(0)
                    except WorkerError:
                        answer = None  # a worker that failed is given no more
                    else:
                        idle.append(w)
                        if "mismatch" in answer:
                            answer = None
                    done[k] = answer
            while merged in done:
                answer = done.pop(merged)
                n, i = order[merged]
                show(n, targets[i])
                if answer is None:
                    outcome = check_once(targets[i], seeds[n], max_examples, strict)
                else:
                    outcome = (answer["error"],
                               [(v[0], v[1], v[2]) for v in answer["violations"]])
                take(n, i, outcome)
                merged += 1
    return notes
