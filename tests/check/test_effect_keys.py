"""An idempotency key that is not the same in every process.

Within one process a key made with ``hash()`` of a string is the same on every
retry, so no in-process crash shows a second charge; after a crash at
effect-done Restate may retry the step in a new process (a restart, another
replica), where ``hash()`` gives another key and the charge is applied again.
The reference runs in processes with other hash seeds compare the keys each
step's effects carried.
"""

from __future__ import annotations

import uuid

import simdurable as restate
import simdurable as sd

bank = sd.FakeExternal("bank")
pay = restate.Service("KeyedPay")


def _charge(amount: int, key: str) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


@pay.handler()
async def hashed_key(ctx: restate.Context, order: str) -> str:
    key = f"pay-{hash(order)}"  # another number in every process
    return await ctx.run_typed("charge", _charge, amount=5, key=key)


@pay.handler()
async def input_key(ctx: restate.Context, order: str) -> str:
    return await ctx.run_typed("charge", _charge, amount=5, key=f"pay-{order}")


@pay.handler()
async def drawn_key(ctx: restate.Context, order: str) -> str:
    # A uuid4 drawn in a step is stored: a retry anywhere reads it back.
    drawn = await ctx.run_typed("key", lambda: "7" + uuid.uuid4().hex[1:])
    first = await ctx.run_typed("charge", _charge, amount=5, key=f"{order}-{drawn}")
    second = await ctx.run_typed("again", _charge, amount=6, key=str(ctx.uuid()))
    return first + second


def check(handler: str) -> sd.Report:
    return sd.check(services=[pay], invoke=f"KeyedPay/{handler}", input="o-1",
                    externals=[bank], max_examples=10)


def test_a_key_made_with_hash_of_a_string_is_found_at_its_step():
    report = check("hashed_key")
    assert report.kinds == ["duplicate-effect"], report.render()
    v = report.violations[0]
    assert v.handler == "KeyedPay/hashed_key" and v.step == "charge" and v.journal_index == 0
    assert "bank.charge" in v.message and "PYTHONHASHSEED=1" in v.message
    assert "'pay-" in v.message and "new process" in v.message


def test_keys_from_the_input_ctx_uuid_or_a_drawn_value_are_quiet():
    assert check("input_key").ok, check("input_key").render()
    report = check("drawn_key")
    assert report.ok, report.render()
