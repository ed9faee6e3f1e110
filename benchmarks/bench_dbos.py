"""Against DBOS (``dbos`` on an SQLite system database), in the same run.

The same 5-step workflow, sequentially and from 32 threads, in DBOS and in
simdurable's dev executor, each in its own process, with the same SQLite
durability: WAL with ``synchronous=FULL`` (fsync at every commit), then WAL
with ``synchronous=NORMAL``. DBOS's own default (a rollback journal,
``synchronous=FULL``) is measured too.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._peers import CACHE, PEERS_DIR, PeerUnavailable, peer_version, peers_python, python_env
from ._util import Sizes, Table, log


def _child(cmd: list[str], timeout: float = 600) -> dict[str, Any]:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **python_env()}, check=False)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"{Path(cmd[1]).name} timed out after {timeout:.0f}s") from None
    if done.returncode != 0:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        raise PeerUnavailable(f"{Path(cmd[1]).name} failed: {tail}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _median_run(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over repeated runs of each figure."""
    return {
        "seq_ms": statistics.median(statistics.median(r["sequential"]) for r in runs) * 1e3,
        "conc_per_s": statistics.median(len(r["concurrent"]) / r["concurrent_wall"]
                                        for r in runs),
        "conc_ms": statistics.median(statistics.median(r["concurrent"]) for r in runs) * 1e3,
    }


def run(sizes: Sizes) -> list[Table]:
    table = Table(
        "dbos",
        "A 5-step workflow: simdurable's dev executor against DBOS on SQLite, in the same run "
        "(goal: executor durable steps/s >= 5x DBOS at the same synchronous level)",
        ["SQLite durability", "system", "sequential: median ms", "DBOS / executor",
         "32 threads: workflows/s", "durable steps/s", "executor / DBOS", "32 threads: median ms"],
    )
    workdir = CACHE / f"dbos-run-{os.getpid()}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    args = [str(sizes.peer_sequential), str(sizes.peer_concurrency),
            str(sizes.peer_concurrent_total)]
    repeats = max(1, min(sizes.repeats, 3))
    try:
        try:
            python = peers_python()
            version = peer_version(python, "dbos")
        except PeerUnavailable as err:
            python, version = None, ""
            table.notes.append(f"DBOS not measured in this run: {err}")
            log("  " + table.notes[-1])
        for sync in ("FULL", "NORMAL", "default"):
            dbos_runs, exec_runs = [], []
            for k in range(repeats):
                if python is not None:
                    db = workdir / f"dbos-{sync}-{k}.sqlite"
                    journal, level = ("default", "FULL") if sync == "default" else ("wal", sync)
                    log(f"  dbos: {journal} journal, synchronous={level}, run {k + 1}")
                    dbos_runs.append(_child([str(python), str(PEERS_DIR / "dbos_bench.py"),
                                             str(db), journal, level, *args]))
                if sync != "default":
                    db = workdir / f"executor-{sync}-{k}.db"
                    log(f"  executor: synchronous={sync}, run {k + 1}")
                    try:
                        exec_runs.append(_child([sys.executable,
                                                 str(PEERS_DIR / "executor_bench.py"), str(db),
                                                 sync.lower(), *args]))
                    except PeerUnavailable as err:
                        table.notes.append(f"The dev executor failed: {err}")
                        break
            label = ("DBOS default: rollback journal, synchronous=FULL" if sync == "default"
                     else f"WAL, synchronous={sync}")
            d = _median_run(dbos_runs) if dbos_runs else None
            e = _median_run(exec_runs) if exec_runs else None
            if e is not None:
                table.rows.append([
                    label, "simdurable dev executor", e["seq_ms"],
                    f"x{d['seq_ms'] / e['seq_ms']:.1f}" if d else "-",
                    e["conc_per_s"], e["conc_per_s"] * 5,
                    f"x{e['conc_per_s'] / d['conc_per_s']:.1f}" if d else "-", e["conc_ms"],
                ])
            if d is not None:
                table.rows.append([label, f"DBOS {version}", d["seq_ms"], "1", d["conc_per_s"],
                                   d["conc_per_s"] * 5, "1", d["conc_ms"]])
                pragmas = dbos_runs[-1].get("pragmas", {})
                if sync != "default" and (
                    str(pragmas.get("journal_mode", "")).lower() != "wal"
                    or str(pragmas.get("synchronous")) not in ("1", "2")
                ):
                    table.notes.append(f"DBOS connections reported {pragmas} for {label}.")
    except PeerUnavailable as err:
        table.notes.append(f"Stopped early: {err}")
        log("  " + table.notes[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table.notes += [
        f"Medians of {repeats} fresh processes per row, each on a new database file: "
        f"{sizes.peer_sequential} sequential calls after 10 warm-up calls, then "
        f"{sizes.peer_concurrent_total} calls from {sizes.peer_concurrency} threads. Both "
        "are called in-process (`five(x)` for DBOS, `Executor.call` for simdurable).",
        "DBOS's SQLite pragmas are set on every connection by an SQLAlchemy `connect` "
        "listener (and read back: `synchronous` 2 is FULL, 1 is NORMAL); the executor sets "
        "WAL itself and `synchronous` from `Executor(durability=\"full\"|\"normal\")`.",
        "Durable steps/s counts the 5 journaled steps of each workflow.",
    ]
    return [table]
