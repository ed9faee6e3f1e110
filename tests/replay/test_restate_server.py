"""Journals recorded by the real Restate server, replayed against changed code.

The restate-sdk program ``restate_app`` runs on the real restate-sdk behind
the real restate-server (installed from npm into ``benchmarks/.cache`` as the
conformance suite and the benchmarks install them; loopback ports; every
process stopped and its data removed). Its journals are read through the
admin SQL API, mapped by ``simdurable._replay._restate`` and replayed by the
simulation's runtime. Where npm or the registries are out of reach, the test
says that it skipped, and why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import simdurable as restate
from simdurable._cli import main

from . import restate_app

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The admin URL of a server that ran one order to its end and holds one in its sleep."""
    from benchmarks._peers import (
        PeerUnavailable,
        free_port,
        peers_python,
        processes,
        python_env,
        restate_server_binary,
        wait_port,
    )
    from conformance.__main__ import Server, _http

    try:
        restate_server_binary()
        python = peers_python()
    except PeerUnavailable as err:
        pytest.skip(f"the real Restate server is not available here: {err}")
    with processes() as procs:
        srv = Server(procs)
        app = None
        try:
            port = free_port()
            app = procs.start([str(python), str(HERE / "serve_restate.py"), str(port)],
                              srv.workdir / "shop.log", env=python_env())
            wait_port(port, 60, app)
            body = json.dumps({"uri": f"http://127.0.0.1:{port}", "force": True}).encode()
            assert _http(srv.admin, "POST", "/deployments", body,
                         {"content-type": "application/json"})[0] in (200, 201)
            json_type = {"content-type": "application/json"}
            status, raw, _ = _http(srv.ingress, "POST", "/Shop/order", b'"book"', json_type)
            assert (status, raw) == (200, b'"r-book c-4 99"')
            status, raw, _ = _http(srv.ingress, "POST", "/Shop/order/send", b'"slow"',
                                   json_type)
            assert status == 202, raw
            status, raw, _ = _http(srv.ingress, "POST", "/Gate/wait/send", b"", {})
            assert status == 202, raw
            waiting = json.loads(raw)["invocationId"]
            status, raw, _ = _http(srv.ingress, "POST", "/Gate/approve",
                                   json.dumps(waiting).encode(), json_type)
            assert (status, raw) == (200, b'"approved"')
            url = f"http://127.0.0.1:{srv.admin}"
            deadline = time.monotonic() + 30
            while not (_sleeping(url) and _done(url, waiting)):
                assert time.monotonic() < deadline, \
                    "the slow order never reached its sleep, or the gate never opened"
                time.sleep(0.05)
            yield url
        finally:
            if app is not None:
                procs.stop(app)
            srv.stop()


