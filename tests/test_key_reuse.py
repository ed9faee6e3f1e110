"""One idempotency key given for two different effects.

A key made from a cart's id alone names "the payment of cart c1", not "this
payment": a second checkout of the changed cart gives the same key, and the
provider answers with the first payment's receipt and charges nothing. The
fake records the call it answered so, and ``check`` reports it where two
steps (or two invocations) gave one key for different payloads.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import simdurable as sd
from simdurable import world
from tests.corpus.pairs.effects import EXTERNALS, bank, basket_bug, basket_ok


def _check(services: list[object], **kw: object) -> sd.Report:
    return sd.check(services=services, invoke="Basket/b1/checkout", input=30,
                    externals=list(EXTERNALS), max_examples=10, **kw)  # type: ignore[arg-type]


def test_a_second_checkout_of_a_changed_basket_is_reported_at_its_step() -> None:
    for kw in ({"concurrent": [("Basket/b1/checkout", 45)]},
               {"world": [world.call("Basket/b1/checkout", 45)]}):
        report = _check([basket_bug], **kw)
        [v] = [v for v in report.violations if v.kind == "duplicate-effect"]
        assert (v.handler, v.step, v.journal_index) == ("Basket/b1/checkout", "charge", 0)
        assert v.message.startswith(
            "bank.charge({\"amount\": 45}) by step \"charge\" (#0) gave idempotency key "
            "'basket-b1', which bank.charge({\"amount\": 30}) of step \"charge\" (#0) in "
            "another invocation, of Basket/b1/checkout had used: the API answers with that "
            "receipt (bank-1) and applies nothing, so this effect is lost"), v.message
        assert _check([basket_ok], **kw).ok


def test_the_same_request_twice_is_what_a_key_is_for() -> None:
    # Two identical checkouts at once: the provider charging once is right.
    assert _check([basket_bug], concurrent=2).ok


shop = sd.Service("Loop")
notify = sd.VirtualObject("Kitchen")


def charge(amount: int, key: str, note: str = "") -> str:
    return str(bank.apply("charge", {"amount": amount, "note": note}, idempotency_key=key)["id"])


@shop.handler()
async def items(ctx: sd.Context, order: str) -> list[str]:
    # One key for every item of the order: only the first item is charged.
    return [await ctx.run_typed(f"item-{i}", charge, amount=i, key=f"order-{order}")
            for i in (1, 2)]


@notify.handler()
async def prepare(ctx: sd.ObjectContext, order: str) -> str:
    # The callback differs per invocation; the request is one (the key's point).
    callback, meal = ctx.awakeable()
    await ctx.run_typed("prepare", charge, amount=1, key=f"prep-{order}",
                        note=f"{callback} {uuid.UUID(int=len(callback))}")
    return str(await meal)


def test_one_key_for_each_item_of_a_loop_is_reported() -> None:
    report = sd.check(services=[shop], invoke="Loop/items", input="o1",
                      externals=list(EXTERNALS), max_examples=5)
    [v] = [v for v in report.violations if v.kind == "duplicate-effect"]
    assert (v.step, v.journal_index) == ("item-2", 2)
    assert "of step \"item-1\" (#0) in this invocation had used" in v.message


def test_payloads_differing_only_in_ids_the_runs_drew_are_one_request() -> None:
    report = sd.check(services=[notify], invoke="Kitchen/k1/prepare", input="o1",
                      externals=list(EXTERNALS), max_examples=5, concurrent=2,
                      world=[world.resolve_awakeable("pizza"), world.resolve_awakeable("pizza")])
    assert not [v for v in report.violations if v.kind == "duplicate-effect"], report


def test_the_fake_keeps_what_it_answered_with_another_receipt() -> None:
    ext = sd.FakeExternal("psp")
    ext.apply("charge", {"amount": 30}, idempotency_key="k")
    assert ext.apply("charge", {"amount": 30}, idempotency_key="k")["id"] == "psp-1"
    assert ext.key_reuses == []
    assert ext.apply("charge", {"amount": 45}, idempotency_key="k")["id"] == "psp-1"
    [(first, again)] = ext.key_reuses
    assert (first.payload, again.payload, again.receipt) == ({"amount": 30}, {"amount": 45},
                                                             "psp-1")
    assert len(ext.effects) == 1
    ext.reset()
    assert ext.key_reuses == []


BASKET_SCENARIO = """\
services: tests.corpus.pairs.effects:{service}
externals: [tests.corpus.pairs.effects:bank]
invoke:
  - {{target: Basket/b1/checkout, input: 30}}
  - {{target: Basket/b1/checkout, input: 45}}
{expect}"""


def test_a_scenario_of_two_checkouts_fails_without_counting_charges(tmp_path: Path) -> None:
    from tests.scenario.helpers import run

    bug = run(tmp_path, BASKET_SCENARIO.format(service="basket_bug", expect=""))
    assert not bug.ok
    assert ("invoke[0]: duplicate-effect: bank.charge({\"amount\": 45}) by step \"charge\" "
            "(#0) gave idempotency key 'basket-b1'") in bug.render()
    told = run(tmp_path, BASKET_SCENARIO.format(
        service="basket_bug", expect="expect: {problems: [duplicate-effect]}\n"))
    assert told.ok, told.render()
    assert run(tmp_path, BASKET_SCENARIO.format(service="basket_ok", expect="")).ok
