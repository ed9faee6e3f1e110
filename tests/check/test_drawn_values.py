"""Values a step draws for itself, passed on by the handler, in the runs in
other processes (other hash seeds; a new process, then again in it).

A step's value is journaled and a replay reads it back, so a ``uuid4()``
receipt, a clock's reading or a module counter's next id passed on to a call
or stored is no nondeterminism, though each process draws another. Before,
every such handler was reported (the call's payload differed between the
processes); a set iterated beside it is still found.
"""

from __future__ import annotations

import itertools
import uuid

import simdurable as sd
from simdurable._check._process import _first_difference

ledger = sd.VirtualObject("Ledger")
pay = sd.Service("Pay")
_ids = itertools.count(1)


@ledger.handler()
async def record(ctx: sd.ObjectContext, receipt: str) -> int:
    kept = list(await ctx.get("kept") or []) + [receipt]
    ctx.set("kept", kept)
    return len(kept)


@ledger.handler()
async def record_charge(ctx: sd.ObjectContext, charge: dict[str, object]) -> None:
    ctx.set("charge", charge)


def _receipt() -> str:
    return f"r-{uuid.uuid4()}"


def _next_id() -> dict[str, object]:
    return {"id": f"ch-{next(_ids)}", "n": next(_ids) * 1000 + 7, "amount": 30}


@pay.handler()
async def passes_uuid_on(ctx: sd.Context, key: str) -> int:
    receipt = await ctx.run_typed("pay", _receipt)
    await ctx.object_call(record, key, receipt)
    return int(await ctx.object_call(record, key, f"paid, receipt {receipt}"))


@pay.handler()
async def passes_counter_on(ctx: sd.Context, key: str) -> int:
    charge = await ctx.run_typed("charge", _next_id)
    await ctx.object_call(record, key, charge["id"])
    await ctx.object_call(record_charge, key, charge)
    return int(await ctx.object_call(record, key, str(charge["n"])))


@pay.handler()
async def set_order_after_uuid(ctx: sd.Context, key: str) -> int:
    receipt = await ctx.run_typed("pay", _receipt)
    for name in {"ann", "bob", "cy", "dee", "eve", "fay"}:  # hash order
        await ctx.object_call(record, key, f"{name}:{receipt}")
    return 0


def test_values_steps_draw_passed_on_are_no_nondeterminism_in_other_processes():
    for handler in ("passes_uuid_on", "passes_counter_on"):
        report = sd.check(services=[ledger, pay], invoke=f"Pay/{handler}", input="a",
                          max_examples=0)
        assert report.ok, report.render()


def test_a_set_iterated_after_a_drawn_value_is_still_found():
    report = sd.check(services=[ledger, pay], invoke="Pay/set_order_after_uuid", input="a",
                      max_examples=0)
    assert report.kinds == ["nondeterminism"], report.render()
    assert "PYTHONHASHSEED" in report.violations[0].message


def test_a_drawn_number_is_matched_as_a_whole_token():
    # Step values 5 and 7 differ; the "15" of a sleep is not the step's 5 (nor
    # a short string's text inside another).
    first = [["Svc/h", ['sleep 15', 'call "X/y" 5', 'set "k" "ab"'], [["5"], ['"ab"']]]]
    then = [["Svc/h", ['sleep 15', 'call "X/y" 7', 'set "k" "cd"'], [["7"], ['"cd"']]]]
    assert _first_difference(first, then, "(a)", "(b)") is None
    first[0][1].append('set "j" "abc"')
    then[0][1].append('set "j" "abc"')
    assert _first_difference(first, then, "(a)", "(b)") is None
    then_other = [["Svc/h", ['sleep 16', 'call "X/y" 7'], [["7"]]]]
    found = _first_difference(first, then_other, "(a)", "(b)")
    assert found is not None and found[1] == 0


def test_a_drawn_string_that_starts_with_a_digit_is_matched_inside_a_payload():
    # A uuid4 starts with a digit about five times in eight; after "order-" it
    # was taken for a number glued to a word, so no two processes agreed.
    a, b = "4f0c2b8e-1d2a-4c3e-9f00-0123456789ab", "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
    first = [["Obj/k/h", ['run "key"', f'set "order" "order-{a}"'], [[f'"{a}"']]]]
    then = [["Obj/k/h", ['run "key"', f'set "order" "order-{b}"'], [[f'"{b}"']]]]
    assert _first_difference(first, then, "(a)", "(b)") is None
