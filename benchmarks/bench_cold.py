"""A check from the shell, ``-j 1`` against ``-j N``: what a user waits for one check.

    .venv/bin/python -m benchmarks.bench_cold                        # 5 rounds, this tree
    .venv/bin/python -m benchmarks.bench_cold --rounds 3 TREE ...    # several trees, alternating
    .venv/bin/python -m benchmarks.bench_cold --what scenario        # or: plugin

Each round runs ``simdurable check examples.payments:pay --max-examples 500
-j J`` in a fresh process for every tree and every J, one after the other,
so that all see the same minute of the machine. ``--what scenario`` runs
``simdurable scenario -j J`` on a scenario exploring the same handler with
as many examples, ``--what plugin`` runs ``pytest --simdurable
--simdurable-jobs=J`` on a project checking it. Wall time is what a user
waits; CPU time is the process's and every process it started (its workers,
the hash-seed processes), from ``getrusage(RUSAGE_CHILDREN)``. The figures
are medians over the rounds, with the load average; on a shared machine
compare the columns of one run, not runs of different minutes, and read
the speedup against the control printed with it (what ``N`` processes get
from the machine at that moment). A tree is a
checkout (``git archive <commit> | tar -x -C <dir>``); the default is this one.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

SCENARIO = """\
name: payment with a key, explored
services: examples.payments:services
externals: [examples.payments:bank]
invoke:
  - target: Payments/pay
    input: {{amount: 10}}
explore: {{max_examples: {examples}, expect: ok}}
"""

PYPROJECT = """\
[tool.pytest.ini_options]
addopts = "-p no:cacheprovider"

[tool.simdurable]
services = ["examples.payments:services"]
externals = ["examples.payments:bank"]
handlers = ["Payments/pay"]
inputs = {{ "Payments/pay" = [{{amount = 10}}] }}
max_examples = {examples}
"""


def command(what: str, tree: str, jobs: int, examples: int, scratch: str) -> list[str]:
    """The command line of one run of ``what`` (files it needs written in ``scratch``)."""
    if what == "scenario":
        path = os.path.join(scratch, "explore.yaml")
        with open(path, "w") as f:
            f.write(SCENARIO.format(examples=examples))
        return [sys.executable, "-m", "simdurable", "scenario", path, "-j", str(jobs)]
    if what == "plugin":
        project = os.path.join(scratch, "project")
        os.makedirs(project, exist_ok=True)
        with open(os.path.join(project, "pyproject.toml"), "w") as f:
            f.write(PYPROJECT.format(examples=examples))
        return [sys.executable, "-m", "pytest", "-q", "--rootdir", project, "--simdurable",
                f"--simdurable-jobs={jobs}"]
    return [sys.executable, "-m", "simdurable", "check", "examples.payments:pay",
            "--input", '{"amount": 10}', "--max-examples", str(examples), "-j", str(jobs)]


def cold(tree: str, jobs: int, examples: int, what: str = "check") -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``what`` with ``jobs`` started in ``tree``."""
    with tempfile.TemporaryDirectory() as scratch:
        argv = command(what, tree, jobs, examples, scratch)
        env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        where = os.path.join(scratch, "project") if what == "plugin" else tree
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=where, env=env)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


BURN = "n = 0\nfor i in range(6_000_000):\n    n += i"


def control(jobs: int) -> float:
    """What ``jobs`` processes get from the machine now: ``jobs`` x one loop alone over
    ``jobs`` of them at once (``jobs`` on idle cores; about 1 when the machine is full)."""
    def burn(n: int) -> float:
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(n)]
        for p in procs:
            p.wait()
        return time.perf_counter() - t0

    return jobs * burn(1) / burn(jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", default=["."])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--what", choices=("check", "scenario", "plugin"), default="check")
    args = parser.parse_args(argv)
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    loads = [os.getloadavg()[0]]
    controls = []
    for _ in range(args.rounds):
        controls.append(control(args.jobs))
        for tree in args.trees:
            for j in (1, args.jobs):
                runs.setdefault((tree, j), []).append(cold(tree, j, args.examples, args.what))
        loads.append(os.getloadavg()[0])
    print(f"{args.what} of Payments/pay with {args.examples} examples, from the "
          f"shell; {args.rounds} rounds, load average {min(loads):.1f} to {max(loads):.1f} "
          f"on {os.cpu_count()} cores (medians); the machine gives {args.jobs} processes "
          f"{statistics.median(controls):.2f}x now (control: a loop alone and {args.jobs} at once)")
    for tree in args.trees:
        wall = {j: statistics.median(w for w, _ in runs[tree, j]) for j in (1, args.jobs)}
        cpu = {j: statistics.median(c for _, c in runs[tree, j]) for j in (1, args.jobs)}
        print(f"  {tree}: -j 1 wall {wall[1]:.2f}s (CPU {cpu[1]:.2f}s); -j {args.jobs} wall "
              f"{wall[args.jobs]:.2f}s (CPU {cpu[args.jobs]:.2f}s); -j {args.jobs} is "
              f"{wall[1] / wall[args.jobs]:.2f}x as fast")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
