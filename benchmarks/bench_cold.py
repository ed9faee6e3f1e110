"""A check from the shell, ``-j 1`` against ``-j N``: what a user waits for one check.

    .venv/bin/python -m benchmarks.bench_cold                        # 5 rounds, this tree
    .venv/bin/python -m benchmarks.bench_cold --rounds 3 TREE ...    # several trees, alternating

Each round runs ``simdurable check examples.payments:pay --max-examples 500
-j J`` in a fresh process for every tree and every J, one after the other,
so that all see the same minute of the machine. Wall time is what a user
waits; CPU time is the process's and every process it started (its workers,
the hash-seed processes), from ``getrusage(RUSAGE_CHILDREN)``. The figures
are medians over the rounds, with the load average; on a shared machine
compare the columns of one run, not runs of different minutes. A tree is a
checkout (``git archive <commit> | tar -x -C <dir>``); the default is this one.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def cold(tree: str, jobs: int, examples: int) -> tuple[float, float]:
    """Wall and CPU seconds of one ``simdurable check -j jobs`` started in ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "simdurable", "check", "examples.payments:pay",
                    "--input", '{"amount": 10}', "--max-examples", str(examples),
                    "-j", str(jobs)], check=True, stdout=subprocess.DEVNULL, cwd=tree)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", default=["."])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--examples", type=int, default=500)
    args = parser.parse_args(argv)
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for tree in args.trees:
            for j in (1, args.jobs):
                runs.setdefault((tree, j), []).append(cold(tree, j, args.examples))
        loads.append(os.getloadavg()[0])
    print(f"simdurable check examples.payments:pay --max-examples {args.examples}, from the "
          f"shell; {args.rounds} rounds, load average {min(loads):.1f} to {max(loads):.1f} "
          f"on {os.cpu_count()} cores (medians)")
    for tree in args.trees:
        wall = {j: statistics.median(w for w, _ in runs[tree, j]) for j in (1, args.jobs)}
        cpu = {j: statistics.median(c for _, c in runs[tree, j]) for j in (1, args.jobs)}
        print(f"  {tree}: -j 1 wall {wall[1]:.2f}s (CPU {cpu[1]:.2f}s); -j {args.jobs} wall "
              f"{wall[args.jobs]:.2f}s (CPU {cpu[args.jobs]:.2f}s); -j {args.jobs} is "
              f"{wall[1] / wall[args.jobs]:.2f}x as fast")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
