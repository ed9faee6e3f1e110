"""A restate-sdk handler's step in simulation, strict mode on and off: CPU time.

    .venv/bin/python -m benchmarks.hosted_steps [TREE] [--steps 3000] [--best-of 7] [--lambda]

A restate-sdk service (the SDK's own ``restate.Service``, hosted unchanged)
whose handler awaits ``ctx.run_typed`` on a typed module function in a loop, no
options given: the cost an adopter's handler pays for each step, restate-sdk's
context and combinators included. ``--lambda``: the step is a lambda over the
loop's variable instead (no return annotation; a closure the late-binding check
reads). TREE (a ``git archive`` checkout) is
imported instead of this one when given. Prints microseconds of CPU a step,
the best of several runs, without and with strict mode.
"""

from __future__ import annotations

import argparse
import sys
import time

import restate


def work(x: int) -> int:
    return x + 1


svc = restate.Service("Hosted")


@svc.handler()
async def loop(ctx: restate.Context, n: int) -> int:
    total = 0
    for i in range(n):
        total += await ctx.run_typed("step", work, x=i)
    return total


@svc.handler()
async def lambdas(ctx: restate.Context, n: int) -> int:
    total = 0
    for i in range(n):
        total += await ctx.run_typed("step", lambda: i + 1)  # noqa: B023 - awaited at once
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", nargs="?", help="a checkout to import simdurable from")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--best-of", type=int, default=7)
    parser.add_argument("--lambda", dest="lambdas", action="store_true",
                        help="steps given as lambdas, not a typed module function")
    args = parser.parse_args(argv)
    if args.tree:
        sys.path.insert(0, args.tree)
    import simdurable as sd

    print(f"simdurable from {sd.__file__}")
    for strict in (False, True):
        best = float("inf")
        for _ in range(args.best_of):
            sim = sd.Simulation(services=[svc], seed=1, strict=strict)
            h = sim.invoke("Hosted/lambdas" if args.lambdas else "Hosted/loop", args.steps)
            cpu = time.process_time()
            sim.run()
            best = min(best, time.process_time() - cpu)
            assert h.result() == sum(range(1, args.steps + 1))
        print(f"strict={strict}: {best / args.steps * 1e6:.2f} us of CPU a step "
              f"(best of {args.best_of}, {args.steps} steps)")


if __name__ == "__main__":
    main()
