"""The hot path's goals (issue 17), measured in CPU time, and the A/B of each
speed trick in the same process.

    .venv/bin/python -m benchmarks.hotpath            # a few minutes on a busy 2-core machine
    .venv/bin/python -m benchmarks.hotpath --quick    # fewer repetitions
    .venv/bin/python -m benchmarks.hotpath --tiny     # seconds; what the smoke test runs

The machine this project is measured on is shared: wall time moves with the
neighbours' load, the process's CPU time (``time.process_time``) much less.
Every figure is the median of several repetitions; an A/B alternates its two
sides within one process, so that both see the same machine.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import simdurable as sd
import simdurable._sim as sim_module
from simdurable.runtime._faults import Injector

from .bench_sim import (
    drive,
    explore_all_crashes,
    named_steps_service,
    plain_handler,
    replay_stores,
    steps_service,
)


def cpu(fn: Callable[[], Any], calls: int) -> float:
    """CPU seconds per call of ``fn``, over ``calls`` calls."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def median(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    fn()  # warm-up
    return statistics.median(cpu(fn, calls) for _ in range(repeats))


def fresh(svc: sd.Service, general: bool = False, wall_budget: Any = 60.0,
          general_command: bool = False, lane: bool = True) -> Callable[[], Any]:
    target = f"{svc.name}/run"

    def go() -> Any:
        sim = sd.Simulation([svc], seed=1, wall_budget=wall_budget)
        if not lane or general:  # an await through the future's general way (not _fast.step_lane)
            sim.engine.step_lane = None
        if general:  # the lone step's general form instead of its fused one
            sim.engine.run_lone_step = sim.engine.steps.run_lone_step
        if general_command:  # a step's command through store_command (not _fast.step_command)
            sim.engine.issue_step = None
        h = sim.invoke(target, 0)
        sim.run()
        return h

    return go


def replay_once(svc: sd.Service, n: int, count: int, fast: bool = True) -> float:
    """CPU seconds to replay one ``n``-step journal (a fresh store each), with
    the fused step command and the step lane (``fast``) or without."""
    stores = replay_stores(svc, n, count)
    start = time.process_time()
    for store in stores:
        sim = sd.Simulation([svc], seed=1, store=store)
        if not fast:
            sim.engine.step_lane = None
            sim.engine.issue_step = None
        sim.run()
    return (time.process_time() - start) / count


def replay_cpu(svc: sd.Service, n: int, count: int, repeats: int) -> float:
    times = [replay_once(svc, n, count) for _ in range(repeats + 1)]
    return statistics.median(times[1:])


