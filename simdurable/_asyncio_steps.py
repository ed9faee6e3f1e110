"""Async step closures on a real asyncio event loop, as on Restate.

A step is the outside world: its closure may await ``asyncio.sleep``, an
``httpx.AsyncClient`` or any asyncio library, as it can on Restate's Python
SDK (which runs on asyncio). Hosts run such a closure on an event loop of their
own: the simulation on a private loop (``StepLoop``), the executor on a loop in
a thread of its own (``LoopThread``). The closure's real time does not move the
simulation's virtual clock: the step's outcome is stored at the virtual time
it started at, as any step's is.

A coroutine that awaits nothing (the common ``async def`` closure that only
computes) is run by hand, without a loop: a loop would cost more than the
whole step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dis
import threading
import types
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Final

from .runtime._steps import drive

# Instructions that suspend a coroutine: ``await``, ``async for``, ``async with``.
_SUSPENDING: Final = frozenset({"YIELD_VALUE", "GET_AWAITABLE", "GET_ANEXT",
                                "BEFORE_ASYNC_WITH"})
_awaits: dict[types.CodeType, bool] = {}
# How long ``LoopThread.close`` waits for its loop to stop: an idle loop stops at once.
STOP_WAIT_S: Final = 0.5


def awaits_nothing(awaitable: Any) -> bool:
    """Whether ``awaitable`` is a coroutine whose code never awaits (asked once per code)."""
    if not isinstance(awaitable, types.CoroutineType):
        return False
    return code_awaits_nothing(awaitable.cr_code)


def code_awaits_nothing(code: types.CodeType) -> bool:
    """Whether a coroutine function's ``code`` never awaits (asked once per code)."""
    found = _awaits.get(code)
    if found is None:
        found = _awaits[code] = any(i.opname in _SUSPENDING for i in dis.get_instructions(code))
    return not found


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class StepLoop:
    """A private asyncio loop for one simulation's async step closures.

    The loop is made on first use and closed when this object goes. When the
    simulation itself runs inside a running event loop (an async test), the
    closure runs on the private loop in a helper thread, since a thread runs
    one loop at a time.
    """

    def __init__(self) -> None:
        # Both made at their first use. (The instance's own attributes, not the
        # class's: a finished simulation's ``__del__`` reads both to keep an
        # engine whose loop is unused, and the interpreter never specialises an
        # instance's read of a class attribute. A new engine makes one of
        # these; an engine taken again keeps its own.)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._helper: concurrent.futures.ThreadPoolExecutor | None = None

    def run(self, awaitable: Any, step: str) -> Any:
        """Run an async step closure's awaitable to its result (or exception)."""
        if awaits_nothing(awaitable):
            return drive(awaitable, step)
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            weakref.finalize(self, self._loop.close)
        coro = _awaited(awaitable)
        if asyncio._get_running_loop() is None:
            return self._loop.run_until_complete(coro)
        if self._helper is None:
            self._helper = concurrent.futures.ThreadPoolExecutor(1, "simdurable-steps")
            weakref.finalize(self, self._helper.shutdown, False)
        context = contextvars.copy_context()
        return self._helper.submit(context.run, self._loop.run_until_complete, coro).result()


class Carried(Exception):
    """A closure's ``BaseException`` that is not an ``Exception``, carried out of
    its task on ``LoopThread``'s loop: asyncio would raise ``SystemExit`` (and
    ``KeyboardInterrupt``) out of the loop itself, ending its thread with the
    step unanswered. ``error`` is the closure's."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class LoopThread:
    """An asyncio loop running in a daemon thread, for a live host's async steps.

    ``submit`` schedules a closure's coroutine there and calls ``done`` with
    its outcome, from the loop's thread, when it ends. Async steps in flight
    run concurrently on it, as they do on Restate's SDK.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="simdurable-async-steps", daemon=True)
        self._thread.start()

    def submit(self, make: Callable[[], Coroutine[Any, Any, Any]],
               done: Callable[[concurrent.futures.Future[Any]], None]) -> None:
        """Run ``make()`` on the loop, in the caller's context (its ``current_step``)."""
        context = contextvars.copy_context()

        async def step() -> Any:
            for var, value in context.items():  # into this task's own context
                var.set(value)
            try:
                return await make()
            except (Exception, asyncio.CancelledError):
                raise
            except BaseException as err:  # noqa: BLE001 - handed over as ``Carried``
                raise Carried(err) from None

        future = asyncio.run_coroutine_threadsafe(step(), self._loop)
        future.add_done_callback(done)

    def close(self) -> None:
        """Stop the loop (steps still on it are abandoned, as a crash would) and close it.

        A loop held by a step that blocks it (``time.sleep`` after an ``await``) is
        left to its daemon thread, unclosed: the executor stops now, not when that
        step's call returns (it waited 5 s for it, on Ctrl-C's "stop now" too)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=STOP_WAIT_S)
        if not self._loop.is_running():
            self._loop.close()
