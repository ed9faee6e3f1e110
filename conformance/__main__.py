"""Differential conformance: the compatibility programs on the real Restate server
and in the simulation, invocation by invocation.

    python -m conformance                  # every case that runs in real time
    python -m conformance --slice          # a few cases (CI)
    python -m conformance --program sdk_ts_counter ...

Installs ``@restatedev/restate-server`` and restate-sdk into the ignored cache
``benchmarks/.cache/`` as the benchmarks do (``benchmarks/_peers.py``), starts
the server and one restate-sdk deployment per program on free loopback ports,
runs each case's invocations through the ingress, and compares per invocation
the outcome (result, or terminal error code and message) and the objects'
state (from the admin SQL API's ``state`` table) with the same case run in the
simulation, with restate-sdk's own objects. Every process it starts is
stopped, and its data directory removed. Without npm or the registries it
says that it skipped, and why.

Cases that need what a test cannot do through the ingress in real time are
left out and counted: days of virtual time, awakeables or promises completed
by the test, cancellations, or statuses of unfinished invocations.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks._peers import (
    PeerUnavailable,
    Processes,
    free_port,
    peers_python,
    processes,
    python_env,
    restate_server_binary,
    wait_port,
)
from tests.compat.cases import HOSTS
from tests.compat.harness import (
    NOTHING,
    Advance,
    Call,
    Case,
    Now,
    Outcome,
    all_cases,
    normalise,
    run_case,
)

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / "benchmarks" / ".cache"
SLICE = ("sdk_ts_counter", "sdk_ts_failing", "ex_sagas")
MAX_ADVANCE = timedelta(seconds=15)
CALL_TIMEOUT = 20.0
# How long a call's outcome is waited for: a handler may sleep on a real-time
# timer of half a minute (ex_tour_orch_timers) before it answers.
ATTACH_TIMEOUT = 60.0


# -- which cases can run on a server in real time -------------------------------------------
def why_not_feasible(case: Case) -> str | None:
    advance = timedelta()
    for op in case.ops:
        if isinstance(op, Advance):
            advance += op.by
        elif not isinstance(op, Call):
            return f"the test completes or cancels ({type(op).__name__})"
        elif op.status is not None:
            return "expects the status of an unfinished invocation"
        elif op.delay is not None:
            return "a delayed send"
    if advance > MAX_ADVANCE:
        return f"{advance} of virtual time"
    if case.settle is not None:
        return "a program that polls forever"
    return None


# -- the server side ------------------------------------------------------------------------
def _http(port: int, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None, timeout: float = CALL_TIMEOUT
          ) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


class Server:
    """A restate-server on free loopback ports, its data in a temporary directory."""

    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.workdir = Path(tempfile.mkdtemp(prefix="conformance-", dir=CACHE))
        self.ingress, self.admin, self.fabric = free_port(), free_port(), free_port()
        env = {"RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{self.ingress}",
               "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{self.admin}",
               # retries in a few seconds, not minutes, so that retrying cases end in time
               "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "50ms",
               "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "500ms"}
        self.proc = procs.start(
            [str(restate_server_binary()), "--bind-address", f"127.0.0.1:{self.fabric}",
             "--listen-mode", "tcp", "--no-logo", "--node-name", "conformance",
             "--base-dir", str(self.workdir / "data")],
            self.workdir / "server.log", env=env, cwd=self.workdir)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerUnavailable(f"restate-server exited; see {self.workdir}/server.log")
            try:
                if _http(self.admin, "GET", "/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise PeerUnavailable("the Restate admin API did not come up in 120 s")

    def deploy(self, programs: list[str], env: dict[str, str] | None = None) -> Deployment:
        port = free_port()
        deployment = Deployment(None, port, programs, {**python_env(), **(env or {})})
        self.start(deployment)
        body = json.dumps({"uri": f"http://127.0.0.1:{port}", "force": True}).encode()
        status, raw, _ = _http(self.admin, "POST", "/deployments", body,
                               {"content-type": "application/json"})
        if status not in (200, 201):
            raise PeerUnavailable(f"registering {programs}: {status} {raw[:300]!r}")
        return deployment

    def start(self, deployment: Deployment) -> None:
        """Start (or start again, on the same port) a deployment's process."""
        proc = self.procs.start(
            [str(peers_python()), str(HERE / "serve.py"), str(deployment.port),
             *deployment.programs],
            self.workdir / f"service-{deployment.programs[0]}.log", env=deployment.env)
        deployment.proc = proc
        wait_port(deployment.port, 60, proc)

    def state(self, service: str, key: str) -> dict[str, Any]:
        query = ("SELECT key, value_utf8 FROM state WHERE service_name = "
                 f"'{service}' AND service_key = '{key}'")
        status, raw, _ = _http(self.admin, "POST", "/query", json.dumps({"query": query}).encode(),
                               {"content-type": "application/json", "accept": "application/json"})
        if status != 200:
            raise RuntimeError(f"state query: {status} {raw[:200]!r}")
        out: dict[str, Any] = {}
        for row in json.loads(raw).get("rows", []):
            text = row["value_utf8"]
            try:
                out[row["key"]] = json.loads(text) if text else None
            except (TypeError, ValueError):
                out[row["key"]] = text
        return out

    def counters(self, objects: list[str]) -> dict[str, int]:
        """The ``counter`` state of each ``service/key`` (0 where there is none)."""
        query = ("SELECT service_name, service_key, value_utf8 FROM state WHERE key = 'counter'"
                 " AND service_name LIKE 'InterpreterL%'")
        status, raw, _ = _http(self.admin, "POST", "/query", json.dumps({"query": query}).encode(),
                               {"content-type": "application/json", "accept": "application/json"})
        if status != 200:
            raise RuntimeError(f"state query: {status} {raw[:200]!r}")
        found = {f"{r['service_name']}/{r['service_key']}": int(json.loads(r["value_utf8"]))
                 for r in json.loads(raw).get("rows", [])}
        return {where: found.get(where, 0) for where in objects}

    def stop(self) -> None:
        self.procs.stop(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Deployment:
    """One restate-sdk process serving programs (``conformance/serve.py``)."""

    proc: Any
    port: int
    programs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def step_runs(self, reset: bool = False) -> dict[str, int]:
        """How many times each ``ctx.run`` closure ran there, per
        ``service/handler/step``, as the served process counted them."""
        status, raw, _ = _http(self.port, "GET",
                               "/conformance/step-runs" + ("?reset=1" if reset else ""))
        if status != 200:
            raise RuntimeError(f"step runs: {status} {raw[:200]!r}")
        return {k: int(v) for k, v in sorted(json.loads(raw).items())}


def services_of(program: str) -> set[str]:
    """The names of the services ``program``'s own module defines (not its hosts')."""
    from tests.compat.harness import load

    loaded = load(program, "real")
    return set() if loaded.error is not None else {s.name for s in loaded.services}


def step_runs_differ(server: dict[str, int], sim: dict[str, int]) -> list[str]:
    """The steps whose closure ran a different number of times on each side."""
    return [f"closure runs of {step}: server {server.get(step, 0)}, simulation {sim.get(step, 0)}"
            for step in sorted(set(server) | set(sim)) if server.get(step, 0) != sim.get(step, 0)]


# -- running a case on the server ---------------------------------------------------------
class NotFeasible(Exception):
    """The case needs what only the simulation offers (say, the program's module)."""

@dataclass
class Observed:
    outcomes: list[Any] = field(default_factory=list)  # ("ok", value) / ("error", code, msg)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # each call's invocation id ("" if refused)


def _path(target: str, send: bool) -> str:
    parts = [urllib.parse.quote(p, safe="") for p in target.split("/")]
    return "/" + "/".join(parts) + ("/send" if send else "")


def _outcome(status: int, raw: bytes, headers: dict[str, str]) -> Any:
    if status >= 400:
        try:
            body = json.loads(raw)
            return ("error", status, body.get("message", ""))
        except ValueError:
            return ("error", status, raw.decode("utf-8", "replace"))
    if not raw:
        return ("ok", None)
    if headers.get("content-type", "").startswith("application/octet-stream"):
        return ("ok", raw)
    try:
        return ("ok", normalise(json.loads(raw)))
    except ValueError:
        return ("ok", raw)


def run_on_server(server: Server, case: Case) -> Observed:
    seen = Observed()
    ids: list[str] = []
    pending: list[tuple[int, threading.Thread | None, dict[str, Any]]] = []
    for op in case.ops:
        if isinstance(op, Advance):
            time.sleep(op.by.total_seconds())
            continue
        assert isinstance(op, Call)
        now = Now(list(ids), [], None)
        try:
            data = op.raw(now) if callable(op.raw) else op.raw
            arg = op.input(now) if callable(op.input) else op.input
        except (AssertionError, AttributeError, IndexError, KeyError) as err:
            # what this case already sent must not run on into the next case
            for inv in ids:
                if inv:
                    _http(server.admin, "PATCH",
                          f"/invocations/{urllib.parse.quote(inv, safe='')}/kill")
            raise NotFeasible(f"its input needs the simulation: {err!r}") from None
        if data is not None:
            body, headers = data, {"content-type": "application/octet-stream"}
        elif arg is None:  # a handler without input: no body at all
            body, headers = b"", {}
        else:
            body, headers = json.dumps(arg).encode(), {"content-type": "application/json"}
        headers.update(op.headers or {})
        if op.idempotency_key:
            headers["idempotency-key"] = op.idempotency_key
        # Every invocation is sent, then attached to: its id is known at once (a
        # later operation may name it), and the outcome is the same as a call's.
        slot: dict[str, Any] = {}
        status, raw, _ = _http(server.ingress, "POST", _path(op.target, True), body, headers)
        inv = json.loads(raw).get("invocationId", "") if status < 300 else ""
        ids.append(inv)
        if not inv:
            slot["outcome"] = _outcome(status, raw, {})
        else:
            slot["attach"] = inv
        pending.append((len(ids) - 1, None, slot))
        time.sleep(0.3)  # let it start before the next operation, as the simulation does
    for _, thread, slot in pending:
        if thread is not None:
            thread.join(CALL_TIMEOUT)
        if "attach" in slot:
            inv = urllib.parse.quote(slot["attach"], safe="")
            try:
                st, raw, hd = _http(server.ingress, "GET", f"/restate/invocation/{inv}/attach",
                                    timeout=ATTACH_TIMEOUT)
                slot["outcome"] = _outcome(st, raw, hd)
            except OSError as err:  # a timeout: the case differs, the run goes on
                slot["outcome"] = ("error", 0, f"no answer in {ATTACH_TIMEOUT:.0f} s ({err})")
        seen.outcomes.append(slot.get("outcome", ("error", 0, "no answer in time")))
    seen.ids = ids
    time.sleep(0.5)
    for where in case.state:
        service, key = where.split("/", 1)
        seen.state[where] = server.state(service, key)
    return seen


def expected_of(op: Call) -> Any:
    if op.error is not None:
        return ("error", op.error[0], op.error[1])
    return ("ok", op.result) if op.result is not NOTHING else ("check", op.check)


def compare(case: Case, seen: Observed) -> list[str]:
    """Where the server's run differs from what the case expects (which the
    simulation is held to in ``tests/compat``)."""
    problems = []
    calls = [op for op in case.ops if isinstance(op, Call)]
    for i, (op, got) in enumerate(zip(calls, seen.outcomes, strict=True)):
        want = expected_of(op)
        if want[0] == "check":
            if got[0] != "ok" or (want[1] is not None and not want[1](got[1])):
                problems.append(f"call #{i} {op.target}: server gave {got}, which fails the check")
        elif want != got:
            problems.append(f"call #{i} {op.target}: expected {want}, server gave {got}")
    for where, want_state in case.state.items():
        if want_state != seen.state.get(where):
            problems.append(f"state of {where}: expected {want_state}, server has {seen.state.get(where)}")
    return problems


# -- journals ------------------------------------------------------------------------------
Commands = tuple[list[str], str]  # a journal's commands, and why it cannot be judged ("")


# Ids are each engine's own (Restate's ``inv_1iPB...``, the simulation's ``inv_b333...``):
# a command naming one (attach, cancel, a signal's target) is compared without it.
_IDS = re.compile(r"\b(inv|sign|prom)_[0-9A-Za-z]+")
# An awakeable's id, handed on in a command (resolve_awakeable): Restate's
# ``sign_1<base64url>``, the simulation's ``awk_<invocation>_<index>``.
_AWAKEABLE_IDS = re.compile(r"\b(sign_1|awk_)[0-9A-Za-z_-]+")


def journal_commands(entries: list[Any]) -> list[str]:
    """A journal's commands as ``kind name``: what both sides must issue in the
    same order. Notifications are left out (they arrive in each engine's own
    order), and so are payloads and ids (ids and seeds differ between the two)."""
    from simdurable.runtime._journal import CANCELLED, COMPLETION

    return [_IDS.sub(r"\1_*", _AWAKEABLE_IDS.sub("awk_*", f"{e.kind} {e.name}"))
            for e in entries if e.kind not in (COMPLETION, CANCELLED)]


def server_journal(server: Server, inv: str) -> Commands:
    """Invocation ``inv``'s journal on the server: its ``sys_journal`` rows, mapped
    onto simdurable's entries by ``simdurable._replay._restate.map_journal``."""
    return server_tree(server, inv).commands


@dataclass
class Tree:
    """One invocation's journal (its commands), and the journals of the
    invocations it called or sent to, paired with the command that made each,
    in journal order: the callees' trees are compared too, to any depth."""

    commands: Commands
    children: list[tuple[str, Tree]] = field(default_factory=list)
    # its caller cancelled it: where the cancellation reached it is a race
    # (before it started, or in its sleep), so it is compared up to the shorter
    cancelled: bool = False


MAX_DEPTH = 8  # layers of calls followed (the random programs nest four deep)
_CALLS = ("call ", "send ")


def server_tree(server: Server, inv: str, depth: int = 0) -> Tree:
    """``inv``'s journal on the server and its callees', each read from
    ``sys_journal`` and mapped as ``replay-journals`` maps it; a callee is
    found by the invocation id its Call or OneWayCall command names (the
    mapping keeps it as ``Entry.ref``). A callee still running is compared
    up to where its journal ends."""
    from simdurable._replay._restate import map_journal, query
    from simdurable.runtime._journal import CALL, SEND

    if not inv:
        return Tree(([], "the server refused the invocation"))
    admin = f"http://127.0.0.1:{server.admin}"
    rows = query(admin, 'SELECT id, "index", entry_type, version, entry_json FROM sys_journal '
                 f"WHERE id = '{inv}' ORDER BY \"index\"")
    if not rows:
        return Tree(([], "the server keeps no journal of it"))
    mapped = map_journal(rows, inv)
    why = mapped.unmapped
    if not why and depth:
        status = query(admin, f"SELECT status FROM sys_invocation WHERE id = '{inv}'")
        if status and status[0].get("status") != "completed":
            why = f"still {status[0].get('status')} when read"
    tree = Tree((journal_commands(mapped.entries), why))
    if depth < MAX_DEPTH:
        tree.children = [(journal_commands([e])[0], server_tree(server, e.ref, depth + 1))
                         for e in mapped.entries if e.kind in (CALL, SEND) and e.ref]
        _mark_cancelled(tree, mapped.entries)
    return tree


def _mark_cancelled(tree: Tree, entries: list[Any]) -> None:
    """Mark the callees that ``entries`` (their caller's journal) cancel."""
    from simdurable.runtime._journal import CALL, CANCEL, SEND

    cancelled = {e.name for e in entries if e.kind == CANCEL}
    callees = [e.ref for e in entries if e.kind in (CALL, SEND) and e.ref]
    for ref, (_, child) in zip(callees, tree.children, strict=True):
        child.cancelled = ref in cancelled


def sim_tree(journals: dict[str, list[Any]], entries: list[Any], depth: int = 0) -> Tree:
    """A journal (``entries``) in the simulation and its callees' (``Entry.ref``
    of its calls and sends), from every invocation's journal by id."""
    from simdurable.runtime._journal import CALL, SEND

    tree = Tree((journal_commands(entries), ""))
    if depth < MAX_DEPTH:
        tree.children = [(journal_commands([e])[0],
                          sim_tree(journals, journals.get(e.ref, []), depth + 1))
                         for e in entries if e.kind in (CALL, SEND) and e.ref]
        _mark_cancelled(tree, entries)
    return tree


def _as_restate_journals(sim: list[str]) -> list[str]:
    """The simulation's commands without those Restate journals no command for:
    ``ctx.awakeable()`` and ``ctx.signal()``."""
    return [c for c in sim if not c.startswith(("awakeable ", "signal "))]


@dataclass
class JournalTally:
    """Journals compared: the same on both sides, differing, or not judged."""

    same: int = 0
    differ: int = 0
    unjudged: int = 0
    nested: int = 0  # of them, journals of callees (calls and sends made by handlers)

    def compare_tree(self, label: str, server: Tree, sim: Tree) -> list[str]:
        """Compare an invocation's journal, then each callee's: the callees of
        the calls and sends both sides issued alike, in journal order."""
        problems = self.compare(label, server.commands, sim.commands[0])
        for (command, srv_child), (sim_command, sim_child) in zip(server.children,
                                                                  sim.children, strict=False):
            if command != sim_command:
                break  # the journals differ from here: already reported
            self.nested += 1
            if srv_child.cancelled or sim_child.cancelled:
                srv_commands = srv_child.commands[0]
                sim_commands = _as_restate_journals(sim_child.commands[0])
                n = min(len(srv_commands), len(sim_commands))
                raced = Tree((srv_commands[:n], srv_child.commands[1] or "cancelled"),
                             srv_child.children)
                srv_child = raced
                sim_child = Tree((sim_commands[:n], ""), sim_child.children)
            problems += self.compare_tree(f"{label} > {command}", srv_child, sim_child)
        return problems

    def compare(self, label: str, server: Commands, sim: list[str]) -> list[str]:
        """Compare one invocation's commands. ``ctx.awakeable()`` and
        ``ctx.signal()`` journal no command on Restate, so the simulation's are
        left out; a journal the mapping cannot follow to its end (at the
        notification completing such an awakeable) is compared up to there."""
        commands, why = server
        sim = _as_restate_journals(sim)
        if why:
            sim = sim[:len(commands)]
        if commands == sim:
            if why:
                self.unjudged += 1
            else:
                self.same += 1
            return []
        self.differ += 1
        pairs = zip(commands, sim, strict=False)
        at = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(commands), len(sim)))
        return [f"journal of {label}: command #{at} is "
                f"{commands[at] if at < len(commands) else 'missing'} on the server, "
                f"{sim[at] if at < len(sim) else 'missing'} in the simulation"]


