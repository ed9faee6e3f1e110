"""Requests from anywhere: each gets an answer below 500 that says what is wrong.

A request the ingress cannot serve is the client's mistake (4xx, a JSON body with
``code`` and ``message``); a 500 would mean the server failed on it. Longer runs:
``SIMDURABLE_FUZZ_SCALE=20 pytest tests/live/test_ingress_fuzz.py``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import h11
import pytest
from hypothesis import given, strategies as st

import simdurable as restate
from tests.fuzzing import fuzz

echo = restate.Service("Echo")
box = restate.VirtualObject("Box")
flow = restate.Workflow("Flow")
waiter = restate.Service("Waiter")


@echo.handler()
async def say(ctx: restate.Context, value: Any) -> str:
    return "said"


@echo.handler()
async def ping(ctx: restate.Context) -> str:
    return "pong"


@box.handler()
async def put(ctx: restate.ObjectContext, value: Any) -> int:
    n = (await ctx.get("n")) or 0
    ctx.set("n", n + 1)
    return int(n) + 1


@flow.main()
async def run(ctx: restate.WorkflowContext, value: Any) -> str:
    return "ran"


@waiter.handler()
async def wait(ctx: restate.Context) -> str:
    _, promise = ctx.awakeable()
    try:
        await promise
    except restate.TerminalError:
        return "rejected"
    return "resolved"


def request(address: tuple[str, int], raw: bytes, *, head: bool = False) -> tuple[int, bytes]:
    """Send ``raw`` as is; the status and body of the answer."""
    client = h11.Connection(h11.CLIENT)
    status, body, start = 0, b"", b""
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(raw)
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                data = s.recv(65536)
                if client.their_state is h11.IDLE:
                    # A "100 Continue" comes first when the request asked for one; an
                    # h11 client that did not send the request takes only the answer.
                    start += data
                    while start.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in start:
                        start = start.split(b"\r\n\r\n", 1)[1]
                    if start.startswith(b"HTTP/1.1 1") or len(start) < 10 and data:
                        continue
                    data, start = start, b""
                client.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                if head:  # the answer to HEAD has headers only
                    return status, b"{}" if status >= 400 else b""
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, body


def build(method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"host: fuzz",
            b"connection: close", b"content-length: %d" % len(body)]
    head += [k + b": " + v for k, v in headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class Served:
    def __init__(self, ex: restate.Executor, awakeables: list[str]) -> None:
        self.ex = ex
        parts = urlsplit(ex.url or "")
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.awakeables = awakeables

    def answer(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
               body: bytes = b"") -> tuple[int, Any]:
        headers = list(headers)
        if body and not any(k.lower() == b"content-type" for k, _ in headers):
            headers.append((b"content-type", b"application/json"))  # as Restate wants
        status, raw = request(self.address, build(method, target, headers, body),
                              head=method == "HEAD")
        assert status, "no answer"
        assert status < 500, (status, raw[:300])
        if status >= 400:
            payload = json.loads(raw)
            if method == "HEAD":
                return status, payload
            assert payload["code"] == status and isinstance(payload["message"], str), payload
            assert len(payload["message"]) < 1000, "an answer echoing the whole request"
            return status, payload
        return status, raw


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("fuzz") / "dev.db"
    ex = restate.Executor([echo, box, flow, waiter], db=db, durability="normal")
    ex.start(port=0)
    try:
        s = Served(ex, [])
        for _ in range(3):
            status, raw = s.answer("POST", b"/Waiter/wait/send")
            inv = json.loads(raw)["invocationId"]
            deadline = time.monotonic() + 10
            while not any(e.kind == "awakeable" for e in ex.journal(inv)):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            s.awakeables.append(f"awk_{inv.removeprefix('inv_')}_0")
        yield s
    finally:
        ex.close()


def awk_variants(awk: str) -> list[str]:
    stem = awk[:-1]
    return [awk, stem + "١", stem + "1" * 5000, stem + "99999999999999999999", stem + "-1",
            stem + "0x1", awk + "0", "awk_", "awk__0", awk.upper()]


# The kinds of request that once got a 500 and a traceback.
@pytest.mark.parametrize("target,body,status,message", [
    (b"/Echo/ping/send?delay=99999999999999d", b"", 400, "too long"),
    (b"/Echo/ping/send?delay=" + b"9" * 400 + b"s", b"", 400, "bad delay"),
    (b"/Echo/ping/send?delay=%D9%A3s", b"", 400, "bad delay"),
    (b"/restate/awakeables/AWK1/resolve", b"1", 400, "bad awakeable id"),
    (b"/restate/awakeables/AWK5000/resolve", b"1", 400, "bad awakeable id"),
    (b"/restate/awakeables/AWK/resolve", b"[" * 100_000 + b"]" * 100_000, 400, "nested"),
    (b"/Echo/say", b"[" * 100_000 + b"]" * 100_000, 400, "not a valid input"),
])
def test_each_request_that_once_failed_gets_a_4xx(
    served: Served, target: bytes, body: bytes, status: int, message: str,
) -> None:
    awk = served.awakeables[0].encode()
    target = target.replace(b"AWK1", awk[:-1] + b"%D9%A1").replace(
        b"AWK5000", awk[:-1] + b"1" * 5000).replace(b"AWK", awk)
    got, payload = served.answer("POST", target, body=body)
    assert (got, message in payload["message"]) == (status, True), payload
    assert served.answer("POST", b"/Echo/ping")[:2] == (200, b'"pong"')


SEGMENTS = st.sampled_from([
    "restate", "call", "send", "invocation", "awakeables", "a", "resolve", "reject", "cancel",
    "resume", "output", "health", "workflow", "Echo", "say", "ping", "Box", "put", "Flow", "run",
    "Waiter", "k", "", "%", "%ff", "%2F", "..", "é", "١", "inv_" + "0" * 20, "inv_x",
])
QUERY = st.sampled_from([
    "", "", "", "?delay=1s", "?delay=99999999999999999999d", "?delay=1e309s", "?delay=PT99999999999999D",
    "?delay=١s", "?delay=" + "9" * 400 + "ms", "?delay=0.0000000001s", "?delay=", "?delay=-1s",
    "?delay=1s&delay=2s", "?x=%zz", "?delay=%ff",
])
HEADERS = st.lists(st.tuples(
    st.sampled_from([b"idempotency-key", b"content-type", b"x-user", b"accept", b"expect"]),
    st.one_of(st.sampled_from([b"", b"k", b"application/json", b"100-continue", b"\xff\xfe",
                               b"a" * 5000]),
              st.binary(max_size=10).filter(lambda v: b"\r" not in v and b"\n" not in v)),
), max_size=3)
JSON_TEXT = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=5)),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=3), kids,
                                                                        max_size=3)),
    max_leaves=8,
).map(lambda v: json.dumps(v).encode())
BODY = st.one_of(
    JSON_TEXT, st.binary(max_size=30),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([b"1" * 5000, b"1e999999", b"NaN", b'"\\ud800"', b"\xff"]),
)


@st.composite
def targets(draw: st.DrawFn, awk: str) -> str:
    """A path shaped like the ingress's (with parts replaced by junk), or just junk."""
    def part(*usual: str) -> str:
        if draw(st.integers(0, 9)) < 8:  # mostly a part that leads further in
            return str(draw(st.sampled_from(usual)))
        return str(draw(st.one_of(SEGMENTS, st.text(max_size=6))))

    send = draw(st.sampled_from(["", "/send"]))
    shapes = [
        lambda: f"/{part('Echo')}/{part('say', 'ping')}{send}",
        lambda: f"/{part('Echo')}/{part('ping')}/send",  # where ?delay= is read
        lambda: f"/{part('Box', 'Flow')}/{part('k')}/{part('put', 'run')}{send}",
        lambda: f"/restate/{part('call', 'send')}/{part('Echo', 'Box')}/{part('say', 'k')}",
        lambda: f"/restate/invocation/{part('inv_x')}/{part('output', 'cancel', 'resume')}",
        lambda: f"/restate/invocation/{part('Echo')}/{part('say')}/{part('k')}/output",
        lambda: f"/restate/{part('awakeables', 'a')}/"
                f"{part(*awk_variants(awk)[:1] * 4, *awk_variants(awk))}/{part('resolve', 'reject')}",
        lambda: f"/restate/workflow/{part('Flow')}/{part('k')}/{part('output')}",
        lambda: "/" + "/".join(draw(st.lists(SEGMENTS, max_size=6))),
    ]
    return str(draw(st.sampled_from(shapes))())


