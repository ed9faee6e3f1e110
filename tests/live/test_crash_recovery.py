"""Acceptance: SIGKILL the live server at random moments; nothing is lost or run twice.

A server subprocess (``simdurable serve``) on a loopback port takes a load of
multi-step invocations (some sleeping, some calling a virtual object). The
test kills it with SIGKILL at seeded random moments, restarts it over the same
database, and checks that every accepted invocation completed exactly once
with the right result, that no stored step's closure ran again after its
result was stored, that idempotency keys held across restarts and that the
objects' state counts every call once. Sleeping invocations fire at their due
time, or promptly after a restart when they fell due while the server was down.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from simdurable._live._sqlite import SqliteStore
from simdurable.runtime._journal import COMPLETION, RUN, SLEEP, Value
from simdurable.runtime._store import COMPLETED

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("SIMDURABLE_LIVE_SEED", "20261125"))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Server:
    """``simdurable serve`` as a subprocess that the test kills and restarts."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "live.db"
        self.sidefile = tmp / "runs.jsonl"
        self.trace = tmp / "trace.jsonl"  # every generation's events, its own clock's times
        self.proc: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self.gen = -1
        self.up_since: list[int] = []  # when each generation started answering
        self.down_at: list[int] = []  # when each generation was killed
        self.lock = threading.Lock()

    def start(self) -> None:
        self.gen += 1
        out = self.tmp / f"server{self.gen}.out"
        env = dict(os.environ, SIMDURABLE_TEST_SIDEFILE=str(self.sidefile),
                   SIMDURABLE_TEST_GEN=str(self.gen), PYTHONPATH=str(ROOT))
        with open(out, "wb") as stdout, open(self.tmp / f"server{self.gen}.err", "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "simdurable", "serve", "tests.live.crash_app:services",
                 "--db", str(self.db), "--port", "0", "--host", "127.0.0.1",
                 "--trace", str(self.trace)],
                cwd=ROOT, env=env, stdout=stdout, stderr=err,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = out.read_text()
            if "listening on " in text:
                url = text.split("listening on ", 1)[1].split()[0]
                with self.lock:
                    self.url = url
                self.up_since.append(now_ms())
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"server did not start: {self.stderr(self.gen)}")

    def stderr(self, gen: int) -> str:
        return (self.tmp / f"server{gen}.err").read_text(errors="replace")

    def kill(self) -> None:
        with self.lock:
            self.url = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.down_at.append(now_ms())
        self.proc = None

    def current_url(self) -> str | None:
        with self.lock:
            return self.url

    def events(self) -> list[dict[str, Any]]:
        """The trace so far (a line still being written is left for later)."""
        if not self.trace.exists():
            return []
        lines = self.trace.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines]