# -- seeded random programs (conformance/generated.py) ----------------------------------
SETTLE_GENERATED = 30.0  # seconds the server gets to finish the one-way and delayed sends


@dataclass
class Generated:
    """One seed's run on one side: the top-level outcomes, every object's
    ``counter`` and the failing steps' closure runs."""

    outcomes: list[Any]
    counters: dict[str, int]
    failing_runs: dict[str, int]
    journals: list[Tree] = field(default_factory=list)  # each top-level program's, nested
    crashed: bool = False  # a crash case: whether the chosen crash happened


def _failing(runs: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in sorted(runs.items()) if "/failing-" in k}


# The crash cases of the random programs run seeds of their own (1001, 1002, ...):
# their objects and step ids are not those the plain seeds already ran on the server.
CRASH_SEEDS = 1000


def crash_step(seed: int) -> str | None:
    """Where a crash case of ``seed`` kills the process: one failing step, in the
    run of its closure that succeeds (``service/handler/step``), chosen by the seed."""
    from conformance import generated

    _, steps = generated.oracle(generated.generate(seed))
    return sorted(steps)[seed % len(steps)] if steps else None


def crash_seed_list(n: int) -> list[tuple[int, str]]:
    """The first ``n`` crash seeds (from 1001) that have a failing step, with it."""
    out: list[tuple[int, str]] = []
    seed = CRASH_SEEDS
    while len(out) < n:
        seed += 1
        step = crash_step(seed)
        if step is not None:
            out.append((seed, step))
    return out


