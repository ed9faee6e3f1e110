"""DBOS side of the executor comparison; run by the peers' virtual environment.

``python dbos_bench.py DB JOURNAL SYNC SEQUENTIAL CONCURRENCY TOTAL`` runs the
5-step workflow SEQUENTIAL times in a row, then TOTAL times from CONCURRENCY
threads, on an SQLite system database at DB with ``PRAGMA
journal_mode=JOURNAL`` (``default`` keeps DBOS's own, a rollback journal) and
``PRAGMA synchronous=SYNC``; prints one JSON object.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event
from sqlalchemy.engine import Engine

DB, JOURNAL, SYNC = sys.argv[1], sys.argv[2], sys.argv[3]
SEQUENTIAL, CONCURRENCY, TOTAL = (int(a) for a in sys.argv[4:7])
SEEN: dict[str, str] = {}


@event.listens_for(Engine, "connect")
def _pragmas(dbapi_conn, record):  # type: ignore[no-untyped-def]
    if JOURNAL != "default":
        dbapi_conn.execute(f"PRAGMA journal_mode={JOURNAL}")
    dbapi_conn.execute(f"PRAGMA synchronous={SYNC}")
    SEEN["journal_mode"] = str(dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0])
    SEEN["synchronous"] = str(dbapi_conn.execute("PRAGMA synchronous").fetchone()[0])


from dbos import DBOS  # noqa: E402 - after the listener, so every connection gets it

logging.getLogger("dbos").setLevel(logging.WARNING)
DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{DB}", "log_level": "WARNING",
             "sys_db_pool_size": CONCURRENCY + 4})


@DBOS.step()
def work(i: int) -> int:
    return i + 1


@DBOS.workflow()
def five(x: int) -> int:
    for _ in range(5):
        x = work(x)
    return x


def main() -> None:
    DBOS.launch()
    for i in range(10):  # warm-up
        assert five(i) == i + 5
    seq = []
    for i in range(SEQUENTIAL):
        start = time.perf_counter()
        assert five(i) == i + 5
        seq.append(time.perf_counter() - start)

    def one(i: int) -> float:
        start = time.perf_counter()
        assert five(i) == i + 5
        return time.perf_counter() - start

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        start = time.perf_counter()
        conc = list(pool.map(one, range(TOTAL)))
        wall = time.perf_counter() - start
    DBOS.destroy()
    print(json.dumps({"sequential": seq, "concurrent": conc, "concurrent_wall": wall,
                      "pragmas": SEEN}))


if __name__ == "__main__":
    main()
