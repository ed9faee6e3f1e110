"""Each attempt of an invocation runs its handler in a context of its own, as on
Restate, where each invocation is a request the server runs in a task of its own
(restate-sdk 1.3.0's ASGI ``app`` runs the handler in the request's task): a
context variable one invocation's handler sets (a request id, a tenant, a span)
is never seen by another handler interleaved with it, nor by the invocations it
calls, nor by its own next attempt; every resume of the handler (after a timer,
a call, a step) finds what it set before. A handler starts with what the code
running the simulation set, as a request starts with a copy of the server's."""

from __future__ import annotations

import contextvars
from datetime import timedelta
from typing import Any

import pytest

import simdurable as sd

REQUEST = contextvars.ContextVar("simdurable_test_request_id", default="unset")
svc = sd.Service("InvocationContext")
seen_at_start: list[str] = []
resets: list[str] = []


def echo(tag: str) -> str:
    return f"{REQUEST.get()}/{tag}"


@svc.handler()
async def callee(ctx: sd.Context, tag: str) -> str:
    before = REQUEST.get()
    REQUEST.set(f"callee-{tag}")
    return before


@svc.handler()
async def tagged(ctx: sd.Context, tag: str) -> list[str]:
    seen = [REQUEST.get()]
    REQUEST.set(tag)
    await ctx.sleep(timedelta(seconds=1))
    seen.append(REQUEST.get())
    seen.append(await ctx.service_call(callee, tag))
    seen.append(REQUEST.get())
    seen.append(await ctx.run_typed("echo", echo, tag=tag))
    await ctx.sleep(timedelta(seconds=1))
    seen.append(REQUEST.get())
    return seen


@svc.handler()
async def retried(ctx: sd.Context, tag: str) -> str:
    seen_at_start.append(REQUEST.get())
    REQUEST.set(f"{tag}-attempt{len(seen_at_start)}")
    await ctx.run_typed("echo", echo, tag=tag)
    if len(seen_at_start) == 1:
        raise RuntimeError("first attempt fails")
    return REQUEST.get()


@svc.handler()
async def resets_in_finally(ctx: sd.Context, tag: str) -> None:
    token = REQUEST.set(tag)
    try:
        await ctx.sleep(timedelta(days=1))
    finally:
        try:
            REQUEST.reset(token)
            resets.append("reset")
        except ValueError as err:  # (a token used in another context)
            resets.append(f"refused: {err}")


def run(target: str, tags: list[str], *, express: bool = True, strict: bool = False,
        seed: int = 1, until: timedelta | None = None) -> tuple[list[Any], list[str]]:
    """In a context of its own, where the server's variable says "server"."""
    def go() -> tuple[list[Any], list[str]]:
        REQUEST.set("server")
        sim = sd.Simulation([svc], seed=seed, strict=strict)
        sim.engine.steps.express = express
        handles = [sim.invoke(f"InvocationContext/{target}", tag) for tag in tags]
        if until is None:
            sim.run()
            return [h.result() for h in handles], sim.trace()
        sim.run(until=until)
        sim.close()  # (closes the handlers still waiting)
        return [], sim.trace()

    return contextvars.copy_context().run(go)


@pytest.mark.parametrize("express", [True, False])
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("count", [2, 5])
def test_interleaved_invocations_each_keep_their_own_variables(express, strict, count):
    tags = [f"req{n}" for n in range(count)]
    results, _ = run("tagged", tags, express=express, strict=strict)
    assert results == [["server", tag, "server", tag, f"{tag}/{tag}", tag] for tag in tags]
    assert REQUEST.get() == "unset"  # (nothing reached the code running the test either)


def test_a_retry_starts_from_a_fresh_copy_not_the_last_attempts():
    seen_at_start.clear()
    results, trace = run("retried", ["r"])
    assert results == ["r-attempt2"]
    assert seen_at_start == ["server", "server"]
    assert any("first attempt fails" in line for line in trace), trace


def test_a_handler_closed_unfinished_unwinds_in_its_own_context():
    """A ``finally:`` resetting its token works when a simulation is closed with
    the handler waiting: its coroutine is closed in its own context."""
    resets.clear()
    run("resets_in_finally", ["a", "b"], until=timedelta(hours=1))
    assert resets == ["reset", "reset"]


def test_the_same_seed_gives_the_same_trace():
    tags = ["x", "y", "z"]
    assert run("tagged", tags, seed=4)[1] == run("tagged", tags, seed=4)[1]