def row(name: str, value: float, unit: str, goal: str) -> None:
    print(f"| {name} | {value:,.3g} {unit} | {goal} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath")
    parser.add_argument("--quick", action="store_true", help="3 repetitions, fewer calls")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the smoke test)")
    args = parser.parse_args(argv)
    repeats = 1 if args.tiny else 3 if args.quick else 7
    k = 1 if args.quick or args.tiny else 3
    small = 0.05 if args.tiny else 1.0  # scales the calls and the concurrent invocations
    concurrent_n = 200 if args.tiny else 10_000
    examples = 10 if args.tiny else 200
    print(f"CPython {sys.version.split()[0]}; CPU time, median of {repeats}\n")
    print("| figure | measured | goal |")
    print("|---|---|---|")

    svc100, svc5 = steps_service(100), steps_service(5)
    plain = plain_handler(100)
    def calls(n: int) -> int:
        return max(1, int(n * k * small))

    t_plain = median(lambda: drive(plain(0)), calls(200), repeats) / 100
    t_fresh = median(fresh(svc100), calls(20), repeats) / 100
    t_replay = replay_cpu(svc100, 100, calls(20), repeats) / 100
    t_five = median(fresh(svc5), calls(300), repeats)
    row("plain Python, per step (100 steps)", t_plain * 1e6, "us", "-")
    row("fresh step overhead (100 steps)", (t_fresh - t_plain) * 1e6, "us", "<= 2 us")
    row("replayed step overhead (100 steps)", (t_replay - t_plain) * 1e6, "us", "<= 1 us")
    row("5-step invocation (build, submit, run, read)", t_five * 1e6, "us", "<= 25 us")

    for n in (5,) if args.tiny else (5, 20, 40):
        svc = named_steps_service(n, f"X{n}")
        t = median(lambda svc=svc, n=n: explore_all_crashes(svc, n), 1, repeats)
        row(f"every crash point of a {n}-step handler ({3 * n} runs)", t * 1e3, "ms",
            "<= 20 ms at 20 steps, sub-quadratic")

    check_svc = named_steps_service(5, "Check")
    t_check = median(lambda: sd.check([check_svc], "Check5/run", 0, max_examples=examples,
                                      seed=0, strict=True), 1, max(1, repeats // 2))
    row(f"check, {examples} examples of a 5-step handler, strict", t_check, "s",
        "<= 0.3 s at 200")

    conc = steps_service(5)

    def concurrent(general_tasks: bool = False) -> None:
        sim = sd.Simulation([conc], seed=1)
        if general_tasks:  # every task through the parts' methods (not runtime/_tasks.py)
            sim.engine.run_task = sim.engine.general_run_task
        for i in range(concurrent_n):
            sim.invoke("Steps5/run", i)
        sim.run()

    t_conc = median(concurrent, 1, max(1, repeats // 2))
    gc.collect()
    tracemalloc.start()
    concurrent()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    row(f"{concurrent_n:,} concurrent 5-step invocations", t_conc, "s", "<= 0.5 s at 10,000")
    row(f"{concurrent_n:,} concurrent 5-step invocations, peak traced memory", peak, "MiB",
        "<= 50 MB at 10,000")

    # -- A/B, both sides alternating in this process ---------------------------------------
    print("\n| A/B (same process, alternating) | A | B | B / A |")
    print("|---|---|---|---|")

    def ab(name: str, a: Callable[[], Any], b: Callable[[], Any], calls: int, unit: float,
           label: str) -> None:
        a(), b()
        ta, tb = [], []
        for _ in range(repeats):
            ta.append(cpu(a, calls))
            tb.append(cpu(b, calls))
        ma, mb = statistics.median(ta), statistics.median(tb)
        print(f"| {name} | {ma * unit:,.3g} {label} | {mb * unit:,.3g} {label} | x{mb / ma:.2f} |")

    ab("fresh 100-step invocation: step lane (A), the future's general await (B)",
       fresh(svc100), fresh(svc100, lane=False), calls(20), 1e6, "us")
    ab("5-step invocation: step lane (A), the future's general await (B)", fresh(svc5),
       fresh(svc5, lane=False), calls(300), 1e6, "us")
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(replay_once(svc100, 100, calls(20)))
        tb.append(replay_once(svc100, 100, calls(20), fast=False))
    ma, mb = statistics.median(ta), statistics.median(tb)
    print(f"| replayed 100-step invocation: step lane and fused command (A), general (B) | "
          f"{ma * 1e6:,.3g} us | {mb * 1e6:,.3g} us | x{mb / ma:.2f} |")
    engine = sd.Simulation([svc5], seed=1).engine
    if type(engine.run_lone_step) is not type(engine.steps.run_lone_step):  # noqa: E721
        ab("fresh 100-step invocation, no lane: fused lone step (A), general (B)",
           fresh(svc100, lane=False), fresh(svc100, general=True), calls(20), 1e6, "us")
        ab("5-step invocation, no lane: fused lone step (A), general (B)",
           fresh(svc5, lane=False), fresh(svc5, general=True), calls(300), 1e6, "us")
    ab("fresh 100-step invocation: fused step command (A), general (B)", fresh(svc100),
       fresh(svc100, general_command=True), calls(20), 1e6, "us")
    ab("5-step invocation: fused step command (A), general (B)", fresh(svc5),
       fresh(svc5, general_command=True), calls(300), 1e6, "us")
    ab("5-step invocation: no wall budget (A), the default 60 s budget (B)",
       fresh(svc5, wall_budget=None), fresh(svc5), calls(300), 1e6, "us")

    # A crash run asks the fault points of the step its fault is aimed at only
    # (``Injector.spares``); B asks them at every step while a fault is left.
    aimed = Injector.spares

    def every_step_asks(self: Injector, name: str) -> bool:
        return not self.armed

    n_aim = 5 if args.tiny else 20
    aim_svc = named_steps_service(n_aim, "Aim")

    def crashes(spares: Callable[[Injector, str], bool]) -> Callable[[], Any]:
        def go() -> Any:
            setattr(Injector, "spares", spares)  # noqa: B010 - a method, swapped
            try:
                return explore_all_crashes(aim_svc, n_aim)
            finally:
                setattr(Injector, "spares", aimed)  # noqa: B010

        return go

    ab(f"every crash point of a {n_aim}-step handler: fault points of the aimed step only (A), "
       "of every step (B)", crashes(aimed), crashes(every_step_asks), 1, 1e3, "ms")

    def collector(on: bool) -> Callable[[], Any]:
        def go() -> None:
            """With ``on``, what a run did before the collector was turned off
            for it: left on, at a threshold of 50,000."""
            old = gc.get_threshold()
            if on:
                sim_module._OFF_IN_RUNS = False
                gc.set_threshold(50_000, *old[1:])
            try:
                concurrent()
            finally:
                sim_module._OFF_IN_RUNS = True
                gc.set_threshold(*old)

        return go

    ab(f"{concurrent_n:,} concurrent 5-step invocations: collector off during the run (A), "
       "on at a threshold of 50,000 (B)", collector(False), collector(True), 1, 1, "s")
    def promoted(on: bool) -> Callable[[], Any]:
        """A crowd's leftovers handed to the oldest generation as its run ends
        (``_sim._RUN_PROMOTE_AT``), or walked by the first collection after it."""
        def go() -> None:
            saved = sim_module._RUN_PROMOTE_AT
            if not on:
                setattr(sim_module, "_RUN_PROMOTE_AT", 1 << 62)  # noqa: B010 - a Final, swapped
            try:
                concurrent()
            finally:
                setattr(sim_module, "_RUN_PROMOTE_AT", saved)  # noqa: B010

        return go

    ab(f"{concurrent_n:,} concurrent 5-step invocations: what the run left handed to the oldest "
       "generation (A), walked by the first collection after it (B)", promoted(True),
       promoted(False), 1, 1, "s")
    ab(f"{concurrent_n:,} concurrent 5-step invocations: fused tasks (A), "
       "`Engine.general_run_task` (B)", concurrent, lambda: concurrent(general_tasks=True), 1, 1,
       "s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
