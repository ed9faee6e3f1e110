"""Strict mode's late-binding check on restate-sdk steps, and where it names them.

A restate-sdk step reaches the check as simdurable's wrapper of a
``functools.partial`` of the user's function and arguments. A module's
function given strings and numbers reads nothing the handler can change, and
is let through without a walk; anything else (a closure, a list argument, a
partial of the user's own) is walked as before and reported at the handler's
line that started the step.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

import pytest

restate = pytest.importorskip("restate")

import simdurable as sd  # noqa: E402
from simdurable._api.lossy import AS_IS_SERDES  # noqa: E402
from simdurable.runtime._invocation import user_source  # noqa: E402

svc = restate.Service("HostedLate")


def greet(user: str, times: int = 1) -> str:
    return f"hi {user}" * times


def count(batch: list[str]) -> int:
    return len(batch)


@svc.handler()
async def plain(ctx: restate.Context, users: list[str]) -> list[str]:
    # Steps awaited together, each given only strings and numbers: quiet.
    futures = [ctx.run_typed(f"greet-{u}", greet, user=u, times=2) for u in users]
    futures += [ctx.run_typed(f"again-{u}", greet, None, u) for u in users]
    await restate.gather(*futures)
    return [await f for f in futures]


@svc.handler()
async def list_argument(ctx: restate.Context, users: list[str]) -> int:
    batch = list(users)
    counted = ctx.run_typed("count", count, batch=batch)  # COUNT
    batch.clear()
    return await counted


@svc.handler()
async def users_partial(ctx: restate.Context, users: list[str]) -> int:
    batch = list(users)
    counted = ctx.run_typed("count", functools.partial(count, batch))  # PARTIAL
    batch.append("late")
    return await counted


@svc.handler()
async def closures(ctx: restate.Context, users: list[str]) -> list[str]:
    futures = [ctx.run_typed(f"greet-{u}", lambda: greet(u))  # LOOP  # noqa: B023
               for u in users]
    await restate.gather(*futures)
    return [await f for f in futures]


def problems(handler: str) -> list[tuple[str, str | None, str | None, str]]:
    sim = sd.Simulation(services=[svc], strict=True)
    sim.invoke(f"HostedLate/{handler}", ["ann", "bob", "cy"])
    sim.run()
    assert sim.problems is not None
    return [(p.kind, p.step, p.source, p.detail) for p in sim.problems]


def _line(marker: str) -> str:
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if marker in text and not text.lstrip().startswith("#"):
                return f"test_strict_hosted_late.py:{n}"
    raise AssertionError(marker)


def test_a_module_function_given_strings_and_numbers_is_quiet() -> None:
    assert problems("plain") == []


@pytest.mark.parametrize(("handler", "marker", "name"), [
    ("list_argument", "# COUNT", "batch"), ("users_partial", "# PARTIAL", "argument 1")])
def test_a_list_argument_changed_in_place_is_reported_at_its_line(
        handler: str, marker: str, name: str) -> None:
    [(kind, step, source, detail)] = problems(handler)
    assert (kind, step, source) == ("late-binding", "count", _line(marker))
    assert detail.startswith(f"step \"count\" ran with {name}="), detail


def test_a_closure_over_the_loops_variable_is_reported_at_its_line() -> None:
    found = problems("closures")
    assert {(k, s, src) for k, s, src, _ in found} == {
        ("late-binding", "greet-ann", _line("# LOOP")),
        ("late-binding", "greet-bob", _line("# LOOP"))}, found


def test_each_call_site_is_named_by_its_own_line_every_time() -> None:
    # (the lines are kept by code object and instruction after the first time)
    seen = []
    for _ in range(3):
        first = user_source(1)  # FIRST
        second = user_source(1)  # SECOND
        seen.append((first, second))
    assert seen == [(_line("# FIRST"), _line("# SECOND"))] * 3


# -- the loss check's round trip, left out where JSON gives a value back as it is


@dataclasses.dataclass
class Point:
    x: int


def five() -> int:
    return 5


def pair() -> tuple[int, int]:  # (a tuple comes back a list)
    return (1, 2)


def not_an_int() -> int:  # (a tuple where an int is promised)
    return (1, 2)  # type: ignore[return-value]


def not_a_point() -> Point:  # (an int where a Point is promised)
    return 5  # type: ignore[return-value]


class Halving(restate.serde.DefaultSerde[Any]):
    """restate's default serde, of the user's: gives back half of an int."""

    def with_maybe_type(self, type_hint: Any = None) -> Halving:
        return Halving(type_hint)

    def deserialize(self, buf: bytes) -> Any:
        value = super().deserialize(buf)
        return value // 2 if isinstance(value, int) else value


@svc.handler()
async def results(ctx: restate.Context, which: str) -> Any:
    if which == "halving":
        return await ctx.run_typed("step", five, restate.RunOptions(serde=Halving()))
    if which == "lambda_pair":  # (no annotation: restate-sdk's hint is Signature.empty)
        return await ctx.run_typed("step", lambda: (1, 2))
    if which == "lambda_five":
        return await ctx.run_typed("step", lambda: 5)
    return await ctx.run_typed("step", {"five": five, "pair": pair, "not_an_int": not_an_int,
                                        "not_a_point": not_a_point}[which])


native = sd.Service("NativeLoss")


@native.handler()
async def untyped(ctx: sd.Context, which: str) -> Any:
    # simdurable's own default serde, no type hint: the tuple is still decoded
    return await ctx.run_typed("step", lambda: (1, 2))


def loss(which: str) -> list[tuple[str, str | None, str]]:
    sim = sd.Simulation(services=[svc, native], strict=True)
    sim.invoke("NativeLoss/untyped" if which == "untyped" else "HostedLate/results", which)
    sim.run()
    assert sim.problems is not None
    return [(p.kind, p.step, p.detail) for p in sim.problems]


def test_an_int_step_result_is_quiet() -> None:
    assert loss("five") == []
    assert loss("lambda_five") == []


@pytest.mark.parametrize(("which", "shown"), [
    ("pair", "a tuple"), ("not_an_int", "a tuple"), ("untyped", "a tuple"),
    ("lambda_pair", "a tuple"), ("not_a_point", "an int"), ("halving", "an int")])
def test_a_result_that_comes_back_different_is_still_reported(which: str, shown: str) -> None:
    [(kind, step, detail)] = loss(which)
    assert (kind, step) == ("serialization", "step")
    assert detail.startswith(f"step \"step\" returned {'a int' if shown == 'an int' else shown}")


ATOMS: list[Any] = [0, -7, 2**70, "", "é \ud800 \x00 \"", 1.5, -0.0, float("inf"), True, False]


@pytest.mark.parametrize("serde_type", sorted(AS_IS_SERDES, key=lambda t: t.__module__))
def test_the_serdes_left_undecoded_give_a_str_int_float_or_bool_back_as_it_is(
        serde_type: type) -> None:
    for value in ATOMS:
        for hint in (None, type(value), inspect.Signature.empty):  # (a lambda's)
            serde = serde_type(hint)
            back = serde.deserialize(serde.serialize(value))
            assert (back, type(back)) == (value, type(value)), (serde_type, hint, value)
    nan = serde_type(float).deserialize(serde_type(float).serialize(float("nan")))
    assert nan != nan
