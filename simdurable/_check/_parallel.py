"""``check(jobs=N)``: the single-fault phase and the generated examples over N processes.

The work is cut into parts that do not depend on the number of workers: the
single faults in slices of the fixed case list, the generated examples in
blocks of ``EXAMPLES_PER_BLOCK``, each block from its own Hypothesis seed.
Workers (the warm processes of ``_workers``, PYTHONHASHSEED 1 to N) each run
the reference run once per check, then parts, and send back what a part
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
import hashlib
import importlib
import pickle
import select
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..runtime._faults import Fault, FaultPlan
from ._explore import Exploration, Target, example_blocks
from ._names import modules_of, name_of
from ._workers import Worker, WorkerError, pool, task

# Single-fault parts per worker: enough to even out parts of unequal cost.
PARTS_PER_JOB = 4
# More workers than this is a typo (-j 100000), not a machine: each is a Python process.
MAX_JOBS = 256


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
    rest = replace(t, services=[], externals=[], setup=None, invariant=None, coverage=None)
    try:
        names["rest"] = base64.b64encode(pickle.dumps(rest)).decode("ascii")
    except Exception as err:  # noqa: BLE001 - any pickling failure means: stay here
        return (f"ran in one process, not in worker processes: the input or the world "
                f"cannot be sent to another process ({type(err).__name__}: {err})")
    return names


def reference_digest(ex: Exploration, cases: Sequence[Fault]) -> str:
    """A fingerprint of the reference run and its single faults, to compare processes."""
    assert ex.ref is not None
    h = hashlib.sha256()
    for line in ex.ref.sim.trace():
        h.update(line.encode("utf-8", "replace") + b"\n")
    for case in cases:
        h.update(str(FaultPlan((case,))).encode("utf-8", "replace") + b"\n")
    return h.hexdigest()


def _dump(obj: Any) -> str:
    return base64.b64encode(pickle.dumps(obj)).decode("ascii")


def _undump(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - our own worker's answer


# In a worker: the exploration of the check being served, after its reference run.
_CURRENT: dict[str, tuple[Exploration, list[Fault], str]] = {}


@task
def explore_part(args: dict[str, Any]) -> dict[str, Any]:
    """In a worker: run one part of a check's exploration; return its tally."""
    token = args["token"]
    got = _CURRENT.get(token)
    if got is None:
        _CURRENT.clear()
        spec = args["spec"]
        t: Target = _undump(spec["rest"])
        t.services = [_load(n) for n in spec["services"]]
        t.externals = [_load(n) for n in spec["externals"]]
        t.setup = None if spec["setup"] is None else _load(spec["setup"])
        t.invariant = None if spec["invariant"] is None else _load(spec["invariant"])
        ex = Exploration(t, args["seed"], args["self_check"])
        points = ex.reference()
        cases = ex.single_fault_cases(points)
        got = _CURRENT[token] = (ex, cases, reference_digest(ex, cases))
    ex, cases, digest = got
    if digest != args["digest"]:
        return {"mismatch": True}
    ex.reset_tally()
    part = args["part"]
    n = 0
    if part[0] == "single":
        ex.run_single_faults(cases, part[1], part[2])
    else:
        n = ex.hypothesis_block(part[1], part[2], known=args["known"])
    return {"n": n, "tally": _dump(ex.tally())}


class Lanes:
    """Runs the parts of one check's phases over the workers and merges them in order."""

    def __init__(self, ex: Exploration, cases: list[Fault], jobs: int,
                 spec: dict[str, Any]) -> None:
        self.ex = ex
        self.cases = cases
        self.jobs = jobs
        self.args = {"spec": spec, "seed": ex.seed, "self_check": ex.self_check,
                     "digest": reference_digest(ex, cases)}
        self.args["token"] = hashlib.sha256(repr(sorted(self.args.items())).encode()
                                            ).hexdigest()

    @classmethod
    def open(cls, ex: Exploration, cases: list[Fault], jobs: int) -> Lanes | str:
        """Lanes for this check, or the note saying why it runs in one process."""
        if ex.t.coverage is not None:
            return "ran in one process, not in worker processes: coverage is measured here"
        spec = target_spec(ex.t)
        if isinstance(spec, str):
            return spec
        return cls(ex, cases, jobs, spec)

    def single_faults(self) -> int:
        n = len(self.cases)
        size = max(1, -(-n // (self.jobs * PARTS_PER_JOB)))
        parts = [("single", a, min(n, a + size)) for a in range(0, n, size)]
        self._run(parts, dependent=False)
        return n

    def examples(self, max_examples: int) -> int:
        from hypothesis.control import currently_in_test_context

        if currently_in_test_context():  # Hypothesis forbids nesting: seeded, here
            return self.ex.hypothesis(max_examples)
        parts = [("examples", j, size) for j, size in enumerate(example_blocks(max_examples))]
        return self._run(parts, dependent=True)

    def _here(self, part: tuple[Any, ...]) -> int:
        """Run a part in this process, on the check's own exploration."""
        if part[0] == "single":
            self.ex.run_single_faults(self.cases, part[1], part[2])
            return 0
        return self.ex.hypothesis_block(part[1], part[2])

    def _run(self, parts: list[tuple[Any, ...]], dependent: bool) -> int:
        """Run the parts over the workers; merge them in order; the examples run."""
        ex = self.ex
        total = 0
        with pool().reserve(list(range(1, self.jobs + 1))) as reserved:
            idle: list[Worker] = list(reversed(reserved))
            busy: dict[Worker, tuple[int, frozenset[str]]] = {}
            done: dict[int, tuple[frozenset[str], dict[str, Any] | None]] = {}
            pending = deque(range(len(parts)))
            merged = 0
            while merged < len(parts):
                while idle and pending:
                    i = pending.popleft()
                    known = frozenset(ex.found)
                    w = idle.pop()
                    try:
                        w.send("explore_part", __name__,
                               dict(self.args, part=list(parts[i]), known=sorted(known)))
                    except WorkerError:
                        done[i] = (known, None)  # run here when its turn comes
                        continue
                    busy[w] = (i, known)
                if not idle and not busy:
                    # No worker left (each failed): the rest runs here, in order.
                    for i in range(merged, len(parts)):
                        total += self._here(parts[i])
                    break
                if merged not in done:
                    ready, _, _ = select.select(list(busy), [], [])
                    for w in ready:
                        i, known = busy.pop(w)
                        try:
                            answer = w.receive(0)
                        except WorkerError:
                            answer = None  # a worker that failed is given no more
                        if answer is not None and "mismatch" in answer:
                            # Its reference run differs (the hash seed?): no more parts.
                            answer = None
                        elif answer is not None:
                            idle.append(w)
                        done[i] = (known, answer)
                while merged in done:
                    known, answer = done.pop(merged)
                    if answer is None:
                        total += self._here(parts[merged])
                    elif dependent and known != frozenset(ex.found):
                        pending.appendleft(merged)  # blocks before it found more: again
                        break
                    else:
                        ex.merge(_undump(answer["tally"]))
                        total += answer["n"]
                    merged += 1
                    if ex.progress is not None:
                        ex.progress(ex.runs, ex.phase)
        return total
