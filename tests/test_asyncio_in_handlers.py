"""A handler that reaches for asyncio is paused with the asyncio call, its line and what to use.

Restate's Python SDK warns against asyncio's own tasks, gather, sleep and
wait_for inside handlers (they bypass the journal); users still write them.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Iterator

import pytest

import simdurable as sd

svc = sd.Service("Loopy")


def one() -> int:
    return 1


@svc.handler()
async def task(ctx: sd.Context) -> int:
    started = asyncio.create_task(ctx.run_typed("a", one))  # LINE create_task
    return await started


@svc.handler()
async def gathered(ctx: sd.Context) -> list[int]:
    return list(await asyncio.gather(ctx.run_typed("a", one), ctx.run_typed("b", one)))  # LINE gather


@svc.handler()
async def slept(ctx: sd.Context) -> int:
    await asyncio.sleep(1)  # LINE sleep
    return 1


@svc.handler()
async def timed_out(ctx: sd.Context) -> int:
    return await asyncio.wait_for(ctx.run_typed("a", one), 5)  # LINE wait_for


def _line(call: str) -> int:
    lines = inspect.getsource(inspect.getmodule(_line)).splitlines()  # type: ignore[arg-type]
    return next(i for i, text in enumerate(lines, 1) if text.endswith(f"# LINE {call}"))


@pytest.fixture(params=["no loop set", "a loop set", "loop unset"])
def asyncio_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """asyncio's global loop state changes what its calls raise or return: each
    state must give the same report (other tests and plugins leave any of them)."""
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(None)  # a fresh policy: no loop set yet
    loop = None
    if request.param == "a loop set":
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    elif request.param == "loop unset":
        asyncio.set_event_loop(None)
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)
        if loop is not None:
            loop.close()


def _paused(handler: str) -> tuple[sd.HandlerError, sd.InvocationHandle]:
    """The error a ``Loopy`` handler's invocation ends with (it must end with
    one), and its handle."""
    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke(f"Loopy/{handler}")
    sim.run()
    with pytest.raises(sd.HandlerError) as info:
        h.result()
    return info.value, h


@pytest.mark.usefixtures("asyncio_state")
@pytest.mark.parametrize(("handler", "call", "instead"), [
    ("task", "create_task", "await it later, or use gather/select"),
    ("gathered", "gather", "use gather (simdurable.gather or restate.gather)"),
    ("slept", "sleep", "use ctx.sleep"),
    ("timed_out", "wait_for", "use select over the operation and a ctx.sleep timer"),
])
def test_the_pause_names_the_asyncio_call_its_line_and_the_replacement(
    handler: str, call: str, instead: str
) -> None:
    err, h = _paused(handler)
    assert err.source == f"test_asyncio_in_handlers.py:{_line(call)}"
    assert f"asyncio.{call}" in err.detail
    assert re.search(rf"Instead of asyncio\.{call}: [^.]*{re.escape(instead)}", err.detail)
    assert h.attempts == 1  # paused: retrying cannot fix it


@pytest.mark.usefixtures("asyncio_state")
def test_check_reports_the_asyncio_line() -> None:
    report = sd.check([svc], "Loopy/slept", max_examples=5)
    assert not report.ok
    text = str(report)
    assert f"test_asyncio_in_handlers.py:{_line('sleep')}" in text
    assert "Instead of asyncio.sleep: use ctx.sleep." in text


# asyncio's primitives that wait: with no running loop they ask None for a
# future, and the handler failed with an AttributeError on every attempt
# ("'NoneType' object has no attribute 'create_future'", at a line of asyncio).
@svc.handler()
async def evented(ctx: sd.Context) -> int:
    await asyncio.Event().wait()  # LINE Event.wait
    return 1


@svc.handler()
async def queued(ctx: sd.Context) -> int:
    q: asyncio.Queue[int] = asyncio.Queue()
    return await q.get()  # LINE Queue.get


@svc.handler()
async def locked(ctx: sd.Context) -> int:
    lock = asyncio.Lock()
    async with lock:
        await lock.acquire()  # LINE Lock.acquire
    return 1


@svc.handler()
async def queued_ready(ctx: sd.Context) -> int:
    q: asyncio.Queue[int] = asyncio.Queue()
    q.put_nowait(7)
    return await q.get()  # (nothing to wait for: no loop needed)


@pytest.mark.usefixtures("asyncio_state")
@pytest.mark.parametrize(("handler", "call", "instead"), [
    ("evented", "Event.wait", "an awakeable"),
    ("queued", "Queue.get", "calls and sends"),
    ("locked", "Lock.acquire", "exclusive handlers"),
])
def test_an_asyncio_primitive_that_waits_is_paused_at_its_line(
    handler: str, call: str, instead: str
) -> None:
    err, h = _paused(handler)
    assert err.source == f"test_asyncio_in_handlers.py:{_line(call)}"
    assert f"the handler used an event loop (asyncio.{call}: no running event loop)" \
        in err.detail
    assert re.search(rf"Instead of asyncio\.{re.escape(call)}: [^.]*{instead}", err.detail)
    assert h.attempts == 1


def test_an_asyncio_primitive_that_need_not_wait_still_works() -> None:
    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke("Loopy/queued_ready")
    sim.run()
    assert h.result() == 7
