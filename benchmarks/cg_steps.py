"""Instructions a journaled step costs, counted by callgrind (independent of load).

    .venv/bin/python -m benchmarks.cg_steps TREE [fresh|replay ...] [--n 20] [--hash-seeds 0 1 2]

For each mode, runs valgrind's callgrind twice over ``--one``: a Python that
imports simdurable from TREE (a ``git archive`` checkout), runs one
``Steps100/run`` invocation to warm up, then N more fresh invocations (or N
pure replays over ``bench_sim.replay_stores``, made beforehand either way);
prints (count at N - count at 0) / (N * 100), with PYTHONHASHSEED=0 so that
both counts hash alike (``--hash-seeds``: the mean over those values, as a
count at one hash seed moves by a few hundred with code the step never
runs). Plain Python's step (``bench_sim.plain_handler``) is about 3,600
instructions.
"""

from __future__ import annotations

import argparse
import sys

from benchmarks._util import callgrind_count


def one(tree: str, mode: str, n: int, made: int) -> None:
    """The measured script (run under valgrind): ``made`` stores are made
    either way, ``n`` of them replayed."""
    sys.path.insert(0, tree)
    import simdurable as sd
    from benchmarks.bench_sim import replay_stores, steps_service

    assert sd.__file__ is not None and sd.__file__.startswith(tree), sd.__file__
    svc = steps_service(100)

    def fresh() -> None:
        sim = sd.Simulation([svc], seed=1)
        sim.invoke("Steps100/run", 0)
        sim.run()

    fresh()
    if mode == "fresh":
        for _ in range(n):
            fresh()
    else:
        stores = replay_stores(svc, 100, made + 1)
        sd.Simulation([svc], seed=1, store=stores.pop()).run()
        for store in stores[:n]:
            sd.Simulation([svc], seed=1, store=store).run()


def count(tree: str, mode: str, n: int, made: int, hash_seed: int = 0) -> int:
    return callgrind_count("benchmarks.cg_steps", tree, mode, str(n), str(made),
                           hash_seed=hash_seed)


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tree")
    parser.add_argument("modes", nargs="*", default=["fresh", "replay"])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--hash-seeds", type=int, nargs="+", default=[0], metavar="SEED",
                        help="PYTHONHASHSEED values to count at; the mean is printed")
    args = parser.parse_args()
    if unknown := [mode for mode in args.modes if mode not in ("fresh", "replay")]:
        parser.error(f"unknown mode {unknown[0]!r} (choose from fresh, replay)")
    for mode in args.modes:
        steps = [(count(args.tree, mode, args.n, args.n, seed)
                  - count(args.tree, mode, 0, args.n, seed)) / (args.n * 100)
                 for seed in args.hash_seeds]
        each = "" if len(steps) == 1 else " (" + ", ".join(f"{s:,.0f}" for s in steps) + ")"
        print(f"{args.tree} {mode}: {sum(steps) / len(steps):,.0f} instructions a step{each}")


if __name__ == "__main__":
    main()
