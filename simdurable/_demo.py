"""``simdurable demo``: simulate a small handler with a crash and show the run.

A self-contained tour: the handler charges a fake bank inside a step; the
service process crashes after the charge ran but before its result was stored;
the invocation replays, runs the charge again, and the idempotency key drawn
from ``ctx.uuid()`` keeps the bank at one charge.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from ._api.context import Context
from ._api.external import FakeExternal
from ._api.service import Service
from ._sim import Simulation


def _build() -> tuple[Service, FakeExternal]:
    bank = FakeExternal("bank")
    svc = Service("Payments")

    def charge(key: str, amount: int) -> str:
        return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])

    @svc.handler()
    async def pay(ctx: Context, amount: int) -> str:
        key = str(ctx.uuid())
        receipt = await ctx.run_typed("charge", charge, key=key, amount=amount)
        await ctx.sleep(timedelta(days=30))
        return f"paid {amount} ({receipt})"

    return svc, bank


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="the simulation's seed")


def run(args: argparse.Namespace) -> int:
    if args.seed < 0:
        print(f"simdurable demo: --seed must be an integer >= 0, not {args.seed}",
              file=sys.stderr)
        return 2
    svc, bank = _build()
    sim = Simulation([svc], seed=args.seed, externals=[bank])
    sim.crash(after="charge", point="effect-done")
    h = sim.invoke("Payments/pay", 10)
    sim.run()
    print("trace:")
    for line in sim.trace():
        print("  " + line)
    print("journal:")
    print("  " + sim.describe_journal(h).replace("\n", "\n  "))
    print(f"result: {h.result()!r} after {sim.now():.1f} virtual seconds")
    print(f"charge closure ran {sim.step_runs(h)['charge']} times; "
          f"bank effects: {len(bank.effects)}")
    return 0
