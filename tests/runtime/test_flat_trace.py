"""A simulation keeps its trace as one flat list of values (8 bytes each)
instead of a tuple per event: the events read back from it are exactly those
the engine reported, in order, whatever the schedule and faults."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime._trace import Tracer, event_text, events

bank = sd.FakeExternal("bank")
shop = sd.Service("FlatShop")
counter = sd.VirtualObject("FlatCounter")
flaky: list[int] = []


def sometimes_fails(i: int) -> int:
    flaky.append(i)
    if len(flaky) % 3 == 1:
        raise ConnectionError("flaky")
    return i


@counter.handler()
async def add(ctx: sd.ObjectContext, delta: int) -> int:
    n = (await ctx.get("n")) or 0
    await ctx.sleep(timedelta(milliseconds=10 * delta))
    ctx.set("n", n + delta)
    return n + delta


@shop.handler()
async def buy(ctx: sd.Context, amount: int) -> str:
    a = ctx.run_typed("price", lambda: amount * 2)
    b = ctx.run_typed("tax", lambda: amount // 10)
    await sd.gather(a, b)
    price, tax = await a, await b
    price = await ctx.run_typed("flaky", sometimes_fails, i=price)
    await ctx.object_call(add, "total", price)
    key = str(ctx.uuid())
    receipt = await ctx.run_typed(
        "charge", lambda: bank.apply("charge", {"amount": price + tax}, idempotency_key=key)
    )
    return str(receipt["id"])


def teed(seed: int, plan: str) -> tuple[sd.Simulation, list[tuple[Any, ...]]]:
    """A run whose engine reports every event both to the simulation and to a list."""
    bank.reset()
    flaky.clear()
    sim = sd.Simulation([shop, counter], seed=seed, faults=plan or None, externals=[bank])
    reported: list[tuple[Any, ...]] = []
    tracer = sim.engine.trace
    keep = tracer.sink
    assert keep is not None

    def tee(event: tuple[Any, ...]) -> None:
        reported.append(event)
        keep(event)

    tracer.sink = tracer.event = tee
    for amount in (10, 20, 30):
        sim.invoke("FlatShop/buy", amount)
    sim.send("FlatCounter/total/add", 1, delay=timedelta(milliseconds=5))
    sim.run()
    return sim, reported


@pytest.mark.parametrize("plan", ["", "crash(step=charge, phase=effect-done, attempt=1); "
                                      "restart(at=300ms)"])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_flat_trace_reads_back_the_reported_events(seed: int, plan: str) -> None:
    sim, reported = teed(seed, plan)
    assert len(reported) > 20
    # (a compact record reported stands for the events it spells out)
    # (an express step's, "ran", where one ran alone with no fault that may fire;
    # a crowd's step task's, "ran_task"; an express step's command not run at
    # once, "issued", where a plain step's command is a "run" form)
    forms = {e[3] for e in reported}
    assert forms - {"ran", "run"} == {"text", "command", "ran_step", "ran_task", "issued",
                                      "attempt", "submit", "done"}
    reported = [e for record in reported for e in events(list(record))]
    assert list(events(sim._trace)) == reported
    assert not any(isinstance(value, tuple) for value in sim._trace)
    assert sim.trace_events() == [(e[0], e[1], e[2], event_text(e)) for e in reported]
    assert sim.trace() == [f"{e[0] / 1000:>10.3f}s  {e[1]:<8} {e[2][:16]:<16} {event_text(e)}"
                           for e in reported]
    assert {e[3] for e in reported} == {"text", "command", "run", "step", "attempt",
                                      "submit", "done"}
    attempts = [event_text(e) for e in reported if e[3] == "attempt"]
    assert "attempt 1 of FlatShop/buy" in attempts
    if plan:  # after the crash, the second attempt replays what the first journaled
        assert any(t.startswith("attempt 2 of FlatShop/buy (replaying ")
                   and t.endswith(" entries)") for t in attempts)


def test_a_text_that_looks_like_a_form_stays_a_text() -> None:
    class Clock:
        now_ms = 5

    flat: list[Any] = []
    tracer = Tracer(flat.extend, Clock(), deferred=True)
    tracer("note", "inv_1", "step")
    tracer.event((5, "step", "inv_1", "step", "charge", 3))
    tracer("note", "inv_1", "command")
    assert [event_text(e) for e in events(flat)] == ["step", 'ran step "charge" #3', "command"]
    printed: list[tuple[Any, ...]] = []
    Tracer(printed.append, Clock())("note", "inv_1", "step")  # a host that formats at once
    assert printed == [(5, "note", "inv_1", "step")]
