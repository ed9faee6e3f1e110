"""The bug corpus: is every buggy handler caught, is no correct twin flagged?

Runs ``check`` with its default settings on each pair of
``tests/corpus/pairs`` (the buggy handler, then its correct twin) at several
seeds, and writes the table of docs/bug-corpus.md:

    python -m benchmarks.bug_corpus                 # seeds 0 1 2, rewrites the doc
    python -m benchmarks.bug_corpus --seeds 0 --only set-iteration --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "bug-corpus.md"
MARK = "<!-- table: python -m benchmarks.bug_corpus -->"


@dataclass
class Verdict:
    pair: str
    kind: str
    source: str
    seed: int
    caught: bool
    found: list[str]
    false_alarm: list[str]
    bug_s: float
    twin_s: float
    bug_cpu: float
    twin_cpu: float


def run(seeds: list[int], only: list[str]) -> list[Verdict]:
    sys.path.insert(0, str(ROOT))
    from tests.corpus.pairs import all_pairs

    out = []
    for pair in all_pairs():
        if only and pair.name not in only:
            continue
        for seed in seeds:
            t0, c0 = time.perf_counter(), time.process_time()
            bug = pair.check(fixed=False, seed=seed)
            t1, c1 = time.perf_counter(), time.process_time()
            twin = pair.check(fixed=True, seed=seed)
            t2, c2 = time.perf_counter(), time.process_time()
            v = Verdict(pair.name, pair.kind, pair.source, seed, pair.kind in bug.kinds,
                        list(bug.kinds), list(twin.kinds), t1 - t0, t2 - t1, c1 - c0, c2 - c1)
            out.append(v)
            mark = "caught" if v.caught else "MISSED"
            alarm = f" FALSE ALARM {v.false_alarm}" if v.false_alarm else ""
            print(f"{pair.name:32} seed {seed}: {mark} {v.found} {v.bug_s:.2f}s "
                  f"/ twin {v.twin_s:.2f}s{alarm}", flush=True)
    return out


def table(verdicts: list[Verdict], seeds: list[int]) -> str:
    by_pair: dict[str, list[Verdict]] = {}
    for v in verdicts:
        by_pair.setdefault(v.pair, []).append(v)
    times = [t for v in verdicts for t in (v.bug_s, v.twin_s)]
    cpu = [t for v in verdicts for t in (v.bug_cpu, v.twin_cpu)]
    caught = sum(all(v.caught for v in vs) for vs in by_pair.values())
    alarms = sum(any(v.false_alarm for v in vs) for vs in by_pair.values())
    lines = [
        MARK,
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python "
        f"{platform.python_version()}, seeds {', '.join(map(str, seeds))}, `check` with "
        "its default settings.",
        "",
        f"**{caught} of {len(by_pair)} bugs caught at every seed; false alarms on "
        f"{alarms} of {len(by_pair)} correct twins.** Seconds per verdict (one `check`), "
        f"wall clock: median {statistics.median(times):.2f}, max {max(times):.2f}; CPU of "
        f"the checking process: median {statistics.median(cpu):.2f}, max {max(cpu):.2f} "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs).",
        "",
        "| pair | expected kind | caught (per seed) | reported on the buggy handler | "
        "false alarms on the twin | wall s (bug / twin, max) | CPU s (bug / twin, max) "
        "| source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, vs in by_pair.items():
        found = sorted({k for v in vs for k in v.found})
        alarm = sorted({k for v in vs for k in v.false_alarm})
        lines.append(
            f"| {name} | {vs[0].kind} | {' '.join('yes' if v.caught else '**no**' for v in vs)} "
            f"| {', '.join(found) or '-'} | {', '.join(alarm) or 'none'} "
            f"| {max(v.bug_s for v in vs):.2f} / {max(v.twin_s for v in vs):.2f} "
            f"| {max(v.bug_cpu for v in vs):.2f} / {max(v.twin_cpu for v in vs):.2f} "
            f"| {vs[0].source} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    verdicts = run(args.seeds, args.only)
    text = table(verdicts, args.seeds)
    print(text)
    if not args.no_write and not args.only:
        doc = DOC.read_text()
        head, _, _ = doc.partition(MARK)
        DOC.write_text(head + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
