"""Cache misses of a crowd's run, per invocation, as callgrind's cache simulation counts them.

    .venv/bin/python -m benchmarks.cg_misses TREE [--n 10000] [--top 12] [--keep FILE]

Runs ``cg_invocation``'s ``crowdrun`` (N concurrent ``Steps5/run`` submitted,
the collector and the budget's thread off, callgrind collecting only inside the
run) under ``--cache-sim=yes`` with this machine's per-core caches: a 32 KiB,
8-way first level and a 1 MiB, 16-way second level as the simulated last level
(``--D1``, ``--LL``). What 10,000 in flight cost over 100 (about half the
figure's time: ``benchmarks.crowd_order``'s ``random`` against ``last``) is
memory: each task touches an invocation drawn among all those in flight, whose
objects are cold. Instruction counts say nothing of it; these counts do, and
like them they are the same on every run and load (the same tree, the same
path length, ``PYTHONHASHSEED=0``).

Prints the instructions (with and without glibc's ``memmove``, whose
``rep movsb`` callgrind counts a byte at a time: the ready list's shift), the
first-level misses and the second-level misses (reads, writes) per invocation,
then the ``--top`` C functions by second-level misses.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

# This machine's caches: lscpu's L1d 64 KiB and L2 2 MiB are two instances each.
D1 = "32768,8,64"
L2 = "1048576,16,64"
EVENTS = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")


def simulate(tree: str, n: int, out_file: str) -> None:
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--cache-sim=yes", f"--D1={D1}", f"--LL={L2}",
         "--toggle-collect=*operator_call*", f"--callgrind-out-file={out_file}",
         sys.executable, "-m", "benchmarks.cg_invocation", "--one", tree, "crowdrun",
         str(n), "pinned"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def by_function(out_file: str) -> list[tuple[str, dict[str, int]]]:
    """Each C function's own events, from ``callgrind_annotate``."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", out_file],
                          capture_output=True, text=True, check=True).stdout
    rows = []
    pattern = re.compile(r"^\s*((?:[\d,]+ \([^)]*\)|\.)\s+){" + str(len(EVENTS)) + r"}(\S.*)$")
    for line in text.splitlines():
        if not pattern.match(line) or "PROGRAM TOTALS" in line:
            continue
        cells = re.findall(r"([\d,]+) \([^)]*\)|(?<!\S)\.(?!\S)", line)
        values = [int(c.replace(",", "")) if c else 0 for c in cells[:len(EVENTS)]]
        name = pattern.match(line).group(2)  # type: ignore[union-attr]
        rows.append((name, dict(zip(EVENTS, values, strict=True))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cg_misses")
    parser.add_argument("tree")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--keep", default=None, help="keep callgrind's output in this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out_file = args.keep or os.path.join(scratch, "callgrind.out")
        simulate(args.tree, args.n, out_file)
        rows = by_function(out_file)
        with open(out_file) as f:
            totals = re.search(r"^summary: ([\d ]+)$", f.read(), re.M)
    assert totals, "callgrind wrote no summary"
    total = dict(zip(EVENTS, (int(v) for v in totals.group(1).split()), strict=True))
    moved = sum(r["Ir"] for name, r in rows if "memmove" in name or "memcpy" in name)
    n = args.n
    print(f"{args.tree}, {n:,} in flight, per invocation (D1 {D1}, L2 {L2}):")
    print(f"  instructions {total['Ir'] / n:,.0f} ({(total['Ir'] - moved) / n:,.0f} "
          "without memmove/memcpy)")
    print(f"  D1 misses {(total['D1mr'] + total['D1mw']) / n:,.1f} "
          f"(read {total['D1mr'] / n:,.1f}, write {total['D1mw'] / n:,.1f})")
    print(f"  L2 misses {(total['DLmr'] + total['DLmw']) / n:,.1f} "
          f"(read {total['DLmr'] / n:,.1f}, write {total['DLmw'] / n:,.1f})")
    rows.sort(key=lambda row: -(row[1]["DLmr"] + row[1]["DLmw"]))
    for name, r in rows[:args.top]:
        short = re.sub(r"^.*/(Python-[\d.]+/)?", "", name.split(" [")[0])
        print(f"  {(r['DLmr'] + r['DLmw']) / n:7.1f}  (read {r['DLmr'] / n:6.1f}, "
              f"write {r['DLmw'] / n:6.1f})  {short}")


if __name__ == "__main__":
    main()
