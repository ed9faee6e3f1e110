"""Virtual objects (exclusive queueing, shared reads), calls and delayed sends."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd

counter = restate.VirtualObject("Counter")
log: list[str] = []


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    log.append(f"start {ctx.key()} {delta}")
    n = (await ctx.get("count")) or 0
    await ctx.sleep(timedelta(seconds=1))
    ctx.set("count", n + delta)
    log.append(f"end {ctx.key()} {delta}")
    return n + delta


@counter.handler(kind="shared")
async def current(ctx: restate.ObjectSharedContext) -> int:
    return (await ctx.get("count")) or 0


@counter.handler(kind="shared")
async def sneaky(ctx: restate.ObjectSharedContext) -> None:
    ctx.set("count", 1000)


@counter.handler()
async def reset(ctx: restate.ObjectContext) -> list:
    ctx.set("tmp", None)
    keys = await ctx.state_keys()
    ctx.clear("tmp")
    ctx.clear_all()
    return keys


caller = restate.Service("Caller")


@caller.handler()
async def bump_twice(ctx: restate.Context, key: str) -> list:
    a = await ctx.object_call(add, key, 1)
    b = await ctx.object_call(add, key, 10)
    return [a, b]


@caller.handler()
async def later(ctx: restate.Context, key: str) -> str:
    handle = ctx.object_send(add, key, 5, send_delay=timedelta(minutes=5))
    return await handle.invocation_id()


@counter.handler()
async def self_call(ctx: restate.ObjectContext) -> int:
    return await ctx.object_call(add, ctx.key(), 1)  # deadlock: same key, exclusive


def fresh(seed=1, **kw):
    log.clear()
    return sd.Simulation([counter, caller], seed=seed, **kw)


def test_exclusive_handlers_run_one_at_a_time_per_key_in_arrival_order():
    sim = fresh()
    handles = [sim.invoke("Counter/a/add", d) for d in (1, 2, 3)]
    other = sim.invoke("Counter/b/add", 100)
    sim.run()
    assert [h.result() for h in handles] == [1, 3, 6]
    assert other.result() == 100
    a_events = [e for e in log if " a " in e]
    assert a_events == ["start a 1", "end a 1", "start a 2", "end a 2", "start a 3", "end a 3"]
    assert sim.state("Counter", "a") == {"count": 6}
    assert sim.now() == 3.0  # a's three run one after another; b in parallel


def test_shared_handlers_read_concurrently_and_cannot_write():
    sim = fresh()
    sim.invoke("Counter/a/add", 4)
    sim.run()
    reads = [sim.invoke("Counter/a/current") for _ in range(3)]
    writer = sim.invoke("Counter/a/add", 1)
    early = sim.invoke("Counter/a/current")
    sim.run(until=timedelta(seconds=1.5))
    assert early.result() == 4  # a shared read does not queue behind the writer
    sim.run()
    assert [r.result() for r in reads] == [4, 4, 4]
    assert writer.result() == 5
    bad = sim.invoke("Counter/a/sneaky")
    sim.run()
    assert bad.status == "paused"
    with pytest.raises(sd.HandlerError, match=r"ctx.set\(\) is not allowed in a shared handler"):
        bad.result()


def test_state_set_none_keeps_the_key_and_clear_all_drops_everything():
    sim = fresh()
    sim.invoke("Counter/a/add", 1)
    h = sim.invoke("Counter/a/reset")
    sim.run()
    assert h.result() == ["count", "tmp"]
    assert sim.state("Counter", "a") == {}


def test_calls_between_handlers_return_results_and_survive_crashes():
    sim = fresh(seed=4)
    sim.crash(after="Counter/k/add", point="after-store", target="Caller/bump_twice")
    h = sim.invoke("Caller/bump_twice", "k")
    sim.run()
    assert h.result() == [1, 11]
    assert sim.state("Counter", "k") == {"count": 11}
    calls = [e for e in sim.journal(h) if e.kind == "call"]
    assert [c.name for c in calls] == ["Counter/k/add", "Counter/k/add"]
    assert len([i for i in sim.invocations() if i.target == "Counter/k/add"]) == 2


def test_delayed_send_is_delivered_after_its_delay():
    sim = fresh()
    h = sim.invoke("Caller/later", "z")
    sim.run()
    sent = [i for i in sim.invocations() if i.target == "Counter/z/add"]
    assert len(sent) == 1 and sent[0].id == h.result()
    assert sim.now() == 301.0  # delivered at 5 min, then add sleeps 1 s


def test_send_from_the_test_with_a_delay():
    sim = fresh()
    h = sim.send("Counter/q/add", 2, delay=timedelta(seconds=30))
    assert h.status == "scheduled"
    sim.run(until=timedelta(seconds=29))
    assert h.status == "scheduled"
    sim.run()
    assert h.result() == 2 and sim.now() == 31.0


def test_exclusive_self_call_deadlocks_and_the_run_says_on_what():
    sim = fresh()
    h = sim.invoke("Counter/x/self_call")
    summary = sim.run()
    assert not summary.finished
    text = str(summary)
    assert "waits on #0 call \"Counter/x/add\"" in text
    assert "queued behind" in text
    assert ("a deadlock, Counter/x/self_call holds the key while it waits on this call, "
            "which needs the same key") in text
    with pytest.raises(sd.NotFinishedError, match="waits on"):
        h.result()


def test_a_call_queued_behind_one_that_only_sleeps_is_no_deadlock():
    sim = fresh()
    sim.invoke("Counter/y/add", 1)
    sim.invoke("Counter/y/add", 2)
    text = str(sim.run(until=timedelta(milliseconds=500)))
    assert "queued behind" in text
    assert "deadlock" not in text


def test_idempotency_key_deduplicates_invocations():
    sim = fresh()
    a = sim.invoke("Counter/i/add", 1, idempotency_key="k1")
    b = sim.invoke("Counter/i/add", 1, idempotency_key="k1")
    c = sim.invoke("Counter/i/add", 1, idempotency_key="k2")
    sim.run()
    assert a.id == b.id != c.id
    assert sim.state("Counter", "i") == {"count": 2}


account = restate.VirtualObject("Account")


@account.handler()
async def pay(ctx: restate.ObjectContext, to: str) -> int:
    # The payee confirms by reading this account: its key is held here meanwhile.
    return await ctx.object_call(confirm, to, ctx.key())


@account.handler()
async def confirm(ctx: restate.ObjectContext, payer: str) -> int:
    return await ctx.object_call(balance, payer, None)


@account.handler()
async def pay_then_confirm(ctx: restate.ObjectContext, to: str) -> int:
    # The twin: the payee is told by a send, so no one waits on a held key.
    ctx.object_send(confirm, to, ctx.key())
    return (await ctx.get("b")) or 0


@account.handler()
async def balance(ctx: restate.ObjectContext, _: None) -> int:
    return (await ctx.get("b")) or 0


def test_a_deadlock_across_two_keys_is_named_with_its_chain_of_waits():
    sim = sd.Simulation([account], seed=1)
    h = sim.invoke("Account/a/pay", "b")
    text = str(sim.run())
    assert ("a deadlock, Account/a/pay holds the key and awaits its call to "
            "Account/b/confirm, which awaits its call to this invocation") in text, text
    with pytest.raises(sd.NotFinishedError):
        h.result()
    twin = sd.Simulation([account], seed=1)
    ok = twin.invoke("Account/a/pay_then_confirm", "b")
    twin.run()
    assert ok.result() == 0


def test_a_deadlock_through_suspended_key_holders_is_named_too():
    # Under always_suspend the holder and the callee are suspended, not running:
    # their stored journals still tell what they wait on.
    sim = sd.Simulation([account], seed=1, always_suspend=True)
    sim.invoke("Account/a/pay", "b")
    text = str(sim.run())
    assert ("a deadlock, Account/a/pay holds the key and awaits its call to "
            "Account/b/confirm, which awaits its call to this invocation") in text, text
    assert 'Account/a/pay: suspended, waits on #0 call "Account/b/confirm"' in text, text
    twin = sd.Simulation([account], seed=1, always_suspend=True)
    ok = twin.invoke("Account/a/pay_then_confirm", "b")
    twin.run()
    assert ok.result() == 0


# An order that gives itself an hour: a delayed send hands the awakeable's id
# to an exclusive handler of the same key, which waits behind the order it was
# to time out. A shared handler runs beside it (Restate's shared handlers).
orders = restate.VirtualObject("TimedOrder")


async def _wait_for_kitchen(ctx: restate.ObjectContext, give_up: object) -> str:
    callback, meal = ctx.awakeable()
    ctx.set("status", "waiting")
    ctx.object_send(give_up, ctx.key(), callback, send_delay=timedelta(hours=1))
    return str(await meal)


@orders.handler()
async def give_up_exclusive(ctx: restate.ObjectContext, callback: str) -> None:
    if await ctx.get("status") == "waiting":
        ctx.reject_awakeable(callback, "the kitchen did not answer", 408)


@orders.handler(kind="shared")
async def give_up_shared(ctx: restate.ObjectSharedContext, callback: str) -> None:
    if await ctx.get("status") == "waiting":
        ctx.reject_awakeable(callback, "the kitchen did not answer", 408)


@orders.handler()
async def place_timed_exclusively(ctx: restate.ObjectContext) -> str:
    return await _wait_for_kitchen(ctx, give_up_exclusive)


@orders.handler()
async def place_timed_shared(ctx: restate.ObjectContext) -> str:
    return await _wait_for_kitchen(ctx, give_up_shared)


def test_an_awakeables_id_sent_to_a_handler_queued_behind_its_waiter_is_a_named_deadlock():
    sim = sd.Simulation([orders], seed=1)
    h = sim.invoke("TimedOrder/o1/place_timed_exclusively")
    summary = sim.run()
    assert not summary.finished and h.status == "waiting"
    text = str(summary)
    assert ("its id went to TimedOrder/o1/give_up_exclusive (#2); nothing resolved it: "
            "TimedOrder/o1/give_up_exclusive is queued behind "
            "TimedOrder/o1/place_timed_exclusively for key 'o1', which holds the key while it "
            "waits on this awakeable, a deadlock") in text, text
    # The twin: the shared handler runs beside it and gives up after the hour.
    sim = sd.Simulation([orders], seed=1)
    h = sim.invoke("TimedOrder/o1/place_timed_shared")
    sim.run()
    with pytest.raises(sd.TerminalError, match="the kitchen did not answer"):
        h.result()
    assert sim.now() == 3600.0


def test_a_workflow_shared_handler_writing_state_stops_there_as_on_restate():
    """restate-server 1.7.12 (docs/conformance.md, "Checked by hand") refuses
    SetState and ClearState from a workflow's shared handler with RT0017 and
    retries the invocation: the handler never gets past the write, so the
    promise it would resolve after it stays pending and nothing is written."""
    wf = sd.Workflow("Poked")

    @wf.main()
    async def run(ctx: sd.WorkflowContext, x: int) -> str:
        return await ctx.promise("p").value()

    @wf.handler()
    async def poke(ctx: sd.WorkflowSharedContext, x: int) -> str:
        ctx.set("k", "from-shared")  # type: ignore[attr-defined]
        await ctx.promise("p").resolve("ok")
        return "poked"

    @wf.handler()
    async def wipe(ctx: sd.WorkflowSharedContext, x: int) -> None:
        ctx.clear_all()  # type: ignore[attr-defined]

    sim = sd.Simulation([wf], seed=0)
    h = sim.invoke("Poked/w/run", 1)
    bad = sim.invoke("Poked/w/poke", 1)
    wiped = sim.invoke("Poked/w/wipe", 1)
    sim.run()
    assert not h.done and bad.status == "paused" and wiped.status == "paused"
    assert sim.state("Poked", "w") == {}
    with pytest.raises(sd.HandlerError, match=r"ctx.set\(\) is not allowed in a shared handler: "
                       r"shared handlers can only read state \(Restate refuses it, RT0017"):
        bad.result()
    with pytest.raises(sd.HandlerError, match=r"ctx.clear_all\(\) is not allowed in a shared"):
        wiped.result()


def test_a_state_write_in_a_shared_handler_is_not_seen_by_its_except():
    """On Restate the SDK raises nothing at ``ctx.set``: the server refuses the
    command and retries the invocation, so an ``except Exception`` around the
    write never runs and the handler never gets past it (the promise stays
    pending). A step before the write is journaled: its closure ran once.
    Raised as an exception the handler could catch, it went on here and
    resolved the promise, and the workflow returned."""
    wf = sd.Workflow("PokedSafely")
    log = sd.FakeExternal("poke-log")
    caught: list[str] = []

    @wf.main()
    async def run(ctx: sd.WorkflowContext, x: int) -> str:
        return await ctx.promise("p").value()

    @wf.handler()
    async def poke(ctx: sd.WorkflowSharedContext, x: int) -> str:
        await ctx.run_typed("log", lambda: log.apply("poked", x))
        try:
            ctx.set("k", "from-shared")  # type: ignore[attr-defined]
        except Exception as err:
            caught.append(type(err).__name__)
        await ctx.promise("p").resolve("ok")
        return "poked"

    sim = sd.Simulation([wf], seed=0, externals=[log])
    h = sim.invoke("PokedSafely/w/run", 1)
    bad = sim.invoke("PokedSafely/w/poke", 1)
    sim.run()
    assert caught == [] and not h.done and bad.status == "paused"
    assert len(log.effects) == 1
    with pytest.raises(sd.HandlerError, match=r"ctx.set\(\) is not allowed in a shared handler"):
        bad.result()
    report = sd.check(services=[wf], invoke="PokedSafely/w/poke", input=1, externals=[log],
                      max_examples=5)
    assert "handler-error" in {v.kind for v in report.violations}, report
