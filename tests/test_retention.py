"""Idempotency and workflow retention: how long a duplicate still gets the
first invocation (Restate's default: 24 hours after it completed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate

payments = restate.Service("Payments")
quick = restate.Service("Quick", idempotency_retention=timedelta(minutes=10))
signup = restate.Workflow("Signup")
charged: list[int] = []


def charge_card(amount: int) -> int:
    charged.append(amount)
    return len(charged)


@payments.handler()
async def charge(ctx: restate.Context, amount: int) -> int:
    return await ctx.run_typed("charge", charge_card, amount=amount)


@payments.handler(idempotency_retention=timedelta(minutes=5))
async def refund(ctx: restate.Context, amount: int) -> int:
    return await ctx.run_typed("refund", charge_card, amount=-amount)


@quick.handler(idempotency_retention=timedelta(0))
async def pong(ctx: restate.Context, n: int) -> int:
    return await ctx.run_typed("pong", charge_card, amount=n)


@quick.handler()
async def ping(ctx: restate.Context, n: int) -> int:
    return await ctx.run_typed("ping", charge_card, amount=n)


@signup.main(workflow_retention=timedelta(hours=1))
async def run(ctx: restate.WorkflowContext, name: str) -> str:
    before = await ctx.get("greeted")
    ctx.set("greeted", name)
    await ctx.promise("sent").resolve("yes")
    return f"{name} (before: {before})"


@pytest.fixture(autouse=True)
def _fresh() -> None:
    charged.clear()


def later(sim: restate.Simulation, by: timedelta) -> None:
    sim.run(until=timedelta(seconds=sim.now()) + by)


def test_a_duplicate_gets_the_first_invocation_for_24_hours_then_runs_anew() -> None:
    sim = restate.Simulation([payments])
    first = sim.invoke("Payments/charge", 30, idempotency_key="order-1")
    sim.run()
    later(sim, timedelta(hours=23, minutes=59))
    again = sim.invoke("Payments/charge", 30, idempotency_key="order-1")
    sim.run()
    assert again.id == first.id and again.result() == 1
    assert charged == [30]

    later(sim, timedelta(minutes=2))  # 24 h and 1 min after it completed
    renewed = sim.invoke("Payments/charge", 30, idempotency_key="order-1")
    sim.run()
    assert renewed.id != first.id
    assert renewed.result() == 2 and charged == [30, 30]
    assert first.result() == 1  # the first one's record is still there to read
    assert any(" expired " in line and "Payments/charge" in line for line in sim.trace())
    # The renewed invocation now answers duplicates of the key.
    assert sim.invoke("Payments/charge", 30, idempotency_key="order-1").id == renewed.id


def test_retention_counts_from_completion_not_submission() -> None:
    sim = restate.Simulation([payments])
    sim.invoke("Payments/refund", 5, idempotency_key="r")
    sim.run()
    later(sim, timedelta(minutes=4))
    sim.invoke("Payments/refund", 5, idempotency_key="r")
    sim.run()
    assert charged == [-5]
    later(sim, timedelta(minutes=2))  # 6 min after completion: the handler keeps 5
    sim.invoke("Payments/refund", 5, idempotency_key="r")
    sim.run()
    assert charged == [-5, -5]


def test_a_service_sets_the_retention_of_its_handlers() -> None:
    sim = restate.Simulation([quick])
    first = sim.invoke("Quick/ping", 1, idempotency_key="p")
    sim.run()
    later(sim, timedelta(minutes=9))
    assert sim.invoke("Quick/ping", 1, idempotency_key="p").id == first.id
    later(sim, timedelta(minutes=2))
    assert sim.invoke("Quick/ping", 1, idempotency_key="p").id != first.id


def test_a_handler_retention_of_zero_overrides_its_services() -> None:
    sim = restate.Simulation([quick])
    first = sim.invoke("Quick/pong", 1, idempotency_key="p")
    sim.run()
    # Deduplicated only while it runs: once completed, the key is free again.
    assert sim.invoke("Quick/pong", 1, idempotency_key="p").id != first.id


def test_a_workflow_runs_again_once_its_retention_ends_with_fresh_state() -> None:
    sim = restate.Simulation([signup])
    first = sim.invoke("Signup/ada/run", "ada")
    sim.run()
    assert first.result() == "ada (before: None)"
    assert sim.state("Signup", "ada") == {"greeted": "ada"}

    later(sim, timedelta(minutes=30))
    duplicate = sim.invoke("Signup/ada/run", "ada")
    sim.run()
    with pytest.raises(restate.TerminalError, match="already invoked"):
        duplicate.result()

    later(sim, timedelta(minutes=31))  # an hour and a minute after it completed
    renewed = sim.invoke("Signup/ada/run", "ada")
    sim.run()
    # State and promises went with the first run: the promise resolves again.
    assert renewed.result() == "ada (before: None)"
    assert renewed.id != first.id


def test_same_seed_same_run_with_expiries() -> None:
    def one() -> list[str]:
        charged.clear()
        sim = restate.Simulation([payments, signup], seed=7)
        for day in range(3):
            sim.invoke("Payments/charge", day, idempotency_key="daily")
            sim.invoke("Signup/bob/run", "bob")
            sim.run()
            later(sim, timedelta(hours=25))
        return sim.trace()

    first = one()
    assert sum(" expired " in line for line in first) == 4  # two keys, renewed twice each
    assert first == one()


@pytest.mark.parametrize("option", ["idempotency_retention", "workflow_retention"])
def test_a_bad_retention_is_refused_with_its_name(option: str) -> None:
    wf = restate.Workflow("Bad")
    decorate = wf.main if option == "workflow_retention" else wf.handler
    with pytest.raises(ValueError, match=option):
        decorate(**{option: timedelta(seconds=-1)})
    with pytest.raises(ValueError, match=option):
        decorate(**{option: 60})
