"""Tests of the payments handlers, using simdurable's `sim` fixture."""

import pytest
from payments_app.handlers import bank

ORDER = {"amount": 30, "card": "visa-1", "merchant": "merchant-1"}


def test_pay_credits_the_merchant(sim):
    s = sim()  # the services and externals of [tool.simdurable]
    h = s.invoke("Payments/pay", ORDER)
    s.run()
    assert h.result() == {"receipt": "bank-1", "merchant_balance": 30}
    assert s.state("Wallet", "merchant-1") == {"balance": 30}


def test_a_crash_after_the_charge_does_not_charge_twice(sim):
    s = sim()
    s.crash(after="charge", point="effect-done")
    h = s.invoke("Payments/pay", ORDER)
    s.run()
    assert h.result()["receipt"] == "bank-1"
    assert len(bank.effects) == 1


@pytest.mark.simdurable
def test_pay_charges_once_under_any_crash(sim):
    # With --simdurable this runs again under crashes at every fault point.
    s = sim()
    h = s.invoke("Payments/pay", ORDER)
    s.run()
    assert h.result()["merchant_balance"] == 30
    assert [e.op for e in bank.effects] == ["charge"]
