"""Messages to one key: another sender's may overtake a message late in
transit, but one sender's messages to a key arrive in the order it sent them."""

from __future__ import annotations

import simdurable as sd

log = sd.VirtualObject("Log")


@log.handler()
async def append(ctx: sd.ObjectContext, line: str) -> None:
    ctx.set("lines", [*(await ctx.get("lines") or []), line])


relay = sd.Service("Relay")


@relay.handler()
async def forward(ctx: sd.Context, line: str) -> None:
    ctx.object_send(append, "k", line)


writer = sd.Service("Writer")


@writer.handler()
async def two_senders(ctx: sd.Context, _: None) -> None:
    ctx.object_send(append, "k", "mine")
    await ctx.service_call(forward, "relayed")


@writer.handler()
async def one_sender(ctx: sd.Context, _: None) -> None:
    ctx.object_send(append, "k", "first")
    ctx.object_send(append, "k", "second")
    await ctx.service_call(forward, "relayed")


def lines(target: str, faults: str | None) -> list[str]:
    sim = sd.Simulation([log, relay, writer], seed=1, faults=faults)
    sim.invoke(target, None)
    sim.run()
    return list(sim.state("Log", "k")["lines"])


LATE_FIRST = "delay(step=Log/k/append, index=0, phase=timer, by=10ms)"


def test_another_senders_message_overtakes_one_late_in_transit():
    assert lines("Writer/two_senders", None) == ["mine", "relayed"]
    assert lines("Writer/two_senders", LATE_FIRST) == ["relayed", "mine"]


def test_one_senders_messages_to_a_key_keep_their_order():
    assert lines("Writer/one_sender", LATE_FIRST) == ["relayed", "first", "second"]


def test_a_check_explores_messages_late_in_transit_and_is_reproducible():
    """The single faults delay each one-way send to a key; the same seed gives
    the same report."""
    pair = next(p for p in __import__("tests.corpus.pairs", fromlist=["all_pairs"]).all_pairs()
                if p.name == "two-senders-one-key-order")
    report = pair.check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "invariant")
    assert v.found_by.startswith("the single-fault phase")
    assert "phase=timer" in str(v.fault_plan) and "step=Shipment/ship-o1/create" in str(v.fault_plan)
    assert pair.check(fixed=False, max_examples=0).render() == report.render()
    assert pair.check(fixed=True, max_examples=0).ok