def _simulate(seed: int, crash: tuple[str, int] | None) -> tuple[Generated, Any]:
    import simdurable as sd
    from conformance import generated
    from tests.compat.harness import step_runs_of

    programs = generated.generate(seed)
    counters, _ = generated.oracle(programs)
    generated.reset()
    sim = sd.Simulation(services=generated.SERVICES, seed=seed)
    if crash is not None:
        sim.crash(after=crash[0], point="effect-done", attempt=crash[1])
    handles = [sim.send(f"InterpreterL0/{key}/interpret", program)
               for key, program in programs.items()]
    sim.run(until=timedelta(hours=1))
    outcomes: list[Any] = []
    for h in handles:
        try:
            outcomes.append(("ok", normalise(h.result())))
        except Exception as err:  # noqa: BLE001 - a failure is an outcome here
            outcomes.append(("error", getattr(err, "status_code", None), str(err)))
    got = {where: int(sim.state(*where.split("/", 1)).get("counter", 0)) for where in counters}
    every = {h.id: sim.journal(h) for h in sim.invocations()}
    return Generated(outcomes, got, _failing(step_runs_of(sim)),
                     [sim_tree(every, every[h.id]) for h in handles],
                     crash is not None and bool(sim.fault_plan().faults)), sim


def simulate_generated(seed: int, crash: str | None = None) -> Generated:
    """The seed's programs in the simulation, hosting the same restate-sdk objects.

    With ``crash`` (``service/handler/step`` of a failing step), the simulation
    crashes once that step's closure has run for the time that succeeds, before
    its result is stored, as the served process is killed on the server: a
    first run finds the invocation attempt in which that run happens."""
    if crash is None:
        return _simulate(seed, None)[0]
    name = crash.rsplit("/", 1)[1]
    _, probe = _simulate(seed, None)
    attempt = [a for _, _, step, a, _ in probe._engine.step_run_log if step == name][-1]
    return _simulate(seed, (name, attempt))[0]


