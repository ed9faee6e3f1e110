"""Against the real Restate server, in the same run.

The server binary comes from the npm package ``@restatedev/restate-server``;
the handler runs on the Python SDK ``restate-sdk``, served by hypercorn over
h2c on loopback (``peers/restate_service.py``). Measured:

* the same 5-step handler invoked sequentially and 32 at a time through the
  Restate ingress, next to simdurable's dev executor answering the same HTTP
  path (``peers/executor_bench.py serve``) and to the simulation;
* one crash scenario: the service process dies inside step 3, is started
  again, and the retry finishes the invocation; next to simdurable testing
  the same crash point in simulation.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import bench_sim
from ._peers import (
    CACHE,
    PEERS_DIR,
    RESTATE_SERVER_VERSION,
    Client,
    PeerUnavailable,
    Processes,
    _run,
    free_port,
    peer_version,
    peers_python,
    processes,
    python_env,
    restate_server_binary,
    this_python,
    wait_port,
)
from ._util import Sizes, Table, log, median_per_call


def http_load(port: int, path: str, sequential: int, concurrency: int,
              total: int) -> dict[str, Any]:
    """Latency of ``sequential`` calls one after the other, then ``total`` calls
    from ``concurrency`` client threads (one keep-alive connection each)."""
    client = Client(port)
    for i in range(10):  # warm-up
        assert client.post(path, i) == i + 5
    seq = []
    for i in range(sequential):
        start = time.perf_counter()
        assert client.post(path, i) == i + 5
        seq.append(time.perf_counter() - start)
    client.close()
    local = threading.local()
    clients: list[Client] = []

    def one(i: int) -> float:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = Client(port)
            clients.append(c)
        start = time.perf_counter()
        assert c.post(path, i) == i + 5
        return time.perf_counter() - start

    with ThreadPoolExecutor(concurrency) as pool:
        start = time.perf_counter()
        conc = list(pool.map(one, range(total)))
        wall = time.perf_counter() - start
    for c in clients:
        c.close()
    return {"sequential": seq, "concurrent": conc, "concurrent_wall": wall}


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def _post_json(url: str, body: Any, timeout: float = 10.0) -> tuple[int, str]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode("utf-8", "replace")
    except OSError as err:
        return 0, str(err)


def _until(what: str, fn: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise PeerUnavailable(f"timed out after {timeout:.0f}s waiting for {what}")


class RestateDeployment:
    """A restate-server and one Python service deployment, on free loopback ports."""

    def __init__(self, procs: Processes, workdir: Path) -> None:
        self.procs = procs
        self.workdir = workdir
        self.binary = restate_server_binary()
        self.python = peers_python()
        self.ingress, self.admin, self.fabric, self.service_port = (
            free_port(), free_port(), free_port(), free_port())
        self.flag = workdir / "crash-in-step-3"
        self.service: Any = None

    def start_server(self) -> None:
        data = self.workdir / "data"
        env = {
            "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{self.ingress}",
            "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{self.admin}",
        }
        self.server = self.procs.start(
            [str(self.binary), "--bind-address", f"127.0.0.1:{self.fabric}",
             "--listen-mode", "tcp", "--no-logo", "--node-name", "bench",
             "--base-dir", str(data)],
            self.workdir / "server.log", env=env, cwd=self.workdir)
        _until("the Restate admin API",
               lambda: self.server.poll() is None
               and _get(f"http://127.0.0.1:{self.admin}/health") == 200, 120)
        if self.server.poll() is not None:
            raise PeerUnavailable("restate-server exited; see " + str(self.workdir))

    def start_service(self) -> None:
        self.service = self.procs.start(
            [str(self.python), str(PEERS_DIR / "restate_service.py"),
             str(self.service_port), str(self.flag)],
            self.workdir / "service.log", env=python_env())
        wait_port(self.service_port, 60, self.service)

    def register(self) -> None:
        url = f"http://127.0.0.1:{self.admin}/deployments"
        body = {"uri": f"http://127.0.0.1:{self.service_port}"}
        _until("the deployment to register",
               lambda: _post_json(url, body)[0] in (200, 201), 60)
        client = Client(self.ingress)

        def answers() -> bool:
            try:
                return bool(client.post("/Bench/five", 0) == 5)
            except (RuntimeError, OSError):
                return False

        _until("the ingress to call the deployment", answers, 60)
        client.close()

    def crash_scenario(self) -> dict[str, float]:
        """Kill the service in step 3, start it again, wait for the retry's result."""
        self.flag.write_text("crash")
        result: dict[str, Any] = {}

        def call() -> None:
            client = Client(self.ingress, timeout=120)
            try:
                result["value"] = client.post("/Bench/crashy", 0)
            except Exception as err:  # noqa: BLE001 - reported below
                result["error"] = err
            finally:
                result["end"] = time.perf_counter()
                client.close()

        start = time.perf_counter()
        caller = threading.Thread(target=call)
        caller.start()
        try:
            self.service.wait(60)  # it kills itself inside step 3
        except subprocess.TimeoutExpired:
            raise PeerUnavailable("the Restate service did not die in step 3") from None
        died = time.perf_counter()
        self.procs.procs.remove(self.service)
        self.start_service()
        restarted = time.perf_counter()
        caller.join(180)
        if caller.is_alive() or "error" in result or result.get("value") != 5:
            raise PeerUnavailable(f"the crash scenario did not finish: {result}")
        end = result["end"]
        return {"total": end - start, "died": died - start, "restart": restarted - died,
                "after_restart": end - restarted}