@fuzz(150)
@given(data=st.data())
def test_fuzzed_requests_get_an_answer_below_500(served: Served, data: st.DataObject) -> None:
    path = data.draw(targets(data.draw(st.sampled_from(served.awakeables))))
    target = (path.encode("utf-8", "surrogatepass").replace(b" ", b"%20").replace(b"#", b"%23")
              .replace(b"?", b"%3F") + data.draw(QUERY).encode())
    target = bytes(b if 0x21 <= b < 0x7f else 0x5f for b in target)  # h11: printable only
    method = data.draw(st.sampled_from(["POST"] * 6 + ["GET", "DELETE", "PUT", "HEAD"]))
    served.answer(method, target, data.draw(HEADERS), data.draw(BODY))


@pytest.fixture
def strict_limits(tmp_path: Any) -> Iterator[Served]:
    ex = restate.Executor([echo], db=tmp_path / "dev.db", durability="normal",
                          body_timeout=0.3, max_connections=2)
    ex.start(port=0)
    try:
        yield Served(ex, [])
    finally:
        ex.close()


def test_a_body_that_does_not_arrive_in_time_gets_a_408(strict_limits: Served) -> None:
    started = time.monotonic()
    with socket.create_connection(strict_limits.address, timeout=10) as s:
        s.sendall(b"POST /Echo/say HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n\"ab")
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"did not arrive within 0.3 seconds" in answer
    assert time.monotonic() - started < 5
    assert strict_limits.answer("POST", b"/Echo/say", body=b'"x"')[:2] == (200, b'"said"')


