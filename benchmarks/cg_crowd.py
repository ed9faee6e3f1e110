"""Instructions of the timed crowd (tree_ab's ``conc_s``), by phase, counted by callgrind.

    .venv/bin/python -m benchmarks.cg_crowd TREE [build submit run read end] [--n 10000] [--handles]

The crowd as ``tree_ab`` times it: ``Simulation([Steps5], seed=1,
wall_budget=None)``, N ``invoke`` (their handles dropped), ``run()``, and
the simulation dropped; with ``--handles`` as ``bench_sim``'s concurrent
case: the handles kept, every ``result()`` read, then dropped with the
simulation. The collector stays on, as in both (``cg_invocation --pinned``
turns it off, so its young collections during the submissions and its
walks after the run are not in those figures). Each phase is one count:
callgrind collects only inside ``operator.call``, which calls that phase
alone, after a crowd of 50 to warm up (the engine the next simulation
takes), N submissions dropped unrun (their first ids remembered, as a
repeated crowd, ``tree_ab``'s, finds them) and a ``gc.collect()``; the
figure is the phase's count over N.
``read`` needs ``--handles``; ``end`` is dropping the simulation (and the
handles): ``Simulation.__del__`` and freeing what the run left.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchmarks._util import callgrind_count

PHASES = ("build", "submit", "run", "read", "end")


def one(tree: str, phase: str, n: int, handles: bool) -> None:
    """The measured script (run under valgrind)."""
    import gc
    import operator

    sys.path.insert(0, tree)
    import simdurable as sd
    from benchmarks.bench_sim import steps_service

    assert sd.__file__ is not None and sd.__file__.startswith(tree), sd.__file__
    s5 = steps_service(5)

    def crowd(k: int, counted: str | None) -> None:
        def call(fn: Any, name: str) -> Any:
            return operator.call(fn) if name == counted else fn()

        box: list[Any] = [call(lambda: sd.Simulation([s5], seed=1, wall_budget=None), "build")]
        kept: list[Any] = []

        def submit() -> None:
            invoke = box[0].invoke
            if handles:
                kept.extend(invoke("Steps5/run", i) for i in range(k))
            else:
                for i in range(k):
                    invoke("Steps5/run", i)

        def read() -> None:
            assert all(h.result() == i + 5 for i, h in enumerate(kept))

        call(submit, "submit")
        call(box[0].run, "run")
        if handles:
            call(read, "read")

        def end() -> None:
            kept.clear()
            box.clear()

        call(end, "end")

    crowd(50, None)
    sim = sd.Simulation([s5], seed=1, wall_budget=None)
    for i in range(n):
        sim.invoke("Steps5/run", i)
    del sim
    gc.collect()
    crowd(n, phase)


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:6] == ["handles"])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("tree")
    parser.add_argument("phases", nargs="*", default=["build", "submit", "run", "end"])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--handles", action="store_true",
                        help="keep the handles and read every result (bench_sim's case)")
    args = parser.parse_args()
    if unknown := [p for p in args.phases if p not in PHASES]:
        parser.error(f"unknown phase {unknown[0]!r} (choose from {', '.join(PHASES)})")
    if "read" in args.phases and not args.handles:
        parser.error("read needs --handles")
    total = 0.0
    for phase in args.phases:
        count = callgrind_count("benchmarks.cg_crowd", args.tree, phase, str(args.n),
                                *(["handles"] if args.handles else []),
                                only="*operator_call*")
        total += count / args.n
        print(f"{args.tree} {phase}: {count / args.n:,.0f} instructions an invocation"
              f"{' (handles kept)' if args.handles else ''}", flush=True)
    print(f"{args.tree} total: {total:,.0f}")


if __name__ == "__main__":
    main()
