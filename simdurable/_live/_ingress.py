"""The HTTP ingress: Restate's ingress paths as an ASGI app over a ``LiveHost``.

Paths (as Restate's ingress; ``/send`` makes any invocation one-way)::

    POST /<Service>/<handler>[/send]          POST /<Object>/<key>/<handler>[/send]
    POST /<Workflow>/<id>/run[/send]          POST /restate/call|send/<Service>[/<key>]/<handler>
    GET  /restate/invocation/<id>             (status)
    GET  /restate/invocation/<id>/output|attach
    GET  /restate/invocation/<Service>[/<key>]/<handler>/<idempotency-key>/output|attach
    GET  /restate/workflow/<Workflow>/<id>/output|attach
    POST /restate/invocation/<id>/cancel      DELETE /restate/invocation/<id>
    POST /restate/invocation/<id>/kill        DELETE /restate/invocation/<id>?mode=kill
    POST /restate/invocation/<id>/resume      (a paused one, once fixed)
    POST /restate/awakeables/<id>/resolve|reject
    GET  /restate/health

Bodies are JSON. Every bad request gets a 4xx answer with a JSON body
``{"code": <status>, "message": <what is wrong>}``; nothing a client sends can
stop the server.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Final

import trio

from .._api.service import Handler
from .._codec import UNDECODABLE_INPUT, StoredValues
from .._inputs import input_problem
from .._sim import WORKFLOW_IDEMPOTENCY_KEY
from ..runtime._errors import InvalidTargetError
from ..runtime._faults import MAX_DURATION, MAX_DURATION_MS
from ..runtime._ids import is_awakeable_id
from ..runtime._journal import Failure, Value
from ..runtime._store import COMPLETED, PAUSED, InvocationRecord
from ._host import HostStopped, LiveHost

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY: Final = 1 << 20
NOT_READY: Final = 470
# How long a call waits for its result before it also watches for the client
# going away (and then stops waiting for it).
WATCH_CLIENT_AFTER_S: Final = 0.05
# Request headers not passed on to handlers (``ctx.request().headers``).
_HOP_HEADERS: Final = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "keep-alive", "upgrade",
     "accept-encoding"}
)
_NUMBER: Final = r"([0-9]{1,15}(?:\.[0-9]{1,9})?)"
_DURATION: Final = re.compile(_NUMBER + r"\s*(ms|s|m|h|d)", re.ASCII)
_ISO_DURATION: Final = re.compile(
    rf"P(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?", re.ASCII
)
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class HttpError(Exception):
    """A request the ingress refuses: its status and what is wrong."""

    def __init__(self, status: int, message: str, *, allow: str | None = None,
                 inv_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.allow = allow
        self.inv_id = inv_id

    def response(self) -> Response:
        resp = json_response(self.status, {"code": self.status, "message": self.message})
        if self.allow:
            resp.headers.append((b"allow", self.allow.encode()))
        if self.inv_id:
            resp.headers.append((b"x-restate-id", self.inv_id.encode()))
        return resp


def json_response(status: int, payload: Any, inv_id: str | None = None) -> Response:
    headers = [(b"content-type", b"application/json")]
    if inv_id:
        headers.append((b"x-restate-id", inv_id.encode()))
    return Response(status, json.dumps(payload).encode(), headers)


def parse_delay(text: str) -> int:
    """Milliseconds from ``10s``, ``1m30s``, ``500ms``, ``2h``, ``1d`` or ISO ``PT10S``.

    Exact (no float) and at most ``MAX_DURATION_MS``: a longer delay would
    overflow the database's 64-bit times.
    """
    text = text.strip()
    total: Fraction | None = None
    if text.upper().startswith("P"):
        m = _ISO_DURATION.fullmatch(text.upper())
        if m and any(m.groups()):
            d, h, mi, sec = (Fraction(g or 0) for g in m.groups())
            total = ((d * 24 + h) * 60 + mi) * 60_000 + sec * 1000
    else:
        pos, parts = 0, Fraction(0)
        for m in _DURATION.finditer(text):
            if m.start() != pos and text[pos:m.start()].strip():
                break
            parts += Fraction(m.group(1)) * _UNIT_MS[m.group(2)]
            pos = m.end()
        else:
            if pos and not text[pos:].strip():
                total = parts
    if total is None:
        raise HttpError(400, "bad delay query parameter, must be a ISO8601 duration: "
                             f"{_short(text)} is none; give one like PT10S, 10s, 500ms or 1m30s")
    if total > MAX_DURATION_MS:
        raise HttpError(400, f"the delay {_short(text)} is too long; the limit is "
                             f"{MAX_DURATION}")
    return round(total)


def execution_time(ms: int) -> str:
    """A delayed send's ``executionTime`` as restate-server 1.7.12 writes it:
    UTC, nine decimals, a ``Z`` ("2026-12-06T16:19:10.580000000Z")."""
    when = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}000000Z"


def _short(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut short: an answer must not echo a client's megabyte."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def http_status_of(code: int) -> int:
    return code if 400 <= code <= 599 else 500


class Ingress:
    """The ASGI app; see the module docstring."""

    def __init__(self, host: LiveHost, *, max_body: int = DEFAULT_MAX_BODY,
                 codec: StoredValues | None = None) -> None:
        self.host = host
        self.max_body = max_body
        # The app's journal value codec: bodies are what it encodes, as on Restate,
        # whose SDK decodes a handler's input (and an awakeable's value) as the
        # handler reads it and encodes its output (``restate.client`` does the
        # other half for a client given the same codec).
        self.codec = codec
        self._kinds: dict[str, str] = {}
        self._handlers: dict[str, dict[str, Handler]] = {}
        self._runs: dict[str, str] = {}  # a workflow's run handler
        for (service, name), h in host.handlers.items():
            self._kinds[service] = h.service_tag.kind
            self._handlers.setdefault(service, {})[name] = h
            if h.kind == "workflow":
                self._runs[service] = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            resp = await self._route(scope, receive)
        except HttpError as err:
            resp = err.response()
        except HostStopped:
            resp = HttpError(503, "the executor is shutting down; try again once it restarts"
                             ).response()
        except Exception as err:  # noqa: BLE001 - one bad request must not stop the server
            traceback.print_exc(file=sys.stderr)
            resp = HttpError(500, f"internal error: {type(err).__name__}: {err}").response()
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": resp.headers})
        await send({"type": "http.response.body", "body": resp.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- routing ----------------------------------------------------------------
    async def _route(self, scope: Scope, receive: Receive) -> Response:
        method = scope["method"]
        segments = _segments(scope)
        if not segments:
            _method(method, "GET")
            services = {s: sorted(hs) for s, hs in sorted(self._handlers.items())}
            return json_response(200, {"services": services})
        if segments[0] == "restate":
            return await self._restate(method, segments[1:], scope, receive)
        _method(method, "POST")
        return await self._invoke(segments, scope, receive, send=False, new_style=False)

    async def _restate(self, method: str, segs: list[str], scope: Scope,
                       receive: Receive) -> Response:
        head = segs[0] if segs else ""
        if segs == ["health"]:
            _method(method, "GET")
            return json_response(200, {"status": "ok"})
        if head in ("call", "send") and len(segs) >= 3:
            _method(method, "POST")
            return await self._invoke(segs[1:], scope, receive, send=head == "send",
                                      new_style=True)
        if head in ("attach", "output") and len(segs) == 2:
            _method(method, "GET")
            return await self._result(segs[1], wait=head == "attach", receive=receive)
        if head == "invocation" and len(segs) == 2:
            if method == "DELETE":
                mode = _query(scope).get("mode", ["cancel"])[-1]
                if mode == "kill":
                    return await self._kill(segs[1])
                if mode != "cancel":
                    raise HttpError(400, f"mode must be cancel or kill, not {mode!r}")
                return await self._cancel(segs[1])
            _method(method, "GET, DELETE")
            return self._status(segs[1])
        if head == "invocation" and len(segs) == 3 and segs[2] == "cancel":
            _method(method, "POST")
            return await self._cancel(segs[1])
        if head == "invocation" and len(segs) == 3 and segs[2] == "kill":
            _method(method, "POST")
            return await self._kill(segs[1])
        if head == "invocation" and len(segs) == 3 and segs[2] == "resume":
            _method(method, "POST")
            return await self._resume(segs[1])
        if head == "invocation" and len(segs) >= 3 and segs[-1] in ("output", "attach"):
            _method(method, "GET")
            if len(segs) == 3:
                inv_id = segs[1]
            else:
                inv_id = self._idempotent_id(segs[1:-1])
            return await self._result(inv_id, wait=segs[-1] == "attach", receive=receive)
        if head == "workflow" and len(segs) == 4 and segs[3] in ("output", "attach"):
            _method(method, "GET")
            workflow, wf_id = segs[1], segs[2]
            if self._kinds.get(workflow) != "workflow":
                raise HttpError(404, f"no workflow named {_short(workflow)} is served")
            run_id = self._current(workflow, self._runs.get(workflow, "run"), wf_id, None)
            if run_id is None:
                raise HttpError(404, f"no run of workflow {workflow}/{wf_id} (never "
                                     "submitted, or its workflow retention ended)")
            return await self._result(run_id, wait=segs[3] == "attach", receive=receive)
        if head in ("awakeables", "a") and len(segs) == 3 and segs[2] in ("resolve", "reject"):
            _method(method, "POST")
            return await self._awakeable(segs[1], segs[2], scope, receive)
        raise HttpError(404, f"no such path: {_short(scope['path'])}")

    def _idempotent_id(self, segs: list[str]) -> str:
        """The id of ``<Service>[/<key>]/<handler>/<idempotency-key>``."""
        service = segs[0]
        kind = self._kinds.get(service)
        if kind is None:
            raise HttpError(404, self._unknown_service(service))
        if kind == "service" and len(segs) == 3:
            _, handler, ik = segs
            key: str | None = None
        elif kind != "service" and len(segs) == 4:
            _, key, handler, ik = segs
        else:
            shape = "<Service>/<handler>" if kind == "service" else "<Object>/<key>/<handler>"
            raise HttpError(404, f"expected /restate/invocation/{shape}/<idempotency-key>/"
                                 "output (or attach)")
        self._handler(service, handler)
        inv_id = self._current(service, handler, key, ik)
        if inv_id is None:
            raise HttpError(404, f"no invocation with idempotency key {_short(ik)} (never "
                                 "submitted, or its idempotency retention ended)")
        return inv_id

    def _current(self, service: str, handler: str, key: str | None,
                 ik: str | None) -> str | None:
        """The invocation that an idempotency key (or a workflow id) names now."""
        now = self.host.clock.now_ms()
        engine = self.host.engine
        found: str | None = self.host.read(
            lambda: engine.deduplicated_by(service, handler, key, ik, now_ms=now))
        return found

    # -- invoking ---------------------------------------------------------------
    async def _invoke(self, segs: list[str], scope: Scope, receive: Receive, *, send: bool,
                      new_style: bool) -> Response:
        service = segs[0]
        kind = self._kinds.get(service)
        if kind is None:
            raise HttpError(404, self._unknown_service(service))
        rest = segs[1:]
        if not new_style and rest and rest[-1] == "send":
            if (kind == "service" and len(rest) == 2) or (kind != "service" and len(rest) == 3):
                send, rest = True, rest[:-1]
        key: str | None = None
        if kind == "service":
            if len(rest) != 1:
                raise HttpError(404, f"{service} is a service: call it as POST /{service}/"
                                     "<handler> (or /send for one-way)")
            name = rest[0]
        else:
            what = "virtual object" if kind == "object" else "workflow"
            if len(rest) != 2:
                raise HttpError(400 if len(rest) == 1 else 404,
                                f"{service} is a {what}: its handlers need a key, like "
                                f"POST /{service}/<key>/<handler>")
            key, name = rest  # (an empty key is a key, as restate-server 1.7.12 takes it)
        handler = self._handler(service, name)
        if getattr(handler, "ingress_private", False):  # restate's ``ingress_private=True``
            raise HttpError(400, "the invoked service is not public")  # (Restate's words)
        query = _query(scope)
        delay_ms = 0
        if "delay" in query:  # (a workflow's run may be sent delayed, as on Restate)
            if not send:
                raise HttpError(400, "cannot use the delay query parameter with calls. The "
                                     "delay is supported only with sends")  # (Restate's words)
            delay_ms = parse_delay(query["delay"][-1])
        headers = _headers(scope)
        ik = headers.get("idempotency-key")
        if ik is not None and handler.kind == "workflow":  # (an empty key is a key)
            raise HttpError(400, WORKFLOW_IDEMPOTENCY_KEY)
        body = await self._body(scope, receive)
        wrong_type = content_problem(handler, _first_header(scope, b"content-type"), body)
        if wrong_type is not None:
            raise HttpError(400, wrong_type)
        undecodable = False
        if self.codec is not None and handler.arity >= 2:
            try:
                body = self.codec.decode(body)
            except Exception:  # noqa: BLE001 - restate-sdk's answer, whatever the codec raised
                # As on Restate: the invocation is made (a call waits for it, a send
                # gets 202) and fails at its start, its body kept as it came.
                undecodable = True
        if body and not undecodable:
            wrong = input_problem(handler, body, "the body")
            if wrong is not None:
                raise HttpError(400, f"the body is not a valid input for {service}/{name}: "
                                     f"{wrong}")
        passed = {k: v for k, v in headers.items()
                  if k not in _HOP_HEADERS and k != UNDECODABLE_INPUT}
        if undecodable:
            passed[UNDECODABLE_INPUT] = "1"

        def submit() -> tuple[str, str | None]:
            original = self.host.engine.deduplicated_by(service, name, key, ik)
            try:
                return self.host.submit(service, name, key, body, delay_ms=delay_ms,
                                        idempotency_key=ik, headers=passed,
                                        send=send), original
            except InvalidTargetError as err:
                raise HttpError(404, str(err)) from None

        inv_id, original = await self.host.call(submit)
        if send:
            rec = self.host.record(inv_id)
            payload: dict[str, Any] = {
                "invocationId": inv_id,
                "status": "PreviouslyAccepted" if original is not None else "Accepted",
            }
            if delay_ms and rec is not None:
                payload["executionTime"] = execution_time(rec.run_at_ms)
            return json_response(202, payload, inv_id)
        return await self._result(inv_id, wait=True, receive=receive)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        length = _headers(scope).get("content-length")
        if length is not None:
            if not (length.isascii() and length.isdigit()) or len(length) > 18:
                raise HttpError(400, f"bad content-length {_short(length)}")
            if int(length) > self.max_body:
                raise HttpError(413, f"the body is {length} bytes; the limit is "
                                     f"{self.max_body} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                raise HttpError(413, f"the body is larger than the limit of {self.max_body} "
                                     "bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- results and status -------------------------------------------------------
    def _known(self, inv_id: str) -> InvocationRecord:
        rec = self.host.record(inv_id)
        if rec is None:
            raise HttpError(404, f"no invocation {_short(inv_id)}")
        return rec

    async def _result(self, inv_id: str, *, wait: bool, receive: Receive | None = None
                      ) -> Response:
        rec = self._known(inv_id)
        if wait:
            done = await self._wait_done(inv_id, receive)
            if done is None:
                raise HttpError(
                    503, "the executor is shutting down; the invocation goes on after a "
                         f"restart: GET /restate/invocation/{inv_id}/attach", inv_id=inv_id)
            rec = done
        if rec.status == COMPLETED:
            result = rec.result
            if isinstance(result, Value):
                headers = [(b"x-restate-id", inv_id.encode())]
                data = result.data
                if self.codec is not None:
                    try:
                        data = self.codec.encode(data)
                    except Exception as err:  # noqa: BLE001 - the codec's own failure, told
                        raise HttpError(500, f"the app's journal_value_codec.encode raised "
                                             f"{type(err).__name__}: {err} on the output",
                                        inv_id=inv_id) from None
                if data:  # (the handler's content_type, as Restate answers)
                    handlers = self._handlers.get(rec.service, {})
                    answered = handlers.get(rec.handler)
                    headers.append((b"content-type", (
                        answered.handler_io.content_type if answered is not None
                        else "application/json").encode("latin-1", "replace")))
                return Response(200, data, headers)
            assert isinstance(result, Failure)
            body: dict[str, Any] = {"code": result.code, "message": result.message}
            if result.metadata:  # as Restate's ingress answers: the error's metadata too
                body["metadata"] = dict(result.metadata)
            return json_response(http_status_of(result.code), body, inv_id)
        if rec.status == PAUSED:
            return json_response(500, {"code": 500, "message": f"the invocation is paused: "
                                       f"{rec.last_failure}"}, inv_id)
        return json_response(NOT_READY, {"code": NOT_READY, "message": "not ready"}, inv_id)

    async def _wait_done(self, inv_id: str, receive: Receive | None
                         ) -> InvocationRecord | None:
        """``host.wait_done``, given up if the client goes away (the invocation goes on)."""
        if receive is None:
            return await self.host.wait_done(inv_id)
        # Most calls end within moments: only a longer wait is worth the two
        # tasks that watch for the client going away meanwhile.
        with trio.move_on_after(WATCH_CLIENT_AFTER_S):
            return await self.host.wait_done(inv_id)
        done: list[InvocationRecord | None] = [None]
        async with trio.open_nursery() as nursery:

            async def wait() -> None:
                done[0] = await self.host.wait_done(inv_id)
                nursery.cancel_scope.cancel()

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait)
            nursery.start_soon(watch)
        return done[0]

    def _status(self, inv_id: str) -> Response:
        rec = self._known(inv_id)
        engine = self.host.engine
        status, waiting_on = self.host.read(
            lambda: (engine.status(rec.id), engine.waiting_on(rec.id)))
        payload: dict[str, Any] = {
            "invocationId": rec.id,
            "target": rec.target,
            "status": status,
            "attempts": rec.attempts,
            "createdAt": rec.created_ms,
        }
        if rec.status != COMPLETED:
            payload["waitingOn"] = waiting_on
        if rec.finished_ms >= 0:
            payload["finishedAt"] = rec.finished_ms
        if rec.last_failure:
            payload["lastFailure"] = rec.last_failure
        if rec.idempotency_key is not None:  # ("" is a key: restate-server 1.7.12 lists it)
            payload["idempotencyKey"] = rec.idempotency_key
        return json_response(200, payload, rec.id)

    async def _cancel(self, inv_id: str) -> Response:
        rec = self._known(inv_id)
        if rec.status not in ("pending", "paused"):
            raise HttpError(409, f"invocation {inv_id} has already finished ({rec.status})")
        engine = self.host.engine
        await self.host.call(lambda: engine.cancel(inv_id))
        return json_response(202, {"invocationId": inv_id, "status": "cancelling"}, inv_id)

    async def _kill(self, inv_id: str) -> Response:
        rec = self._known(inv_id)
        if rec.status not in ("pending", "paused"):
            raise HttpError(409, f"invocation {inv_id} has already finished ({rec.status})")
        engine = self.host.engine
        await self.host.call(lambda: engine.kill(inv_id))
        return json_response(202, {"invocationId": inv_id, "status": "killed"}, inv_id)

    async def _resume(self, inv_id: str) -> Response:
        rec = self._known(inv_id)
        if rec.status != "paused":
            raise HttpError(409, f"invocation {inv_id} is not paused ({rec.status})")
        engine = self.host.engine
        await self.host.call(lambda: engine.resume(inv_id))
        return json_response(202, {"invocationId": inv_id, "status": "resuming"}, inv_id)

    async def _awakeable(self, awk: str, action: str, scope: Scope,
                         receive: Receive) -> Response:
        if not is_awakeable_id(awk):
            raise HttpError(400, f"bad awakeable id {_short(awk)}: awakeable ids look like "
                                 "awk_<invocation>_<index>, as ctx.awakeable() returns them")
        body = await self._body(scope, receive)
        completion: Value | Failure
        if action == "resolve":
            if self.codec is not None:
                try:
                    body = self.codec.decode(body)
                except Exception as err:  # noqa: BLE001 - the codec's own failure, told
                    raise HttpError(400, f"the body cannot be decoded with the app's "
                                         f"journal_value_codec ({type(err).__name__}: {err})"
                                    ) from None
            if body:
                try:
                    json.loads(body)
                except ValueError as err:
                    raise HttpError(400, f"the body is not valid JSON: {err}") from None
                except RecursionError:
                    raise HttpError(400, "the body is JSON nested too deeply to read") \
                        from None
            completion = Value(body)
        else:
            completion = Failure(500, body.decode("utf-8", "replace") or "rejected")
        host = self.host

        def complete() -> None:
            # An id of the right shape that names no awakeable waiting here (its
            # invocation ended, or never was) is accepted and dropped, as Restate does.
            with contextlib.suppress(InvalidTargetError):
                host.complete_awakeable(awk, completion)

        await host.call(complete)
        return json_response(202, {"status": "accepted"})

    # -- names --------------------------------------------------------------------
    def _unknown_service(self, service: str) -> str:
        known = ", ".join(sorted(self._kinds)) or "(none)"
        return f"no service named {_short(service)} is served; known services: {known}"

    def _handler(self, service: str, name: str) -> Handler:
        handlers = self._handlers[service]
        handler = handlers.get(name)
        if handler is None:
            known = ", ".join(sorted(handlers))
            raise HttpError(404, f"{service} has no handler named {_short(name)}; its handlers: "
                                 f"{known}")
        return handler


def _method(method: str, allowed: str) -> None:
    if method not in allowed.split(", "):
        raise HttpError(405, f"method {method} is not allowed here; use {allowed}",
                        allow=allowed)


def _segments(scope: Scope) -> list[str]:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    raw = raw.split(b"?", 1)[0]
    parts = raw.strip(b"/").split(b"/") if raw.strip(b"/") else []
    try:
        return [urllib.parse.unquote_to_bytes(p).decode("utf-8") for p in parts]
    except UnicodeDecodeError:
        raise HttpError(400, "the path is not valid UTF-8 once percent-decoded") from None


def _query(scope: Scope) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))


def content_problem(handler: Handler, content_type: str | None, body: bytes) -> str | None:
    """Why Restate's ingress refuses a request's content type for ``handler``
    (its words, restate-server 1.7.12), or None when it takes it.

    A handler without an input takes neither a body nor a content-type header
    (an empty one too); one with an input takes an empty body without the
    header, else the type
    its ``accept`` names (parameters after ``;`` ignored, case kept; ``type/*``
    takes any subtype) and a body that is not empty. A client that sends a
    wrong content type (curl's and urllib's default form type for ``-d``)
    fails on Restate: served here, it fails the same way.
    """
    if content_type is not None and len(content_type) > 200:  # (not a client's megabyte)
        content_type = content_type[:196] + " ..."
    if handler.arity < 2:
        if body or content_type is not None:
            shown = "None" if content_type is None else f'Some("{content_type}")'
            return ("input validation error: Expected body and content-type to be empty, "
                    f"but wasn't with content-type '{shown}'")
        return None
    if content_type is None:  # (a header present but empty is a type that fits nothing)
        return "input validation error: Empty content-type" if body else None
    accept = handler.handler_io.accept
    essence = content_type.split(";", 1)[0].strip()
    wanted, _, sub = accept.partition("/")
    if sub == "*":
        fits = wanted == "*" or essence.partition("/")[0] == wanted
    else:
        fits = essence == accept
    if not fits:
        return (f"input validation error: Content-type '{content_type}' does not match "
                f"'{accept}'")
    if not body:
        return "input validation error: Empty body not allowed"
    return None


def _first_header(scope: Scope, name: bytes) -> str | None:
    """A header's first value (Restate reads the first of repeated ones)."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        out[name.decode("latin-1").lower()] = value.decode("latin-1")
    return out
