"""examples/tickets.py: a restate-sdk app checked unchanged."""

from __future__ import annotations

from datetime import timedelta

import simdurable as sd
from examples import tickets


def test_the_example_runs_on_restate_sdk_itself() -> None:
    import restate

    assert isinstance(tickets.session, restate.VirtualObject)
    assert type(tickets.checkout_service).__module__.startswith("restate")


def test_its_handlers_survive_every_fault_check_explores() -> None:
    for target, value, concurrent in (("UserSession/ann/addTicket", "seat-1", 2),
                                      ("Checkout/handle", {"user": "ann", "tickets": ["s1"]}, 1)):
        report = sd.check(services=[tickets.app], invoke=target, input=value,
                          externals=tickets.externals, concurrent=concurrent, max_examples=30)
        assert report.ok, report.render()


def test_two_users_racing_for_a_seat_get_it_once_and_it_is_released_after_15_minutes() -> None:
    for fake in tickets.externals:
        fake.reset()
    sim = sd.Simulation(services=[tickets.app], externals=tickets.externals, seed=5,
                        faults="crash(step=charge, phase=effect-done)")
    ann = sim.invoke("UserSession/ann/addTicket", "seat-1")
    bob = sim.invoke("UserSession/bob/addTicket", "seat-1")
    sim.run(until=timedelta(minutes=1))
    assert sorted([ann.result(), bob.result()]) == [False, True]
    assert sim.state("TicketObject", "seat-1") == {"status": "RESERVED"}
    sim.run(until=timedelta(minutes=16))
    assert sim.state("TicketObject", "seat-1") == {}
    cyd = sim.invoke("UserSession/cyd/addTicket", "seat-1")
    sim.run(until=timedelta(minutes=17))
    paid = sim.invoke("UserSession/cyd/checkout", None)
    sim.run(until=timedelta(minutes=18))
    assert cyd.result() is True and paid.result() is True
    assert sim.state("TicketObject", "seat-1") == {"status": "SOLD"}
    assert [e.payload for e in tickets.payments.effects] == [{"user": "cyd", "amount": 40}]