def run_generated(server: Server, deployment: Deployment, seed: int,
                  crash: str | None = None) -> Generated:
    """The seed's programs on the real server: each sent, then attached to; then
    the counters polled until they equal the oracle or the settle time ends.

    With ``crash`` (``service/handler/step`` of a failing step), the served
    process kills itself with SIGKILL in that step's closure, in the run that
    succeeds; a watcher starts it again on the same port and Restate retries
    every invocation it held."""
    from conformance import generated

    programs = generated.generate(seed)
    want, _ = generated.oracle(programs)
    deployment.step_runs(reset=True)
    watcher: threading.Thread | None = None
    killed: list[bool] = []
    if crash is not None:
        Path(deployment.env["CONFORMANCE_CRASH_FILE"]).write_text(crash.rsplit("/", 1)[1])
        proc = deployment.proc

        def restart() -> None:
            deadline = time.monotonic() + CALL_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            killed.append(proc.poll() == -signal.SIGKILL)
            if proc.poll() is not None:
                server.procs.procs.remove(proc)
                server.start(deployment)

        watcher = threading.Thread(target=restart, daemon=True)
        watcher.start()
    ids = []
    for key, program in programs.items():
        status, raw, _ = _http(server.ingress, "POST", _path(f"InterpreterL0/{key}/interpret", True),
                               json.dumps(program).encode(), {"content-type": "application/json"})
        ids.append(json.loads(raw).get("invocationId", "") if status < 300 else "")
    outcomes: list[Any] = []
    for inv in ids:
        if not inv:
            outcomes.append(("error", 0, "not accepted"))
            continue
        st, raw, hd = _http(server.ingress, "GET",
                            f"/restate/invocation/{urllib.parse.quote(inv, safe='')}/attach",
                            timeout=60)
        outcomes.append(_outcome(st, raw, hd))
    if watcher is not None:
        watcher.join(CALL_TIMEOUT + 60)
        Path(deployment.env["CONFORMANCE_CRASH_FILE"]).unlink(missing_ok=True)
    deadline = time.monotonic() + SETTLE_GENERATED
    while True:
        got = server.counters(list(want))
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return Generated(outcomes, got, _failing(deployment.step_runs()),
                     [server_tree(server, inv) for inv in ids], bool(killed and killed[0]))


