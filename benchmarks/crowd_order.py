"""A crowd's run time by how many invocations are in flight and in which order their tasks run.

    .venv/bin/python -m benchmarks.crowd_order [TREE] [--sizes 100,1000,3000,10000] [--rounds 3]
    .venv/bin/python -m benchmarks.crowd_order [TREE] --held [--sizes 10000]

The same work each time: N ``Steps5/run`` invocations submitted, then one
``run()`` (only the run is timed, CPU time, median of the rounds, per
invocation). Three choosers: ``last`` takes the newest ready task (each
invocation runs to its end before the next starts: its objects stay in the
caches, and no ready task is moved), ``first`` the oldest (every invocation
in turn, in the order their objects were made), ``random`` the seeded default
(``Simulation(seed=1)``: the order a crowd's figure runs in). What ``random``
costs over ``last`` at 10,000 is what the order of a seed costs: each task
touches the objects of an invocation drawn among all those in flight, cold.

With ``--held``, what an invocation holds while in flight instead (the
target of fewer objects a task touches): N submitted, the memory and
objects then taken as the base, then, at the run's middle step (the
``N * 5 // 2``-th closure called, with most of the N started and not
ended), the memory traced (``tracemalloc``) and the objects the collector
tracks (``gc.get_objects``, by type) over the base, each per invocation in
flight (an ``Attempt`` still alive), and the lines that allocated the most
of it. The bytes include the crowd's shared lists' growth (the flat trace's
one list, a few hundred bytes an invocation, shown as a line with no
blocks) and the journals, which outlive their attempts. Counts and bytes,
not times: the same on every run and load.

TREE (a ``git archive`` checkout; default: this one) is imported first.
"""

from __future__ import annotations

import argparse
import collections
import gc
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
    parser.add_argument("--held", action="store_true",
                        help="bytes and objects an invocation in flight holds (no times)")
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
    if args.held:
        for n in (int(s) for s in args.sizes.split(",")):
            held(sd, svc, n)
        return 0
    print(f"{'in flight':>10} {'last':>9} {'first':>9} {'random':>9}   (us an invocation, run only)")
    for n in (int(s) for s in args.sizes.split(",")):
        row = []
        for make in (Last, First, lambda: None):
            run(n, make())  # (warm-up)
            reps = max(args.rounds, 30_000 // n)
            row.append(statistics.median(run(n, make()) for _ in range(reps)) / n * 1e6)
        print(f"{n:>10,} {row[0]:>9.1f} {row[1]:>9.1f} {row[2]:>9.1f}")
    return 0


def held(sd: Any, svc: Any, n: int) -> None:
    """``--held``: see the module docstring."""
    import tracemalloc

    from benchmarks import bench_sim
    from simdurable.runtime._invocation import Attempt

    work = bench_sim.work
    calls = 0
    middle = n * 5 // 2
    seen: dict[str, Any] = {}

    def probe(i: int) -> int:
        # ``bench_sim.work`` (which ``Steps5/run`` reads at each call), and at
        # the middle call the figures
        nonlocal calls
        calls += 1
        if calls == middle:
            seen["bytes"] = tracemalloc.get_traced_memory()[0]
            objects = gc.get_objects()
            seen["alive"] = sum(1 for o in objects if type(o) is Attempt and o.alive)
            seen["types"] = collections.Counter(type(o).__name__ for o in objects)
            del objects
            seen["snapshot"] = tracemalloc.take_snapshot()  # (after: its own tuples)
        return i + 1

    sim = sd.Simulation([svc], seed=1, wall_budget=None)
    for i in range(50):  # (warm-up: the first run's caches and imports not counted)
        sim.invoke("Steps5/run", i)
    sim.run()
    del sim
    bench_sim.work = probe
    try:
        gc.collect()
        tracemalloc.start()
        sim = sd.Simulation([svc], seed=1, wall_budget=None)
        for i in range(n):
            sim.invoke("Steps5/run", i)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        base_snapshot = tracemalloc.take_snapshot()
        base_types = collections.Counter(type(o).__name__ for o in gc.get_objects())
        sim.run()
        tracemalloc.stop()
    finally:
        bench_sim.work = work
    alive = seen["alive"]
    types = seen["types"] - base_types
    print(f"{n:,} submitted: {base / n:,.0f} bytes an invocation; at the middle step "
          f"{alive:,} attempts in flight")
    print(f"  held over the submitted state, per invocation in flight: "
          f"{(seen['bytes'] - base) / alive:,.0f} bytes, "
          f"{sum(types.values()) / alive:.2f} objects the collector tracks")
    print("  objects by type (per invocation in flight):")
    for name, count in types.most_common(14):
        if count >= alive // 20:
            print(f"    {count / alive:6.2f} {name}")
    print("  bytes by the line that allocated them (per invocation in flight):")
    for stat in seen["snapshot"].compare_to(base_snapshot, "lineno")[:16]:
        if abs(stat.size_diff) >= 8 * alive:
            frame = stat.traceback[0]
            where = frame.filename.rsplit("/", 2)
            print(f"    {stat.size_diff / alive:7.1f} B {stat.count_diff / alive:5.2f} blocks  "
                  f"{'/'.join(where[-2:])}:{frame.lineno}")


if __name__ == "__main__":
    raise SystemExit(main())
