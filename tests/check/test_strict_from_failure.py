"""A single failed step's run in ``check`` (``fail`` or ``terminal``), strict
only from its failure on (``_explore.StrictFromFailure``): the same traces,
problems and reports as runs strict from their start, and refused where code
of the handler's would run unwatched as the failure reaches it."""

from __future__ import annotations

import time
from typing import Any

import pytest

import simdurable as sd
from benchmarks.bench_sim import named_steps_service
from simdurable._check import _explore
from simdurable._check._explore import StrictFromFailure
from simdurable._sim import Simulation
from simdurable.runtime._faults import FAIL, TERMINAL, Fault

from .test_strict_from_crash import steps_service, work


def catching_service() -> sd.Service:
    """Reads the clock only in its ``except TerminalError:``: run by a failure
    for good, never by the reference run."""
    svc = sd.Service("Catching")

    async def helper(ctx: sd.Context, name: str, x: int) -> int:
        try:
            return await ctx.run_typed(name, work, i=x)
        except sd.TerminalError:
            return int(time.time() > 0)

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        x = await ctx.run_typed("a", work, i=x)
        x = await helper(ctx, "b", x)
        return await ctx.run_typed("c", work, i=x)

    return svc


def limited_service() -> sd.Service:
    """A step with one attempt of its own: a failure of it is the handler's
    ``TerminalError``, whose ``finally`` reads the clock."""
    svc = sd.Service("Limited")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        x = await ctx.run_typed("a", work, i=x)
        try:
            x = await ctx.run_typed("b", work, sd.RunOptions(max_attempts=1), i=x)
        finally:
            time.monotonic()
        return x

    return svc


def late_service() -> sd.Service:
    """A step started, its argument changed, then awaited (late binding), and
    a step never awaited: found by a retried attempt, made strict."""
    svc = sd.Service("FLate")

    def total(xs: list[int]) -> int:
        return sum(xs)

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        x = await ctx.run_typed("a", work, i=x)
        xs = [x]
        fut = ctx.run_typed("b", total, xs=xs)
        xs.append(1)
        x = await fut
        ctx.run_typed("d", work, i=x)
        return x

    return svc


def together_service() -> sd.Service:
    """Two steps awaited together: one failing for good, the other waiting;
    gather returns, and the handler reads the clock before it awaits each."""
    svc = sd.Service("Together")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        a, b = ctx.run_typed("a", work, i=x), ctx.run_typed("b", work, i=x + 1)
        await sd.gather(a, b)
        if a.done() and b.done():
            try:
                return await a + await b
            except sd.TerminalError:
                time.time()
                raise
        return 0

    return svc


wf = sd.Workflow("Promised")


@wf.main()
async def promised(ctx: sd.WorkflowContext, x: int) -> int:
    """Asks for a promise's value and awaits it after a step: a step failing
    for good ends the handler with the value never awaited."""
    await ctx.promise("p").resolve(1)
    value = ctx.promise("p").value()
    x = await ctx.run_typed("a", work, i=x)
    return x + await value


def _run(svc: sd.Service, target: str, fault: Fault, switched: bool, invocations: int = 1
         ) -> tuple[list[str], list[str], StrictFromFailure | None]:
    """The trace and problems of a run with ``fault``, strict from its start,
    or ``switched`` at the fault (which fires: asserted)."""
    sim = Simulation([svc], seed=3, faults=[fault], strict=not switched)
    switch = None
    if switched:
        switch = StrictFromFailure(fault)
        switch.sim = sim
        sim.injector.on_fire = switch
    for k in range(invocations):
        sim.invoke(target.replace("KEY", f"k{k}"), k)
    sim.run()
    sim.close()
    assert sim.injector.fired
    return sim.trace(), [f"{type(p).__name__}: {p}" for p in sim.problems], switch