def compare_generated(seed: int, server: Generated, sim: Generated,
                      crash: str | None = None) -> tuple[int, int, list[str]]:
    """Objects whose counter equals the oracle on both sides, of how many; and
    every difference from the oracle or between the sides. With ``crash``, the
    crash must have happened on both sides, and the crashed step's closure run
    once more than the oracle says (the run whose result was lost)."""
    from conformance import generated

    want, steps = generated.oracle(generated.generate(seed))
    if crash is not None:
        steps = {**steps, crash: steps[crash] + 1}
    problems = []
    for side, run in (("server", server), ("simulation", sim)):
        if crash is not None and not run.crashed:
            problems.append(f"{side}: the crash in {crash} did not happen")
        for i, outcome in enumerate(run.outcomes):
            if outcome != ("ok", None):
                problems.append(f"{side}: top-level program #{i} ended with {outcome}")
        for where, n in want.items():
            if run.counters.get(where) != n:
                problems.append(f"{side}: counter of {where} is {run.counters.get(where)}, "
                                f"the oracle says {n}")
        if run.failing_runs != steps:
            problems.append(f"{side}: failing steps ran {run.failing_runs}, "
                            f"the oracle says {steps}")
    same = sum(1 for where, n in want.items()
               if server.counters.get(where) == n and sim.counters.get(where) == n)
    return same, len(want), problems


