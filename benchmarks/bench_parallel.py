"""``check(jobs=N)`` against ``jobs=1``, the machine's own ceiling, and a soak's seeds per second.

    .venv/bin/python -m benchmarks.bench_parallel              # full size
    .venv/bin/python -m benchmarks.bench_parallel --quick      # a few seconds
    .venv/bin/python -m benchmarks.bench_parallel --timeline   # where each process's time went
    .venv/bin/python -m benchmarks.bench_parallel --ab BEFORE AFTER --rounds 6   # two checkouts

The workers are warmed first (as in a test session, where every check after
the first finds them started). Each round runs, back to back:

- ``jobs=1`` (this process) and ``jobs=N`` (the workers), asserting the same report;
- the control: N independent checks of 1/N of the examples each, one per
  worker, all at once (``pool().run``), and one of them alone. The control
  has no coordination at all, so ``alone x N / at once`` is the most N
  processes can gain on this machine at this moment (2.0 on two idle cores;
  less when other programs use the cores, or when the cores slow each other
  down), and ``control / jobs=N`` is what the parallel check keeps of it.

Wall time is what a user waits; CPU time is the parent's plus the workers'
(the warm ones read from /proc, the forked ones from ``getrusage`` once they
end). The load average is printed: on a shared machine the wall times say
more about the neighbours than about the check.

Then a cold start (``simdurable check ... -j N`` in a fresh process, workers
started by it) and a soak of 40 seeds with ``-j 1`` and ``-j N``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import simdurable as sd
from examples import payments
from simdurable._check._workers import pool, task

INPUT = {"amount": 10}
# The workers import the control task from here (not from __main__).
MODULE = "benchmarks.bench_parallel"


def _worker_cpu() -> float:
    """CPU seconds used so far by the warm worker processes (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for w in list(pool()._workers.values()):
        try:
            with open(f"/proc/{w.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def _check_payments(jobs: int, examples: int, seed: int = 0) -> Any:
    return sd.check(services=payments.services, invoke="Payments/pay", input=INPUT,
                    externals=payments.externals, max_examples=examples, seed=seed,
                    jobs=jobs, hash_seeds=())


@task
def bench_check(args: dict[str, Any]) -> float:
    """In a worker: one whole check (the control); its CPU seconds."""
    cpu = time.process_time()
    _check_payments(1, args["examples"], args["seed"])
    return time.process_time() - cpu


def _children_cpu() -> float:
    """CPU seconds of the child processes that ended (the forked workers of each phase)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(fn: Any) -> tuple[Any, float, float]:
    cpu0, w0, c0, t0 = time.process_time(), _worker_cpu(), _children_cpu(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    return out, wall, (time.process_time() - cpu0 + _worker_cpu() - w0
                       + _children_cpu() - c0)


def _control(jobs: int, examples: int) -> tuple[float, float]:
    """Wall time of ``jobs`` independent checks of 1/jobs of the examples at once, and of one."""
    args = {"examples": examples // jobs, "seed": 0}
    hash_seeds = list(range(1, jobs + 1))
    _, together, _ = _timed(lambda: pool().run(hash_seeds, "bench_check", MODULE, args))
    _, alone, _ = _timed(lambda: pool().run(hash_seeds[:1], "bench_check", MODULE, args))
    return together, alone


def _cold(jobs: int, examples: int) -> tuple[float, float]:
    """Wall and CPU (with its workers) of ``simdurable check -j N`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "simdurable", "check", "examples.payments:pay",
                    "--input", '{"amount": 10}', "--max-examples", str(examples),
                    "-j", str(jobs)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _timeline(jobs: int, examples: int) -> None:
    """One ``jobs=N`` check, instrumented: where each lane's time went.

    Per process: the parts it ran, its CPU, and how long it waited (a worker
    for its next part, this process for an answer to merge). A worker writes
    its figures to a file as it ends (it is forked with the instrumented loop).
    """
    import glob
    import json
    import tempfile

    from simdurable._check import _parallel, _workers

    here = {"parts": 0, "cpu": 0.0, "blocked": 0.0, "minflt": 0.0}
    mine, ready = _parallel.Lanes._mine, _workers.ready
    scratch = tempfile.mkdtemp(prefix="timeline-")

    def timed_mine(self: Any, *a: Any) -> Any:
        cpu = time.process_time()
        try:
            return mine(self, *a)
        finally:
            here["parts"] += 1
            here["cpu"] += time.process_time() - cpu

    def timed_ready(workers: Any, timeout: float | None = None) -> Any:
        t0 = time.perf_counter()
        try:
            return ready(workers, timeout)
        finally:
            if timeout is None:
                here["blocked"] += time.perf_counter() - t0

    def serve(requests: Any, answers: Any) -> None:
        waited, parts, t0, cpu0 = 0.0, 0, time.perf_counter(), time.process_time()
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        first = None
        while True:
            t = time.perf_counter()
            line = requests.readline()
            waited += time.perf_counter() - t
            if not line:
                break
            first = time.perf_counter() - t0 if first is None else first
            parts += 1
            req = json.loads(line)
            answers.write(json.dumps({"ok": _workers.TASKS[req["task"]](req["args"])}) + "\n")
            answers.flush()
        with open(os.path.join(scratch, f"{os.getpid()}.json"), "w") as f:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
            json.dump({"parts": parts, "cpu": time.process_time() - cpu0, "waited": waited,
                       "minflt": faults,
                       "first": first, "wall": time.perf_counter() - t0}, f)

    _parallel.Lanes._mine = timed_mine  # type: ignore[method-assign]
    _parallel.ready = timed_ready
    plain_serve, _workers.serve = _workers.serve, serve
    try:
        _check_payments(jobs, 25)  # warm: imports, caches
        for f in glob.glob(os.path.join(scratch, "*.json")):
            os.remove(f)
        here.update(parts=0, cpu=0.0, blocked=0.0)
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0, cpu0 = time.perf_counter(), time.process_time()
        _check_payments(jobs, examples)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        here["minflt"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    finally:
        _parallel.Lanes._mine = mine  # type: ignore[method-assign]
        _parallel.ready = ready
        _workers.serve = plain_serve
    print(f"timeline of one check, jobs={jobs}, {examples} examples: wall {wall:.3f}s, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  this process: {here['parts']} parts ({here['cpu']:.3f}s CPU in them), "
          f"{cpu:.3f}s CPU in all, waited {here['blocked']:.3f}s for answers, "
          f"{here['minflt']:.0f} page faults")
    for path in sorted(glob.glob(os.path.join(scratch, "*.json"))):
        with open(path) as f:
            w = json.load(f)
        os.remove(path)
        print(f"  worker: {w['parts']} parts, {w['cpu']:.3f}s CPU, first part "
              f"{1000 * (w['first'] or 0):.1f} ms after its fork, waited {w['waited']:.3f}s "
              f"of {w['wall']:.3f}s for parts, {w['minflt']} page faults")
    os.rmdir(scratch)


# One warm check of ``examples`` with jobs=1 then jobs=2 in a tree: wall and CPU of each.
_ONE = """
import json, resource, sys, time
tree, n = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, tree)
import simdurable as sd
assert sd.__file__.startswith(tree), sd.__file__
from examples import payments

def check(jobs, n):
    return sd.check(services=payments.services, invoke="Payments/pay", input={"amount": 10},
                    externals=payments.externals, max_examples=n, seed=0, jobs=jobs,
                    hash_seeds=())

def children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

check(2, 25)
check(1, 25)
out, texts = {}, []
for jobs in (1, 2):
    c0, p0, t0 = children(), time.process_time(), time.perf_counter()
    texts.append(check(jobs, n).render())
    out[jobs] = (time.perf_counter() - t0, time.process_time() - p0 + children() - c0)
assert texts[0] == texts[1], "jobs changed the report"
print(json.dumps(out))
"""


def _ab(trees: list[str], rounds: int, examples: int) -> None:
    """Warm ``jobs=1`` and ``jobs=2`` in each tree, one fresh process per tree and
    round, alternating, with the control of two plain loops at once each round."""
    import json

    from benchmarks.bench_cold import control

    runs: dict[str, list[dict[str, list[float]]]] = {t: [] for t in trees}
    controls, loads = [], [os.getloadavg()[0]]
    for r in range(rounds):
        controls.append(control(2))
        for tree in trees if r % 2 == 0 else trees[::-1]:
            out = subprocess.run([sys.executable, "-c", _ONE, os.path.abspath(tree),
                                  str(examples)], check=True, capture_output=True, text=True)
            runs[tree].append(json.loads(out.stdout))
        loads.append(os.getloadavg()[0])
    print(f"warm check of Payments/pay, {examples} examples, {rounds} rounds alternating, "
          f"load {min(loads):.1f} to {max(loads):.1f}; control (2 loops: 2 x alone / at "
          f"once) each round: " + ", ".join(f"{c:.2f}x" for c in controls))
    for tree in trees:
        one = [x["1"] for x in runs[tree]]
        two = [x["2"] for x in runs[tree]]
        ratios = [a[0] / b[0] for a, b in zip(one, two, strict=True)]
        print(f"  {tree}: jobs=1 {statistics.median(w for w, _ in one):.2f}s (CPU "
              f"{statistics.median(c for _, c in one):.2f}s), jobs=2 "
              f"{statistics.median(w for w, _ in two):.2f}s (CPU "
              f"{statistics.median(c for _, c in two):.2f}s); each round "
              + ", ".join(f"{x:.2f}x" for x in ratios))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=1500,
                        help="examples a check makes (the goal is for a check of over a second)")
    parser.add_argument("--timeline", action="store_true",
                        help="one instrumented check: parts, CPU and waits per process")
    parser.add_argument("--ab", nargs="+", metavar="TREE",
                        help="warm jobs=1 and jobs=2 in each checkout, alternating")
    args = parser.parse_args(argv)
    jobs = args.jobs
    examples = 100 if args.quick else args.examples
    if args.ab:
        _ab(args.ab, args.rounds, examples)
        return 0
    if args.timeline:
        _timeline(jobs, examples)
        return 0
    rounds = 1 if args.quick else args.rounds
    _check_payments(jobs, 25)  # start the workers
    pool().run(list(range(1, jobs + 1)), "bench_check", MODULE, {"examples": 25, "seed": 0})
    loads = [os.getloadavg()[0]]
    walls: dict[str, list[float]] = {"1": [], "N": [], "together": [], "alone": []}
    cpus: dict[str, list[float]] = {"1": [], "N": []}
    for _ in range(rounds):
        texts = []
        for key, n in (("1", 1), ("N", jobs)):
            report, wall, cpu = _timed(lambda n=n: _check_payments(n, examples))
            texts.append(report.render())
            walls[key].append(wall)
            cpus[key].append(cpu)
        assert texts[0] == texts[1], "jobs changed the report"
        together, alone = _control(jobs, examples)
        walls["together"].append(together)
        walls["alone"].append(alone)
        loads.append(os.getloadavg()[0])
    med = {k: statistics.median(v) for k, v in walls.items()}
    print(f"check of Payments/pay, {examples} examples, {rounds} rounds, load average "
          f"{min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores (medians)")
    print(f"  jobs=1: wall {med['1']:.2f}s, CPU {statistics.median(cpus['1']):.2f}s")
    print(f"  jobs={jobs}: wall {med['N']:.2f}s, CPU (parent + workers) "
          f"{statistics.median(cpus['N']):.2f}s")
    print(f"  speedup: {med['1'] / med['N']:.2f}x (best round against best round "
          f"{min(walls['1']) / min(walls['N']):.2f}x); reports identical")
    print("  each round, jobs=1 / jobs=N: "
          + ", ".join(f"{a / b:.2f}x" for a, b in zip(walls["1"], walls["N"], strict=True))
          + f"; the control's {jobs} x alone / at once: "
          + ", ".join(f"{jobs * a / b:.2f}x" for a, b in zip(walls["alone"], walls["together"],
                                                             strict=True)))
    print(f"  control: {jobs} checks of {examples // jobs} examples, one per worker: "
          f"{med['together']:.2f}s at once, {med['alone']:.2f}s one alone; the machine "
          f"gives {jobs} processes {jobs * med['alone'] / med['together']:.2f}x now, and "
          f"jobs={jobs} keeps {med['together'] / med['N']:.0%} of it")

    if not args.quick:
        for n in (1, jobs):
            wall, cpu = _cold(n, examples)
            print(f"cold: simdurable check examples.payments:pay --max-examples {examples} "
                  f"-j {n} (a fresh process, hash-seed workers included): wall {wall:.2f}s, "
                  f"CPU {cpu:.2f}s, load {os.getloadavg()[0]:.1f}")

    from simdurable._check._soak import SoakTarget, soak

    class NoDatabase:
        def save(self, key: bytes, value: bytes) -> None:
            raise AssertionError("Payments/pay does not fail")

    seeds = range(0, 5 if args.quick else 40)
    target = SoakTarget("Payments/pay", payments.services, "Payments/pay", INPUT,
                        payments.externals)
    for n in (1, jobs):
        (summary, wall, cpu) = _timed(lambda n=n: soak([target], seeds, None, 25, n, True,
                                                       NoDatabase()))
        print(f"soak of Payments/pay, {len(seeds)} seeds x 25 examples, -j {n}: "
              f"{summary.seeds / summary.seconds:.1f} seeds/s ({summary.seconds:.2f}s wall, "
              f"CPU {cpu:.2f}s, load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
