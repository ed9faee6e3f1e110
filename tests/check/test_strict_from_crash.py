"""A single crash's run in ``check``, strict only from its crash on
(``_explore.StrictFromCrash``): the same traces, problems and reports as
runs strict from their start."""

from __future__ import annotations

import time
from typing import Any

import pytest

import simdurable as sd
from simdurable._check import _explore
from simdurable._check._explore import StrictFromCrash
from simdurable._sim import Simulation
from simdurable.runtime._faults import CRASH, Fault

PHASES = ("before", "effect-done", "after-store")


def work(i: int) -> int:
    return i + 1


def steps_service() -> sd.Service:
    svc = sd.Service("Steps")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        for name in ("a", "b", "c", "d"):
            x = await ctx.run_typed(name, work, i=x)
        return x

    return svc


# What a step's closure saw, reset by each check run's setup: a closure run
# again after a crash (at its effect's end) returns something else then.
_ran: dict[str, int] = {}


def _reset() -> None:
    _ran.clear()


def counted(name: str) -> int:
    _ran[name] = _ran.get(name, 0) + 1
    return _ran[name]


def after_crash_service() -> sd.Service:
    """Reads the clock outside a step only when a step's closure ran twice:
    found by a run with a crash after that effect, never by the reference run."""
    svc = sd.Service("AfterCrash")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        key = f"{x}"
        for name in ("a", "b", "c"):
            n = await ctx.run_typed(name, counted, name=name + key)
            if n > 1:
                x += int(time.time() > 0)
        return x

    return svc


def unwinding_service() -> sd.Service:
    """Reads the clock in an ``except BaseException`` around an await: run by
    an attempt a crash ends while the step it awaits runs in place."""
    svc = sd.Service("Unwinding")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        for name in ("a", "b", "c"):
            try:
                x = await ctx.run_typed(name, work, i=x)
            except BaseException:
                time.time()
                raise
        return x

    return svc


def catching_service() -> sd.Service:
    """Catches what a crash never raises (``Abort`` is a ``BaseException``)
    around its awaits: a ``TerminalError`` (named through the module), an
    ``Exception``, a tuple of them; its clauses run no code as a crash unwinds
    it, and the switch is not refused."""
    svc = sd.Service("Catching")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        try:
            x = await ctx.run_typed("a", work, i=x)
        except sd.TerminalError:
            time.time()
            raise
        try:
            x = await ctx.run_typed("b", work, i=x)
        except (ValueError, KeyError):
            time.time()
        except Exception:
            time.time()
            raise
        return x

    return svc


def finally_service() -> sd.Service:
    """A ``finally`` and a ``with`` around awaits: run as a crash unwinds them
    (the clock read by the ``with``'s exit then only)."""
    svc = sd.Service("Finally")

    class Clock:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            if exc[0] is not None:
                time.time()

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        try:
            x = await ctx.run_typed("a", work, i=x)
        except sd.TerminalError:
            raise
        finally:
            x += int(time.time() > 0) if x < 0 else 0
        with Clock():
            x = await ctx.run_typed("b", work, i=x)
        return x

    return svc


def late_service() -> sd.Service:
    """A step started, its argument changed, then awaited (late binding), and
    a step never awaited: what strict mode tracks over an attempt."""
    svc = sd.Service("Late")

    def total(xs: list[int]) -> int:
        return sum(xs)

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        x = await ctx.run_typed("a", work, i=x)
        xs = [x]
        fut = ctx.run_typed("b", total, xs=xs)
        xs.append(1)
        x = await fut
        x = await ctx.run_typed("c", work, i=x)
        ctx.run_typed("d", work, i=x)
        return x

    return svc


def _run(svc: sd.Service, fault: Fault, switched: bool,
         invocations: int = 1) -> tuple[list[str], list[str], StrictFromCrash | None]:
    _ran.clear()
    sim = Simulation([svc], seed=3, faults=[fault], strict=not switched)
    switch = None
    if switched:
        switch = StrictFromCrash()
        switch.sim = sim
        sim.injector.on_fire = switch
    for k in range(invocations):
        sim.invoke(f"{svc.name}/run", k)
    sim.run()
    sim.close()
    return sim.trace(), [f"{type(p).__name__}: {p}" for p in sim.problems], switch


@pytest.mark.parametrize("make", [steps_service, after_crash_service, late_service])
@pytest.mark.parametrize("invocations", [1, 3])
def test_a_switched_run_is_a_strict_run(make: Any, invocations: int) -> None:
    svc = make()
    # (late_service's run finds its late binding at "b": a switched run is a
    # strict run where the run up to its crash found nothing, as ``check`` asks)
    names = {steps_service: ("a", "b", "c", "d"), after_crash_service: ("a", "b", "c"),
             late_service: ("a",)}[make]
    switched = 0
    for name in names:
        for phase in PHASES:
            fault = Fault(CRASH, step=name, phase=phase)
            trace, problems, _ = _run(svc, fault, False, invocations)
            trace2, problems2, switch = _run(svc, fault, True, invocations)
            assert switch is not None and not switch.refused
            assert trace2 == trace, (name, phase)
            assert problems2 == problems, (name, phase)
            switched += any("crash" in line for line in trace2)
    assert switched == len(names) * len(PHASES)


