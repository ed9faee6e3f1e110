"""``check(jobs=N)`` against ``jobs=1``, and a soak's seeds per second.

    .venv/bin/python -m benchmarks.bench_parallel              # full size
    .venv/bin/python -m benchmarks.bench_parallel --quick      # a few seconds

The workers are warmed first (as in a test session, where every check after
the first finds them started). Each round runs jobs=1 and jobs=N back to back
and checks that their reports are the same. Wall time is what a user waits;
CPU time is the parent's plus the workers' (read from /proc), which says
whether the machine had the cores to give: on a loaded machine the wall-time
speedup falls, the CPU figures do not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import simdurable as sd
from examples import payments
from simdurable._check._workers import pool


def _worker_cpu() -> float:
    """CPU seconds used so far by the warm worker processes (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for w in list(pool()._workers.values()):
        try:
            with open(f"/proc/{w.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def _check(jobs: int, examples: int, seed: int = 0) -> tuple[Any, float, float]:
    cpu0, w0, t0 = time.process_time(), _worker_cpu(), time.perf_counter()
    report = sd.check(services=payments.services, invoke="Payments/pay", input={"amount": 10},
                      externals=payments.externals, max_examples=examples, seed=seed,
                      jobs=jobs, hash_seeds=())
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0 + _worker_cpu() - w0
    return report, wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    examples = 100 if args.quick else 500
    rounds = 1 if args.quick else args.rounds
    _check(args.jobs, 25)  # start the workers
    walls: dict[int, list[float]] = {1: [], args.jobs: []}
    cpus: dict[int, list[float]] = {1: [], args.jobs: []}
    for _ in range(rounds):
        texts = []
        for jobs in (1, args.jobs):
            report, wall, cpu = _check(jobs, examples)
            texts.append(report.render())
            walls[jobs].append(wall)
            cpus[jobs].append(cpu)
        assert texts[0] == texts[1], "jobs changed the report"
    load = os.getloadavg()[0]
    print(f"check of Payments/pay, {examples} examples, {rounds} rounds, "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    for jobs in (1, args.jobs):
        print(f"  jobs={jobs}: wall median {statistics.median(walls[jobs]):.2f}s "
              f"(min {min(walls[jobs]):.2f}s), CPU median {statistics.median(cpus[jobs]):.2f}s")
    speedup = statistics.median(walls[1]) / statistics.median(walls[args.jobs])
    best = min(walls[1]) / min(walls[args.jobs])
    print(f"  wall-time speedup: {speedup:.2f}x median, {best:.2f}x best; reports identical")

    from simdurable._check._soak import SoakTarget, soak

    class NoDatabase:
        def save(self, key: bytes, value: bytes) -> None:
            raise AssertionError("Payments/pay does not fail")

    seeds = range(0, 5 if args.quick else 40)
    target = SoakTarget("Payments/pay", payments.services, "Payments/pay", {"amount": 10},
                        payments.externals)
    for jobs in (1, args.jobs):
        cpu0 = time.process_time()
        summary = soak([target], seeds, None, 25, jobs, True, NoDatabase())
        cpu = time.process_time() - cpu0
        print(f"soak of Payments/pay, {len(seeds)} seeds x 25 examples, jobs={jobs}: "
              f"{summary.seeds / summary.seconds:.1f} seeds/s "
              f"({summary.seconds:.2f}s wall, parent CPU {cpu:.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
