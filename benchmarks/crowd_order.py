"""A crowd's run time by how many invocations are in flight and in which order their tasks run.

    .venv/bin/python -m benchmarks.crowd_order [TREE] [--sizes 100,1000,3000,10000] [--rounds 3]

The same work each time: N ``Steps5/run`` invocations submitted, then one
``run()`` (only the run is timed, CPU time, median of the rounds, per
invocation). Three choosers: ``last`` takes the newest ready task (each
invocation runs to its end before the next starts: its objects stay in the
caches, and no ready task is moved), ``first`` the oldest (every invocation
in turn, in the order their objects were made), ``random`` the seeded default
(``Simulation(seed=1)``: the order a crowd's figure runs in). What ``random``
costs over ``last`` at 10,000 is what the order of a seed costs: each task
touches the objects of an invocation drawn among all those in flight, cold.

TREE (a ``git archive`` checkout; default: this one) is imported first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any


class Last:
    """The newest ready task: one invocation at a time."""

    def choose(self, n: int, label: str) -> int:
        return n - 1

    def chance(self, p: float, label: str) -> bool:
        return False


class First:
    """The oldest ready task: every invocation in turn."""

    def choose(self, n: int, label: str) -> int:
        return 0

    def chance(self, p: float, label: str) -> bool:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crowd_order")
    parser.add_argument("tree", nargs="?", default=None)
    parser.add_argument("--sizes", default="100,1000,3000,10000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.tree is not None:
        sys.path.insert(0, args.tree)
    import simdurable as sd
    from benchmarks.bench_sim import steps_service

    svc = steps_service(5)

    def run(n: int, chooser: Any) -> float:
        sim = sd.Simulation([svc], seed=1, wall_budget=None, chooser=chooser)
        for i in range(n):
            sim.invoke("Steps5/run", i)
        start = time.process_time()
        sim.run()
        return time.process_time() - start

    print(f"simdurable from {sd.__file__}")
    print(f"{'in flight':>10} {'last':>9} {'first':>9} {'random':>9}   (us an invocation, run only)")
    for n in (int(s) for s in args.sizes.split(",")):
        row = []
        for make in (Last, First, lambda: None):
            run(n, make())  # (warm-up)
            reps = max(args.rounds, 30_000 // n)
            row.append(statistics.median(run(n, make()) for _ in range(reps)) / n * 1e6)
        print(f"{n:>10,} {row[0]:>9.1f} {row[1]:>9.1f} {row[2]:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