def test_connections_beyond_the_limit_get_a_503(strict_limits: Served) -> None:
    idle = [socket.create_connection(strict_limits.address, timeout=10) for _ in range(2)]
    try:
        time.sleep(0.3)  # both accepted and waiting for a request
        with socket.create_connection(strict_limits.address, timeout=10) as s:
            # A client that sends its request at once still reads the answer: the server
            # reads what it sent before closing (closing on unread bytes resets the link).
            s.sendall(build("POST", b"/Echo/ping", [], b"x" * 4_000_000))
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"too many open connections (the limit is 2)" in answer
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 5
    while True:  # the server notices the closed ones
        try:
            assert strict_limits.answer("POST", b"/Echo/ping")[0] == 200
            break
        except AssertionError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_limits_must_be_positive(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="body_timeout must be a positive"):
        restate.Executor([echo], db=tmp_path / "a.db", body_timeout=0)
    with pytest.raises(ValueError, match="max_connections must be at least 1"):
        restate.Executor([echo], db=tmp_path / "a.db", max_connections=0)
    # A value of the wrong type was met by a comparison's TypeError, naming nothing
    # ("'<=' not supported between instances of 'str' and 'int'").
    for kwargs, message in [({"max_body": "1000"}, "max_body must be positive (a number of "
                                                   "bytes), not '1000'"),
                            ({"body_timeout": "3"}, "body_timeout must be a positive number "
                                                    "of seconds, not '3'"),
                            ({"max_connections": 2.5}, "max_connections must be at least 1, "
                                                       "not 2.5")]:
        with pytest.raises(ValueError) as info:
            restate.Executor([echo], db=tmp_path / "a.db", **kwargs)
        assert str(info.value) == message
    with pytest.raises(TypeError, match=r"^db must be the path of the SQLite database \(a str "
                                        r"or a Path\), not int$"):
        restate.Executor([echo], db=123)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw,status,message", [
    (b"POST /Echo/say HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
     + b"f" * 5000 + b"\r\nab\r\n", 400, "a malformed request body: illegal chunk header"),
    (b"POST /Echo/say HTTP/1.1\r\nhost: x\r\ncontent-length: " + b"1" * 5000 + b"\r\n\r\n",
     400, "bad Content-Length"),
    (b"POST /Echo/say HTTP/1.1\r\nhost: x\r\ncontent-length: \xd9\xa1\r\n\r\n1", 400,
     "bad Content-Length"),
])
def test_bad_framing_gets_a_400_that_says_so(
    served: Served, raw: bytes, status: int, message: str,
) -> None:
    got, body = request(served.address, raw)
    payload = json.loads(body)
    assert got == status and payload["message"].startswith(message), payload
    assert len(payload["message"]) <= 300


VALID_RAW = [
    build("POST", b"/Echo/say", [(b"idempotency-key", b"k1")], b'{"a": [1, 2]}'),
    build("POST", b"/Echo/ping/send?delay=1s", [], b""),
    build("GET", b"/restate/health", [], b""),
    b"POST /Box/k/put HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n",
]


@fuzz(100)
@given(st.sampled_from(VALID_RAW), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 8),
                                                       st.binary(max_size=8)), max_size=4))
def test_mangled_bytes_on_the_socket_get_an_answer_below_500_or_a_close(
    served: Served, raw: bytes, edits: list[tuple[int, int, bytes]],
) -> None:
    for at, cut, new in edits:
        at = min(at, len(raw))
        raw = raw[:at] + new + raw[at + cut:]
    with socket.create_connection(served.address, timeout=10) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)  # all there is: the server must not wait for more
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    if answer:
        status = int(answer.split(b" ", 2)[1])
        # 501: a transfer-encoding other than chunked, which h11 does not implement.
        assert 100 <= status < 500 or status == 501, answer[:300]
    assert served.answer("GET", b"/restate/health")[0] == 200