def replay_server_journals(server: Server) -> str:
    """``replay-journals`` on what the server recorded of the random programs and
    the crash cases (awakeables, signals, calls, crashes), against the same code:
    every invocation must replay. Returns the report's summary line."""
    from conformance import crashing, generated
    from simdurable._replay._core import Replayer, ReplayReport
    from simdurable._replay._restate import read_server

    services = [*generated.SERVICES, crashing.crashy]
    names = {s.name for s in services}
    recorded = [inv for inv in read_server(f"http://127.0.0.1:{server.admin}")
                if inv.record.service in names]
    replayer = Replayer(services)
    report = ReplayReport([replayer.replay(inv) for inv in recorded])
    lines = [r.describe() for r in report.results if not r.ok][:5]
    return "\n".join([*lines, "replay-journals of the server's journals of the random programs "
                       f"and crashes: {report.summary()}"])


# -- crashes on both sides (conformance/crashing.py) ------------------------------------
@dataclass
class Crashed:
    """One crash case's run on one side."""

    outcome: Any
    state: dict[str, Any]
    step_runs: dict[str, int]
    crashed: bool
    journal: Commands = ([], "")


def run_crash_on_server(server: Server, deployment: Deployment, step: str) -> Crashed:
    """Kill the served process with SIGKILL inside ``step``'s closure, start it
    again on the same port, and let Restate retry the invocation."""
    deployment.step_runs(reset=True)
    Path(deployment.env["CONFORMANCE_CRASH_FILE"]).write_text(step)
    key = f"crash-{step}"
    status, raw, _ = _http(server.ingress, "POST", _path(f"Crashy/{key}/run", True),
                           json.dumps(key).encode(), {"content-type": "application/json"})
    inv = json.loads(raw).get("invocationId", "") if status < 300 else ""
    deadline = time.monotonic() + CALL_TIMEOUT
    while deployment.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    crashed = deployment.proc.poll() == -signal.SIGKILL
    if deployment.proc.poll() is not None:
        server.procs.procs.remove(deployment.proc)
        server.start(deployment)
    if not inv:
        outcome = _outcome(status, raw, {})
    else:
        st, body, hd = _http(server.ingress, "GET",
                             f"/restate/invocation/{urllib.parse.quote(inv, safe='')}/attach")
        outcome = _outcome(st, body, hd)
    return Crashed(outcome, server.state("Crashy", key), deployment.step_runs(), crashed,
                   server_journal(server, inv))


def simulate_crash(step: str) -> Crashed:
    """The same invocation in the simulation, crashed once ``step``'s closure ran
    and before its result was stored."""
    import simdurable as sd
    from conformance import crashing
    from tests.compat.harness import step_runs_of

    key = f"crash-{step}"
    sim = sd.Simulation(services=[crashing.crashy], seed=0)
    sim.crash(after=step, point="effect-done")
    h = sim.send(f"Crashy/{key}/run", key)
    sim.run(until=timedelta(hours=1))
    try:
        outcome: Any = ("ok", normalise(h.result()))
    except Exception as err:  # noqa: BLE001 - a failure is an outcome here
        outcome = ("error", getattr(err, "status_code", None), str(err))
    return Crashed(outcome, normalise(sim.state("Crashy", key)), step_runs_of(sim),
                   bool(sim.fault_plan().faults), (journal_commands(sim.journal(h)), ""))


def compare_crash(step: str, server: Crashed, sim: Crashed) -> list[str]:
    """Differences between the sides, and from what a crash must leave: the
    crashed step's closure ran twice, every other once, the result complete."""
    from conformance import crashing

    steps = [f"step-{i}" for i in range(1, crashing.STEPS + 1)]
    key = f"crash-{step}"
    want_runs = {f"Crashy/run/{s}": 2 if s == step else 1 for s in steps}
    want = ("ok", [f"{key}-{s}" for s in steps])
    problems = []
    for side, run in (("server", server), ("simulation", sim)):
        if not run.crashed:
            problems.append(f"{side}: the crash in {step} did not happen")
        if run.outcome != want:
            problems.append(f"{side}: the invocation ended with {run.outcome}, not {want}")
        if run.state != {"done": want[1]}:
            problems.append(f"{side}: state {run.state}")
        if run.step_runs != want_runs:
            problems.append(f"{side}: closures ran {run.step_runs}, not {want_runs}")
    return problems


