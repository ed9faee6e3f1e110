"""A handler whose async step blocks: a sync call inside an ``async def`` that awaits
nothing (for the live executor's Ctrl-C and ingress liveness tests)."""

from __future__ import annotations

import os
import time

import simdurable as sd

SIDEFILE = os.environ.get("SIMDURABLE_TEST_SIDEFILE", "")

blocker = sd.Service("Blocker")


async def blocking(seconds: float) -> str:
    if SIDEFILE:
        with open(SIDEFILE, "a") as f:
            f.write("started\n")
    time.sleep(seconds)  # (a sync client's call, say)
    return "slept"


@blocker.handler()
async def block(ctx: sd.Context, seconds: float) -> str:
    return await ctx.run_typed("block", blocking, seconds=seconds)
