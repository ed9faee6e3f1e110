"""A minimal ``check``'s wall time, and what its new-process runs cost, per tree.

    .venv/bin/python -m benchmarks.new_process TREE [TREE ...] [--runs 15] [--parts]

The check: the ``process-cache-decides-step`` twin (tests/corpus), without its
setup, ``check(max_examples=0, single_faults=False)``: the reference run, its
replays, the hash-seed runs and (where the tree has them) the new-process
runs. Wall time, because the new-process runs happen in other processes.
Each tree runs in its own fresh process (simdurable and tests imported from
it), the trees alternating per round. ``--parts`` also times, in the current
tree, the new-process runs' parts: the round trip to a worker with a task
that does nothing, a fork that answers at once, the user's modules forgotten
and imported again, and the reference run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def _pair() -> Any:
    import dataclasses

    from tests.corpus.pairs import all_pairs

    by_name = {p.name: p for p in all_pairs()}
    return dataclasses.replace(by_name["process-cache-decides-step"], setup=None)


def _ms(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def figures(tree: str, runs: int) -> dict[str, float]:
    """The minimal check's median wall ms, with the default hash seeds and with none."""
    sys.path.insert(0, tree)
    import simdurable

    assert simdurable.__file__ is not None and simdurable.__file__.startswith(tree)
    pair = _pair()
    for _ in range(3):
        assert pair.check(fixed=True, max_examples=0, single_faults=False).ok  # warm-up
    return {
        "check_ms": _ms(lambda: pair.check(fixed=True, max_examples=0, single_faults=False),
                        runs),
        "no_processes_ms": _ms(lambda: pair.check(fixed=True, max_examples=0,
                                                  single_faults=False, hash_seeds=()), runs),
    }


def parts(runs: int) -> dict[str, float]:
    """The new-process runs' parts, each alone (median wall ms)."""
    import os

    from simdurable._check import _process
    from simdurable._check._workers import pool
    from simdurable._sim import Simulation  # noqa: F401 - imported before the forks

    pair = _pair()
    assert pair.check(fixed=True, max_examples=0, single_faults=False).ok
    spec = {"services": ["tests.corpus.pairs.determinism.convert_ok"],
            "externals": [], "setup": None, "invoke": pair.invoke, "input": pair.input,
            "seed": 0, "max_steps": 100_000}
    from simdurable._check._names import modules_of, name_of

    modules = modules_of(pair.correct)
    spec["services"] = [name_of(s, modules) for s in pair.correct]
    spec["externals"] = [name_of(x, modules) for x in pair.externals]

    def fork_only() -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    def reimport() -> None:
        pid = os.fork()
        if pid == 0:
            _process._forget_user_modules()
            _process.reference_operations(spec)
            os._exit(0)
        os.waitpid(pid, 0)

    def reimport_twice() -> None:
        pid = os.fork()
        if pid == 0:
            _process._forget_user_modules()
            _process.reference_operations(spec)
            _process.reference_operations(spec)
            os._exit(0)
        os.waitpid(pid, 0)

    out = {
        "round_trip_ms": _ms(lambda: pool().run([1], "reference_operations",
                                                _process.__name__, spec), runs),
        "fork_ms": _ms(fork_only, runs),
        "reference_run_ms": _ms(lambda: _process.reference_operations(spec), runs),
        "fork_reimport_run_ms": _ms(reimport, runs),
        "fork_reimport_two_runs_ms": _ms(reimport_twice, runs),
        "task_ms": _ms(lambda: pool().run([1], "new_process_operations",
                                          _process.__name__, spec), runs),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.new_process")
    parser.add_argument("trees", nargs="*")
    parser.add_argument("--one", default=None)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", action="store_true")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(figures(args.one, args.runs)))
        return 0
    if args.parts:
        for k, v in parts(args.runs).items():
            print(f"{k:28} {v:8.2f}")
        return 0
    got: dict[str, list[dict[str, float]]] = {t: [] for t in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            out = subprocess.run([sys.executable, __file__, "--one", tree, "--runs",
                                  str(args.runs)], check=True,
                                 capture_output=True, text=True, cwd=tree)
            got[tree].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for tree, rounds in got.items():
        for key in rounds[0]:
            values = [r[key] for r in rounds]
            print(f"{tree:30} {key:18} median {statistics.median(values):7.2f} ms "
                  f"(rounds {', '.join(f'{v:.1f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
