"""Strict mode's late-binding check on restate-sdk steps, and where it names them.

A restate-sdk step reaches the check as simdurable's wrapper of a
``functools.partial`` of the user's function and arguments. A module's
function given strings and numbers reads nothing the handler can change, and
is let through without a walk; anything else (a closure, a list argument, a
partial of the user's own) is walked as before and reported at the handler's
line that started the step.
"""

from __future__ import annotations

import functools

import pytest

restate = pytest.importorskip("restate")

import simdurable as sd  # noqa: E402
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
