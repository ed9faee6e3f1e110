"""Request and response content types at the ingress, as restate-server 1.7.12's.

Each request below was sent to restate-server 1.7.12 with restate-sdk 1.3.0
handlers of the same shape (2026-12-06); the status and message expected are
what it answered. Before, ``serve`` took any content type (curl's and urllib's
form type for ``-d`` too, which Restate refuses), a body for a handler without
an input, and always answered ``application/json``.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

import simdurable as sd

probe = sd.Service("Probe")


@probe.handler()
async def echo(ctx: sd.Context, x: dict[str, Any]) -> dict[str, Any]:
    return x


@probe.handler()
async def noinput(ctx: sd.Context) -> str:
    return "ok"


@probe.handler(accept="text/plain", content_type="text/plain")
async def texty(ctx: sd.Context, x: str) -> str:
    return x


@probe.handler(accept="application/*")
async def wild(ctx: sd.Context, x: dict[str, Any]) -> dict[str, Any]:
    return x


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ex = sd.Executor([probe], db=tmp_path_factory.mktemp("types") / "dev.db",
                     durability="normal")
    ex.start(port=0)
    try:
        assert ex.url is not None
        yield ex.url
    finally:
        ex.close()


def post(url: str, path: str, body: bytes, headers: list[tuple[str, str]]
         ) -> tuple[int, bytes, dict[str, str]]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.putrequest("POST", path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


JSON = [("content-type", "application/json")]
REFUSED = "input validation error: "


@pytest.mark.parametrize("path,body,headers,message", [
    ("/Probe/echo", b'{"a":1}', [("content-type", "text/plain")],
     "Content-type 'text/plain' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "application/x-www-form-urlencoded")],
     "Content-type 'application/x-www-form-urlencoded' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [], "Empty content-type"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "")],
     "Content-type '' does not match 'application/json'"),
    ("/Probe/echo", b"", [("content-type", "")], "Content-type '' does not match 'application/json'"),
    ("/Probe/echo", b"", [("content-type", "text/plain")],
     "Content-type 'text/plain' does not match 'application/json'"),
    ("/Probe/noinput", b"", [("content-type", "")], "Expected body and content-type to be "
                                                    "empty, but wasn't with content-type 'Some(\"\")'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "APPLICATION/JSON")],
     "Content-type 'APPLICATION/JSON' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "application/jsonx")],
     "Content-type 'application/jsonx' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "text/plain; x=1")],
     "Content-type 'text/plain; x=1' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", ";charset=utf-8")],
     "Content-type ';charset=utf-8' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "*/*")],
     "Content-type '*/*' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "application/*")],
     "Content-type 'application/*' does not match 'application/json'"),
    ("/Probe/echo", b'{"a":1}', [("content-type", "text/plain"),
                                 ("content-type", "application/json")],
     "Content-type 'text/plain' does not match 'application/json'"),  # the first one counts
    ("/Probe/echo/send", b'{"a":1}', [("content-type", "text/plain")],
     "Content-type 'text/plain' does not match 'application/json'"),
    ("/Probe/echo", b"", JSON, "Empty body not allowed"),
    ("/Probe/noinput", b"1", JSON, "Expected body and content-type to be empty, but wasn't "
                                   "with content-type 'Some(\"application/json\")'"),
    ("/Probe/noinput", b"", JSON, "Expected body and content-type to be empty, but wasn't "
                                  "with content-type 'Some(\"application/json\")'"),
    ("/Probe/noinput", b"1", [], "Expected body and content-type to be empty, but wasn't "
                                 "with content-type 'None'"),
    ("/Probe/texty", b'"hi"', JSON,
     "Content-type 'application/json' does not match 'text/plain'"),
    ("/Probe/texty", b"", [("content-type", "text/plain")], "Empty body not allowed"),
    ("/Probe/wild", b'{"b":2}', [("content-type", "text/xml")],
     "Content-type 'text/xml' does not match 'application/*'"),
])
def test_a_content_type_restate_refuses_is_refused_in_its_words(
    url: str, path: str, body: bytes, headers: list[tuple[str, str]], message: str,
) -> None:
    status, raw, _ = post(url, path, body, headers)
    assert (status, json.loads(raw)) == (400, {"code": 400, "message": REFUSED + message})


@pytest.mark.parametrize("path,body,headers,answer", [
    ("/Probe/echo", b'{"a":1}', JSON, b'{"a": 1}'),
    ("/Probe/echo", b'{"a":1}', [("content-type", "application/json; charset=utf-8")],
     b'{"a": 1}'),
    ("/Probe/echo", b'{"a":1}', [("content-type", "application/json ; charset=latin1")],
     b'{"a": 1}'),
    ("/Probe/echo", b'{"a":1}', [("content-type", "application/json;foo")], b'{"a": 1}'),
    ("/Probe/echo", b'{"a":1}', [("content-type", "application/json"),
                                 ("content-type", "text/plain")], b'{"a": 1}'),
    ("/Probe/echo", b'{"a":1}', JSON + [("accept", "text/plain")], b'{"a": 1}'),  # not checked
    ("/Probe/echo", b"", [], b""),  # no body and no type: the handler gets None
    ("/Probe/noinput", b"", [], b'"ok"'),
    ("/Probe/wild", b'{"b":2}', [("content-type", "application/xml; q=1")], b'{"b": 2}'),
])
def test_a_content_type_restate_takes_is_taken(
    url: str, path: str, body: bytes, headers: list[tuple[str, str]], answer: bytes,
) -> None:
    status, raw, _ = post(url, path, body, headers)
    assert (status, raw) == (200, answer)


@pytest.mark.parametrize("path", ["/Probe/echo", "/Probe/noinput"])
def test_a_long_content_type_is_not_echoed_whole(url: str, path: str) -> None:
    status, raw, _ = post(url, path, b'{"a":1}', [("content-type", "a" * 60_000)])
    message = json.loads(raw)["message"]
    assert status == 400 and len(message) < 400 and "a" * 196 + " ..." in message, message


def test_the_answer_carries_the_handlers_content_type(url: str) -> None:
    status, raw, got = post(url, "/Probe/texty", b'"hi"', [("content-type", "text/plain")])
    assert (status, raw, got["content-type"]) == (200, b'"hi"', "text/plain")
    status, raw, got = post(url, "/Probe/echo", b'{"a":1}', JSON)
    assert (status, got["content-type"]) == (200, "application/json")


def test_a_content_type_option_that_is_no_media_type_is_refused() -> None:
    svc = sd.Service("Typed")
    with pytest.raises(ValueError, match="accept must be a media type like 'application/json', "
                                         "not 'json'"):
        @svc.handler(accept="json")
        async def h(ctx: sd.Context, x: int) -> int:
            return x
