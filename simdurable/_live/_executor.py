"""``Executor``: run handlers for real, on a SQLite journal, from a script or a server.

::

    import simdurable as sd

    with sd.Executor([greeter, counter], db="dev.db") as ex:   # a background thread
        print(ex.call("Greeter/greet", "bob"))
        h = ex.send("Counter/a/add", 1)
        h.result(timeout=5)

    sd.Executor([greeter], db="dev.db").serve(port=8080)        # HTTP, until Ctrl-C

Kill the process at any moment and start it again over the same database:
every invocation goes on from its journal, and no stored step runs again.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any, Final, NoReturn, TypeVar

import trio

from .._api.serde import DefaultSerde, JsonSerde, ingress_bytes
from .._api.service import App, Handler, collect_handlers, handlers_attr
from .._codec import StoredValues, journal_codec_of, listed
from .._sim import completed_value, parse_target, paused_error, refuse_as_ingress
from ..runtime._errors import NotFinishedError, SerializationError, SimdurableError
from ..runtime._journal import Entry, Failure, Value
from ..runtime._retry import InvocationRetryPolicy, to_ms
from ..runtime._store import COMPLETED, PAUSED, InvocationRecord
from ._host import PROBLEM_KINDS, HostStopped, LiveHost, echo_stderr
from ._http import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS
from ._ingress import DEFAULT_MAX_BODY, Ingress
from ._sqlite import NotADatabasePath, SqliteStore, StoreError, explain
from ._trace import TraceWriter

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
DEFAULT_GRACE_S: Final = 10.0


class ExecutorStoppedError(SimdurableError):
    """The executor stopped, or is stopping, while it was asked to do something.

    When it stopped on an error (a database that failed, say), that error is
    the ``__cause__``. Nothing committed is lost: an executor started again
    over the same database resumes every unfinished invocation.
    """


class ExecutorLock:
    """One executor per database: an exclusive lock on ``<db>.lock``."""

    def __init__(self, db: Path) -> None:
        self.path = Path(f"{db}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            db = self.path.with_suffix("")
            if err.errno == errno.ENOENT:
                raise NotADatabasePath(f"cannot create {db}: directory {db.parent} does not "
                                       "exist") from None
            raise StoreError(f"cannot create the lock file {self.path}: "
                             f"{explain(db, err)}") from None
        f = os.fdopen(fd, "r+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = f.read().strip() or "?"
            f.close()
            raise StoreError(
                f"another simdurable executor (pid {owner}) is using {self.path.with_suffix('')}"
                "; stop it first, or use another --db"
            ) from None
        try:
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
        except OSError as err:
            f.close()
            raise StoreError(f"cannot write the lock file {self.path}: "
                             f"{explain(self.path.with_suffix(''), err)}") from None
        self._file = f

    def held_elsewhere(self) -> bool:
        """Whether a running executor holds the lock (for ``simdurable cancel``)."""
        if fcntl is None or not self.path.exists():  # pragma: no cover
            return False
        with open(self.path) as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return False

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LiveInvocation:
    """An invocation submitted to a running ``Executor``."""

    def __init__(self, executor: Executor, inv_id: str, handler: Handler) -> None:
        self._ex = executor
        self.id = inv_id
        self._handler = handler

    def __repr__(self) -> str:
        return f"<LiveInvocation {self.id} {self.target}>"

    @property
    def target(self) -> str:
        return str(self._ex._record(self.id).target)

    @property
    def status(self) -> str:
        """As ``InvocationHandle.status``: ``running``, ``completed``, ``failed`` ..."""
        return str(self._ex._portal_sync(lambda host: host.engine.status(self.id)))

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed")

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the handler's return value; raises its ``TerminalError`` if it failed.

        Raises ``TimeoutError`` after ``timeout`` seconds, and ``NotFinishedError``
        for a paused invocation or an executor that stopped first.
        """
        rec = self._ex._wait(self.id, timeout)
        if rec.status == COMPLETED:
            return completed_value(rec, self._handler)
        if rec.status == PAUSED:
            raise paused_error(rec)
        raise NotFinishedError(f"{rec.target} ({self.id}) has not finished: the executor "
                               "stopped first")


