"""Handlers for the live crash test: every step records its run in a side file.

The server under test is started with ``SIMDURABLE_TEST_SIDEFILE`` (where
closures append one fsynced JSON line per run) and ``SIMDURABLE_TEST_GEN``
(which server process this is). A step returns a token naming its run, so
the test can tell which run's result the journal stored.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import simdurable as restate
from simdurable.runtime import current_step

SIDEFILE = os.environ.get("SIMDURABLE_TEST_SIDEFILE", "")
GEN = int(os.environ.get("SIMDURABLE_TEST_GEN", "0"))


def note(step: str) -> str:
    """A step's closure: log this run (fsynced), dawdle a little, return its token."""
    info = current_step.get()
    assert info is not None
    token = f"{GEN}:{uuid.uuid4().hex}"
    line = json.dumps({"inv": info.invocation, "index": info.index, "step": step,
                       "gen": GEN, "token": token, "t_ms": time.time_ns() // 1_000_000})
    if SIDEFILE:
        fd = os.open(SIDEFILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    time.sleep(random.uniform(0, 0.015))
    return token


async def anote(step: str) -> str:
    """The same as ``note``, as a coroutine closure run on the steps' asyncio loop."""
    import asyncio

    await asyncio.sleep(random.uniform(0, 0.01))
    return note(step)


orders = restate.Service("Orders")
customers = restate.VirtualObject("Customer")
sleeper = restate.Service("Sleeper")


@orders.handler()
async def place(ctx: restate.Context, req: dict[str, Any]) -> dict[str, Any]:
    await ctx.run_typed("reserve", note, step="reserve")
    await ctx.run_typed("charge", anote, step="charge")
    if req.get("sleep_ms"):
        await ctx.sleep(timedelta(milliseconds=req["sleep_ms"]))
    await ctx.object_call(add, key=req["customer"], arg=req["amount"])
    await ctx.run_typed("ship", note, step="ship")
    return {"order": req["id"], "amount": req["amount"]}


@customers.handler()
async def add(ctx: restate.ObjectContext, amount: int) -> int:
    total = (await ctx.get("total")) or 0
    count = (await ctx.get("count")) or 0
    await ctx.run_typed("audit", note, step="audit")
    ctx.set("total", total + amount)
    ctx.set("count", count + 1)
    return int(total + amount)


@sleeper.handler()
async def nap(ctx: restate.Context, ms: int) -> str:
    await ctx.run_typed("before", note, step="before")
    await ctx.sleep(timedelta(milliseconds=ms))
    await ctx.run_typed("after", note, step="after")
    return f"napped {ms}"


def slow(ms: int) -> str:
    time.sleep(ms / 1000)
    return note("slow")


@sleeper.handler()
async def slow_then_next(ctx: restate.Context, ms: int) -> str:
    await ctx.run_typed("slow", slow, ms=ms)
    await ctx.run_typed("next", note, step="next")
    return "done"


services = [orders, customers, sleeper]
