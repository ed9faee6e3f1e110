"""A step function's return type, which types its value back (restate-sdk's
``inspect.signature(action, eval_str=True)``), is worked out once per function."""

from __future__ import annotations

import inspect
from typing import Any

import pydantic
import pytest
import restate

import simdurable as sd


class _Receipt(pydantic.BaseModel):
    n: int


def _charge(n: int) -> _Receipt:
    return _Receipt(n=n)


typed = restate.Service("Typed")


@typed.handler()
async def charge_many(ctx: restate.Context, n: int) -> int:
    total = 0
    for i in range(n):
        receipt = await ctx.run_typed("charge", _charge, n=i)
        total += receipt.n  # (typed back from the step's return annotation)
    return total


def test_a_step_functions_return_type_is_worked_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # restate-sdk's way (inspect.signature with eval_str) at every step was a
    # tenth of a run whose handler runs a step in a loop.
    calls: list[Any] = []
    signature = inspect.signature

    def counted(fn: Any, **kw: Any) -> inspect.Signature:
        calls.append(fn)
        return signature(fn, **kw)

    monkeypatch.setattr(inspect, "signature", counted)
    sim = sd.Simulation([typed], seed=1)
    h = sim.invoke("Typed/charge_many", 5)
    sim.run()
    assert h.result() == 10
    assert calls.count(_charge) <= 1
