"""The HTTP ingress: Restate's paths, and a 4xx JSON answer for every bad request."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import simdurable as restate
from simdurable._live._ingress import HttpError, parse_delay

greeter = restate.Service("Greeter")
counter = restate.VirtualObject("Counter")
wf = restate.Workflow("Signup")
waiter = restate.Service("Waiter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"hello {name}"


@greeter.handler()
async def fail(ctx: restate.Context, code: int) -> str:
    if code == 402:
        raise restate.TerminalError("declined", code, metadata={"reason": "limit"})
    raise restate.TerminalError("nope", code)


@greeter.handler()
async def slow(ctx: restate.Context, ms: int) -> int:
    await ctx.sleep(timedelta(milliseconds=ms))
    return ms


@greeter.handler(idempotency_retention=timedelta(seconds=1))
async def brief(ctx: restate.Context, name: str) -> str:
    return f"{name} at {await ctx.run_typed('now', time.monotonic_ns)}"


@greeter.handler()
async def echo_header(ctx: restate.Context) -> str:
    return ctx.request().headers.get("x-user", "")


fixed = [False]


@greeter.handler()
async def buggy(ctx: restate.Context, name: str) -> str:
    if not fixed[0]:
        await ctx.run_typed("oops", lambda: ctx.get("x"))  # a bug: the invocation pauses
    return f"fixed {name}"


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    n = (await ctx.get("count")) or 0
    ctx.set("count", n + delta)
    return n + delta


@wf.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    return f"signed up {email}"


@waiter.handler()
async def wait(ctx: restate.Context) -> str:
    name, promise = ctx.awakeable()
    try:
        value = await promise
    except restate.TerminalError as err:
        return f"rejected: {err.message}"
    return f"got {value}"


class Client:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            data = body.encode() if isinstance(body, str) else body
            headers = dict(headers or {})
            if data and not any(k.lower() == "content-type" for k in headers):
                headers["content-type"] = "application/json"  # as Restate's ingress wants
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        payload = json.loads(raw) if raw else None
        return resp.status, payload, hdrs


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[restate.Executor, Client]]:
    db = tmp_path_factory.mktemp("ingress") / "dev.db"
    ex = restate.Executor([greeter, counter, wf, waiter], db=db, max_body=1000)
    ex.start(port=0)
    try:
        assert ex.url is not None and ex.url.startswith("http://127.0.0.1:")
        yield ex, Client(ex.url)
    finally:
        ex.close()


def test_call_service_and_object(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    status, body, headers = c.request("POST", "/Greeter/greet", '"bob"')
    assert (status, body) == (200, "hello bob")
    assert headers["x-restate-id"].startswith("inv_")
    assert c.request("POST", "/Counter/a/add", "2")[:2] == (200, 2)
    assert c.request("POST", "/Counter/a/add", "3")[:2] == (200, 5)
    assert c.request("POST", "/restate/call/Counter/b/add", "1")[:2] == (200, 1)
    assert c.request("POST", "/Counter/a%2Fb/add", "7")[:2] == (200, 7)


def test_send_attach_output_status(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    status, body, headers = c.request("POST", "/Greeter/slow/send", "300")
    assert status == 202 and body["status"] == "Accepted"
    inv = body["invocationId"]
    assert headers["x-restate-id"] == inv
    assert c.request("GET", f"/restate/invocation/{inv}/output")[:2] == (
        470, {"code": 470, "message": "not ready"})
    status, info, _ = c.request("GET", f"/restate/invocation/{inv}")
    assert status == 200 and info["status"] == "waiting" and info["target"] == "Greeter/slow"
    assert c.request("GET", f"/restate/invocation/{inv}/attach")[:2] == (200, 300)
    assert c.request("GET", f"/restate/invocation/{inv}/output")[:2] == (200, 300)
    assert c.request("GET", f"/restate/attach/{inv}")[:2] == (200, 300)


def test_send_with_delay(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    t0 = time.monotonic()
    status, body, _ = c.request("POST", "/Greeter/greet/send?delay=300ms", '"later"')
    assert status == 202 and "executionTime" in body
    assert c.request("GET", f"/restate/invocation/{body['invocationId']}/attach")[:2] == (
        200, "hello later")
    assert time.monotonic() - t0 >= 0.29


def test_idempotency_key(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    h = {"idempotency-key": "once"}
    first = c.request("POST", "/Counter/idem/add/send", "5", h)
    again = c.request("POST", "/Counter/idem/add/send", "5", h)
    assert first[1]["status"] == "Accepted" and again[1]["status"] == "PreviouslyAccepted"
    assert first[1]["invocationId"] == again[1]["invocationId"]
    assert c.request("POST", "/Counter/idem/add", "5", h)[:2] == (200, 5)
    assert c.request("GET", "/restate/invocation/Counter/idem/add/once/output")[:2] == (200, 5)
    assert c.request("POST", "/Greeter/greet", '"x"', {"idempotency-key": "g"})[:2] == (
        200, "hello x")
    assert c.request("GET", "/restate/invocation/Greeter/greet/g/attach")[:2] == (
        200, "hello x")


def test_an_idempotency_key_expires_after_its_retention(
    served: tuple[restate.Executor, Client]
) -> None:
    _, c = served
    h = {"idempotency-key": "short"}
    first = c.request("POST", "/Greeter/brief/send", '"a"', h)
    status, result, _ = c.request("GET", "/restate/invocation/Greeter/brief/short/attach")
    assert status == 200 and result.startswith("a at ")
    again = c.request("POST", "/Greeter/brief/send", '"a"', h)
    assert again[1]["status"] == "PreviouslyAccepted"
    time.sleep(1.1)  # the 1 s retention ends
    status, payload, _ = c.request("GET", "/restate/invocation/Greeter/brief/short/output")
    assert status == 404 and "retention ended" in payload["message"]
    renewed = c.request("POST", "/Greeter/brief/send", '"a"', h)
    assert renewed[1]["status"] == "Accepted"
    assert renewed[1]["invocationId"] != first[1]["invocationId"]
    status, fresh, _ = c.request("GET", "/restate/invocation/Greeter/brief/short/attach")
    assert status == 200 and fresh != result  # the step ran again


def test_terminal_errors_carry_their_status(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    assert c.request("POST", "/Greeter/fail", "418")[:2] == (418, {"code": 418, "message": "nope"})
    assert c.request("POST", "/Greeter/fail", "42")[:2] == (500, {"code": 42, "message": "nope"})
    # with its metadata, as Restate's ingress answers (without, when it has none)
    assert c.request("POST", "/Greeter/fail", "402")[:2] == (
        402, {"code": 402, "message": "declined", "metadata": {"reason": "limit"}})


def test_workflow_runs_once(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    status, body, headers = c.request("POST", "/Signup/w1/run", '"a@b.c"')
    assert (status, body) == (200, "signed up a@b.c")
    status, body, _ = c.request("POST", "/Signup/w1/run", '"a@b.c"')
    assert status == 409 and "already invoked" in body["message"]
    # Sent again, the run is not repeated: Restate's PreviouslyAccepted, with its id.
    status, body, _ = c.request("POST", "/Signup/w1/run/send", '"x@y.z"')
    assert (status, body) == (202, {"invocationId": headers["x-restate-id"],
                                    "status": "PreviouslyAccepted"})
    assert c.request("GET", "/restate/workflow/Signup/w1/output")[:2] == (200, "signed up a@b.c")
    status, body, _ = c.request("POST", "/Signup/w2/run", '"x"', {"idempotency-key": "k"})
    assert (status, body["message"]) == (400, "cannot use the idempotency key with workflow "
                                         "handlers. The handler invocation will already be "
                                         "idempotent by the workflow key itself.")


def _awakeable_of(ex: restate.Executor, c: Client) -> tuple[str, str]:
    status, body, _ = c.request("POST", "/Waiter/wait/send")
    inv = body["invocationId"]
    deadline = time.monotonic() + 5
    while not any(e.kind == "awakeable" for e in ex.journal(inv)):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return inv, f"awk_{inv.removeprefix('inv_')}_0"


def test_awakeables(served: tuple[restate.Executor, Client]) -> None:
    ex, c = served
    inv, awk = _awakeable_of(ex, c)
    assert c.request("POST", f"/restate/awakeables/{awk}/resolve", "{bad")[0] == 400
    # as Restate's ingress: an id of another shape is a 400; one of the right shape that
    # names no waiting awakeable (here: journal entry 1 of the waiter) is accepted, and dropped
    assert c.request("POST", "/restate/awakeables/awk_nope_0/resolve", "1")[0] == 400
    assert c.request("POST", f"/restate/awakeables/{awk[:-1]}1/resolve", "1")[0] == 202
    assert c.request("POST", f"/restate/awakeables/{awk}/resolve", '"yes"')[0] == 202
    assert c.request("GET", f"/restate/invocation/{inv}/attach")[:2] == (200, "got yes")
    inv, awk = _awakeable_of(ex, c)
    assert c.request("POST", f"/restate/a/{awk}/reject", "too late")[0] == 202
    assert c.request("GET", f"/restate/invocation/{inv}/attach")[:2] == (
        200, "rejected: too late")


def test_cancel_over_http(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    inv = c.request("POST", "/Greeter/slow/send", "60000")[1]["invocationId"]
    deadline = time.monotonic() + 5
    while c.request("GET", f"/restate/invocation/{inv}")[1]["status"] != "waiting":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert c.request("POST", f"/restate/invocation/{inv}/cancel")[0] == 202
    assert c.request("GET", f"/restate/invocation/{inv}/attach")[:2] == (
        409, {"code": 409, "message": "cancelled"})
    assert c.request("DELETE", f"/restate/invocation/{inv}")[0] == 409


def test_kill_over_http(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    inv = c.request("POST", "/Greeter/slow/send", "60000")[1]["invocationId"]
    deadline = time.monotonic() + 5
    while c.request("GET", f"/restate/invocation/{inv}")[1]["status"] != "waiting":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert c.request("DELETE", f"/restate/invocation/{inv}?mode=kill")[:2] == (
        202, {"invocationId": inv, "status": "killed"})
    assert c.request("GET", f"/restate/invocation/{inv}/attach")[:2] == (
        409, {"code": 409, "message": "killed"})
    assert c.request("POST", f"/restate/invocation/{inv}/kill")[0] == 409
    assert c.request("DELETE", f"/restate/invocation/{inv}?mode=nope")[0] == 400
    inv = c.request("POST", "/Greeter/slow/send", "60000")[1]["invocationId"]
    assert c.request("POST", f"/restate/invocation/{inv}/kill")[0] == 202
    assert c.request("GET", f"/restate/invocation/{inv}/output")[:2] == (
        409, {"code": 409, "message": "killed"})


def test_resume_over_http(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    fixed[0] = False
    inv = c.request("POST", "/Greeter/buggy/send", '"ann"')[1]["invocationId"]
    deadline = time.monotonic() + 5
    while c.request("GET", f"/restate/invocation/{inv}")[1]["status"] != "paused":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    fixed[0] = True
    assert c.request("POST", f"/restate/invocation/{inv}/resume")[0] == 202
    assert c.request("GET", f"/restate/invocation/{inv}/attach")[:2] == (200, "fixed ann")
    assert c.request("POST", f"/restate/invocation/{inv}/resume")[:2] == (
        409, {"code": 409, "message": f"invocation {inv} is not paused (completed)"})
    assert c.request("GET", f"/restate/invocation/{inv}/resume")[0] == 405


def test_headers_reach_the_handler(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    assert c.request("POST", "/Greeter/echo_header", None, {"x-user": "ann"})[:2] == (200, "ann")


BAD_REQUESTS = [
    ("POST", "/Greeter/greet", "{not json", {}, 400, "not a valid input"),
    ("POST", "/Nope/greet", '"x"', {}, 404, "no service named 'Nope'"),
    ("POST", "/Greeter/nope", '"x"', {}, 404, "no handler named 'nope'"),
    ("GET", "/Greeter/greet", None, {}, 405, "method GET is not allowed"),
    ("PUT", "/Counter/a/add", "1", {}, 405, "not allowed"),
    ("POST", "/Greeter/greet", '"' + "x" * 2000 + '"', {}, 413, "limit is 1000 bytes"),
    ("POST", "/Counter/add", "1", {}, 400, "need a key"),
    ("POST", "/Counter/%FF/add", "1", {}, 400, "not valid UTF-8"),
    ("POST", "/Greeter/a/b/c", "1", {}, 404, "is a service"),
    ("POST", "/Greeter/greet?delay=5s", '"x"', {}, 400,
     "cannot use the delay query parameter with calls. The delay is supported only with sends"),
    ("POST", "/Greeter/greet/send?delay=soon", '"x"', {}, 400,
     "bad delay query parameter, must be a ISO8601 duration: 'soon' is none"),
    ("GET", "/restate/invocation/inv_nope/output", None, {}, 404, "no invocation"),
    ("GET", "/restate/invocation/inv_nope", None, {}, 404, "no invocation"),
    ("GET", "/restate/nothing/here", None, {}, 404, "no such path"),
    ("POST", "/restate/health", None, {}, 405, "not allowed"),
    ("GET", "/restate/workflow/Greeter/x/output", None, {}, 404, "no workflow"),
    ("POST", "/restate/awakeables/zzz/resolve", "1", {}, 400, "bad awakeable id"),
    ("GET", "/restate/invocation/Greeter/nope/k/output", None, {}, 404, "no handler"),
]


@pytest.mark.parametrize("method,path,body,headers,status,message", BAD_REQUESTS)
def test_bad_requests_get_4xx_json_and_the_server_keeps_serving(
    served: tuple[restate.Executor, Client], method: str, path: str, body: str | None,
    headers: dict[str, str], status: int, message: str,
) -> None:
    _, c = served
    got, payload, hdrs = c.request(method, path, body, headers)
    assert got == status, payload
    assert hdrs["content-type"] == "application/json"
    assert payload["code"] == status and message in payload["message"], payload
    assert c.request("POST", "/Greeter/greet", '"still"')[:2] == (200, "hello still")


def test_garbage_on_the_socket_does_not_stop_the_server(
    served: tuple[restate.Executor, Client],
) -> None:
    _, c = served
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(b"\x00\x01 NOT HTTP AT ALL\r\n\r\n")
        s.recv(1000)
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(b"POST /Greeter/greet HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n\"ab")
    assert c.request("POST", "/Greeter/greet", '"after"')[:2] == (200, "hello after")


def test_binds_loopback_only(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    assert c.host == "127.0.0.1"


@pytest.mark.parametrize("text,ms", [("10s", 10_000), ("500ms", 500), ("1m30s", 90_000),
                                     ("2h", 7_200_000), ("1d", 86_400_000), ("PT10S", 10_000),
                                     ("PT1M", 60_000), ("1.5s", 1500)])
def test_parse_delay(text: str, ms: int) -> None:
    assert parse_delay(text) == ms


@pytest.mark.parametrize("text", ["", "s", "10", "10x", "PT", "P", "1s garbage", "-1s"])
def test_parse_delay_refuses(text: str) -> None:
    with pytest.raises(HttpError):
        parse_delay(text)


def test_root_lists_services(served: tuple[restate.Executor, Client], tmp_path: Path) -> None:
    _, c = served
    status, body, _ = c.request("GET", "/")
    assert status == 200 and body["services"]["Counter"] == ["add"]


def _raw(c: Client, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes."""
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_http_details(served: tuple[restate.Executor, Client]) -> None:
    _, c = served
    # keep-alive: several requests on one connection
    conn = http.client.HTTPConnection(c.host, c.port, timeout=5)
    for name in ("a", "b", "c"):
        conn.request("POST", "/Greeter/greet", body=json.dumps(name),
                     headers={"content-type": "application/json"})
        resp = conn.getresponse()
        assert (resp.status, json.loads(resp.read())) == (200, f"hello {name}")
    conn.close()
    # a chunked body, an HTTP/1.0 client, and one that waits for 100-continue
    chunked = _raw(c, b"POST /Greeter/greet HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Connection: close\r\n\r\n5\r\n\"bob\"\r\n0\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 200") and chunked.endswith(b'"hello bob"')
    old = _raw(c, b'POST /Greeter/greet HTTP/1.0\r\nContent-Length: 5\r\n'
                  b'Content-Type: application/json\r\n\r\n"ann"')
    assert old.startswith(b"HTTP/1.1 200") and old.endswith(b'"hello ann"')
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(b"POST /Greeter/greet HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: 5\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 100")
        s.sendall(b'"eve"')
        rest = b""
        while chunk := s.recv(65536):
            rest += chunk
    assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b'"hello eve"')
    # the absolute form, as a client sends through a proxy (Restate's ingress takes it)
    for target in (b"http://x:8080/Greeter/greet", b"HTTP://x/Greeter/greet?y=1"):
        absolute = _raw(c, b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 5\r\n"
                           b"Connection: close\r\n\r\n\"abs\"")
        assert absolute.startswith(b"HTTP/1.1 200") and absolute.endswith(b'"hello abs"')
    # HEAD gets headers only
    head = _raw(c, b"HEAD /restate/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405") and head.endswith(b"\r\n\r\n")


