"""Handlers that break deterministic replay, for scenarios that expect the failure.

``route`` decides which step to run by reading a fake external outside any
step: on the first attempt the fraud service was never called, on the replay
after a crash it was, so the replay issues a different step than the journal
holds. ``stamp`` reads the wall clock outside a step, which strict mode
reports as a nondeterministic call.
"""

from __future__ import annotations

import time

import simdurable as restate

fraud = restate.FakeExternal("fraud")
router = restate.Service("Router")


def _check(amount: int) -> bool:
    fraud.apply("check", {"amount": amount})
    return amount < 1000


@router.handler()
async def route(ctx: restate.Context, amount: int) -> str:
    step = "fast-path" if fraud.calls == 0 else "slow-path"  # wrong: state outside a step
    ok = await ctx.run_typed(step, _check, amount=amount)
    return "approved" if ok else "declined"


@router.handler()
async def stamp(ctx: restate.Context, note: str) -> str:
    now = time.time()  # wrong: use `await ctx.time()` or a step
    return f"{note} (stamped)" if now > 0 else note


services = [router]
externals = [fraud]