CASES = [  # (service, its target, step names, the names whose switch is refused, by kind)
    (steps_service, "Steps/run", ("a", "b", "c", "d"), {FAIL: (), TERMINAL: ()}),
    (catching_service, "Catching/run", ("b",), {FAIL: (), TERMINAL: ("b",)}),
    (limited_service, "Limited/run", ("b",), {FAIL: ("b",), TERMINAL: ("b",)}),
    (late_service, "FLate/run", ("a",), {FAIL: (), TERMINAL: ()}),
    # (at "a", "b" waits; at "b", the handler waits in gather, which does not raise)
    (together_service, "Together/run", ("a", "b"), {FAIL: (), TERMINAL: ("a", "b")}),
    (lambda: wf, "Promised/KEY/promised", ("a",), {FAIL: (), TERMINAL: ("a",)}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[1].split("/")[0])
@pytest.mark.parametrize("kind", [FAIL, TERMINAL])
def test_a_switched_run_is_a_strict_run(case: Any, kind: str) -> None:
    make, target, names, refused = case
    svc = make()
    for name in names:
        fault = Fault(kind, step=name)
        trace, problems, _ = _run(svc, target, fault, False)
        trace2, problems2, switch = _run(svc, target, fault, True)
        assert switch is not None and switch.refused is (name in refused[kind]), (name, kind)
        if not switch.refused:
            assert trace2 == trace, (name, kind)
            assert problems2 == problems, (name, kind)


def test_what_a_refused_switch_would_miss_is_found_strict() -> None:
    """Each refusal of ``CASES`` stands for a finding a switched run misses."""
    for svc, target, kind, what in [
            (catching_service(), "Catching/run", TERMINAL, "time.time()"),
            (limited_service(), "Limited/run", FAIL, "time.monotonic()"),
            (together_service(), "Together/run", TERMINAL, "time.time()"),
            (wf, "Promised/KEY/promised", TERMINAL, "never awaited")]:
        fault = Fault(kind, step="b" if target != "Promised/KEY/promised" else "a")
        _, problems, _ = _run(svc, target, fault, False)
        assert any(what in p for p in problems), (target, problems)


def test_findings_of_the_retried_attempt_are_made() -> None:
    _, problems, _ = _run(late_service(), "FLate/run", Fault(FAIL, step="a"), False)
    kinds = " ".join(problems)
    assert "LateBindingError" in kinds and "never awaited" in kinds


def test_a_switch_is_refused_with_other_attempts_alive() -> None:
    for kind in (FAIL, TERMINAL):
        _, _, switch = _run(steps_service(), "Steps/run", Fault(kind, step="b"), True, 3)
        assert switch is not None and switch.refused


def _report(svc: sd.Service, target: str, on: bool, monkeypatch: pytest.MonkeyPatch
            ) -> tuple[str, int]:
    monkeypatch.setattr(_explore, "STRICT_FROM_FAILURE", on)
    turned = [0]
    real = StrictFromFailure.__call__

    def counting(self: StrictFromFailure, point: Any) -> None:
        real(self, point)
        turned[0] += not self.refused

    monkeypatch.setattr(StrictFromFailure, "__call__", counting)
    report = sd.check([svc], target, 0, max_examples=0, seed=0, hash_seeds=())
    return f"{report}\nruns={report.runs}", turned[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[1].split("/")[0])
def test_the_report_is_the_same(case: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make, target, _, _ = case
    svc = make()
    target = target.replace("KEY", "w")
    off, none = _report(svc, target, False, monkeypatch)
    on, turned = _report(svc, target, True, monkeypatch)
    assert on == off
    assert none == 0
    if make is steps_service:
        assert turned == 8  # (each step's failure and failure for good)
    if make is catching_service:
        assert "time.time()" in on and "nondeterministic" in on
    if make is limited_service:
        assert "time.monotonic()" in on


def test_the_failures_of_the_twenty_steps_are_switched(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """The single-fault phase of bench_sim's twenty steps: each step's failure
    and failure for good strict from its firing, not from the run's start."""
    svc = named_steps_service(20, "FailSteps")
    made: list[bool] = []
    real = Simulation.__init__

    def counting(self: Simulation, *args: Any, **kw: Any) -> None:
        made.append(bool(kw.get("strict")))
        real(self, *args, **kw)

    monkeypatch.setattr(Simulation, "__init__", counting)
    counts = []
    for on in (False, True):
        monkeypatch.setattr(_explore, "STRICT_FROM_FAILURE", on)
        made.clear()
        sd.check([svc], svc.name + "/run", 0, max_examples=0, seed=0, hash_seeds=())
        counts.append((len(made), sum(made)))
    (runs_off, strict_off), (runs_on, strict_on) = counts
    assert runs_on == runs_off
    assert strict_off - strict_on == 40