def test_status_lines_carry_the_standard_reason_phrase(
    served: tuple[restate.Executor, Client],
) -> None:
    """Clients and proxies show the phrase; "HTTP/1.1 400 " with none looks like a broken server."""
    _, c = served
    ok = _raw(c, b'POST /Greeter/greet HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
                 b'Content-Type: application/json\r\n'
                 b'Connection: close\r\n\r\n"ann"')
    assert ok.startswith(b"HTTP/1.1 200 OK\r\n")
    bad = _raw(c, b"POST /Greeter/greet HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Connection: close\r\n\r\n{{{")
    assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    missing = _raw(c, b"GET /restate/nothing/here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert missing.startswith(b"HTTP/1.1 404 Not Found\r\n")
    garbage = _raw(c, b"\x00\x01 NOT HTTP\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_client_that_leaves_an_attach_does_not_stop_the_server(
    served: tuple[restate.Executor, Client],
) -> None:
    _, c = served
    inv = c.request("POST", "/Greeter/slow/send", "60000")[1]["invocationId"]
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(f"GET /restate/invocation/{inv}/attach HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(0.1)  # the server waits for the result; the client goes away
    assert c.request("POST", "/Greeter/greet", '"still"')[:2] == (200, "hello still")
    assert c.request("POST", f"/restate/invocation/{inv}/cancel")[0] == 202


def test_an_empty_idempotency_key_is_a_key_in_the_status_and_after_a_restart(
        tmp_path: Path) -> None:
    """restate-server 1.7.12 lists an invocation sent with ``idempotency-key: ""``
    with its key ``""`` (sys_invocation), and one sent without with none; the
    handler reads None either way (restate-sdk 1.3's ``request()``). Before, the
    record stored no key as ``""``, and an empty key showed as none. The
    database's rows are as before (both ``""``): one written before reads alike."""
    import sqlite3

    db = tmp_path / "keys.db"
    ids = {}
    for round_ in (1, 2):  # (written, then read again by a new executor)
        ex = restate.Executor([greeter, counter], db=db)
        ex.start(port=0)
        try:
            assert ex.url is not None
            c = Client(ex.url)
            if round_ == 1:
                for name, headers in (("empty", {"idempotency-key": ""}), ("none", {}),
                                      ("x", {"idempotency-key": "x"})):
                    status, body, _ = c.request("POST", "/Greeter/greet/send", '"a"', headers)
                    assert status == 202, body
                    ids[name] = body["invocationId"]
                again = c.request("POST", "/Greeter/greet/send", '"a"', {"idempotency-key": ""})
                assert again[1]["status"] == "PreviouslyAccepted"
                for inv in ids.values():
                    assert c.request("GET", f"/restate/invocation/{inv}/attach")[:2] == (
                        200, "hello a")
            listed = {name: c.request("GET", f"/restate/invocation/{inv}")[1]
                      for name, inv in ids.items()}
            assert listed["empty"]["idempotencyKey"] == ""
            assert "idempotencyKey" not in listed["none"]
            assert listed["x"]["idempotencyKey"] == "x"
        finally:
            ex.close()
    conn = sqlite3.connect(db)
    try:
        rows = dict(conn.execute("SELECT id, idempotency_key FROM invocations").fetchall())
    finally:
        conn.close()
    assert (rows[ids["empty"]], rows[ids["none"]], rows[ids["x"]]) == ("", "", "x")
