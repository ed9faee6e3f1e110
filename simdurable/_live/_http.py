"""A small HTTP/1.1 server for the ingress: h11 on trio, nothing else.

h11 speaks the protocol; this module does the I/O, sans-I/O style: one task
per connection, its requests in turn (keep-alive), each request's body
streamed to the ASGI app as it arrives, and a client that goes away while the
app waits (``/attach``) reported as ``http.disconnect``. A general server's
per-request machinery (a task group, timers, stream objects) cost three times
as much a request on a small machine: more than the executor's own work for a
5-step call.

Bad bytes on a socket get a 400 and a closed connection, never a stopped
server; on shutdown it stops accepting, lets requests in progress finish for
a grace period, then cancels them.
"""

from __future__ import annotations

import functools
import http
import json
import sys
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import h11
import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

READ_SIZE: Final = 65536
# The longest request line and headers accepted.
MAX_HEAD: Final = 64 * 1024
# How long an idle keep-alive connection stays open (and a request's head may take).
KEEP_ALIVE_S: Final = 30.0
# How long a client has to send a request's whole body, from the end of its head.
DEFAULT_BODY_TIMEOUT_S: Final = 30.0
# How many connections may be open at once; more get a 503 and are closed.
DEFAULT_MAX_CONNECTIONS: Final = 512
# How long a refused connection is read from before it is closed.
LINGER_S: Final = 1.0


