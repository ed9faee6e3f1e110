"""The hot path's figures for two source trees, alternating, in CPU time.

    .venv/bin/python -m benchmarks.tree_ab BEFORE_TREE AFTER_TREE [--rounds 3]
    .venv/bin/python -m benchmarks.tree_ab --one TREE       # one tree's figures, as JSON
    .venv/bin/python -m benchmarks.tree_ab BEFORE AFTER --only five_us,crash20_ms

A tree is a checkout (``git archive <commit> | tar -x -C <dir>``). Each round
runs one fresh process per tree, before then after, so that both see the same
machine; each figure is the median of several repetitions inside its process,
and the table shows the median over the rounds with their range. On a shared
machine the CPU time of the same code moves by a third from one minute to the
next: compare before and after, not either with an earlier run.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

FIGURES = [
    ("plain_us_step", "plain Python, per step (100 steps)", "us"),
    ("fresh_over_us", "fresh step overhead, 100 steps", "us"),
    ("replay_over_us", "replayed step overhead, 100 steps", "us"),
    ("five_us", "5-step invocation (build, submit, run, read)", "us"),
    ("crash20_ms", "every crash point of a 20-step handler (60 runs)", "ms"),
    ("crash40_ms", "every crash point of a 40-step handler (120 runs)", "ms"),
    ("conc_s", "10,000 concurrent 5-step invocations, CPU", "s"),
    ("conc_peak_mib", "... their peak traced memory", "MiB"),
]

# The goals are ratios to plain Python in the same run: each is taken in the
# process that measured both (plain Python's own figure moves by up to x2 from
# one process to the next on a shared machine), then its median over the rounds.
RATIOS = [
    ("fresh_over_us", "fresh step overhead / plain Python's step", "x"),
    ("replay_over_us", "replayed step overhead / plain Python's step", "x"),
    ("five_us", "5-step invocation / plain Python's step", "plain steps"),
    # (seconds over microseconds: millions of plain steps; the 0.5 s was
    # measured with plain Python's step at 0.34 us, 1.47 M plain steps)
    ("conc_s", "10,000 concurrent invocations / plain Python's step", "M plain steps"),
]


def figures(tree: str, only: frozenset[str] | None = None) -> dict[str, float]:
    """The figures for the simdurable (and benchmarks helpers) in ``tree``
    (``only`` those named, and plain Python's, if given)."""
    sys.path.insert(0, tree)
    for name in [m for m in sys.modules if m.split(".")[0] in ("simdurable", "benchmarks")]:
        del sys.modules[name]
    import simdurable as sd
    from benchmarks.bench_sim import (
        drive,
        explore_all_crashes,
        named_steps_service,
        plain_handler,
        replay_stores,
        steps_service,
    )

    assert sd.__file__ is not None and sd.__file__.startswith(tree), sd.__file__

    def cpu(fn: Callable[[], Any], n: int) -> float:
        start = time.process_time()
        for _ in range(n):
            fn()
        return (time.process_time() - start) / n

    def med(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
        fn()
        return statistics.median(cpu(fn, n) for _ in range(repeats))

    def fresh(svc: Any) -> Callable[[], Any]:
        target = f"{svc.name}/run"

        def go() -> Any:
            sim = sd.Simulation([svc], seed=1)
            h = sim.invoke(target, 0)
            sim.run()
            return h.result()

        return go

    def replay(svc: Any, n: int, count: int, repeats: int = 5) -> float:
        out = []
        for _ in range(repeats + 1):  # the first is a warm-up
            stores = replay_stores(svc, n, count)
            start = time.process_time()
            for store in stores:
                sd.Simulation([svc], seed=1, store=store).run()
            out.append((time.process_time() - start) / count)
        return statistics.median(out[1:])

    s100, s5 = steps_service(100), steps_service(5)
    plain = plain_handler(100)

    def concurrent() -> None:
        sim = sd.Simulation([s5], seed=1, wall_budget=None)
        for i in range(10_000):
            sim.invoke("Steps5/run", i)
        sim.run()

    def wanted(key: str) -> bool:
        return only is None or key in only

    def crashes(n: int) -> Callable[[], Any]:
        svc = named_steps_service(n, f"X{n}")
        return lambda: explore_all_crashes(svc, n)

    res: dict[str, float] = {}
    res["plain_us_step"] = med(lambda: drive(plain(0)), 200) / 100 * 1e6
    if wanted("fresh_over_us"):
        res["fresh_over_us"] = med(fresh(s100), 30) / 100 * 1e6 - res["plain_us_step"]
    if wanted("replay_over_us"):
        res["replay_over_us"] = replay(s100, 100, 30) / 100 * 1e6 - res["plain_us_step"]
    if wanted("five_us"):
        res["five_us"] = med(fresh(s5), 400) * 1e6
    for n in (20, 40):
        if wanted(f"crash{n}_ms"):
            res[f"crash{n}_ms"] = med(crashes(n), 1) * 1e3
    if wanted("conc_s"):
        # Plain Python's step timed again just before each crowd, and the ratio
        # taken of the two (``conc_s_per_plain``): the machine's speed moves
        # between two levels from one minute to the next, and a crowd takes half
        # a second, so a ratio to the process's first plain figure mixes them.
        crowds, ratios = [], []
        for _ in range(3):
            plain_here = med(lambda: drive(plain(0)), 200, repeats=3) / 100 * 1e6
            crowds.append(cpu(concurrent, 1))
            ratios.append(crowds[-1] / plain_here)
        res["conc_s"] = statistics.median(crowds)
        res["conc_s_per_plain"] = statistics.median(ratios)
    if wanted("conc_peak_mib"):
        gc.collect()
        tracemalloc.start()
        concurrent()
        res["conc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return res


def per_plain(run: dict[str, float], key: str) -> float:
    """A figure over plain Python's step: the ratio taken beside the figure
    where it was (``<key>_per_plain``), else over the process's plain figure."""
    return run.get(f"{key}_per_plain", run[key] / run["plain_us_step"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tree_ab")
    parser.add_argument("trees", nargs="*", help="the tree before, then the tree after")
    parser.add_argument("--one", default=None, help="print one tree's figures as JSON")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=None,
                        help="comma-separated figure keys (default: all of them)")
    args = parser.parse_args(argv)
    only = None if args.only is None else frozenset(args.only.split(","))
    if args.one is not None:
        print(json.dumps(figures(args.one, only)))
        return 0
    if len(args.trees) != 2:
        parser.error("give two trees: before and after")
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in args.trees}
    for _ in range(max(1, args.rounds)):
        for tree in args.trees:
            extra = [] if args.only is None else ["--only", args.only]
            done = subprocess.run([sys.executable, __file__, "--one", tree, *extra],
                                  capture_output=True, text=True, check=True)
            runs[tree].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| figure | before | after | after / before |")
    print("|---|---|---|---|")
    before, after = (runs[t] for t in args.trees)
    for key, label, unit in FIGURES:
        if key not in before[0]:
            continue
        b = [r[key] for r in before]
        a = [r[key] for r in after]
        mb, ma = statistics.median(b), statistics.median(a)
        print(f"| {label} | {mb:.3g} {unit} ({min(b):.3g}-{max(b):.3g}) | "
              f"{ma:.3g} {unit} ({min(a):.3g}-{max(a):.3g}) | x{ma / mb:.2f} |")
    if "plain_us_step" in before[0]:
        for key, label, unit in RATIOS:
            if key not in before[0]:
                continue
            b = [per_plain(r, key) for r in before]
            a = [per_plain(r, key) for r in after]
            mb, ma = statistics.median(b), statistics.median(a)
            print(f"| {label}, per process | {mb:.3g} {unit} ({min(b):.3g}-{max(b):.3g}) | "
                  f"{ma:.3g} {unit} ({min(a):.3g}-{max(a):.3g}) | x{ma / mb:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
