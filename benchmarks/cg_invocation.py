"""Instructions an invocation costs, by phase, counted by callgrind (independent of load).

    .venv/bin/python -m benchmarks.cg_invocation TREE [build submit run read five crowd crowdrun] [--n 100] [--pinned] [--less-realloc]

For each mode, runs valgrind's callgrind twice over ``--one``: a Python that
imports simdurable from TREE (a ``git archive`` checkout), warms up with three
of the same, then does N more; prints (count at N - count at 0) / N, with
PYTHONHASHSEED=0 so that both counts hash alike. The modes, each a new
``Simulation`` over one service:

* ``build``: ``Simulation([svc], seed=1)`` alone (``Steps0``);
* ``submit``: build and ``invoke`` a 0-step handler, less ``build``;
* ``run``: build, invoke and ``run()``, less build and invoke;
* ``read``: the whole 0-step invocation with ``h.result()``, less the run;
* ``zero``: that whole 0-step invocation; ``five``: the same of ``Steps5/run``
  (tree_ab's ``five_us``); ``steps``: ``five`` less ``zero``;
* ``crowd``: one ``Simulation`` running N concurrent ``Steps5/run`` (after one
  of 50 to warm up), per invocation; N is 1,000 unless ``--n`` says otherwise:
  ``--n 10000`` counts the figure's crowd, past ``Scheduler.hold_at`` (the
  ready list held in two), where each task is drawn among 10,000 invocations.
  Instructions only: what 10,000 in flight cost in cold memory is timed
  (``benchmarks.crowd_order``) and held (``crowd_order --held``);
* ``crowdrun``: that crowd's ``sim.run()`` alone, per invocation: one count,
  callgrind collecting only inside ``operator.call`` (which calls the run
  and nothing else calls), so no second count's import and warm-up is
  subtracted (two counts of a whole process moved by up to 2,700 instructions
  an invocation from one run to the next; this one repeats exactly).

``--pinned`` turns the collector off (``gc.disable()``) after the warm-ups
and stops the wall-clock budget's watcher thread, so that neither a
collection nor the thread's few-second wake-ups fall inside the counted
iterations: without it a figure moves by a few thousand instructions either
way as they fall; with it two counts agree to a few instructions. The 0-step
and 5-step figures of BENCHMARKS.md since the thirteenth pass ("collector
off") are ``zero`` and ``five`` pinned.

``--less-realloc`` leaves out the instructions inside glibc's ``realloc``:
whether it copies a growing list (the trace's) or extends it in place
depends on the heap's layout, so two trees of the same code, or a tree's
first count and its second (after its ``__pycache__`` is written), differ by
up to about 1,300 instructions an invocation of a crowd's run; without
``realloc`` they agree to a few.

Plain Python's step (``bench_sim.plain_handler``) is about 3,600 instructions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from benchmarks._util import callgrind_count

# What each printed mode is: the count of a script mode, less another's.
DERIVED: dict[str, tuple[str, str | None]] = {
    "build": ("build", None),
    "submit": ("submit", "build"),
    "run": ("run", "submit"),
    "read": ("zero", "run"),
    "zero": ("zero", None),
    "five": ("five", None),
    "steps": ("five", "zero"),
    "crowd": ("crowd", None),
    "crowdrun": ("crowdrun", None),
}


def one(tree: str, mode: str, n: int, pinned: bool = False) -> None:
    """The measured script (run under valgrind)."""
    import gc

    sys.path.insert(0, tree)
    import simdurable as sd
    from benchmarks.bench_sim import steps_service

    assert sd.__file__ is not None and sd.__file__.startswith(tree), sd.__file__
    s0, s5 = steps_service(0), steps_service(5)

    def pin() -> None:
        # The collector off, and the wall-clock budget's watcher thread
        # stopped while counted: it wakes every few seconds of wall time, and
        # its objects shift the allocator's pools, which moved a figure by up
        # to 4 %. A run still takes the budget's common path (a thread there,
        # not due to wake before the run's deadline), which needs no thread.
        import threading

        from simdurable._watchdog import _watchdog

        gc.disable()
        assert _watchdog.stop_idle()
        _watchdog._thread = threading.current_thread()
        _watchdog.wake_at = 0.0

    def build() -> Any:
        return sd.Simulation([s0], seed=1)

    def submit() -> Any:
        sim = sd.Simulation([s0], seed=1)
        return sim, sim.invoke("Steps0/run", 0)

    def run() -> Any:
        sim, h = submit()
        sim.run()
        return h

    def zero() -> Any:
        return run().result()

    def five() -> Any:
        sim = sd.Simulation([s5], seed=1)
        h = sim.invoke("Steps5/run", 0)
        sim.run()
        return h.result()

    def crowd(k: int) -> None:
        sim = sd.Simulation([s5], seed=1, wall_budget=None)
        for i in range(k):
            sim.invoke("Steps5/run", i)
        sim.run()

    if mode == "crowdrun":
        import operator

        crowd(50)
        if pinned:
            pin()
        sim = sd.Simulation([s5], seed=1, wall_budget=None)
        for i in range(n):
            sim.invoke("Steps5/run", i)
        operator.call(sim.run)  # (what callgrind counts: ``count``)
        return
    if mode == "crowd":
        crowd(50)
        if pinned:
            pin()
        crowd(n)
        return
    fn: Callable[[], Any] = {"build": build, "submit": submit, "run": run, "zero": zero,
                             "five": five}[mode]
    for _ in range(3):
        fn()
    if pinned:
        pin()
    for _ in range(n):
        fn()


def count(tree: str, mode: str, n: int, pinned: bool = False,
          less: str | None = None) -> int:
    return callgrind_count("benchmarks.cg_invocation", tree, mode, str(n),
                           *(["pinned"] if pinned else []),
                           only="*operator_call*" if mode == "crowdrun" else None, less=less)


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:6] == ["pinned"])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("tree")
    parser.add_argument("modes", nargs="*", default=["build", "submit", "run", "read", "steps"])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--pinned", action="store_true",
                        help="the collector and the budget's thread off after the warm-ups")
    parser.add_argument("--less-realloc", action="store_true",
                        help="less the instructions inside glibc's realloc (see the docstring)")
    args = parser.parse_args()
    left_out = "realloc" if args.less_realloc else None
    if unknown := [mode for mode in args.modes if mode not in DERIVED]:
        parser.error(f"unknown mode {unknown[0]!r} (choose from {', '.join(DERIVED)})")
    per: dict[str, float] = {}

    def each(mode: str) -> float:
        if mode not in per:
            n = 1000 if mode in ("crowd", "crowdrun") and args.n == 100 else args.n
            if mode == "crowdrun":  # (the run alone: one count)
                per[mode] = count(args.tree, mode, n, args.pinned, left_out) / n
            else:
                per[mode] = (count(args.tree, mode, n, args.pinned, left_out)
                             - count(args.tree, mode, 0, args.pinned, left_out)) / n
        return per[mode]

    for mode in args.modes:
        whole, less = DERIVED[mode]
        figure = each(whole) - (each(less) if less is not None else 0.0)
        pinned = ", pinned" if args.pinned else ""
        if left_out is not None:
            pinned += ", less glibc realloc"
        print(f"{args.tree} {mode}: {figure:,.0f} instructions each{pinned}")


if __name__ == "__main__":
    main()
