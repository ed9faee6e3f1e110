"""The reference run in fresh processes with other hash seeds.

Iterating a set of strings (or a dict built from one) follows the process's
hash seed, which is random per process. In one process every replay agrees;
after a real crash the service restarts in a new process, and the replay
issues its operations in another order: a journal mismatch in production
that no in-process replay can show. So the reference run is repeated in
child processes with fixed ``PYTHONHASHSEED`` values, and their operations are
compared. The services must be importable module globals. The processes are
warm workers (``_workers``), started once and reused by every check.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

from ._names import modules_of, name_of
from ._report import Violation
from ._workers import WorkerError, pool, task

DEFAULT_HASH_SEEDS = (1, 2)


@task
def reference_operations(spec: dict[str, Any]) -> list[list[Any]]:
    """In a worker: the reference run's operations, per invocation."""
    from simdurable._sim import Simulation

    def load(name: str) -> Any:
        module, _, attr = name.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    services = [load(n) for n in spec["services"]]
    externals = [load(n) for n in spec["externals"]]
    for x in externals:
        x.reset()
    if spec["setup"]:
        load(spec["setup"])()
    sim = Simulation(services, seed=spec["seed"], externals=externals,
                     max_steps=spec["max_steps"])
    sim.invoke(spec["invoke"], spec["input"])
    try:
        sim.run()
    finally:
        sim.close()
    return [[h.target, [e.describe() for e in sim.journal(h) if e.is_command]]
            for h in sim.invocations()]


def _names(objs: Sequence[Any], modules: list[str]) -> list[str] | None:
    out = []
    for obj in objs:
        name = name_of(obj, modules)
        if name is None or "." not in name:
            return None
        out.append(name)
    return out


def hash_seed_violation(services: Sequence[Any], externals: Sequence[Any], setup: Any,
                        invoke: str, input: Any, seed: int,
                        hash_seeds: Sequence[int],
                        max_steps: int = 100_000) -> Violation | str | None:
    """A violation if the operations differ between hash seeds; a note if it could not run."""
    modules = modules_of(services)
    svc_names = _names(services, modules)
    ext_names = _names(externals, modules)
    setup_name = None if setup is None else name_of(setup, modules)
    if svc_names is None or ext_names is None or (setup is not None and setup_name is None):
        return "skipped the fresh-process runs: the services must be importable module globals"
    try:
        json.dumps(input)
    except (TypeError, ValueError):
        return "skipped the fresh-process runs: the input is not JSON"
    spec = {"services": svc_names, "externals": ext_names, "setup": setup_name,
            "invoke": invoke, "input": input, "seed": seed,
            "max_steps": max_steps}
    try:
        results = pool().run(hash_seeds, "reference_operations", __name__, spec)
    except WorkerError as err:
        return f"the run in a fresh process failed: {err}"
    runs = list(zip(hash_seeds, results, strict=True))
    first_seed, first = runs[0]
    for hs, ops in runs[1:]:
        for (target, a), (_, b) in zip(first, ops, strict=False):
            if a == b:
                continue
            i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                     min(len(a), len(b)))
            diff = [f"    #{k:<3} {op}" for k, op in enumerate(a[:i])]
            mine = str(a[i]) if i < len(a) else "(nothing)"
            theirs = str(b[i]) if i < len(b) else "(nothing)"
            width = max(len(mine), len(theirs))  # the two seeds in one column
            diff.append(f"  - #{i:<3} {mine:<{width}}   (PYTHONHASHSEED={first_seed})")
            diff.append(f"  + #{i:<3} {theirs:<{width}}   (PYTHONHASHSEED={hs})")
            return Violation(
                kind="nondeterminism",
                message=f"the same run issued different operations in processes with "
                        f"different hash seeds (PYTHONHASHSEED={first_seed} and {hs}): the "
                        f"handler iterates a set (or hashes strings) outside a step, so a replay "
                        f"after a real crash, in a new process, takes another path. Iterate "
                        f"sorted(...) instead.",
                handler=target, journal_index=i, journal_diff="\n".join(diff), seed=seed,
                found_by=f"the reference run repeated in fresh processes "
                         f"(PYTHONHASHSEED={', '.join(map(str, hash_seeds))})",
                hint=f"run the check again with hash_seeds=({first_seed}, {hs}); in one "
                     f"process every replay agrees, so no in-process replay shows it",
            )
    return None
