"""The live host: the sans-I/O engine on trio, a real clock and a durable store.

The host loops in *turns*. A turn sets the engine's clock from the real
clock, fires due timers, applies queued commands (submissions, cancels,
awakeables), stores the outcomes of finished step closures and runs ready
engine tasks, all inside one store transaction. Only after the commit does
anything leave the turn: step closures start (plain functions in worker
threads, coroutine functions on trio), callers learn their results. So a
step's result is durable before the handler's next step can run, and nothing
a client was told is lost by a crash: after a restart the engine rebuilds
timers, queues and locks from the store.

A worker thread that ran a plain-function step may take the next turn itself
(under the host's lock, which every turn and every read of the engine holds):
it stores its result and, when the handler's next step is a plain function
too, runs it at once, instead of handing each step back to the event loop.
It does so only while no other step is in flight: under load, the loop's turn
stores many results with one commit.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import dataclasses
import functools
import inspect
import math
import secrets
import sys
import threading
import time
import types
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Final

import outcome
import trio

from .._api.context import InvocationContext
from .._api.service import Handler
from .._asyncio_steps import Carried, LoopThread, awaits_nothing, code_awaits_nothing
from .._base_exceptions import attempt_failure
from .._codec import UNDECODABLE_INPUT, undecodable_input
from ..runtime._engine import Engine, HandlerSpec, StepOutcome, StepRequest
from ..runtime._errors import InvalidTargetError, TerminalError
from ..runtime._fast import plain_awaitable
from ..runtime._ids import parse_awakeable_id
from ..runtime._invocation import Abort, current_step
from ..runtime._journal import AWAKEABLE, Completion
from ..runtime._retry import InvocationRetryPolicy
from ..runtime._scheduler import FirstChooser, Scheduler
from ..runtime._steps import drive
from ..runtime._store import PENDING, InvocationRecord, Store, copy_record
from ..runtime._trace import Event, event_text
from ._trace import TraceWriter, format_event

# Engine tasks per turn before the host lets the ingress run again.
TURN_BATCH: Final = 256
# Trace kinds worth telling a person about even when not verbose.
PROBLEM_KINDS: Final = frozenset({"retry", "paused", "killed", "step-exhausted"})
# How often the host looks for commands left by other processes.
INBOX_POLL_S: Final = 0.5


class LiveClock:
    """Unix time in milliseconds, anchored on the monotonic clock: never goes back."""

    def __init__(self) -> None:
        self._wall0 = time.time_ns() // 1_000_000
        self._mono0 = time.monotonic_ns()
        self._last = 0

    def now_ms(self) -> int:
        t = self._wall0 + (time.monotonic_ns() - self._mono0) // 1_000_000
        if t < self._last:  # pragma: no cover - monotonic clocks do not go back
            t = self._last
        self._last = t
        return t


class HostStopped(Exception):
    """The host is shutting down and takes no more work."""


@dataclass
class _Turn:
    """What a turn leaves to do once committed (outside the lock, on trio)."""

    commands: list[_Command]
    finished: list[InvocationRecord]
    to_start: list[StepRequest]
    ready: bool = False  # engine tasks left over
    deadline: int | None = None  # the next timer, in ms


@dataclass(eq=False)
class _Command:
    fn: Callable[[], Any]
    done: trio.Event = field(default_factory=trio.Event)
    value: Any = None
    error: BaseException | None = None


class LiveHost:
    """Drives an ``Engine`` over ``store`` on trio; see the module docstring.

    Construct it inside ``trio.run`` (it makes trio objects); ``run()`` is
    the loop, ``stop()`` asks it to finish at a step boundary.
    """

    def __init__(
        self,
        handlers: dict[tuple[str, str], Handler],
        store: Store,
        *,
        retry_policy: InvocationRetryPolicy | None = None,
        trace: TraceWriter | None = None,
        echo: Callable[[str], None] | None = None,
        echo_kinds: Collection[str] | None = None,
        clock: LiveClock | None = None,
    ) -> None:
        self.handlers = handlers
        self.store = store
        # An app's journal value codec (``_codec.StoredValues``), as the store applies it.
        self._codec: Any = getattr(store, "codec", None)
        self.clock = clock or LiveClock()
        self._trace_writer = trace
        self._echo = echo
        self._echo_kinds = None if echo_kinds is None else frozenset(echo_kinds)
        self._origin_ms = self.clock.now_ms()
        specs: dict[tuple[str, str], HandlerSpec] = {
            key: _failing_attempts(h.spec(None), coded=getattr(store, "codec", None) is not None)
            for key, h in handlers.items()
        }
        unfinished = check_recoverable(store, specs)
        self.scheduler = Scheduler(FirstChooser(), start_ms=self._origin_ms)
        with store.atomic():  # recovery's late deliveries commit together
            self.engine = Engine(
                specs, store, self.scheduler, InvocationContext,
                retry_policy=retry_policy, epoch_ms=0, trace=self._on_trace,
                deferred_trace=True, inline_steps=False,
            )
        self.engine.finished_hooks.append(self._on_finished)
        if unfinished is not None:  # as the simulation's "restart": attempts end here
            self._on_trace((self._origin_ms, "restart", "",
                            f"executor started over the store, {unfinished} unfinished "
                            "invocation(s) resume"))
        self._commands: list[_Command] = []
        self._results: list[tuple[StepRequest, StepOutcome]] = []
        # Where async closures that await run: an asyncio loop in a thread of
        # its own, made on the first such step.
        self._asyncio: LoopThread | None = None
        self._finished: list[InvocationRecord] = []
        self._waiters: dict[str, trio.Event] = {}
        self._wake = trio.Event()
        self._in_flight = 0
        self._draining = False
        self._stopped = False
        self._last_inbox = -math.inf
        self._steps_nursery: trio.Nursery | None = None
        # One turn at a time, on the event loop or in a worker thread; reads of
        # the engine and the store hold it too, so they see only committed state.
        self._lock = threading.RLock()
        self._worker_error: BaseException | None = None
        self._sleeping_until = math.inf  # when the loop, asleep, wakes by itself (ms)
        self._asleep = False  # the loop waits for work (and nothing else is its own)
        self._taker = False  # a request is about to take the loop's turn (see call)
        self.turns = 0

    # -- trace --------------------------------------------------------------
    def _on_trace(self, event: Event) -> None:
        """An engine event: its text is formatted only if someone reads it."""
        t_ms, kind, inv = event[0], event[1], event[2]
        echo = self._echo is not None and (self._echo_kinds is None or kind in self._echo_kinds)
        if self._trace_writer is None and not echo:
            return
        text = event_text(event)
        if self._trace_writer is not None:
            self._trace_writer.write(t_ms, kind, inv, text)
        if echo:
            assert self._echo is not None
            self._echo(format_event((t_ms, kind, inv, text), self._origin_ms))

    def _on_finished(self, rec: InvocationRecord) -> None:
        self._finished.append(rec)

    # -- requests from the ingress and the executor -------------------------
    @property
    def stopping(self) -> bool:
        return self._draining or self._stopped

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` inside the next turn's transaction; its value once committed."""
        if self.stopping:
            raise HostStopped("the executor is shutting down")
        cmd = _Command(fn)
        self._commands.append(cmd)
        if self._taker:
            pass  # a request about to take the turn takes this command too
        elif self._may_turn_here():
            self._taker = True
            try:
                # Requests scheduled alongside this one queue theirs meanwhile:
                # one turn, one commit for all of them.
                await trio.lowlevel.checkpoint()
            finally:
                self._taker = False
                # Whatever is queued: its own command and those of the requests
                # that counted on it (even if its own was taken some other way).
                if self._commands:
                    if self._may_turn_here():
                        self._turn_here()
                    else:
                        self._wake.set()
        else:
            self._wake.set()
        if not cmd.done.is_set():
            await cmd.done.wait()
        if cmd.error is not None:
            raise cmd.error
        return cmd.value

    def submit(self, service: str, handler: str, key: str | None, data: bytes, *,
               delay_ms: int = 0, idempotency_key: str | None = None,
               headers: dict[str, str] | None = None, send: bool = False) -> str:
        """``Engine.submit`` with a random id (ids stay unique across databases).

        Workflow runs and idempotent requests keep the engine's derived ids.
        Call it inside ``call()``.
        """
        spec = self.engine.handlers.get((service, handler))
        derived = bool(idempotency_key) or (spec is not None and spec.kind == "workflow")
        return self.engine.submit(
            service, handler, key, data, delay_ms=delay_ms, idempotency_key=idempotency_key,
            headers=headers, inv_id=None if derived else f"inv_{secrets.token_hex(10)}",
            send=send,
        )

    def complete_awakeable(self, awk: str, completion: Completion) -> None:
        """Complete an awakeable; ``InvalidTargetError`` unless ``awk`` names one.

        Call it inside ``call()``.
        """
        parsed = parse_awakeable_id(awk)
        if parsed is not None and self.record(parsed[0]) is not None:
            inv_id, index = parsed
            journal = self.store.journal(inv_id)
            if index < len(journal) and journal[index].kind == AWAKEABLE:
                self.engine.complete_awakeable(awk, completion)
                return
        raise InvalidTargetError(f"no awakeable {awk!r}")

    def record(self, inv_id: str) -> InvocationRecord | None:
        """A copy of the invocation's record, as last committed."""
        with self._lock:
            try:
                return copy_record(self.engine.record(inv_id))
            except KeyError:
                return None

    def read(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` between turns: the engine and the store as last committed."""
        with self._lock:
            return fn()

    async def wait_done(self, inv_id: str) -> InvocationRecord | None:
        """Wait until ``inv_id`` completes or pauses; None if the host stops first."""
        while True:
            rec = self.record(inv_id)
            if rec is None or rec.status != PENDING:
                return rec
            if self.stopping:
                return None
            event = self._waiters.get(inv_id)
            if event is None:
                event = self._waiters[inv_id] = trio.Event()
            await event.wait()

    # -- the loop -------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Turn until ``stop()``; then wait for steps in flight and store their results."""
        async with trio.open_nursery() as nursery:
            self._steps_nursery = nursery
            task_status.started()
            try:
                await self._loop()
            finally:
                with self._lock:  # no worker turn starts after this
                    self._stopped = True
                for event in self._waiters.values():
                    event.set()
                self._waiters.clear()
                nursery.cancel_scope.cancel()
                if self._asyncio is not None:
                    self._asyncio.close()
                    self._asyncio = None

    async def _loop(self) -> None:
        while True:
            if self._worker_error is not None:
                raise self._worker_error
            self._turn()
            if self._draining and self._in_flight == 0 and not self._results:
                return
            if self._commands or self._results:
                await trio.lowlevel.checkpoint()
                continue
            with self._lock:
                ready = self.engine.has_ready()
                deadline = self.scheduler.next_deadline()
            if not self._draining and ready:
                await trio.lowlevel.checkpoint()
                continue
            timeout = INBOX_POLL_S
            if deadline is not None and not self._draining:
                timeout = min(timeout, max(0, deadline - self.clock.now_ms()) / 1000)
            self._sleeping_until = self.clock.now_ms() + timeout * 1000
            self._asleep = True
            with trio.move_on_after(timeout):
                await self._wake.wait()
            self._asleep = False
            self._wake = trio.Event()
            # Let other finishing steps and requests join this turn's commit.
            await trio.lowlevel.checkpoint()

    def _may_turn_here(self) -> bool:
        """Whether a request may take its own turn rather than wake the loop.

        When the loop is asleep with no step results to store and no step in
        flight (the turn must not wait for a worker's commit). Each hop to the
        loop and back costs two passes of trio's scheduler.
        """
        return (
            self._asleep and not self._results and self._in_flight == 0
            and not self._draining and self._worker_error is None
        )

    def _turn_here(self) -> None:
        """The loop's turn, taken by the request that needs it."""
        try:
            turn = self._turn()
        except BaseException as err:  # noqa: BLE001 - the loop re-raises it
            self._worker_error = err
            self._wake.set()
            raise HostStopped("the executor stopped on an error") from None
        self._wake_for(turn)

    def _turn(self) -> _Turn:
        """A turn on the event loop: commands, step results, ready tasks."""
        commands, self._commands = self._commands, []
        results, self._results = self._results, []
        with self._lock:
            turn = self._turn_locked(commands, results, inbox=True)
        self._publish(turn)
        return turn

    def _turn_locked(self, commands: list[_Command],
                     results: list[tuple[StepRequest, StepOutcome]], *, inbox: bool) -> _Turn:
        """One transaction: timers, commands, step results and ready tasks."""
        engine, store = self.engine, self.store
        to_start: list[StepRequest] = []
        self.turns += 1
        with store.atomic():
            now = self.clock.now_ms()
            while engine.advance_time(now):
                pass
            if inbox and now / 1000 - self._last_inbox >= INBOX_POLL_S and not self._draining:
                self._last_inbox = now / 1000
                self._apply_inbox()
            for cmd in commands:
                try:
                    with store.atomic():
                        cmd.value = cmd.fn()
                except Exception as err:  # noqa: BLE001 - handed back to the caller
                    cmd.error = err
            for req, outcome in results:
                if self._codec is not None and outcome[0] == "ok":
                    outcome = self._as_read(req, outcome)
                engine.note_step_ran(req.attempt, req.index, req.spec, req.injected)
                engine.finish_step(req.attempt, req.index, req.spec, outcome)
            if not self._draining:
                n = 0
                while n < TURN_BATCH and engine.has_ready():
                    n += 1
                    request = engine.run_task()
                    if request is not None:
                        to_start.append(request)
        # Committed: now the world may see what this turn did.
        engine.step_run_log.clear()  # the simulation's self-check; unbounded here
        if self._trace_writer is not None:
            self._trace_writer.flush()
        finished, self._finished = self._finished, []
        return _Turn(commands, finished, to_start, engine.has_ready(),
                     self.scheduler.next_deadline())

    def _as_read(self, req: StepRequest, result: StepOutcome) -> StepOutcome:
        """A step's value as restate-sdk hands it to the handler under a journal
        value codec: what the step's serde reads back from ``decode(encode(...))``.

        A codec that gives back what it encoded leaves the handler the very value
        its closure returned (nothing changes); one that does not hands it the
        decoded value at once, as on Restate, where before the handler held its
        own until a restart. A value that cannot be written or read back is left
        to the engine and the store, which name what is wrong with it.
        """
        codec, serde = self._codec, req.spec.serde
        try:
            data = serde.serialize(result[1])
            back = codec.read_back(data, f"the result of step {req.spec.name!r} (journal entry "
                                         f"#{req.index}) "
                                         f"of invocation {req.attempt.rec.id!r}")
            if back == data:
                return result
            return ("ok", serde.deserialize(back))
        except Exception:  # noqa: BLE001 - told where the value is stored
            return result

    def _publish(self, turn: _Turn) -> None:
        """After a commit, on trio: answer commands, wake waiters, start steps."""
        for cmd in turn.commands:
            cmd.done.set()
        for rec in turn.finished:
            event = self._waiters.pop(rec.id, None)
            if event is not None:
                event.set()
        nursery = self._steps_nursery
        assert nursery is not None
        for req in turn.to_start:
            self._in_flight += 1
            if _on_trio(req.spec.fn):
                nursery.start_soon(self._run_step, req)
            else:
                self._run_in_thread(req)

    def _apply_inbox(self) -> None:
        take = getattr(self.store, "take_inbox", None)
        if take is None:
            return
        for command, arg in take():
            if self.record(arg) is None:
                continue
            if command == "cancel":
                self.engine.cancel(arg)
            elif command == "kill":
                self.engine.kill(arg)
            elif command == "resume":
                self.engine.resume(arg)

    def stop(self) -> None:
        """Finish at a step boundary: no new work; steps in flight are stored."""
        self._draining = True
        for event in self._waiters.values():
            event.set()
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # -- steps ----------------------------------------------------------------
    def _run_in_thread(self, req: StepRequest) -> None:
        """Run a plain-function step in a worker thread of trio's cache.

        No trio task waits for it: the thread hands its outcome back to the
        loop, which stores it at the next turn. (``trio.to_thread`` would add
        a task, a capacity limiter and re-entry support per step, a third of
        a step's hand-off on a small machine.) A result that arrives after
        the loop has ended is dropped, as an abandoned thread's would be.
        """
        token = trio.lowlevel.current_trio_token()
        trio.lowlevel.start_thread_soon(lambda: self._chain(req, token), lambda _: None)

    def _closure(self, req: StepRequest) -> outcome.Outcome[Any]:
        """Run a plain-function step's closure here, as its step."""
        context = req.context  # (the handler's, copied where the step started)
        context.run(current_step.set, self.engine.step_info(req.attempt, req.index, req.spec))
        call = functools.partial(req.spec.fn, *req.spec.args, **req.spec.kwargs)
        result = outcome.capture(context.run, call)
        if isinstance(result, outcome.Value) and inspect.isawaitable(result.value):
            refused = plain_awaitable(req.spec.fn, result.value)
            if refused is not None:
                return outcome.Error(refused)
        if isinstance(result, outcome.Value) and awaits_nothing(result.value):
            # (an ``async def`` that awaits nothing: run to its end here, see ``_on_trio``)
            return outcome.capture(context.run, drive, result.value, req.spec.name)
        return result

    def _chain(self, req: StepRequest, token: trio.lowlevel.TrioToken) -> None:
        """In a worker thread: run the step, then take the turn that stores it.

        While that turn's work includes a plain-function step, run it here
        too; the event loop starts the others and answers waiters. With
        other steps in flight, or when the host drains or stops, the result
        goes to the loop instead (one commit for many results).
        """
        while True:
            result = self._closure(req)
            if (isinstance(result, outcome.Value) and inspect.isawaitable(result.value)) or (
                self._in_flight > 1 or self._results
            ):
                self._hand_back(token, self._thread_done, req, result)
                return
            with self._lock:
                if self._draining or self._stopped or self._worker_error is not None:
                    self._hand_back(token, self._thread_done, req, result)
                    return
                before = self.scheduler.next_deadline()
                try:
                    turn = self._turn_locked([], [(req, _step_outcome(result))], inbox=False)
                except BaseException as err:  # noqa: BLE001 - the loop re-raises it
                    self._worker_error = err
                    self._hand_back(token, lambda: self._wake.set())
                    return
            after = next((r for r in turn.to_start if not _on_trio(r.spec.fn)), None)
            if after is None:
                self._hand_back(token, self._published_from_worker, turn, False)
                return
            turn.to_start.remove(after)
            if turn.finished or turn.to_start or turn.ready or (
                turn.deadline is not None and (before is None or turn.deadline < before)
            ):
                self._hand_back(token, self._published_from_worker, turn, True)
            # Else nothing for the loop to do: it sleeps on, undisturbed, while
            # this thread runs the next step (waking it would cost both threads
            # a scramble for the GIL at every step).
            req = after

    def _published_from_worker(self, turn: _Turn, chained: bool) -> None:
        if not chained:  # this worker's step slot is free
            self._in_flight -= 1
        self._publish(turn)
        self._wake_for(turn)

    def _wake_for(self, turn: _Turn) -> None:
        """After a turn the loop did not take, wake it if it left the loop work."""
        # The loop sleeps until its next deadline: wake it if the turn left
        # work, or a timer due sooner (say, the handler's next sleep). (What
        # the turn saw as it committed: taking the lock here would make the
        # loop wait for a worker's next commit.)
        deadline = turn.deadline
        if turn.ready or self._draining or (
            deadline is not None and deadline < self._sleeping_until
        ):
            self._wake.set()

    @staticmethod
    def _hand_back(token: trio.lowlevel.TrioToken, fn: Callable[..., Any], *args: Any) -> None:
        try:
            token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:  # the loop has ended: nobody waits for it
            pass

    def _thread_done(self, req: StepRequest, result: outcome.Outcome[Any]) -> None:
        if isinstance(result, outcome.Value) and inspect.isawaitable(result.value):
            # (an async function's awaitable that ``_closure`` did not drive to its
            # end: it finishes on trio; a plain function's is refused there)
            assert self._steps_nursery is not None
            self._steps_nursery.start_soon(self._run_step, req, result.value)
            return
        self._step_done(req, _step_outcome(result))

    def _step_done(self, req: StepRequest, result: StepOutcome) -> None:
        self._in_flight -= 1
        self._results.append((req, result))
        self._wake.set()

    async def _run_step(self, req: StepRequest, pending: Any = None) -> None:
        try:
            result = await self._execute(req, pending)
        except BaseException:
            self._in_flight -= 1
            raise
        self._step_done(req, result)

    async def _execute(self, req: StepRequest, pending: Any = None) -> StepOutcome:
        """Run a coroutine step (or what a plain one returned) on the steps' asyncio loop.

        One that awaits nothing runs here, at once: a loop would cost more.
        """
        spec = req.spec
        context = req.context  # (the handler's, copied where the step started)
        context.run(current_step.set, self.engine.step_info(req.attempt, req.index, spec))
        try:
            if pending is None:
                pending = context.run(functools.partial(spec.fn, *spec.args, **spec.kwargs))
                refused = plain_awaitable(spec.fn, pending)  # (an async callable object)
                if refused is not None:
                    raise refused
            if awaits_nothing(pending):
                return ("ok", context.run(drive, pending, spec.name))
            return ("ok", await self._on_asyncio(pending, context))
        except TerminalError as err:
            return ("terminal", err)
        except Exception as err:  # noqa: BLE001 - step failures are data
            return ("error", err)
        except _PASSED:
            raise
        except BaseException as err:  # noqa: BLE001 - the attempt fails (``attempt_failure``)
            return ("error", attempt_failure(err))

    async def _on_asyncio(self, awaitable: Any, context: contextvars.Context) -> Any:
        """Await ``awaitable`` on the steps' asyncio loop (its own thread), from trio,
        with ``context``'s variables (its step's)."""
        if self._asyncio is None:
            self._asyncio = LoopThread()
        token = trio.lowlevel.current_trio_token()
        finished = trio.Event()
        ended: list[concurrent.futures.Future[Any]] = []

        def done(future: concurrent.futures.Future[Any]) -> None:
            ended.append(future)
            self._hand_back(token, finished.set)

        context.run(self._asyncio.submit, lambda: _awaited(awaitable), done)
        await finished.wait()
        try:
            return ended[0].result()
        except Carried as carried:
            raise carried.error from None


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _step_outcome(result: outcome.Outcome[Any]) -> StepOutcome:
    """A plain-function step's outcome, as ``_execute`` reports a coroutine's."""
    if isinstance(result, outcome.Value):
        return ("ok", result.value)
    assert isinstance(result, outcome.Error)
    err = result.error
    if isinstance(err, TerminalError):
        return ("terminal", err)
    if not isinstance(err, Exception):  # the attempt fails (``attempt_failure``)
        return ("error", attempt_failure(err))
    return ("error", err)  # step failures are data


# What a handler or a step may raise through the host: the runtime's own
# unwinding, a coroutine's close, trio's cancellation, and Ctrl-C (``serve``
# takes SIGINT itself; one raised by the user's code stops the executor too).
_PASSED: Final = (Abort, GeneratorExit, KeyboardInterrupt, trio.Cancelled)


def _failing_attempts(spec: HandlerSpec, coded: bool = False) -> HandlerSpec:
    """``spec`` whose attempt fails, as on Restate, when the handler raises a
    ``BaseException`` that is not an ``Exception`` (``attempt_failure``): the
    invocation is retried from its journal and the executor serves on.

    ``coded`` (an app's journal value codec): an invocation whose body the codec
    could not decode (the ingress marks it ``UNDECODABLE_INPUT``) fails at its
    start with restate-sdk's terminal error, as on Restate."""
    start = spec.start

    async def start_caught(ctx: Any, data: bytes) -> bytes:
        if coded and UNDECODABLE_INPUT in ctx.request().headers:
            raise undecodable_input()
        try:
            return await start(ctx, data)
        except (Exception, *_PASSED):
            raise
        except BaseException as err:  # noqa: BLE001 - the attempt fails, as on Restate
            raise attempt_failure(err) from err

    return dataclasses.replace(spec, start=start_caught, direct=None, output=None)


def _on_trio(fn: Any) -> bool:
    """Whether a step's function runs on trio's thread: a coroutine function that
    awaits (it goes on to the steps' asyncio loop from there). The others run in a
    worker thread, and so does a coroutine function that awaits nothing: its code
    runs start to end at once, as a plain function's, and may block (a sync client,
    ``time.sleep``, in an ``async def``); on trio's thread it held up the ingress,
    every other invocation and Ctrl-C until it returned."""
    if not _is_async(fn):
        return False
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(fn, "__code__", None)
    if code is None:
        code = getattr(getattr(fn, "__call__", None), "__code__", None)  # noqa: B004
    return not isinstance(code, types.CodeType) or not code_awaits_nothing(code)


def _is_async(fn: Any) -> bool:
    if type(fn) is types.FunctionType and not fn.__dict__:
        # A plain function with no markers (inspect.markcoroutinefunction sets
        # one): its code says it all. The common case, asked at every step.
        return bool(fn.__code__.co_flags & inspect.CO_COROUTINE)
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


def check_recoverable(store: Store, specs: dict[tuple[str, str], HandlerSpec]) -> int | None:
    """Refuse to start when unfinished invocations name handlers not served now.

    Returns how many invocations are unfinished, or None for an empty store.
    """
    missing: dict[str, int] = {}
    records = store.invocations()
    unfinished = 0
    for rec in records:
        if rec.status != PENDING:
            continue
        unfinished += 1
        if (rec.service, rec.handler) not in specs:
            target = f"{rec.service}/{rec.handler}"
            missing[target] = missing.get(target, 0) + 1
    if missing:
        listed = ", ".join(f"{t} ({n})" for t, n in sorted(missing.items()))
        raise ValueError(
            f"the database holds unfinished invocations of handlers that are not being "
            f"served: {listed}. Serve those services too, or use another database."
        )
    return unfinished if records else None


def echo_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

