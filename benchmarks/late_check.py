"""A whole-app check of a long-running workflow, its confirmation arriving late:
time and memory.

    .venv/bin/python -m benchmarks.late_check [TREE] [--examples 50] [--traced] [--no-strict]

Checks restate's signup-with-timers tour example (tests/compat/programs/
ex_tour_wf_timers.py, restate-sdk code as published: a reminder every 15 s until
a 24-hour deadline, the promise waited on again each time) as an adopter would,
with ``world.call(verifyEmail)`` at each moment the check tries: a run where the
confirmation comes late goes round the loop 5,760 times. TREE (a ``git archive``
checkout) is imported instead of this one when given. Prints the runs, wall and
CPU seconds, the peak resident set, and with ``--traced`` the peak of memory
Python allocated (``tracemalloc``: several times slower).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", nargs="?", help="a checkout to import simdurable from")
    parser.add_argument("--examples", type=int, default=50, help="max_examples (default 50)")
    parser.add_argument("--traced", action="store_true", help="also the traced peak")
    parser.add_argument("--no-strict", action="store_true", help="strict mode off")
    args = parser.parse_args(argv)
    if args.tree:
        sys.path.insert(0, args.tree)
    import tracemalloc

    import simdurable as sd
    from simdurable import world
    from tests.compat.programs import ex_tour_wf_timers as app

    if args.traced:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    report = sd.check(
        services=[app.signup_with_timers], invoke="SignupWithTimersWorkflow/u1/run",
        input={"name": "Bob", "email": "b@x"}, max_examples=args.examples, hash_seeds=(),
        world=[world.call("SignupWithTimersWorkflow/u1/verifyEmail", {"secret": "nope"})],
        strict=not args.no_strict,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"simdurable from {sd.__file__}")
    print(f"ok={report.ok} runs={report.runs} strict={not args.no_strict} wall={wall:.1f}s cpu={cpu:.1f}s "
          f"maxrss={rss:.0f}MiB", end="")
    if args.traced:
        print(f" traced_peak={tracemalloc.get_traced_memory()[1] / 2**20:.1f}MiB", end="")
    print()


if __name__ == "__main__":
    main()
