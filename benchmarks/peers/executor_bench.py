"""simdurable's dev executor, the same workload as ``dbos_bench.py``.

``python executor_bench.py DB DURABILITY SEQUENTIAL CONCURRENCY TOTAL`` runs the
5-step handler in an ``Executor`` on SQLite (WAL, ``synchronous`` FULL or
NORMAL after DURABILITY) and prints one JSON object. ``serve PORT DB
DURABILITY`` instead answers HTTP on 127.0.0.1:PORT until SIGTERM.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import simdurable as sd

try:
    Executor = sd.Executor  # type: ignore[attr-defined]
except AttributeError:  # not exported yet
    from simdurable._live._executor import Executor

bench = sd.Service("Bench")


def work(i: int) -> int:
    return i + 1


@bench.handler()
async def five(ctx: sd.Context, x: int) -> int:
    for i in range(1, 6):
        x = await ctx.run_typed(f"step-{i}", work, i=x)
    return x


def measure(db: str, durability: str, sequential: int, concurrency: int, total: int) -> None:
    with Executor([bench], db=db, durability=durability) as ex:
        for i in range(10):  # warm-up
            assert ex.call("Bench/five", i) == i + 5
        seq = []
        for i in range(sequential):
            start = time.perf_counter()
            assert ex.call("Bench/five", i) == i + 5
            seq.append(time.perf_counter() - start)

        def one(i: int) -> float:
            start = time.perf_counter()
            assert ex.call("Bench/five", i) == i + 5
            return time.perf_counter() - start

        with ThreadPoolExecutor(concurrency) as pool:
            start = time.perf_counter()
            conc = list(pool.map(one, range(total)))
            wall = time.perf_counter() - start
    conn = sqlite3.connect(db)
    journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    print(json.dumps({"sequential": seq, "concurrent": conc, "concurrent_wall": wall,
                      "pragmas": {"journal_mode": journal_mode,
                                  "synchronous": durability.upper()}}))


def main() -> None:
    if sys.argv[1] == "serve":
        port, db, durability = int(sys.argv[2]), sys.argv[3], sys.argv[4]
        Executor([bench], db=db, durability=durability).serve(host="127.0.0.1", port=port)
        return
    db, durability = sys.argv[1], sys.argv[2]
    sequential, concurrency, total = (int(a) for a in sys.argv[3:6])
    measure(db, durability, sequential, concurrency, total)


if __name__ == "__main__":
    main()
