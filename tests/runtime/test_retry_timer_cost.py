"""A crash's fixed cost: its retry's backoff and timer.

Each crash, failed attempt and restart asks the invocation's retry policy for
its delay: the policy's ``Backoff`` (a frozen dataclass, two ``to_ms``) is made
once for a policy (``_retry.policy_backoff``), and the retry's timer goes on the
scheduler's heap, not a sorted list (``sortedcontainers`` is not imported).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

import simdurable as sd
from simdurable.runtime import _retry
from simdurable.runtime._retry import InvocationRetryPolicy, policy_backoff, retry_delay

svc = sd.Service("RetryCost")


def work(i: int) -> int:
    return i + 1


@svc.handler()
async def run(ctx: sd.Context, x: int) -> int:
    for name in ("a", "b", "c"):
        x = await ctx.run_typed(name, work, i=x)
    return x


def test_a_policy_makes_its_backoff_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[InvocationRetryPolicy] = []
    backoff = InvocationRetryPolicy.backoff

    def counted(self: InvocationRetryPolicy) -> _retry.Backoff:
        made.append(self)
        return backoff(self)

    monkeypatch.setattr(InvocationRetryPolicy, "backoff", counted)
    policy = InvocationRetryPolicy(initial_interval=timedelta(milliseconds=70))
    for seed in range(3):
        sim = sd.Simulation([svc], seed=seed, retry_policy=policy)
        sim.crash(after="b", point="after-store")
        sim.crash(after="c", point="before", attempt=2)
        h = sim.invoke("RetryCost/run", 1)
        sim.run()
        assert h.result() == 4
        assert any("next attempt in 140ms" in line for line in sim.trace())
        sim.close()
    assert made == [policy]
    assert policy_backoff(policy) is policy_backoff(policy)
    assert retry_delay(policy, 3, counts=True, delay_ms=None, retry_after=None) == 280


def test_a_subclass_is_asked_each_time() -> None:
    class Shorter(InvocationRetryPolicy):
        def backoff(self) -> _retry.Backoff:
            return _retry.Backoff(initial_ms=1, factor=1.0, max_interval_ms=1)

    policy = Shorter()
    assert policy_backoff(policy) is not policy_backoff(policy)
    assert retry_delay(policy, 5, counts=True, delay_ms=None, retry_after=None) == 1


def test_a_crash_run_imports_no_sorted_list() -> None:
    code = (
        "import sys\n"
        "import simdurable as sd\n"
        "svc = sd.Service('S')\n"
        "def work(i):\n"
        "    return i + 1\n"
        "@svc.handler()\n"
        "async def run(ctx, x):\n"
        "    x = await ctx.run_typed('a', work, i=x)\n"
        "    await ctx.sleep(__import__('datetime').timedelta(seconds=1))\n"
        "    return await ctx.run_typed('b', work, i=x)\n"
        "sim = sd.Simulation([svc], seed=0)\n"
        "sim.crash(after='b', point='before')\n"
        "h = sim.invoke('S/run', 1)\n"
        "sim.run()\n"
        "assert h.result() == 3, h.result()\n"
        "assert 'sortedcontainers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
