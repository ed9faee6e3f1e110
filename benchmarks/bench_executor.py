"""Benchmark of the live executor: durable steps per second and HTTP latency.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_executor            # about a minute
    .venv/bin/python -m benchmarks.bench_executor --quick    # a smoke run

Measures, on a fresh SQLite database in a temporary directory:

* durable steps/s: many invocations of a handler of 10 trivial steps, driven
  through the Python API (no HTTP), with ``durability="full"`` (fsync per
  commit) and ``"normal"``; plain closures (worker threads) and coroutine
  closures (trio);
* invocation latency: sequential ``POST /Bench/one`` calls (one step each) over
  loopback HTTP with keep-alive, p50/p95/p99; and the throughput of 16
  concurrent HTTP clients.
"""

from __future__ import annotations

import argparse
import http.client
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simdurable as restate  # noqa: E402

bench = restate.Service("Bench")
STEPS = 10


def inc(i: int) -> int:
    return i + 1


async def ainc(i: int) -> int:
    return i + 1


@bench.handler()
async def steps(ctx: restate.Context, n: int) -> int:
    x = 0
    for _ in range(n):
        x = await ctx.run_typed("inc", inc, i=x)
    return x


@bench.handler()
async def asteps(ctx: restate.Context, n: int) -> int:
    x = 0
    for _ in range(n):
        x = await ctx.run_typed("ainc", ainc, i=x)
    return x


@bench.handler()
async def one(ctx: restate.Context, name: str) -> str:
    return str(await ctx.run_typed("greet", lambda: f"hello {name}"))


def steps_per_second(tmp: Path, durability: str, handler: str, invocations: int) -> float:
    db = tmp / f"steps-{durability}-{handler}.db"
    with restate.Executor([bench], db=db, durability=durability) as ex:
        ex.call(f"Bench/{handler}", 1, timeout=30)  # warm up
        t0 = time.perf_counter()
        handles = [ex.send(f"Bench/{handler}", STEPS) for _ in range(invocations)]
        for h in handles:
            assert h.result(timeout=300) == STEPS
        elapsed = time.perf_counter() - t0
    return invocations * STEPS / elapsed


def _post(conn: http.client.HTTPConnection, body: bytes) -> bytes:
    conn.request("POST", "/Bench/one", body=body, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status == 200, (resp.status, data)
    return data


def latency(tmp: Path, durability: str, calls: int, clients: int) -> dict[str, float]:
    db = tmp / f"latency-{durability}.db"
    with restate.Executor([bench], db=db, durability=durability).start(port=0) as ex:
        assert ex.url is not None
        parts = urlsplit(ex.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        conn = http.client.HTTPConnection(host, port, timeout=30)
        for _ in range(20):
            _post(conn, b'"warm"')
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            _post(conn, b'"bob"')
            samples.append((time.perf_counter() - t0) * 1000)
        conn.close()

        per_client = max(1, calls // clients)

        def client() -> None:
            c = http.client.HTTPConnection(host, port, timeout=60)
            for _ in range(per_client):
                _post(c, b'"many"')
            c.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        concurrent = per_client * clients / (time.perf_counter() - t0)
    samples.sort()
    return {
        "p50": statistics.median(samples),
        "p95": samples[int(len(samples) * 0.95) - 1],
        "p99": samples[int(len(samples) * 0.99) - 1],
        "concurrent_per_s": concurrent,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per figure; the median is shown (default 3)")
    args = parser.parse_args()
    repeats = 1 if args.quick else max(1, args.repeats)
    invocations = 40 if args.quick else 400
    calls = 50 if args.quick else 500
    print(f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"simdurable {restate.__version__}")
    with tempfile.TemporaryDirectory(prefix="simdurable-bench-") as d:
        tmp = Path(d)
        for r in range(repeats):
            (tmp / f"r{r}").mkdir()
        print(f"database directory: {tmp}; median of {repeats} run(s) per figure")
        print(f"\ndurable steps/s ({invocations} invocations x {STEPS} steps, Python API):")
        for durability in ("full", "normal"):
            for handler, what in (("steps", "thread closures"), ("asteps", "async closures")):
                rate = statistics.median(
                    steps_per_second(tmp / f"r{r}", durability, handler, invocations)
                    for r in range(repeats))
                print(f"  durability={durability:<6}  {what:<16} {rate:>9,.0f} steps/s")
        print(f"\ninvocation latency over loopback HTTP ({calls} sequential calls, 1 step):")
        for durability in ("full", "normal"):
            runs = [latency(tmp / f"r{r}", durability, calls, 16) for r in range(repeats)]
            r = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
            print(f"  durability={durability:<6}  p50 {r['p50']:.2f} ms  p95 {r['p95']:.2f} ms"
                  f"  p99 {r['p99']:.2f} ms;  16 concurrent clients: "
                  f"{r['concurrent_per_s']:,.0f} calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
