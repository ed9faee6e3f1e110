"""A deadlock the app's own handlers make is not hidden by the world.

An order waits on an awakeable and hands its id to a delayed ``giveUp`` of
its own key, meant to reject it if the kitchen never answers. An exclusive
``giveUp`` queues behind the order, which holds the key while it waits:
Restate never runs it, and an order whose kitchen stays silent waits for
ever. A world in which the kitchen answers resolved the awakeable in every
run, late ones included, and the check passed.
"""

from __future__ import annotations

import simdurable as sd
from simdurable import world
from tests.corpus.pairs.waiting import kitchen, order_bug, order_ok

ANSWERS = [world.resolve_awakeable("pizza")]


def _check(services: list[object], events: list[world.WorldEvent]) -> sd.Report:
    return sd.check(services=services, invoke="KitchenOrder/o1/create", input="pizza",
                    externals=[kitchen], world=events, max_examples=10)


def test_the_world_answering_does_not_hide_an_exclusive_give_up() -> None:
    report = _check([order_bug], ANSWERS)
    [v] = [v for v in report.violations if v.kind == "stuck"]
    assert v.handler == "KitchenOrder/o1/create" and v.journal_index == 0
    assert v.message.startswith("a deadlock the world hid: KitchenOrder/o1/create waits on "
                                "awakeable awk_")
    assert ("handed its id to KitchenOrder/o1/giveUp (#4), which is queued behind it for key "
            "'o1'") in v.message
    assert "Make giveUp a shared handler (kind=\"shared\")" in v.message
    # Found where giveUp had arrived before the kitchen answered: late.
    assert list(v.moments) == ["late"] and not v.fault_plan.faults


def test_a_shared_give_up_is_quiet_whether_or_not_the_kitchen_answers() -> None:
    assert _check([order_ok], ANSWERS).ok
    assert _check([order_ok], []).ok


def test_without_a_world_the_deadlock_is_still_named() -> None:
    report = _check([order_bug], [])
    [v] = report.violations
    assert v.kind == "stuck" and "queued behind KitchenOrder/o1/create" in v.message
