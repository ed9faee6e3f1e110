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


@pytest.fixture
def signature_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The functions ``inspect.signature`` is asked about from now on."""
    calls: list[Any] = []
    signature = inspect.signature

    def counted(fn: Any, **kw: Any) -> inspect.Signature:
        calls.append(fn)
        return signature(fn, **kw)

    monkeypatch.setattr(inspect, "signature", counted)
    return calls


def test_a_step_functions_return_type_is_worked_out_once(signature_calls: list[Any]) -> None:
    # restate-sdk's way (inspect.signature with eval_str) at every step was a
    # tenth of a run whose handler runs a step in a loop.
    sim = sd.Simulation([typed], seed=1)
    h = sim.invoke("Typed/charge_many", 5)
    sim.run()
    assert h.result() == 10
    assert signature_calls.count(_charge) <= 1


class _Note(pydantic.BaseModel):
    s: str


def _note(s: str) -> _Note | None:
    return _Note(s=s)


def _plain(n: int) -> dict[str, int]:
    return {"n": n}


@typed.handler()
async def mixed(ctx: restate.Context, n: int) -> list[str]:
    a = await ctx.run_typed("a", _charge, n=n)
    b = await ctx.run_typed("b", _note, s="x")  # (an optional's core type)
    c = await ctx.run_typed("c", _plain, n=n)
    d = await ctx.run_typed("d", _charge, restate.RunOptions(), n=n + 1)
    e = await ctx.run_typed("e", _note, restate.RunOptions(type_hint=_Note), s="y")
    return [type(v).__name__ for v in (a, b, c, d, e)]


def test_steps_without_options_are_typed_by_their_own_hint_each_time() -> None:
    # (a step without options takes runtime options made once per type hint)
    runs = []
    for _ in range(2):
        sim = sd.Simulation([typed], seed=1)
        h = sim.invoke("Typed/mixed", 4)
        sim.run()
        assert h.result() == ["_Receipt", "_Note", "dict", "_Receipt", "_Note"], h.result()
        runs.append([(e.kind, e.name, e.data, e.result) for e in sim.journal(h)])
    assert runs[0] == runs[1]
    values = [e[3] for e in runs[0] if e[0] == "completion"]
    assert [v.data for v in values[:5]] == [b'{"n":4}', b'{"s":"x"}', b'{"n": 4}', b'{"n":5}',
                                            b'{"s":"y"}'], values


@pytest.mark.parametrize("fn", [_charge, None])
def test_a_hosted_steps_function_is_wrapped_as_functools_wraps_would(fn: Any) -> None:
    import functools

    from simdurable._restate._context import _step

    async def async_charge(n: int) -> int:
        return n

    action = functools.partial(fn or async_charge, n=1)
    made, reference = _step(action, fn or async_charge), _step(action)
    assert inspect.iscoroutinefunction(made) == inspect.iscoroutinefunction(reference) == (
        fn is None)
    names = (*functools.WRAPPER_ASSIGNMENTS, "__wrapped__", "__name__")
    assert {n: getattr(made, n, None) for n in names} == {
        n: getattr(reference, n, None) for n in names}
    assert made.__dict__ == reference.__dict__


def _annotated_params_only(x: int):  # type: ignore[no-untyped-def]
    return x


def _no_annotations(x):  # type: ignore[no-untyped-def]
    return x


def _typed_int() -> int:
    return 1


def _wrapping() -> Any:
    import functools

    @functools.wraps(_typed_int)
    def wrapper():  # type: ignore[no-untyped-def]
        return _typed_int()

    return wrapper


def _with_signature() -> Any:
    def f():  # type: ignore[no-untyped-def]
        return 1

    f.__signature__ = inspect.Signature(return_annotation=str)  # type: ignore[attr-defined]
    return f


@pytest.mark.parametrize("make", [
    lambda: (lambda: 1), lambda: _annotated_params_only, lambda: _no_annotations,
    lambda: _typed_int, lambda: _charge, _wrapping, _with_signature,
])
def test_a_return_hint_is_what_restate_sdk_would_find(make: Any) -> None:
    from simdurable._restate._context import _return_hint

    fn = make()
    assert _return_hint(fn) == inspect.signature(fn, eval_str=True).return_annotation


lambdas = restate.Service("Lambdas")


@lambdas.handler()
async def add_up(ctx: restate.Context, n: int) -> int:
    total = 0
    for i in range(n):
        total += await ctx.run_typed("add", lambda: i)  # noqa: B023 - awaited at once
    return total


def test_a_lambda_made_at_each_step_is_not_asked_its_signature(
        signature_calls: list[Any]) -> None:
    # A lambda has no return annotation; made anew at each step of a loop, its
    # signature was worked out at each (a quarter of a restate-sdk step).
    sim = sd.Simulation([lambdas], seed=1)
    h = sim.invoke("Lambdas/add_up", 5)
    sim.run()
    assert h.result() == 10 and signature_calls == []