def test_a_deployment_stops_at_sigterm_while_a_connection_is_open(tmp_path: Path) -> None:
    """hypercorn waits on SIGTERM for open connections, and the server keeps one open:
    each stop of a deployment cost the suites ten seconds, or hung with an idle client."""
    import signal
    import socket
    import subprocess

    from benchmarks._peers import PeerUnavailable, free_port, peers_python, python_env, wait_port

    try:
        python = peers_python()
    except PeerUnavailable as err:
        pytest.skip(f"restate-sdk's peer environment is not available here: {err}")
    port = free_port()
    with open(tmp_path / "app.log", "wb") as log:
        app = subprocess.Popen([str(python), str(HERE / "serve_restate.py"), str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=python_env())
    try:
        wait_port(port, 60, app)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
            conn.recv(100)  # the server's SETTINGS: the connection is up, and stays open
            app.send_signal(signal.SIGTERM)
            app.wait(timeout=30)  # before: it waited for this connection, for ever
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def _sleeping(url: str) -> bool:
    from simdurable._replay._restate import query

    rows = query(url, "SELECT entry_type FROM sys_journal WHERE entry_type = 'Command: Sleep'")
    return len(rows) == 2


def _done(url: str, invocation_id: str) -> bool:
    from simdurable._replay._restate import query

    rows = query(url, f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'")
    return [r.get("status") for r in rows] == ["completed"]


def _by_target(report: restate.ReplayReport) -> dict[tuple[str, bool], Any]:
    return {(r.target, r.ended): r for r in report.results}


def test_the_same_code_replays_what_the_server_recorded(server: str) -> None:
    report = restate.replay_journals(restate_app.make("v1"), server)
    assert sorted((r.target, r.ended, r.verdict) for r in report.results) == [
        ("Gate/approve", True, "replays"), ("Gate/wait", True, "replays"),
        ("Shop/order", False, "replays"), ("Shop/order", True, "replays"),
        ("Stock/book/take", True, "replays"), ("Stock/slow/take", True, "replays")]
    assert report.exit_code == 0


def test_a_named_signal_the_server_journaled_replays_and_a_change_around_it_diverges(
        server: str) -> None:
    """restate-server 1.7.12 journals a named signal as a notification only (no
    command), and the resolving side as a SendSignal command: both map, and the
    signal's value reaches the handler where it awaits it."""
    from simdurable._replay._restate import read_server

    (waited,) = [r for r in read_server(server) if r.record.target == "Gate/wait"]
    assert [(n.signal, n.position) for n in waited.signals] == [("approval", 0)]
    assert waited.record.result is not None
    report = restate.replay_journals(restate_app.make("v1"), server)
    found = _by_target(report)
    assert found[("Gate/wait", True)].verdict == "replays"
    assert found[("Gate/approve", True)].verdict == "replays"
    changed = _by_target(restate.replay_journals(restate_app.make("renamed"), server))
    r = changed[("Gate/wait", True)]
    # simdurable's journal holds a signal command at #0 and its completion at #1
    # where Restate's holds the Input and the notification: the step is #2 in both.
    assert (r.verdict, r.index, r.source_index) == ("diverges", 2, 2)
    assert (r.recorded, r.new) == ('run "note"', 'run "memo"')


def test_a_renamed_step_diverges_at_both_indices(server: str) -> None:
    report = restate.replay_journals(restate_app.make("renamed"), server)
    found = _by_target(report)
    for ended in (True, False):
        r = found[("Shop/order", ended)]
        # run, completion, call, completion, then the step: Restate's journal
        # also holds the Input and the callee's id before it
        assert (r.verdict, r.index, r.source_index) == ("diverges", 4, 6)
        assert (r.recorded, r.new) == ('run "charge"', 'run "payment"')
        assert r.source is not None and r.source.startswith("restate_app.py:")
        assert "(#6 in the source's journal)" in r.describe()
    assert found[("Stock/book/take", True)].verdict == "replays"


def test_an_export_of_the_server_replays_as_the_server(server: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "restate.json"
    assert main(["export-journals", server, "-o", str(out)]) == 0
    assert "6 invocation(s) from http://127.0.0.1:" in capsys.readouterr().out
    for version in ("v1", "renamed"):
        services = restate_app.make(version)
        assert (restate.replay_journals(services, out).results
                == restate.replay_journals(services, server).results)
    doc = json.loads(out.read_text())
    order = next(i for i in doc["invocations"] if i["input"] == '"book"')
    assert [e["source_index"] for e in order["journal"]] == [1, 2, 3, 5, 6, 7, 8, 9]
    assert order["result"] == {"value": '"r-book c-4 99"'}


def test_a_server_that_is_not_there_is_a_clear_error(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    from benchmarks._peers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(restate.JournalSourceError, match="cannot reach a Restate admin API"):
        restate.replay_journals(restate_app.make("v1"), url)
    assert main(["replay-journals", url, "tests.replay.restate_app:services"]) == 2
    assert f"{url}/query: cannot reach a Restate admin API there" in capsys.readouterr().err