def test_findings_after_the_crash_are_made() -> None:
    svc = after_crash_service()
    _, problems, _ = _run(svc, Fault(CRASH, step="b", phase="effect-done"), False)
    assert any("time.time()" in p for p in problems)
    _, problems2, switch = _run(svc, Fault(CRASH, step="b", phase="effect-done"), True)
    assert switch is not None and not switch.refused
    assert problems2 == problems


def test_late_binding_and_not_awaited_after_a_switch() -> None:
    svc = late_service()
    fault = Fault(CRASH, step="a", phase="after-store")
    _, problems, _ = _run(svc, fault, False)
    kinds = " ".join(problems)
    assert "LateBindingError" in kinds and "never awaited" in kinds
    _, problems2, _ = _run(svc, fault, True)
    assert problems2 == problems


def test_a_switch_is_refused_where_handler_code_would_run_unwatched() -> None:
    """An ``except`` around the await a crash ends runs watched in strict mode:
    the switch is refused there (the run is made again strict from its start)."""
    svc = unwinding_service()
    fault = Fault(CRASH, step="b", phase="before")
    _, problems, _ = _run(svc, fault, False)
    assert any("time.time()" in p for p in problems)
    _, _, switch = _run(svc, fault, True)
    assert switch is not None and switch.refused


@pytest.mark.parametrize(("make", "refused"), [(catching_service, False),
                                               (finally_service, True),
                                               (unwinding_service, True)])
def test_a_switch_is_refused_only_where_a_handler_catches_what_a_crash_raises(
        make: Any, refused: bool) -> None:
    """An ``except`` clause that names nothing ``Abort`` is does not run as a
    crash unwinds the attempt (its match read from the code): the switch is
    made, and the run is the run strict from its start."""
    svc = make()
    for name in ("a", "b"):
        fault = Fault(CRASH, step=name, phase="before")
        trace, problems, _ = _run(svc, fault, False)
        trace2, problems2, switch = _run(svc, fault, True)
        assert switch is not None and switch.refused is refused, name
        if not refused:
            assert (trace2, problems2) == (trace, problems)


def _report(svc: sd.Service, on: bool, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str:
    monkeypatch.setattr(_explore, "STRICT_FROM_CRASH", on)
    # (the crashes' switch alone: a failed step's is ``test_strict_from_failure``'s)
    monkeypatch.setattr(_explore, "STRICT_FROM_FAILURE", False)
    turned = []
    real = Simulation._turn_strict

    def counting(self: Simulation) -> None:
        turned.append(1)
        real(self)

    monkeypatch.setattr(Simulation, "_turn_strict", counting)
    report = sd.check([svc], f"{svc.name}/run", 0, max_examples=0, seed=0, hash_seeds=(),
                      setup=_reset, **kw)
    return f"{report}\nruns={report.runs}\nturned={bool(turned)}"


@pytest.mark.parametrize("make", [steps_service, after_crash_service, unwinding_service,
                                  catching_service, finally_service])
def test_the_report_is_the_same(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = make()
    off = _report(svc, False, monkeypatch)
    on = _report(svc, True, monkeypatch)
    assert on.replace("turned=True", "turned=False") == off
    # (the reference run found nothing: single crashes switched)
    assert on.endswith("turned=True")
    if make in (after_crash_service, finally_service):
        assert "time.time()" in on and "nondeterministic" in on


def test_no_switch_where_the_reference_run_found_something(
        monkeypatch: pytest.MonkeyPatch) -> None:
    svc = late_service()
    off = _report(svc, False, monkeypatch)
    on = _report(svc, True, monkeypatch)
    assert on == off  # turned=False in both


def test_a_restate_handlers_context_managers_refuse_the_switch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """restate-sdk's invocation context managers exit as a crash unwinds the
    handler (simdurable's wrapper enters them): one that reads the clock then
    only is found with the switch as without it."""
    import contextlib

    restate = pytest.importorskip("restate")

    @contextlib.asynccontextmanager
    async def traced() -> Any:
        try:
            yield
        except Exception:
            raise
        except BaseException:  # (what ends an attempt: never the reference run)
            time.time()
            raise

    svc = restate.Service("Traced", invocation_context_managers=[traced])

    @svc.handler()
    async def run(ctx: Any, x: int) -> int:
        for name in ("a", "b"):
            x = await ctx.run_typed(name, work, i=x)
        return x

    fault = Fault(CRASH, step="b", phase="before")
    _, problems, _ = _run(svc, fault, False)
    assert any("time.time()" in p for p in problems)
    _, _, switch = _run(svc, fault, True)
    assert switch is not None and switch.refused
    off = _report(svc, False, monkeypatch)
    on = _report(svc, True, monkeypatch)
    assert on.replace("turned=True", "turned=False") == off
    assert "time.time()" in on