async def serve(app: App, host: str, port: int, *, shutdown: trio.Event, grace: float = 1.0,
                body_timeout: float = DEFAULT_BODY_TIMEOUT_S,
                max_connections: int = DEFAULT_MAX_CONNECTIONS,
                task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown`` is set.

    Reports the URLs it listens on (port 0 picks a free port) once it does.
    A body not sent whole within ``body_timeout`` seconds gets a 408; a
    connection beyond ``max_connections`` open ones gets a 503: a slow or
    greedy client cannot hold the server's tasks and file descriptors.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    urls = []
    for listener in listeners:
        addr = listener.socket.getsockname()
        shown = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        urls.append(f"http://{shown}:{addr[1]}")
    server = _Server(app, body_timeout=body_timeout, max_connections=max_connections)
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            accepting.start_soon(functools.partial(
                trio.serve_listeners, server.connection, listeners, handler_nursery=connections))
            task_status.started(urls)
            await shutdown.wait()
            accepting.cancel_scope.cancel()  # no new connections
        for listener in listeners:  # and the port is free again at once
            await listener.aclose()
        with trio.move_on_after(grace):
            await server.idle.wait()
        connections.cancel_scope.cancel()


class _Server:
    def __init__(self, app: App, *, body_timeout: float, max_connections: int) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.open = 0
        self.busy = 0
        self.idle = trio.Event()
        self.idle.set()

    async def connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        if self.open >= self.max_connections:
            try:
                await _send_error(conn, stream, 503, f"too many open connections (the limit is "
                                                     f"{self.max_connections}); try again")
                await _linger(stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                await stream.aclose()
            return
        self.open += 1
        try:
            await self._serve_connection(conn, stream)
        finally:
            self.open -= 1

    async def _serve_connection(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        client, server = _address(stream, "getpeername"), _address(stream, "getsockname")
        try:
            while True:
                event = None
                with trio.move_on_after(KEEP_ALIVE_S):
                    event = await _next_event(conn, stream)
                if not isinstance(event, h11.Request):
                    return  # closed, or idle too long
                await self._request(conn, stream, event, client, server)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    if conn.their_state is h11.SEND_BODY:  # a body the app did not read
                        await _linger(stream)
                    return  # or a close asked for
                conn.start_next_cycle()
        except h11.RemoteProtocolError as err:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                await _send_error(conn, stream, err.error_status_hint, str(err))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:  # noqa: BLE001 - one connection must not stop the server
            traceback.print_exc(file=sys.stderr)
        finally:
            await stream.aclose()

    async def _request(self, conn: h11.Connection, stream: trio.SocketStream,
                       request: h11.Request, client: Any, server: Any) -> None:
        target = request.target
        scheme, sep, rest = target.partition(b"://")
        if sep and scheme.lower() in (b"http", b"https"):
            # the absolute form (RFC 9112 3.2.2, what a client sends through a proxy):
            # its path, as Restate's ingress takes it
            ends = [i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0]
            tail = rest[min(ends):] if ends else b""
            target = tail if tail.startswith(b"/") else b"/" + tail
        path, _, query = target.partition(b"?")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version.decode("ascii"),
            "method": request.method.decode("ascii"),
            "scheme": "http",
            "path": urllib.parse.unquote(path.decode("latin-1")),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers],
            "client": client,
            "server": server,
        }
        body_done = False
        started: Message | None = None
        answered = False
        body_deadline = trio.current_time() + self.body_timeout

        async def receive() -> Message:
            nonlocal body_done, answered
            try:
                if not body_done:
                    if conn.they_are_waiting_for_100_continue:
                        await stream.send_all(
                            conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                    event = None
                    try:
                        with trio.move_on_at(body_deadline):
                            event = await _next_event(conn, stream)
                    except h11.RemoteProtocolError as err:
                        answered = True  # as below
                        await _send_error(conn, stream, err.error_status_hint,
                                          f"a malformed request body: {err}")
                        return {"type": "http.disconnect"}
                    if event is None:
                        # Answered here: the app sees a client gone, and what it sends is
                        # dropped (``send`` below).
                        answered = True
                        await _send_error(conn, stream, 408, "the request body did not arrive "
                                          f"within {self.body_timeout:g} seconds")
                        return {"type": "http.disconnect"}
                    if isinstance(event, h11.Data):
                        return {"type": "http.request", "body": bytes(event.data),
                                "more_body": True}
                    if isinstance(event, h11.EndOfMessage):
                        body_done = True
                        return {"type": "http.request", "body": b"", "more_body": False}
                    return {"type": "http.disconnect"}
                # The whole body is in: all the client can do now is go away.
                while True:
                    data = await stream.receive_some(READ_SIZE)
                    if not data:
                        return {"type": "http.disconnect"}
                    conn.receive_data(data)  # a pipelined request, kept for the next cycle
            except (h11.RemoteProtocolError, trio.BrokenResourceError,
                    trio.ClosedResourceError):
                return {"type": "http.disconnect"}  # the client broke off or went away

        async def send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = message
                return
            if message["type"] != "http.response.body" or started is None:
                return
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            out = b""
            if started.get("_sent") is None:
                headers = [(bytes(k), bytes(v)) for k, v in started.get("headers", [])]
                if not more and not any(k.lower() == b"content-length" for k, _ in headers):
                    headers.append((b"content-length", b"%d" % len(body)))
                out += conn.send(h11.Response(status_code=started["status"], headers=headers,
                                              reason=_reason(started["status"])))
                started["_sent"] = True
            if body and request.method != b"HEAD":  # a HEAD response has headers only
                out += conn.send(h11.Data(data=body))
            if not more:
                out += conn.send(h11.EndOfMessage())
            try:
                await stream.send_all(out)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away: nobody is left to answer

        self.busy += 1
        self.idle = trio.Event() if self.busy == 1 else self.idle
        try:
            await self.app(scope, receive, send)
            if conn.our_state is h11.SEND_RESPONSE and not answered:  # the app sent nothing
                await _send_error(conn, stream, 500, "the app sent no response")
        finally:
            self.busy -= 1
            if self.busy == 0:
                self.idle.set()


async def _linger(stream: trio.SocketStream) -> None:
    """Read what the client still sends (briefly), the answer sent: closing on unread
    bytes resets the connection, and the client may lose the answer."""
    try:
        await stream.send_eof()
        with trio.move_on_after(LINGER_S):
            while await stream.receive_some(READ_SIZE):
                pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def _next_event(conn: h11.Connection, stream: trio.SocketStream) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(READ_SIZE))
            continue
        return event


async def _send_error(conn: h11.Connection, stream: trio.SocketStream, status: int,
                      message: str) -> None:
    if len(message) > 300:  # h11 quotes the bad bytes: not a client's kilobytes back
        message = message[:297] + "..."
    body = json.dumps({"code": status, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
               (b"connection", b"close")]
    try:
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers,
                                                  reason=_reason(status)))
                              + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
    except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass


def _reason(status: int) -> bytes:
    """The standard reason phrase: some clients and proxies show it, and an empty one looks broken."""
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _address(stream: trio.SocketStream, which: str) -> Any:
    try:
        addr = getattr(stream.socket, which)()
    except OSError:
        return None
    return [addr[0], addr[1]] if isinstance(addr, tuple) else None
