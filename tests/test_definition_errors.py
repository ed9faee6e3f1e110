"""Mistakes in a handler's definition fail at once, saying what to write instead."""

from __future__ import annotations

import pytest

import simdurable as sd


def test_a_handler_without_ctx_is_refused_with_the_signature_to_write():
    svc = sd.Service("S")
    with pytest.raises(TypeError) as exc:
        @svc.handler()
        async def greet() -> str:
            return "hi"
    text = str(exc.value)
    assert "async def greet():    # incorrect!" in text
    assert "async def greet(ctx: restate.Context):    # correct!" in text

    obj = sd.VirtualObject("O")
    with pytest.raises(TypeError, match=r"ctx: restate.ObjectSharedContext, input\):    # corr"):
        @obj.handler(kind="shared")
        async def peek(a: int, b: int, c: int) -> int:
            return a


def test_a_decorator_without_parentheses_is_refused_with_the_fix():
    svc = sd.Service("S")
    with pytest.raises(TypeError) as exc:
        @svc.handler
        async def greet(ctx: sd.Context) -> str:
            return "hi"
    assert "@svc.handler()\n  async def greet(ctx, ...):    # correct!" in str(exc.value)
    wf = sd.Workflow("W")
    with pytest.raises(TypeError, match="@svc.main needs parentheses"):
        @wf.main
        async def run(ctx: sd.WorkflowContext) -> None:
            return None


def _double(x: int) -> int:
    return 2 * x


def test_a_future_passed_into_a_step_is_a_missing_await():
    svc = sd.Service("S")

    @svc.handler()
    async def forgot(ctx: sd.Context) -> int:
        x = ctx.run_typed("first", _double, x=1)
        return await ctx.run_typed("second", _double, x=x)

    @svc.handler()
    async def awaited(ctx: sd.Context) -> int:
        x = await ctx.run_typed("first", _double, x=1)
        return await ctx.run_typed("second", _double, x=x)

    sim = sd.Simulation([svc])
    bad, good = sim.invoke("S/forgot"), sim.invoke("S/awaited")
    sim.run()
    assert good.result() == 4
    assert bad.status == "paused"
    (err,) = sim.problems
    text = str(err)
    assert 'got a DurableFuture as argument x= of step "second"' in text
    assert "an `await` is missing" in text and "x = await ctx.get" in text
    assert "test_definition_errors.py:" in text