# -- the whole run -----------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance")
    parser.add_argument("--slice", action="store_true", help=f"only {', '.join(SLICE)}")
    parser.add_argument("--program", action="append", default=[])
    parser.add_argument("--seeds", type=int, default=None,
                        help="random programs: seeds 1..N (default 10, 1 with --slice, "
                             "0 with --program)")
    parser.add_argument("--crash-seeds", type=int, default=None,
                        help="random programs with a kill -9 inside a failing step: N seeds "
                             "from 1001 on (default 3, 1 with --slice, 0 with --program)")
    parser.add_argument("--crashes", type=int, default=None,
                        help="crash cases: kill -9 inside steps 1..N of 3 (default 3, 1 with "
                             "--slice, 0 with --program)")
    args = parser.parse_args(argv)
    crash_steps = [f"step-{i}" for i in range(1, 1 + (args.crashes if args.crashes is not None
                                                      else 0 if args.program
                                                      else 1 if args.slice else 3))]
    seeds = args.seeds if args.seeds is not None else (
        0 if args.program else 1 if args.slice else 10)
    crash_seeds = crash_seed_list(args.crash_seeds if args.crash_seeds is not None else (
        0 if args.program else 1 if args.slice else 3))
    chosen = args.program or (list(SLICE) if args.slice else None)
    cases = [(p, c) for p, c in all_cases() if chosen is None or p in chosen]
    runnable = [(p, c) for p, c in cases if why_not_feasible(c) is None]
    left_out = len(cases) - len(runnable)
    # a terminated run still stops its processes and removes its data
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        restate_server_binary()
        peers_python()
    except PeerUnavailable as err:
        print(f"conformance: SKIPPED, the real Restate server is not available here: {err}")
        return 0
    rows: list[tuple[str, str, str, str, str]] = []
    divergences: list[str] = []
    wall = {"server": 0.0, "simulation": 0.0}  # seconds spent running each side
    oracle_same = oracle_total = 0
    journals = JournalTally()
    replayed: list[str] = []  # replay-journals of the server's journals, as a summary

    def run_random(service: Deployment, cases: Sequence[tuple[int, str | None]]) -> None:
        """Random programs of these seeds, on the server and in the simulation;
        with a step, killed with SIGKILL inside that failing step on both sides."""
        nonlocal oracle_same, oracle_total
        for seed, step in cases:
            started = time.perf_counter()
            on_server = run_generated(server, service, seed, step)
            wall["server"] += time.perf_counter() - started
            started = time.perf_counter()
            in_sim = simulate_generated(seed, step)
            wall["simulation"] += time.perf_counter() - started
            same, total, problems = compare_generated(seed, on_server, in_sim, step)
            for i, (srv_journal, sim_journal) in enumerate(zip(on_server.journals,
                                                               in_sim.journals, strict=True)):
                problems += journals.compare_tree(f"top-level program #{i}", srv_journal,
                                                  sim_journal)
            oracle_same += same
            oracle_total += total
            verdict = "identical" if not problems else "differs"
            runs = (f"{sum(on_server.failing_runs.values())}/"
                    f"{sum(in_sim.failing_runs.values())}")
            group, name = "random programs", f"seed {seed}"
            if step is not None:
                group, name = "crashed random programs", \
                    f"seed {seed}, kill -9 inside {step.rsplit('/', 1)[1]}"
            name += f": {same} of {total} objects equal the oracle"
            rows.append((group, name,
                         "ok" if not any(p.startswith("server") for p in problems)
                         else "differs", runs, verdict))
            print(f"  {group} :: {name}: {verdict}", file=sys.stderr, flush=True)
            if problems:
                divergences.append(f"{group} :: seed {seed}: {verdict}\n"
                                   "      " + "\n      ".join(problems))

    def run_crashes(service: Deployment) -> None:
        """kill -9 inside each chosen step, on the server and in the simulation."""
        for step in crash_steps:
            started = time.perf_counter()
            on_server = run_crash_on_server(server, service, step)
            wall["server"] += time.perf_counter() - started
            started = time.perf_counter()
            in_sim = simulate_crash(step)
            wall["simulation"] += time.perf_counter() - started
            problems = compare_crash(step, on_server, in_sim)
            problems += journals.compare("the crashed invocation", on_server.journal,
                                         in_sim.journal[0])
            verdict = "identical" if not problems else "differs"
            runs = (f"{sum(on_server.step_runs.values())}/"
                    f"{sum(in_sim.step_runs.values())}")
            name = f"kill -9 inside {step}, retried"
            rows.append(("crashes", name, "ok" if not any(
                p.startswith("server") for p in problems) else "differs",
                runs, verdict))
            print(f"  crashes :: {name}: {verdict}", file=sys.stderr, flush=True)
            if problems:
                divergences.append(f"crashes :: {name}: {verdict}\n      "
                                   + "\n      ".join(problems))

    def run_extras(service: Deployment) -> None:
        run_random(service, [(seed, None) for seed in range(1, seeds + 1)])
        run_random(service, crash_seeds)
        run_crashes(service)
        replayed.append(replay_server_journals(server))  # last: it kills the process and starts it again

    with processes() as procs:
        server = Server(procs)
        extras = [*(["conformance.generated"] if seeds or crash_seeds else []),
                  *(["conformance.crashing"] if crash_steps else [])]
        crash_env = {"CONFORMANCE_CRASH_FILE": str(server.workdir / "crash-at"),
                     "CONFORMANCE_STEP_LOG": str(server.workdir / "step-runs.log"),
                     "CONFORMANCE_FAILURES_FILE": str(server.workdir / "failures.log")}
        try:
            by_program: dict[str, list[Case]] = {}
            for p, c in runnable:
                by_program.setdefault(p, []).append(c)
            registered: dict[str, str] = {}  # service name -> the program that registered it
            for n, (program, program_cases) in enumerate(by_program.items()):
                # the random programs and the crashes share the first program's process
                # (one deploy fewer)
                extra = extras if n == 0 else []
                names = services_of(program)
                if any(registered.get(name, program) != program for name in names):
                    # Another program registered a service of this name on this server:
                    # its objects' state and its workflows' runs would meet this
                    # program's. A fresh server keeps each program's run its own.
                    server.stop()
                    procs.procs.remove(server.proc)
                    server = Server(procs)
                    registered = {}
                for name in names | {n for h in HOSTS.get(program, ()) for n in services_of(h)}:
                    registered.setdefault(name, program)
                service = server.deploy([program, *HOSTS.get(program, ()), *extra],
                                        env=crash_env if extra else None)
                try:
                    for case in program_cases:
                        service.step_runs(reset=True)
                        started = time.perf_counter()
                        try:
                            seen = run_on_server(server, case)
                        except NotFeasible:
                            left_out += 1
                            continue
                        finally:
                            wall["server"] += time.perf_counter() - started
                        server_problems = compare(case, seen)
                        started = time.perf_counter()
                        sim = run_case(program, case, "real")
                        wall["simulation"] += time.perf_counter() - started
                        server_runs = service.step_runs()
                        steps = step_runs_differ(server_runs, sim.step_runs)
                        runs = f"{sum(server_runs.values())}/{sum(sim.step_runs.values())}"
                        for i, inv in enumerate(seen.ids):
                            if i < len(sim.journals):
                                steps += journals.compare_tree(
                                    f"call #{i}", server_tree(server, inv),
                                    sim_tree(sim.every_journal, sim.journals[i]))
                        if steps:  # the server is the reference for steps and journals
                            sim = Outcome(False, sim.problems + steps, sim.step_runs,
                                          sim.journals, sim.every_journal)
                        verdict = ("identical" if not server_problems and sim.ok else
                                   "server differs" if server_problems and sim.ok else
                                   "simulation differs" if sim.ok is False and not server_problems
                                   else "both differ")
                        rows.append((program, case.name, "ok" if not server_problems else "differs",
                                     runs, verdict))
                        print(f"  {program} :: {case.name}: {verdict}", file=sys.stderr, flush=True)
                        if verdict != "identical":
                            divergences.append(f"{program} :: {case.name}: {verdict}\n      "
                                               + "\n      ".join(server_problems + sim.problems))
                    if extra:
                        run_extras(service)
                finally:
                    procs.stop(service.proc)
                    procs.procs.remove(service.proc)
            if extras and not by_program:
                service = server.deploy(extras, env=crash_env)
                try:
                    run_extras(service)
                finally:
                    procs.stop(service.proc)
                    procs.procs.remove(service.proc)
        finally:
            server.stop()
            procs.procs.remove(server.proc)
    width = max((len(f"{p} :: {c}") for p, c, *_ in rows), default=10)
    # "step runs": closure executions counted by the served process / by the simulation
    print(f"{'case':<{width}}  {'server':<8} {'step runs':<10} verdict")
    for p, c, srv, runs, verdict in rows:
        print(f"{p + ' :: ' + c:<{width}}  {srv:<8} {runs:<10} {verdict}")
    if divergences:
        print("\ndivergences:")
        print("\n".join(divergences))
    cases_rows = [r for r in rows
                  if r[0] not in ("random programs", "crashes", "crashed random programs")]
    crash_rows = [r for r in rows if r[0] in ("crashes", "crashed random programs")]
    same = sum(1 for r in cases_rows if r[4] == "identical")
    print(f"\n{left_out} case(s) left out (not runnable through the ingress in real time)")
    print(f"wall time: server {wall['server']:.1f} s, simulation {wall['simulation']:.1f} s")
    for line in replayed:
        print(line)
    print(f"journals: {journals.same} the same on both sides, {journals.differ} different, "
          f"{journals.unjudged} the same up to where one side's ends (an entry without a "
          "counterpart in simdurable, a callee still running or cancelled) "
          f"({journals.nested} of them of callees)")
    print(f"conformance: {same} of {len(cases_rows)} cases identical on the Restate server and "
          f"in the simulation; crashes: {sum(r[4] == 'identical' for r in crash_rows)} of "
          f"{len(crash_rows)} identical; random programs ({seeds} seed(s), "
          f"{len(crash_seeds)} crashed): {oracle_same} of "
          f"{oracle_total} objects equal the oracle on both sides")
    return 0 if all(r[4] == "identical" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
