"""Resuming a paused invocation: fix what paused it, resume, and it goes on
from its journal (stored steps do not run again)."""

from __future__ import annotations

import pytest

import simdurable as sd
from simdurable.runtime import InvalidTargetError

broken = [True]
fixable = sd.Service("Fixable")
ledger = sd.VirtualObject("Ledger")


def add(i: int) -> int:
    return i + 1


@fixable.handler()
async def run(ctx: sd.Context, n: int) -> int:
    x = await ctx.run_typed("first", add, i=n)
    if broken[0]:
        ctx.set("oops", 1)  # a Service has no state: a bug, the invocation pauses
    return await ctx.run_typed("second", add, i=x)


@fixable.handler()
async def caller(ctx: sd.Context, n: int) -> int:
    pending = ctx.service_call(run, n)  # the callee may finish while this one is paused
    if broken[0]:
        ctx.set("oops", 1)
    return await pending + 100


@ledger.handler()
async def post(ctx: sd.ObjectContext, amount: int) -> int:
    total = (await ctx.get("total") or 0) + amount

    def audited() -> int:
        if broken[0] and amount < 0:
            ctx.get("total")  # the bug: the context used inside a step pauses it
        return total

    total = await ctx.run_typed("audit", audited)
    ctx.set("total", total)
    return total


@pytest.fixture(autouse=True)
def _broken() -> None:
    broken[0] = True


def test_a_fixed_invocation_resumes_from_its_journal() -> None:
    sim = sd.Simulation([fixable, ledger], seed=3)
    h = sim.invoke("Fixable/run", 1)
    sim.run()
    assert h.status == "paused"
    assert sim.resume(h)  # not fixed yet: it pauses again, at the same place
    sim.run()
    assert h.status == "paused"
    assert sim.step_runs(h) == {"first": 1}

    broken[0] = False  # the fix
    assert sim.resume(h)
    sim.run()
    assert h.result() == 3
    assert sim.step_runs(h) == {"first": 1, "second": 1}
    assert any("resumes (it was paused" in line for line in sim.trace())
    assert not sim.resume(h)  # completed: nothing to resume


def test_a_callee_that_finished_during_the_pause_is_seen_on_resume() -> None:
    sim = sd.Simulation([fixable, ledger], seed=1)
    h = sim.invoke("Fixable/caller", 5)
    sim.run()
    assert h.status == "paused"
    callee = [i for i in sim.invocations() if i.target == "Fixable/run"][0]
    broken[0] = False
    assert sim.resume(callee)  # it paused too; fixed, it finishes while the caller is paused
    sim.run()
    assert callee.result() == 7 and h.status == "paused"
    assert sim.resume(h)
    sim.run()
    assert h.result() == 107


def _paused_holding_its_key() -> tuple[sd.Simulation, sd.InvocationHandle,
                                       sd.InvocationHandle]:
    """A post that paused on a bug, and another queued behind it for the key."""
    sim = sd.Simulation([fixable, ledger], seed=2)
    bad = sim.invoke("Ledger/acct/post", -5)
    good = sim.invoke("Ledger/acct/post", 10)
    sim.run()
    assert bad.status == "paused" and good.status == "queued"
    return sim, bad, good


def test_a_paused_exclusive_handler_keeps_its_key_until_resumed() -> None:
    sim, bad, good = _paused_holding_its_key()
    broken[0] = False
    assert sim.resume(bad)
    sim.run()
    assert bad.result() == -5 and good.result() == 5
    assert sim.state("Ledger", "acct") == {"total": 5}


def test_resume_names_an_unknown_invocation() -> None:
    sim = sd.Simulation([fixable, ledger], seed=1)
    with pytest.raises(InvalidTargetError, match="no invocation 'inv_nope'"):
        sim.resume("inv_nope")


def test_cancelling_a_paused_invocation_ends_it_and_frees_its_key() -> None:
    sim, bad, good = _paused_holding_its_key()
    sim.cancel(bad)
    sim.run()
    with pytest.raises(sd.TerminalError, match="cancelled"):
        bad.result()
    assert good.result() == 10
    assert not sim.resume(bad)