class Executor:
    """Handlers on the real clock with a durable SQLite journal.

    Args:
      services: the ``Service``/``VirtualObject``/``Workflow`` objects to run.
      db: the SQLite database file (created owner-only when missing).
      retry_policy: the invocation retry policy (Restate 1.6+ defaults).
      trace: a file to append the run's trace to, one JSON event per line.
      echo: print trace lines to stderr as they happen: ``True`` for all,
        ``"problems"`` for retries and paused invocations only.
      durability: ``"full"`` (fsync every commit) or ``"normal"``.
      max_body: the largest HTTP request body accepted, in bytes.
      body_timeout: seconds a client has to send a request's whole body
        (else 408).
      max_connections: the most HTTP connections open at once (more get a
        503).

    Use it as a context manager (handlers run in a background thread) or call
    ``serve()`` to answer HTTP until Ctrl-C. Raises ``StoreError`` for a
    database it cannot use.
    """

    def __init__(
        self,
        services: Sequence[Any],
        db: str | os.PathLike[str] = "simdurable.db",
        *,
        retry_policy: InvocationRetryPolicy | None = None,
        trace: str | os.PathLike[str] | None = None,
        echo: bool | str = False,
        durability: str = "full",
        max_body: int = DEFAULT_MAX_BODY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT_S,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.handlers = collect_handlers(services)
        # An app's journal value codec: the database holds what it encodes, and the
        # handlers and HTTP clients get what restate-sdk would (``StoredValues``).
        codec = journal_codec_of(services)
        self.codec = None if codec is None else StoredValues(codec, tell=echo_stderr)
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        if type(max_body) is not int or max_body <= 0:
            raise ValueError(f"max_body must be positive (a number of bytes), not {max_body!r}")
        if not isinstance(body_timeout, (int, float)) or not body_timeout > 0:
            raise ValueError(f"body_timeout must be a positive number of seconds, not "
                             f"{body_timeout!r}")
        if type(max_connections) is not int or max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
        if not isinstance(db, (str, os.PathLike)):
            raise TypeError(f"db must be the path of the SQLite database (a str or a Path), "
                            f"not {type(db).__name__}")
        self.db = Path(db)
        self.retry_policy = retry_policy
        if trace is not None and os.path.abspath(trace) in {
                os.path.abspath(f"{self.db}{end}") for end in ("", "-wal", "-shm", "-journal",
                                                               ".commits", ".lock")}:
            raise ValueError(f"the trace file {os.fspath(trace)} is the database or one of its "
                             f"files; name another file, like run.jsonl")
        self.trace_path = trace
        if echo not in (True, False, "problems"):
            raise ValueError(f"echo must be True, False or 'problems', not {echo!r}")
        self.echo = echo
        self.durability = durability
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.url: str | None = None
        self._host: LiveHost | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None  # what stopped the background thread
        self._failure_told = False
        self._grace = DEFAULT_GRACE_S

    # -- the async core -----------------------------------------------------------
    async def run(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        grace: float = DEFAULT_GRACE_S,
        task_status: trio.TaskStatus[str | None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until ``stop()``: the handlers and, with ``port``, the HTTP ingress.

        Reports the ingress URL (or None) through ``task_status``. On stop, new
        work ends at once; steps in flight get ``grace`` seconds to finish and
        have their results stored.
        """
        _check_grace(grace)
        self.url = None
        lock = ExecutorLock(self.db)
        lock.acquire()
        store: SqliteStore | None = None
        trace: TraceWriter | None = None
        try:
            store = SqliteStore(self.db, durability=self.durability, codec=self.codec)
            if self.trace_path is not None:
                trace = TraceWriter(self.trace_path)
            live = LiveHost(self.handlers, store, retry_policy=self.retry_policy, trace=trace,
                            echo=echo_stderr if self.echo else None,
                            echo_kinds=PROBLEM_KINDS if self.echo == "problems" else None)
            self._host = live
            self._token = trio.lowlevel.current_trio_token()
            self._stop = stop = trio.Event()
            async with trio.open_nursery() as nursery:
                await nursery.start(live.run)
                http_done = trio.Event()
                if port is not None:
                    binds = await nursery.start(self._serve_http, live, host, port, stop,
                                                http_done)
                    self.url = binds[0] if binds else None
                else:
                    http_done.set()
                task_status.started(self.url)
                await stop.wait()
                nursery.cancel_scope.deadline = trio.current_time() + grace
                live.stop()
                await http_done.wait()
        finally:
            self._host = None
            self.url = None
            if trace is not None:
                trace.close()
            if store is not None:
                store.close()
            lock.release()

    async def _serve_http(self, live: LiveHost, host: str, port: int, stop: trio.Event,
                          done: trio.Event, *, task_status: trio.TaskStatus[list[str]]
                          ) -> None:
        from ._http import serve

        app = Ingress(live, max_body=self.max_body, codec=self.codec)
        try:
            await serve(app, host, port, shutdown=stop, grace=1.0,  # type: ignore[arg-type]
                        body_timeout=self.body_timeout, max_connections=self.max_connections,
                        task_status=task_status)
        finally:
            done.set()

    def stop(self) -> None:
        """Ask a running executor to stop (from any thread); see ``run``."""
        token, stop = self._token, self._stop
        if token is None or stop is None:
            return
        try:
            trio.from_thread.run_sync(stop.set, trio_token=token)
        except trio.RunFinishedError:
            pass

    # -- foreground server ------------------------------------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 8080, *,
              ready: Callable[[str | None], None] | None = None,
              grace: float = DEFAULT_GRACE_S) -> None:
        """Serve HTTP in this thread until SIGINT/SIGTERM (twice: stop at once)."""
        _check_grace(grace)
        trio.run(partial(self._serve_main, host, port, ready, grace))

    async def _serve_main(self, host: str, port: int,
                          ready: Callable[[str | None], None] | None, grace: float) -> None:
        async with trio.open_nursery() as nursery:

            async def runner(*, task_status: trio.TaskStatus[str | None]) -> None:
                await self.run(host=host, port=port, grace=grace, task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(self._signals, nursery.cancel_scope)
            url = await nursery.start(runner)
            if ready is not None:
                ready(url)

    async def _signals(self, scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            count = 0
            async for _ in signals:
                count += 1
                if count == 1:
                    live = self._host
                    n = live.in_flight if live is not None else 0
                    print(f"simdurable: stopping at a step boundary ({n} step(s) in flight); "
                          "press Ctrl-C again to stop now", file=sys.stderr, flush=True)
                    if self._stop is not None:
                        self._stop.set()
                else:
                    scope.cancel()
                    return

    # -- background thread ---------------------------------------------------------
    def start(self, *, port: int | None = None, host: str = "127.0.0.1") -> Executor:
        """Run the handlers in a background thread; ``close()`` or ``with`` ends it.

        With ``port`` (0 picks a free one) it also serves HTTP; see ``url``.
        """
        if self._thread is not None:
            raise RuntimeError("this Executor is already running")
        started = threading.Event()
        failure: list[BaseException] = []
        self._failure = None

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(self.run, host=host, port=port, grace=self._grace))
                started.set()

        def body() -> None:
            try:
                trio.run(main)
            except BaseException as err:  # noqa: BLE001 - handed to start(), or kept
                if started.is_set():
                    self._failure, self._failure_told = unwrap(err), False
                failure.append(err)
            finally:
                started.set()

        self._thread = threading.Thread(target=body, name="simdurable-executor", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise unwrap(failure[0])
        return self

    def close(self) -> None:
        """Stop the background thread, letting steps in flight finish.

        Raises ``ExecutorStoppedError`` if the thread had stopped on an error
        that no call reported yet.
        """
        self.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._token = None
        if self._failure is not None and not self._failure_told:
            self._raise_stopped()

    def _raise_stopped(self) -> NoReturn:
        """Say why a call found the executor stopped (once it finished stopping)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=DEFAULT_GRACE_S + 5)
        failure = self._failure
        if failure is None:
            raise ExecutorStoppedError("the executor is stopping or has stopped") from None
        self._failure_told = True
        raise ExecutorStoppedError(
            f"the executor stopped on an error: {type(failure).__name__}: {failure}. "
            "Nothing committed is lost: start it again over the same database to resume."
        ) from failure

    def __enter__(self) -> Executor:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scripting -------------------------------------------------------------------
    def _not_running(self) -> NoReturn:
        if self._failure is not None:
            self._raise_stopped()
        raise RuntimeError(
            "the executor is not running: use `with Executor(...) as ex:` or ex.start()"
        )

    def _portal(self, fn: Callable[[LiveHost], Any]) -> Any:
        host, token = self._host, self._token
        if host is None or token is None:
            self._not_running()
        try:
            return trio.from_thread.run(fn, host, trio_token=token)
        except (HostStopped, trio.Cancelled, trio.RunFinishedError):
            self._raise_stopped()

    def _portal_sync(self, fn: Callable[[LiveHost], T]) -> T:
        host, token = self._host, self._token
        if host is None or token is None:
            self._not_running()
        # Between turns, so that what it reads is committed (see LiveHost.read).
        try:
            result: T = trio.from_thread.run_sync(host.read, lambda: fn(host),
                                                  trio_token=token)
        except trio.RunFinishedError:
            self._raise_stopped()
        return result

    def _record(self, inv_id: str) -> InvocationRecord:
        rec = self._portal_sync(lambda host: host.record(inv_id))
        if rec is None:
            raise KeyError(f"no invocation {inv_id!r}")
        return rec

    def _wait(self, inv_id: str, timeout: float | None) -> InvocationRecord:
        _check_timeout(timeout)

        async def wait(host: LiveHost) -> Any:
            with trio.move_on_after(timeout if timeout is not None else float("inf")):
                return await host.wait_done(inv_id)
            raise TimeoutError(
                f"{inv_id} did not finish within {timeout}s: "
                f"{host.read(lambda: host.engine.waiting_on(inv_id))}"
            )

        rec: InvocationRecord | None = self._portal(wait)
        if rec is None:
            raise NotFinishedError(f"{inv_id} has not finished: the executor stopped first")
        return rec

    def _submit(self, target: str, input: Any, *, delay: timedelta | None,
                idempotency_key: str | None, headers: dict[str, str] | None,
                raw: bytes | None, send: bool) -> LiveInvocation:
        service, key, name = parse_target(target)
        handler = self.handlers.get((service, name))
        refuse_as_ingress(handler, target, input, raw, headers, idempotency_key)
        if raw is not None:
            data = bytes(raw)
        elif handler is None:
            data = b""
        else:
            try:
                data = ingress_bytes(handler.handler_io.input_serde, input)
            except (TypeError, ValueError, OverflowError) as err:
                raise SerializationError(
                    f"the input cannot be serialized for {target}: {err}", handler=target
                ) from None

        async def submit(host: LiveHost) -> str:
            return str(await host.call(lambda: host.submit(
                service, name, key, data, delay_ms=to_ms(delay, 0),
                idempotency_key=idempotency_key, headers=headers, send=send)))

        inv_id = self._portal(submit)
        assert handler is not None  # submit raised InvalidTargetError otherwise
        return LiveInvocation(self, inv_id, handler)

    def invoke(self, target: str, input: Any = None, *, idempotency_key: str | None = None,
               headers: dict[str, str] | None = None, raw: bytes | None = None
               ) -> LiveInvocation:
        """Submit a call to ``target`` ("Greeter/greet", "Counter/<key>/add")."""
        return self._submit(target, input, delay=None, idempotency_key=idempotency_key,
                            headers=headers, raw=raw, send=False)

    def send(self, target: str, input: Any = None, *, delay: timedelta | None = None,
             idempotency_key: str | None = None, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> LiveInvocation:
        """Submit a one-way message, delivered after ``delay`` of real time.

        Sent again to a workflow that already ran, it gets the first run (as
        Restate's ``PreviouslyAccepted``)."""
        return self._submit(target, input, delay=delay, idempotency_key=idempotency_key,
                            headers=headers, raw=raw, send=True)

    def call(self, target: str, input: Any = None, *, timeout: float | None = None,
             idempotency_key: str | None = None) -> Any:
        """``invoke(...).result(timeout)``."""
        _check_timeout(timeout)  # (before the invocation is made)
        return self.invoke(target, input, idempotency_key=idempotency_key).result(timeout)

    def invocations(self) -> list[LiveInvocation]:
        recs = self._portal_sync(lambda host: host.engine.records())
        return [LiveInvocation(self, r.id, self.handlers[(r.service, r.handler)]) for r in recs
                if (r.service, r.handler) in self.handlers]

    def journal(self, inv: LiveInvocation | str) -> list[Entry]:
        inv_id = inv.id if isinstance(inv, LiveInvocation) else inv
        return self._portal_sync(lambda host: host.store.journal(inv_id))

    def state(self, service: str, key: str) -> dict[str, Any]:
        """An object's (or workflow's) state, decoded as JSON."""
        raw = self._portal_sync(lambda host: host.store.state(service, key))
        serde: DefaultSerde[Any] = DefaultSerde()
        return {k: serde.deserialize(v) for k, v in sorted(raw.items())}

    def cancel(self, inv: LiveInvocation | str) -> None:
        """Cancel an invocation: its next wait raises TerminalError("cancelled", 409)."""
        inv_id = inv.id if isinstance(inv, LiveInvocation) else inv

        async def cancel(host: LiveHost) -> None:
            await host.call(lambda: host.engine.cancel(inv_id))

        self._portal(cancel)

    def kill(self, inv: LiveInvocation | str) -> bool:
        """Kill an invocation, as Restate's kill: it ends at once with
        ``TerminalError("killed", 409)``, none of its code runs any more, and the
        calls it made are killed too. False if it had already ended."""
        inv_id = inv.id if isinstance(inv, LiveInvocation) else inv

        async def kill(host: LiveHost) -> bool:
            return bool(await host.call(lambda: host.engine.kill(inv_id)))

        killed: bool = self._portal(kill)
        return killed

    def resume(self, inv: LiveInvocation | str) -> bool:
        """Resume a paused invocation once what paused it is fixed: it replays
        its journal with the handlers served now. False if it was not paused."""
        inv_id = inv.id if isinstance(inv, LiveInvocation) else inv

        async def resume(host: LiveHost) -> bool:
            return bool(await host.call(lambda: host.engine.resume(inv_id)))

        resumed: bool = self._portal(resume)
        return resumed

    def resolve_awakeable(self, awakeable: str, value: Any = None) -> None:
        completion = Value(JsonSerde().serialize(value))
        self._complete_awakeable(awakeable, completion)

    def reject_awakeable(self, awakeable: str, message: str, code: int = 500) -> None:
        self._complete_awakeable(awakeable, Failure(code, message))

    def _complete_awakeable(self, awakeable: str, completion: Value | Failure) -> None:
        async def complete(host: LiveHost) -> None:
            await host.call(lambda: host.complete_awakeable(awakeable, completion))

        self._portal(complete)

    def signal(self, inv: LiveInvocation | str, name: str, value: Any = None) -> None:
        """Send signal ``name`` with ``value`` to an invocation (its ``ctx.signal(name)``)."""
        self._signal(inv, name, Value(JsonSerde().serialize(value)))

    def reject_signal(self, inv: LiveInvocation | str, name: str, message: str,
                      code: int = 500) -> None:
        """Send signal ``name`` as a failure: awaiting it raises ``TerminalError``."""
        self._signal(inv, name, Failure(code, message))

    def _signal(self, inv: LiveInvocation | str, name: str, completion: Value | Failure) -> None:
        inv_id = inv.id if isinstance(inv, LiveInvocation) else inv

        async def signal(host: LiveHost) -> None:
            await host.call(lambda: host.engine.signal(inv_id, name, completion))

        self._portal(signal)

    def resolve_promise(self, workflow: str, key: str, name: str, value: Any = None) -> bool:
        """Resolve a workflow's durable promise from outside; False if already done."""
        return self._complete_promise(workflow, key, name, Value(JsonSerde().serialize(value)))

    def reject_promise(self, workflow: str, key: str, name: str, message: str,
                       code: int = 500) -> bool:
        return self._complete_promise(workflow, key, name, Failure(code, message))

    def _complete_promise(self, workflow: str, key: str, name: str,
                          completion: Value | Failure) -> bool:
        async def complete(host: LiveHost) -> bool:
            return bool(await host.call(
                lambda: host.engine.complete_promise(workflow, key, name, completion)))

        return bool(self._portal(complete))


def _check_grace(grace: object) -> None:
    """``grace`` is seconds, 0 or more (infinity waits for steps in flight)."""
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not grace >= 0:
        raise ValueError(f"grace must be 0 or more seconds, not {grace!r}")


def unwrap(err: BaseException) -> BaseException:
    """The one error inside (nested) single-error exception groups."""
    while isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
        err = err.exceptions[0]
    return err


def load_services(names: Iterable[str]) -> list[Any]:
    """Services named ``module:attr``; an attribute may also be a list of them
    or an ``app(...)``."""
    from .._loader import load_object
    from .._restate import native_services

    services: list[Any] = []
    codec = None
    for name in names:
        obj = load_object(name)
        codec = codec or journal_codec_of([obj])
        items = native_services(obj if isinstance(obj, (list, tuple, App)) else [obj])
        for item in items:
            if not isinstance(handlers_attr(item), dict):
                raise TypeError(f"{name!r} is {type(item).__name__}, not a Service, "
                                "VirtualObject or Workflow (or a list of them, or a "
                                "restate.app(...))")
            services.append(item)
    return listed(services, codec)  # (an app's journal value codec kept)


def _check_timeout(timeout: Any) -> None:
    """A ``timeout`` that is no number of seconds, named (trio's own words did not name it)."""
    if timeout is not None and (type(timeout) not in (int, float) or not timeout >= 0):
        raise ValueError(f"timeout must be a number of seconds, 0 or more (or None: as long "
                         f"as it takes), not {timeout!r}")
