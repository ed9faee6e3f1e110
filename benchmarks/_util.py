"""Shared helpers of the benchmarks: timing, machine facts, tables."""

from __future__ import annotations

import gc
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"


@dataclass
class Sizes:
    """How big each benchmark runs: ``full`` for BENCHMARKS.md, ``tiny`` for the smoke test."""

    name: str
    repeats: int  # independent runs; tables report their median
    min_time: float  # seconds one measurement lasts at least (more calls when shorter)
    steps: tuple[int, ...]
    explore_steps: tuple[int, ...]
    timers: int
    concurrent: int
    check_examples: int
    peer_sequential: int
    peer_concurrency: int
    peer_concurrent_total: int
    crash_scenarios: int


FULL = Sizes("full", 5, 0.2, (5, 20, 100, 1000), (5, 20, 100), 10_000, 10_000, 200,
             100, 32, 320, 3)
TINY = Sizes("tiny", 1, 0.0, (5, 20), (5,), 100, 100, 10, 5, 4, 8, 1)


@dataclass
class Table:
    """One section of the report: a title, notes, columns and rows."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    text: str = ""  # printed as a code block instead of rows, when set

    def markdown(self) -> str:
        out = [f"### {self.title}", ""]
        if self.text:
            out += ["```", self.text.rstrip("\n"), "```"]
        elif self.columns:
            out.append("| " + " | ".join(self.columns) + " |")
            out.append("|" + "|".join("---" for _ in self.columns) + "|")
            for row in self.rows:
                out.append("| " + " | ".join(fmt(v) for v in row) + " |")
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "columns": self.columns,
                "rows": self.rows, "notes": self.notes, "text": self.text}


def fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def per_call(fn: Callable[[], Any], min_time: float, max_calls: int = 1_000_000) -> float:
    """Seconds per call of ``fn``: calls it until ``min_time`` has passed (at least once)."""
    calls = 0
    start = time.perf_counter()
    elapsed = 0.0
    while calls < max_calls:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
    return elapsed / calls


def median_per_call(fn: Callable[[], Any], repeats: int, min_time: float) -> float:
    """The median over ``repeats`` runs of ``per_call``, after one warm-up call."""
    gc.collect()  # no garbage of an earlier benchmark collected on this one's time
    fn()
    return statistics.median(per_call(fn, min_time) for _ in range(repeats))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call and its value (with a collection first)."""
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    runs = [timed(fn) for _ in range(repeats)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "cores": os.cpu_count(),
        "cpu": cpu,
    }


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def callgrind_count(module: str, *args: str, hash_seed: int = 0,
                    only: str | None = None, less: str | None = None) -> int:
    """Instructions callgrind counts in ``python -m <module> --one <args>``,
    with ``PYTHONHASHSEED=hash_seed`` so that two counts hash alike (``cg_steps``,
    ``cg_invocation``); with ``only``, inside calls of that C function alone
    (``--toggle-collect``); with ``less``, less those inside calls of that
    function (``realloc``: whether glibc copies a growing list, the trace's,
    depends on the heap's layout, which moves a count by up to about 1,300
    instructions an invocation between two trees of the same code)."""
    toggle = [] if only is None else [f"--toggle-collect={only}"]
    with tempfile.TemporaryDirectory() as scratch:
        out_file = os.path.join(scratch, "callgrind.out") if less is not None else "/dev/null"
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", *toggle,
             sys.executable, "-m", module, "--one", *args],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
        )
        found = re.search(r"Collected : (\d+)", out.stderr)
        assert found, out.stderr[-2000:]
        collected = int(found.group(1))
        if less is None:
            return collected
        annotated = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out_file],
            capture_output=True, text=True, check=True,
        ).stdout
    # (a function's line: its inclusive count, its share, then "file:function [object]")
    inside = re.search(rf"^\s*([\d,]+) \([^)]*\)\s+(?:\S*:)?{re.escape(less)} ",
                       annotated, re.M)
    return collected - (int(inside.group(1).replace(",", "")) if inside else 0)
