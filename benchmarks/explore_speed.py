"""Exploration speed (issue 17): every crash point of an n-step handler, and
``check`` with 200 examples, in CPU time, with the A/B of what was changed.

    .venv/bin/python -m benchmarks.explore_speed            # 5, 20, 100, 400 steps; a few minutes
    .venv/bin/python -m benchmarks.explore_speed --quick    # 5, 20, 100 steps, fewer repetitions
    .venv/bin/python -m benchmarks.explore_speed --tiny     # seconds; what the smoke test runs

Each figure is the process's CPU time (``time.process_time``), the median of
several repetitions: the machine this is measured on is shared, and wall time
moves with the neighbours' load far more than CPU time does. ``check`` runs
with ``hash_seeds=()`` here: the hash-seed processes' CPU time is not this
process's, and they run the reference run only, once per check.

Where a crash run's time goes is estimated from the same run's fault-free
run and pure replay of the same handler: a crash at step k of n re-runs
steps 1..k from scratch, replays them after the crash, then runs k+1..n.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import simdurable as sd
from simdurable._check import _chooser, _explore

from .bench_sim import explore_all_crashes, named_steps_service
from .hotpath import replay_cpu


def cpu_once(fn: Callable[[], Any]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def median_cpu(fn: Callable[[], Any], repeats: int, calls: int = 1) -> float:
    fn()  # warm-up
    return statistics.median(
        sum(cpu_once(fn) for _ in range(calls)) / calls for _ in range(repeats))


def fresh_cpu(svc: sd.Service, repeats: int, calls: int) -> float:
    target = f"{svc.name}/run"

    def go() -> None:
        sim = sd.Simulation([svc], seed=1)
        sim.invoke(target, 0)
        sim.run()

    return median_cpu(go, repeats, calls)


def crash_table(sizes: tuple[int, ...], repeats: int, check_sizes: tuple[int, ...]) -> None:
    print("### Every crash point of an n-step handler, one run each (CPU time)\n")
    print("| steps | how | runs | CPU ms | ms per crash point / single fault | growth of the "
          "total | quadratic would be | share of a crash run re-running the prefix | "
          "share replaying it |")
    print("|---|---|---|---|---|---|---|---|---|")
    prev: dict[str, tuple[int, float]] = {}
    for n in sizes:
        svc = named_steps_service(n, "Explore")
        target = f"Explore{n}/run"
        reps = max(1, repeats if n <= 100 else repeats // 3)
        total = median_cpu(lambda svc=svc, n=n: explore_all_crashes(svc, n), reps)
        calls = max(1, 2000 // n)
        fresh = fresh_cpu(svc, reps, calls)
        replay = replay_cpu(svc, n, calls, reps)
        per = total / (3 * n)
        # A crash at step k: steps 1..k from scratch, replayed, then k+1..n; on
        # average half of a fault-free run, half a replay, and the other half run.
        prefix, replayed = fresh / 2 / per, replay / 2 / per
        rows: list[tuple[str, int, float, float, str, str]] = [
            ("one `Simulation` per crash point", 3 * n, total, per,
             f"{100 * prefix:.0f}%", f"{100 * replayed:.0f}%")]
        if n in check_sizes:
            def run_check(svc: sd.Service = svc, target: str = target) -> sd.Report:
                return sd.check([svc], target, 0, max_examples=0, seed=0, hash_seeds=())

            report = run_check()
            t = median_cpu(run_check, reps)
            rows.append(("`check(max_examples=0)`: reference + every single fault, with "
                         "the self-check", report.runs, t, t / report.single_faults,
                         "-", "-"))
        for how, runs, t, each, pre, rep in rows:
            growth = quad = "-"
            if how in prev:
                m, before = prev[how]
                growth, quad = f"x{t / before:.1f}", f"x{(n / m) ** 2:.0f}"
            prev[how] = (n, t)
            print(f"| {n} | {how} | {runs:,} | {t * 1e3:,.1f} | {each * 1e3:.3f} | {growth} | "
                  f"{quad} | {pre} | {rep} |")
        print(f"<!-- {n} steps: fault-free run {fresh * 1e3:.3f} ms, pure replay "
              f"{replay * 1e3:.3f} ms -->")
    print()


def check_table(examples: int, repeats: int) -> None:
    print(f"### `check` with {examples} examples of a 5-step handler, strict (CPU time)\n")
    svc = named_steps_service(5, "Check")

    def go(**kw: Any) -> Callable[[], Any]:
        args = {"strict": True, "hash_seeds": (), **kw}
        return lambda: sd.check([svc], "Check5/run", 0, max_examples=examples, seed=0, **args)

    def before(**kw: Any) -> Callable[[], Any]:
        """The examples through ``@given``, each draw through ``ConjectureData.draw``."""
        inner = go(**kw)

        def run() -> Any:
            engine, span = _explore._run_engine, _chooser._span_draw
            _explore._run_engine = lambda *args: False  # type: ignore[assignment]
            _chooser._span_draw = lambda conjecture: None  # type: ignore[assignment]
            try:
                return inner()
            finally:
                _explore._run_engine, _chooser._span_draw = engine, span

        return run

    sides = {
        "the default (every single fault, then the examples; the self-check)": go(),
        "... through `@given`, each draw through `ConjectureData.draw` (before)": before(),
        "... without the self-check (`self_check=False`)": go(self_check=False),
        "... without strict mode (`strict=False`)": go(strict=False),
        "... without the single-fault phase (`single_faults=False`)": go(single_faults=False),
    }
    for fn in sides.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(repeats):  # alternating, so that every side sees the same machine
        for name, fn in sides.items():
            times[name].append(cpu_once(fn))
    base = statistics.median(times[next(iter(sides))])
    print("| check | CPU s (median) | against the default |")
    print("|---|---|---|")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"| {name} | {t:.3f} | x{t / base:.2f} |")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explore_speed")
    parser.add_argument("--quick", action="store_true", help="up to 100 steps, 3 repetitions")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the smoke test)")
    args = parser.parse_args(argv)
    if args.tiny:
        sizes, check_sizes, repeats, examples = (5, 10), (5,), 1, 10
    elif args.quick:
        sizes, check_sizes, repeats, examples = (5, 20, 100), (5, 20, 100), 3, 200
    else:
        sizes, check_sizes, repeats, examples = (5, 20, 100, 400), (5, 20, 100), 5, 200
    print(f"CPython {sys.version.split()[0]}; CPU time of this process, median of {repeats}\n")
    crash_table(sizes, repeats, check_sizes)
    check_table(examples, repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
