"""``check``'s two speed goals for two source trees, alternating, in CPU time.

    .venv/bin/python -m benchmarks.check_ab BEFORE_TREE AFTER_TREE [--rounds 3]
    .venv/bin/python -m benchmarks.check_ab --one TREE [--tiny]   # one tree, as JSON
    .venv/bin/python -m benchmarks.check_ab --settings TREE [--reps 9]

The figures: ``check`` with 200 examples of a 5-step handler in strict mode
(``benchmarks.hotpath``'s call, the default hash-seed processes included; goal
<= 0.3 s), and the reference run plus the exhaustive single-fault phase of a
20-step handler (``max_examples=0``; goal <= 20 ms). A tree is a checkout
(``git archive <commit> | tar -x -C <dir>``); each round runs one fresh
process per tree, before then after, so that both see the same machine.

``--settings`` times the single-fault phase alone in one tree under the four
settings of strict mode and the self-check (the goal's is the first: both on,
the defaults), to tell what each costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def figures(tree: str, tiny: bool = False) -> dict[str, float]:
    """The two figures for the simdurable (and benchmarks helpers) in ``tree``."""
    sys.path.insert(0, tree)
    for name in [m for m in sys.modules if m.split(".")[0] in ("simdurable", "benchmarks")]:
        del sys.modules[name]
    import simdurable as sd
    from benchmarks.bench_sim import named_steps_service

    assert sd.__file__ is not None and sd.__file__.startswith(tree), sd.__file__
    five, twenty = named_steps_service(5, "Check"), named_steps_service(20, "X")
    examples, repeats = (10, 1) if tiny else (200, 5)

    def cpu(fn: Callable[[], Any]) -> float:
        start = time.process_time()
        fn()
        return time.process_time() - start

    def check() -> Any:
        return sd.check([five], f"{five.name}/run", 0, max_examples=examples, seed=0,
                        strict=True)

    def single() -> Any:
        return sd.check([twenty], f"{twenty.name}/run", 0, max_examples=0, seed=0,
                        strict=True, hash_seeds=())

    check(), single()  # warm-up
    return {"check_s": statistics.median(cpu(check) for _ in range(repeats)),
            "single_faults_ms": statistics.median(cpu(single) for _ in range(repeats + 2)) * 1e3}


SETTINGS = (("strict, self_check (the defaults: the goal's)", True, True),
            ("strict, no self_check", True, False),
            ("not strict, self_check", False, True),
            ("not strict, no self_check", False, False))


def settings(tree: str, reps: int, tiny: bool = False) -> list[tuple[str, float, int]]:
    """The single-fault phase of a 20-step handler (5 when ``tiny``) in ``tree``
    under each of ``SETTINGS``: (setting, median CPU ms of ``reps``, runs reported)."""
    tree = os.path.abspath(tree)
    sys.path.insert(0, tree)
    import simdurable as sd
    from benchmarks.bench_sim import named_steps_service

    assert sd.__file__ is not None and sd.__file__.startswith(tree), sd.__file__
    svc = named_steps_service(5 if tiny else 20, "X")
    out = []
    for label, strict, self_check in SETTINGS:
        def single(strict: bool = strict, self_check: bool = self_check) -> Any:
            return sd.check([svc], f"{svc.name}/run", 0, max_examples=0, seed=0,
                            strict=strict, self_check=self_check, hash_seeds=())

        single()  # warm-up
        times = []
        for _ in range(reps):
            start = time.process_time()
            report = single()
            times.append(time.process_time() - start)
        out.append((label, statistics.median(times) * 1e3, report.runs))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.check_ab")
    parser.add_argument("trees", nargs="*", help="the tree before, then the tree after")
    parser.add_argument("--one", default=None, help="print one tree's figures as JSON")
    parser.add_argument("--settings", default=None, metavar="TREE",
                        help="time the single-fault phase in TREE under four settings")
    parser.add_argument("--reps", type=int, default=9, help="runs per setting (--settings)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the smoke test)")
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(figures(args.one, args.tiny)))
        return 0
    if args.settings is not None:
        print("| setting | single-fault phase, CPU ms (median) | runs |")
        print("|---|---|---|")
        for label, ms, runs in settings(args.settings, args.reps, args.tiny):
            print(f"| {label} | {ms:.1f} | {runs} |")
        return 0
    if len(args.trees) != 2:
        parser.error("give two trees (before, after), or --one TREE")
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            out = subprocess.run([sys.executable, "-m", "benchmarks.check_ab", "--one", tree],
                                 capture_output=True, text=True, check=True).stdout
            runs[tree].append(json.loads(out.strip().splitlines()[-1]))
    before, after = args.trees
    print("| figure (CPU, median of the rounds) | before | after | after / before |")
    print("|---|---|---|---|")
    for key, label in (("check_s", "check, 200 examples, 5 steps, strict (s)"),
                       ("single_faults_ms", "single-fault phase, 20 steps (ms)")):
        b = statistics.median(r[key] for r in runs[before])
        a = statistics.median(r[key] for r in runs[after])
        print(f"| {label} | {b:.3g} | {a:.3g} | x{a / b:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