def _med_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def _throughput(run: dict[str, Any]) -> float:
    return len(run["concurrent"]) / run["concurrent_wall"]


def settle() -> None:
    """Flush what earlier phases left to write, so that no phase measures the
    disk still busy with another's data (fsync latency is most of a call)."""
    os.sync()
    time.sleep(1.0)


def fsync_ms(directory: Path, samples: int = 200) -> float:
    """Median latency of a 4 KiB write plus ``fdatasync`` in ``directory``: the
    disk's price for one durable commit, which varies from run to run on a VM."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"\0" * 64 * 4096)
        os.fsync(fd)
        times = []
        for i in range(samples):
            os.pwrite(fd, b"x" * 4096, (i % 64) * 4096)
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1e3


def executor_http(sizes: Sizes, procs: Processes, workdir: Path,
                  durability: str) -> dict[str, Any] | None:
    """The dev executor behind HTTP on loopback, in its own process."""
    port = free_port()
    db = workdir / f"executor-{durability}.db"
    proc = procs.start([this_python(), str(PEERS_DIR / "executor_bench.py"), "serve", str(port),
                        str(db), durability], workdir / f"executor-{durability}.log",
                       env=python_env())
    try:
        wait_port(port, 60, proc)
    except PeerUnavailable as err:
        log(f"  executor over HTTP: {err}")
        return None
    try:
        return http_load(port, "/Bench/five", sizes.peer_sequential, sizes.peer_concurrency,
                         sizes.peer_concurrent_total)
    finally:
        Processes.stop(proc)


def sim_concurrent(n: int) -> Callable[[], Any]:
    svc = bench_sim.named_steps_service(5, "Batch")

    def go() -> Any:
        sim = bench_sim.sd.Simulation([svc], seed=1)
        handles = [sim.invoke(f"{svc.name}/run", i) for i in range(n)]
        sim.run()
        assert all(h.result() == i + 5 for i, h in enumerate(handles))

    return go


def run(sizes: Sizes) -> list[Table]:
    calls = Table(
        "restate-calls",
        "A 5-step handler through the real Restate server, in the same run "
        "(goal: executor latency <= 1/4 of Restate's)",
        ["system", "sequential: median ms", "Restate / this", "32 at a time: invocations/s",
         "this / Restate", "32 at a time: median ms"],
    )
    crash = Table(
        "restate-crash",
        "Testing one crash scenario (service dies in step 3 of 5) "
        "(goal: simulation >= 1000x faster)",
        ["how", "wall ms (median)", "Restate / simulation", "detail"],
    )
    workdir = CACHE / f"restate-run-{os.getpid()}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    try:
        with processes() as procs:
            log("  restate: installing/starting the server and the deployment")
            t0 = time.perf_counter()
            dep = RestateDeployment(procs, workdir)
            t_install = time.perf_counter() - t0
            t0 = time.perf_counter()
            dep.start_server()
            t_server = time.perf_counter() - t0
            t1 = time.perf_counter()
            dep.start_service()
            dep.register()
            t_deploy = time.perf_counter() - t1
            log("  restate: calls")
            settle()
            restate = http_load(dep.ingress, "/Bench/five", sizes.peer_sequential,
                                sizes.peer_concurrency, sizes.peer_concurrent_total)
            log("  restate: crash scenarios")
            scenarios = [dep.crash_scenario() for _ in range(sizes.crash_scenarios)]
            server_version = restate_server_version(dep)
            durability = restate_log_durability(dep)
            sdk = peer_version(dep.python, "restate-sdk")
            procs.stop_all()
            executors = {}
            fsyncs = []
            for level in ("full", "normal"):
                log(f"  executor over HTTP, synchronous={level.upper()}")
                settle()
                if level == "full":
                    fsyncs.append(fsync_ms(workdir))
                executors[level] = executor_http(sizes, procs, workdir, level)
                if level == "full":
                    fsyncs.append(fsync_ms(workdir))
    except PeerUnavailable as err:
        keep = workdir.with_name(workdir.name + "-failed")
        shutil.rmtree(keep, ignore_errors=True)
        if workdir.exists() and any(workdir.iterdir()):
            workdir.rename(keep)
            err = PeerUnavailable(f"{err} (logs in {keep.relative_to(CACHE.parent.parent)})")
        note = f"Restate not measured in this run: {err}"
        log("  " + note)
        calls.notes.append(note)
        crash.notes.append(note)
        sim_crash = median_per_call(bench_sim.crash_scenario(), sizes.repeats, sizes.min_time)
        crash.rows.append(["simdurable Simulation, crash at effect-done of step-3",
                           sim_crash * 1e3, "-", "-"])
        return [calls, crash]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    r_seq = _med_ms(restate["sequential"])
    r_tp = _throughput(restate)
    calls.rows.append([f"Restate server {server_version} + restate-sdk {sdk} (hypercorn, h2c)",
                       r_seq, "1", r_tp, "1", _med_ms(restate["concurrent"])])
    for level, executor in executors.items():
        if executor is None:
            calls.notes.append(f"The dev executor (synchronous={level.upper()}) could not be "
                               "started: no row for it.")
            continue
        e_seq = _med_ms(executor["sequential"])
        calls.rows.append([f"simdurable dev executor over HTTP (SQLite WAL, "
                           f"synchronous={level.upper()})",
                           e_seq, f"x{r_seq / e_seq:.1f}", _throughput(executor),
                           f"x{_throughput(executor) / r_tp:.1f}",
                           _med_ms(executor["concurrent"])])
    sim_one = median_per_call(bench_sim.fresh_run(bench_sim.named_steps_service(5, "One"), 5),
                              sizes.repeats, sizes.min_time)
    batch = sizes.peer_concurrency
    sim_batch = median_per_call(sim_concurrent(batch), sizes.repeats, sizes.min_time)
    calls.rows.append(["simdurable Simulation, in-process (no I/O, virtual clock)",
                       sim_one * 1e3, f"x{r_seq / (sim_one * 1e3):.0f}", batch / sim_batch,
                       f"x{batch / sim_batch / r_tp:.0f}", "-"])
    calls.notes += [
        f"Sequential: {sizes.peer_sequential} calls one after another (after 10 warm-up calls); "
        f"32 at a time: {sizes.peer_concurrent_total} calls from {sizes.peer_concurrency} "
        "client threads, each with its own keep-alive HTTP/1.1 connection. The client, the "
        "server and the handler process share the machine's cores. Before each system's "
        "calls the benchmark flushes the disk (`os.sync()`) and waits a second, so that no "
        "system pays for another's writes.",
        "The Restate and executor rows are HTTP calls on loopback that wait for the result "
        "(`POST /Bench/five`); the simulation row is an in-process `Simulation` run (built, "
        "run, result read), shown for scale, not as a like-for-like latency.",
        f"Restate setup in this run: server start to healthy {t_server:.2f} s, service start "
        f"+ registration {t_deploy:.2f} s (install check {t_install:.2f} s).",
        f"Durability: Restate's log as its configuration says in this run "
        f"(`restate-server --dump-config`): {durability}. The executor's FULL row fsyncs "
        "every commit (a step's result is on disk before the next step starts, as Restate "
        "acknowledges a step's result only once its log has it); its NORMAL row survives a "
        "killed process but not a power loss.",
        f"This disk's fsync in this run (a 4 KiB write and `fdatasync`, median of 200, just "
        f"before and just after the executor's FULL calls): {fsyncs[0]:.3f} and "
        f"{fsyncs[1]:.3f} ms. A 5-step call at FULL commits six times (the invocation, then "
        "each step's result, the last one with the output), so the disk's latency is a large "
        "and varying part of that row.",
    ]

    totals = [s["total"] for s in scenarios]
    after = [s["after_restart"] for s in scenarios]
    sim_crash = median_per_call(bench_sim.crash_scenario(), sizes.repeats, sizes.min_time)
    t_total = statistics.median(totals)
    crash.rows.append([
        "real Restate: invoke, service killed in step 3, restart, wait for the retry",
        t_total * 1e3, f"x{t_total / sim_crash:,.0f}",
        f"died after {statistics.median(s['died'] for s in scenarios) * 1e3:.0f} ms; restart "
        f"{statistics.median(s['restart'] for s in scenarios) * 1e3:.0f} ms; result "
        f"{statistics.median(after) * 1e3:.0f} ms after the restart",
    ])
    cold = t_total + t_server + t_deploy
    crash.rows.append([
        "real Restate, including server start and registration", cold * 1e3,
        f"x{cold / sim_crash:,.0f}", "what a test with a fresh server pays",
    ])
    crash.rows.append(["simdurable Simulation, crash at effect-done of step-3",
                       sim_crash * 1e3, "1", "crash, retry backoff on the virtual clock, "
                       "replay of steps 1-2, result checked"])
    crash.notes.append(
        f"Restate: {len(scenarios)} scenario(s) against one running server; the deployment "
        "process kills itself (SIGKILL) inside step 3's closure, the benchmark starts it again "
        "at once, and Restate's retry (default policy: 500 ms, x2) finishes the invocation."
    )
    return [calls, crash]


def restate_log_durability(dep: RestateDeployment) -> str:
    """The WAL fsync settings of Restate's log stores, from its own configuration."""
    done = _run([str(dep.binary), "--dump-config"], timeout=30)
    section = ""
    found = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line.startswith("rocksdb-disable-wal-fsync") and section in (
            "bifrost.local", "log-server"
        ):
            found.append(f"`[{section}] {line}`")
    return ", ".join(found) if found else "not found in its configuration dump"


def restate_server_version(dep: RestateDeployment) -> str:
    done = _run([str(dep.binary), "--version"], timeout=30)
    words = done.stdout.split()
    return words[-1] if words else RESTATE_SERVER_VERSION
