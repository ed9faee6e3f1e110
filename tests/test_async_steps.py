"""Async step closures that use asyncio run, as on Restate, in the simulation
and in the executor; plain coroutines keep running without a loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import simdurable as restate
import simdurable as sd
from simdurable._asyncio_steps import awaits_nothing

svc = restate.Service("Async")
mailer = sd.FakeExternal("mailer")


async def slow_double(n: int) -> int:
    await asyncio.sleep(0.01)
    return n * 2


async def echo_over_tcp(text: str) -> str:
    """Real asyncio I/O: a server and a client on 127.0.0.1, both gone after."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(text.encode() + b"\n")
        await writer.drain()
        answer = (await reader.readline()).decode().strip()
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    return answer


async def mail_after_a_wait(to: str) -> str:
    await asyncio.sleep(0)
    return str(mailer.apply("send", to)["id"])  # the fake sees which step it is in


async def both() -> list[int]:
    return list(await asyncio.gather(slow_double(1), slow_double(2)))


async def plain(n: int) -> int:
    return n + 1


@svc.handler()
async def run(ctx: restate.Context, n: int) -> list:
    doubled = await ctx.run_typed("double", slow_double, n=n)
    gathered = await ctx.run_typed("gather", both)
    echoed = await ctx.run_typed("echo", echo_over_tcp, text="hi")
    mailed = await ctx.run_typed("mail", mail_after_a_wait, to="ann")
    bumped = await ctx.run_typed("plain", plain, n=n)
    return [doubled, gathered, echoed, mailed, bumped]


EXPECTED = [6, [2, 4], "HI", "mailer-1", 4]


@pytest.fixture(autouse=True)
def fresh_mailer() -> None:
    mailer.reset()


def test_async_step_closures_that_use_asyncio_run_in_the_simulation() -> None:
    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke("Async/run", 3)
    sim.run()
    assert h.result() == EXPECTED
    assert h.attempts == 1
    # The closures' real time does not move the virtual clock.
    assert sim.now() == 0
    [effect] = mailer.effects
    assert (effect.step, effect.invocation) == ("mail", h.id)


def test_a_run_with_asyncio_steps_is_the_same_for_the_same_seed() -> None:
    def one() -> list[str]:
        mailer.reset()
        sim = sd.Simulation([svc], seed=7, faults="crash(step=echo, phase=after-store)")
        h = sim.invoke("Async/run", 3)
        sim.run()
        assert h.result() == EXPECTED
        assert h.attempts == 2  # the crash after the echo was stored: it did not run again
        return sim.trace()

    assert one() == one()


def test_asyncio_steps_run_when_the_simulation_runs_inside_an_event_loop() -> None:
    async def a_test() -> object:
        sim = sd.Simulation([svc], seed=1)
        h = sim.invoke("Async/run", 3)
        sim.run()
        return h.result()

    assert asyncio.run(a_test()) == EXPECTED


def test_only_coroutines_that_await_take_the_loop() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)

    coros = [plain(1), slow_double(1), waits(), asyncio.sleep(0)]
    try:
        assert [awaits_nothing(c) for c in coros] == [True, False, False, False]
    finally:
        for c in coros:
            c.close()


def test_async_step_closures_that_use_asyncio_run_in_the_executor(tmp_path: Path) -> None:
    with sd.Executor([svc], db=tmp_path / "dev.db") as ex:
        started = time.monotonic()
        assert ex.call("Async/run", 3, timeout=30) == EXPECTED
        assert time.monotonic() - started < 20
    assert [e.step for e in mailer.effects] == ["mail"]


@pytest.mark.parametrize("step", [slow_double, echo_over_tcp])
def test_the_fast_path_still_refuses_what_it_cannot_run(step: object) -> None:
    """Without a host's loop (the engine's default), an awaiting closure is refused
    with a clear error, not retried for ever."""
    from simdurable.runtime._errors import HandlerError
    from simdurable.runtime._steps import drive

    coro = step(1) if step is slow_double else step("x")  # type: ignore[operator]
    with pytest.raises((HandlerError, RuntimeError)):
        drive(coro, "s")
    coro.close()
