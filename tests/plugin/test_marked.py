"""The exploration behind ``@pytest.mark.simdurable``, driven directly."""

from __future__ import annotations

import pytest

from examples import counter, payments
from simdurable import FaultPlan
from simdurable._pytest._marked import SimFactory, explore, replay

ORDER = {"amount": 10}


def pay_body(factory: SimFactory, handler: str) -> object:
    def body() -> None:
        s = factory([payments.payments], externals=[payments.bank])
        h = s.invoke(f"Payments/{handler}", ORDER)
        s.run()
        assert h.result()["amount"] == 10
        assert len(payments.bank.effects) == 1

    return body


def test_a_correct_handler_passes_every_example() -> None:
    factory = SimFactory()
    result = explore(factory, pay_body(factory, "pay"), seed=0, max_examples=25)
    assert result.finding is None
    assert result.examples == 25
    assert result.fault_points == 3  # before, effect-done and after-store of "charge"


def test_the_crash_that_breaks_it_is_found_pinned_and_replayable() -> None:
    factory = SimFactory()
    body = pay_body(factory, "pay_unsafe")
    result = explore(factory, body, seed=5, max_examples=25)
    assert result.finding is not None
    assert str(result.finding.plan) == ("crash(step=charge, index=0, phase=effect-done, "
                                        "attempt=1, target=Payments/pay_unsafe)")
    assert result.finding.seed == 5
    assert isinstance(result.finding.error, AssertionError)
    assert any("crash at effect-done" in line for line in result.finding.timeline)
    with pytest.raises(AssertionError):
        replay(factory, body, FaultPlan.parse(str(result.finding.plan)), 5)
    replay(factory, body, FaultPlan(), 5)  # no faults: passes


def test_exploration_is_a_function_of_the_seed() -> None:
    def run(seed: int) -> list[str]:
        seen: list[str] = []
        factory = SimFactory()

        def body() -> None:
            s = factory([counter.counter], seed=None)
            s.invoke("Counter/a/add", 1)
            s.invoke("Counter/a/add", 2)
            s.run()
            seen.append(f"{factory.plan} @ {factory.seed}: {s.trace_digest()[:12]}")
            assert s.state("Counter", "a") == {"count": 3}

        assert explore(factory, body, seed=seed, max_examples=30).finding is None
        return seen

    assert run(1) == run(1)
    assert run(1) != run(2)
    combos = [x for x in run(1) if x.count("crash(") > 1]
    assert combos and all("attempt=2" in x for x in combos)


def test_multi_fault_plans_are_shrunk() -> None:
    factory = SimFactory()
    fired: list[str] = []

    def body() -> None:
        s = factory([counter.counter])
        s.invoke("Counter/a/add", 1)
        s.run()
        plan = str(s.fault_plan())
        fired.append(plan)
        # Fails only when the crash after storing "count" fires in the second attempt.
        assert "phase=after-store, attempt=2" not in plan

    result = explore(factory, body, seed=3, max_examples=200)
    assert result.finding is not None
    assert len(result.finding.plan) <= 2
    assert any(f.attempt == 2 and f.phase == "after-store" for f in result.finding.plan.faults)


def test_externals_are_reset_once_per_example() -> None:
    factory = SimFactory()
    payments.bank.apply("charge", {"amount": 1})
    factory.start_example(FaultPlan(), 0)
    factory([payments.payments], externals=[payments.bank])
    assert payments.bank.effects == []
    payments.bank.apply("charge", {"amount": 1})
    factory([payments.payments], externals=[payments.bank])  # same example: kept
    assert len(payments.bank.effects) == 1


def test_without_services_it_needs_configured_ones() -> None:
    with pytest.raises(ValueError, match="sim\\(\\) was called without services"):
        SimFactory()()
    s = SimFactory(["examples.payments:services"], ["examples.payments:bank"], seed=4)()
    assert s.seed == 4 and s.externals == [payments.bank]