def http(url: str, method: str = "GET", body: Any = None,
         headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    sent = {"content-type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers=sent | (headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def until_answered(server: Server, path: str, method: str = "GET", body: Any = None,
                   headers: dict[str, str] | None = None, limit_s: float = 30) -> tuple[int, Any]:
    """Send a request until a server generation answers it (retrying across kills)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        url = server.current_url()
        if url is None:
            time.sleep(0.02)
            continue
        try:
            status, payload = http(url + path, method, body, headers)
        except (OSError, urllib.error.URLError, json.JSONDecodeError):
            time.sleep(0.02)
            continue
        if status == 503:  # shutting down
            time.sleep(0.02)
            continue
        return status, payload
    raise AssertionError(f"no answer to {method} {path} within {limit_s}s")


@pytest.fixture
def server(tmp_path: Path) -> Any:
    srv = Server(tmp_path)
    try:
        yield srv
    finally:
        srv.kill()


def test_sigkill_at_random_moments_loses_nothing_and_repeats_no_stored_step(
    server: Server,
) -> None:
    rng = random.Random(SEED)
    orders = []
    for i in range(48):
        orders.append({"id": f"o{i}", "customer": f"c{i % 5}", "amount": rng.randint(1, 9),
                       "sleep_ms": rng.choice([0, 0, 0, 300, 900])})
    adds = [(f"c{rng.randrange(5)}", rng.randint(1, 9), f"add{i}") for i in range(20)]
    naps = [(f"nap{i}", rng.choice([600, 1200, 1800])) for i in range(4)]

    requests: list[tuple[str, str, Any]] = []  # (idempotency key, path, body)
    requests += [(o["id"], "/Orders/place/send", o) for o in orders]
    requests += [(ik, f"/Customer/{c}/add/send", amount) for c, amount, ik in adds]
    requests += [(ik, "/Sleeper/nap/send", ms) for ik, ms in naps]
    rng.shuffle(requests)

    accepted: dict[str, str] = {}

    def submit(item: tuple[str, str, Any]) -> None:
        ik, path, body = item
        time.sleep(rng_local(ik).uniform(0, 1.5))  # spread the load over the kills
        headers = {"idempotency-key": ik, "content-type": "application/json"}
        status, payload = until_answered(server, path, "POST", body, headers)
        assert status == 202, (status, payload)
        accepted[ik] = payload["invocationId"]

    server.start()
    kills = 0
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(submit, item) for item in requests]
            for _ in range(5):
                time.sleep(rng.uniform(0.25, 0.7))
                server.kill()
                kills += 1
                time.sleep(rng.uniform(0.0, 0.3))
                server.start()
            for f in futures:
                f.result()
        # One sleeper falls due while the server is down: killed once its timer
        # is journaled, restarted once it is due.
        status, payload = until_answered(server, "/Sleeper/nap/send", "POST", LATE_NAP_MS,
                                         {"idempotency-key": "late-nap"})
        assert status == 202
        accepted["late-nap"] = payload["invocationId"]
        wake_ms = journaled_sleep(server, accepted["late-nap"])
        server.kill()
        kills += 1
        time.sleep(max(0, wake_ms - now_ms()) / 1000 + 0.2)
        server.start()
        restarted_ms = server.up_since[-1]

        results: dict[str, Any] = {}
        for ik, inv_id in accepted.items():
            status, payload = until_answered(server, f"/restate/invocation/{inv_id}/attach")
            assert status == 200, (ik, status, payload)
            results[ik] = payload
        # Idempotency keys hold across restarts: every duplicate gets the same id.
        for ik, path, body in requests:
            status, payload = until_answered(server, path, "POST", body, {"idempotency-key": ik})
            assert (status, payload["status"]) == (202, "PreviouslyAccepted"), (ik, payload)
            assert payload["invocationId"] == accepted[ik]
    finally:
        server.kill()

    assert kills == 6
    # Right results.
    for o in orders:
        assert results[o["id"]] == {"order": o["id"], "amount": o["amount"]}
    for ik, ms in naps:
        assert results[ik] == f"napped {ms}"
    assert results["late-nap"] == f"napped {LATE_NAP_MS}"

    store = SqliteStore(server.db, create=False)
    try:
        recs = store.invocations()
        by_id = {r.id: r for r in recs}
        journals = {r.id: store.journal(r.id) for r in recs}
        state = {f"c{i}": store.state("Customer", f"c{i}") for i in range(5)}
    finally:
        store.close()

    # Exactly once: one invocation per idempotency key, each completed once.
    for inv_id in accepted.values():
        rec = by_id[inv_id]
        assert rec.status == COMPLETED and isinstance(rec.result, Value), rec
    keyed = defaultdict(list)
    for r in recs:
        if r.idempotency_key:
            keyed[r.idempotency_key].append(r.id)
    assert all(len(ids) == 1 for ids in keyed.values()), keyed
    assert len([r for r in recs if r.service == "Orders"]) == len(orders)
    # One Customer/add per order (a call from its handler) plus the direct adds.
    assert len([r for r in recs if r.service == "Customer"]) == len(orders) + len(adds)

    # Object state: every add counted once.
    want_total: dict[str, int] = defaultdict(int)
    want_count: dict[str, int] = defaultdict(int)
    for o in orders:
        want_total[o["customer"]] += o["amount"]
        want_count[o["customer"]] += 1
    for c, amount, _ in adds:
        want_total[c] += amount
        want_count[c] += 1
    for c in state:
        got = {k: json.loads(v) for k, v in state[c].items()}
        assert got == {"total": want_total[c], "count": want_count[c]}, (c, got)

    # No stored step's closure ran after its result was stored.
    runs: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for line in server.sidefile.read_text().splitlines():
        run = json.loads(line)
        runs[(run["inv"], run["index"])].append(run)
    stored = 0
    for inv_id, journal in journals.items():
        done = {e.target: e for e in journal if e.kind == COMPLETION}
        for i, e in enumerate(journal):
            if e.kind != RUN:
                continue
            completion = done[i]
            assert isinstance(completion.result, Value)
            token = json.loads(completion.result.data)
            history = runs[(inv_id, i)]
            assert history, f"{inv_id} #{i} stored a result but its closure never ran"
            assert history[-1]["token"] == token, (
                f"{inv_id} step {e.name!r} (#{i}) ran again after its result was stored: "
                f"{history}")
            gens = [h["gen"] for h in history]
            assert gens == sorted(set(gens)), f"{inv_id} #{i} ran twice in one process: {gens}"
            stored += 1
    assert stored >= 3 * len(orders) + len(adds)
    # The kills did land in the middle of things: some invocations resumed from
    # their journal in a later process.
    resumed = [r for r in recs if r.attempts > 1]
    assert resumed, "no invocation was interrupted by a kill; the test tested nothing"
    print(f"seed {SEED}: {kills} kills, {len(resumed)} invocations resumed, {stored} steps "
          f"stored, {sum(len(h) - 1 for h in runs.values())} closures re-run before store")

    # Sleeps fired at their due time, or at the first turn once the server was
    # back. Judged by the executor's own records, not by how soon: each turn
    # reads the clock once, fires every timer due by then before anything else,
    # and stamps everything it does with that time, so no event of the
    # generation that fired a sleep falls between its due time (or that
    # generation's "restart", if later) and its firing. A timer re-armed for
    # longer than due leaves the turns in between as witnesses; a slow machine
    # only spaces the turns further apart.
    events = server.events()
    restarts = [e["t_ms"] for e in events if e["kind"] == "restart"]
    times = sorted(e["t_ms"] for e in events if e["kind"] != "restart")
    sleeps = 0
    for inv_id, journal in journals.items():
        done = {e.target: e for e in journal if e.kind == COMPLETION}
        for i, e in enumerate(journal):
            if e.kind == SLEEP:
                fired = done[i].at_ms
                assert fired >= e.wake_ms, (inv_id, fired, e.wake_ms)
                since = max([e.wake_ms] + [r for r in restarts if r <= fired])
                between = [t for t in times if since < t < fired]
                assert not between, (
                    f"{inv_id}'s sleep #{i} (due at {e.wake_ms}) fired at {fired}, after "
                    f"turns at {between[:5]} that should have fired it")
                sleeps += 1
    assert sleeps >= len(naps) + 1
    # The late nap fires once the executor is back, not a whole nap after it
    # started over the store: its timer is not re-armed for its full duration.
    # Both times are the executor's own records (its trace's "restart" event,
    # the sleep's completion), and the nap is longer than any recovery: a
    # loaded machine's slow restart cannot fail this, a re-armed timer must.
    late = by_id[accepted["late-nap"]]
    late_journal = journals[late.id]
    [(at, wake)] = [(i, e.wake_ms) for i, e in enumerate(late_journal) if e.kind == SLEEP]
    fired = next(e.at_ms for e in late_journal if e.kind == COMPLETION and e.target == at)
    assert wake < restarted_ms, "the late nap should fall due while the server is down"
    [started_over] = [e["t_ms"] for e in server.events()
                      if e["kind"] == "restart"][-1:]
    assert wake < started_over <= fired, (wake, started_over, fired)
    assert fired - started_over < LATE_NAP_MS, (
        f"a nap due during the outage fired {fired - started_over} ms after the executor "
        f"started over the store: its timer was re-armed for its whole {LATE_NAP_MS} ms")


# Longer than the executor takes to start over the store and recover every
# invocation, even on a loaded machine (a timer re-armed for its whole duration
# fires this long after the restart at the earliest).
LATE_NAP_MS = 3000


def journaled_sleep(server: Server, inv_id: str, limit_s: float = 30) -> int:
    """When the sleep of ``inv_id`` falls due at the latest, once the server has
    journaled it (its trace names the entry after the commit, at the time
    the sleep counts from)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for e in server.events():
            if e["inv"] == inv_id and e["kind"] == "entry" and e["text"].endswith(" sleep"):
                return int(e["t_ms"]) + LATE_NAP_MS
        time.sleep(0.02)
    raise AssertionError(f"{inv_id} journaled no sleep within {limit_s}s")


_local_rngs: dict[str, random.Random] = {}


def rng_local(key: str) -> random.Random:
    """A per-request RNG derived from the seed (threads draw independently)."""
    rng = _local_rngs.get(key)
    if rng is None:
        rng = _local_rngs[key] = random.Random(f"{SEED}:{key}")
    return rng


def test_ctrl_c_stops_at_a_step_boundary(server: Server) -> None:
    """SIGINT lets the step in flight finish and stores it; nothing after it runs."""
    server.start()
    status, payload = until_answered(server, "/Sleeper/slow_then_next/send", "POST", 600)
    assert status == 202
    inv_id = payload["invocationId"]
    time.sleep(0.2)  # the slow step is running
    proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert "stopping at a step boundary (1 step(s) in flight)" in server.stderr(server.gen)
    store = SqliteStore(server.db, create=False)
    try:
        kinds = [e.kind for e in store.journal(inv_id)]
    finally:
        store.close()
    assert kinds == [RUN, COMPLETION]
    server.start()
    status, result = until_answered(server, f"/restate/invocation/{inv_id}/attach")
    assert (status, result) == (200, "done")
    steps = [json.loads(line)["step"] for line in server.sidefile.read_text().splitlines()]
    assert steps == ["slow", "next"]
