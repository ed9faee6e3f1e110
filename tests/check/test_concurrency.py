"""``check(concurrent=...)``: several invocations at once, judged against every
one-at-a-time order of them (a lost update is found; its correct twin passes)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import simdurable as sd
from simdurable import world
from simdurable._cli import main

counter = sd.VirtualObject("Counter")


@counter.handler(kind="shared")
async def get(ctx: sd.ObjectSharedContext) -> int:
    return int(await ctx.get("n") or 0)


@counter.handler()
async def put(ctx: sd.ObjectContext, n: int) -> None:
    ctx.set("n", n)


@counter.handler()
async def add(ctx: sd.ObjectContext, d: int) -> int:
    n = int(await ctx.get("n") or 0) + d
    ctx.set("n", n)
    return n


bump = sd.Service("Bump")


@bump.handler()
async def racy(ctx: sd.Context, key: str) -> int:
    """Read, then write: two of these at once can both read 0."""
    n = await ctx.object_call(get, key, None)
    await ctx.object_call(put, key, n + 1)
    return int(n) + 1


@bump.handler()
async def atomic(ctx: sd.Context, key: str) -> int:
    return int(await ctx.object_call(add, key, 1))


services = [counter, bump]


def test_a_lost_update_between_two_concurrent_calls_is_found():
    report = sd.check(services=services, invoke="Bump/racy", input="a", concurrent=2,
                      max_examples=20)
    assert report.kinds == ["not-serializable"]
    v = report.violations[0]
    assert v.message == ('2 concurrent invocations left state {"Counter/a": {"n": 1}}, which '
                         'no one-at-a-time order of them leaves (they leave '
                         '{"Counter/a": {"n": 2}}): a lost update?')
    assert "sim.invoke('Bump/racy', 'a')" in v.program
    assert "concurrent=[('Bump/racy', 'a')]" in v.python_line
    again = sd.replay(v.fault_plan, v.seed, services=services, invoke="Bump/racy", input="a",
                      concurrent=2, schedule=v.schedule)
    assert again.kinds == ["not-serializable"]
    assert report.concurrent == ['Bump/racy("a")', 'Bump/racy("a")']


def test_its_correct_twin_passes_under_faults_and_schedules():
    report = sd.check(services=services, invoke="Bump/atomic", input="a", concurrent=3,
                      max_examples=30)
    assert report.ok, report.render()
    assert report.reference.startswith("returned")
    assert report.faults_fired


def test_a_list_of_different_invocations_at_once():
    ok = sd.check(services=services, invoke="Counter/a/add", input=1,
                  concurrent=[("Counter/a/add", 5), ("Bump/atomic", "a")], max_examples=10)
    assert ok.ok, ok.render()
    bad = sd.check(services=services, invoke="Bump/racy", input="a",
                   concurrent=[("Counter/a/add", 5)], max_examples=30)
    assert bad.kinds == ["not-serializable"]


def test_bad_concurrency_arguments_are_refused():
    with pytest.raises(ValueError, match="concurrent must be 1 to 4"):
        sd.check(services=services, invoke="Bump/racy", input="a", concurrent=9)
    with pytest.raises(TypeError, match=r"\(target, input\) pairs"):
        sd.check(services=services, invoke="Bump/racy", input="a",
                 concurrent=["Bump/racy"])  # type: ignore[list-item]
    with pytest.raises(sd.InvalidTargetError, match="check.concurrent=...."):
        sd.check(services=services, invoke="Bump/racy", input="a",
                 concurrent=[("Bump/nope", 1)])


def test_the_cli_runs_invocations_at_once(capsys):
    status = main(["check", "tests.check.test_concurrency:racy", "--input", '"a"',
                   "--concurrent", "2", "--max-examples", "10", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1 and data["violations"][0]["kind"] == "not-serializable"
    assert "--concurrent 2" in data["violations"][0]["reproduce"]["cli"]


@bump.handler()
async def ticket(ctx: sd.Context, key: str) -> int:
    """Read, then add: the count stays right, but two callers can get the same ticket."""
    n = await ctx.object_call(get, key, None)
    await ctx.object_call(add, key, 1)
    return int(n) + 1


def test_results_no_order_gives_are_found_even_when_the_state_is_right():
    report = sd.check(services=services, invoke="Bump/ticket", input="a", concurrent=2,
                      max_examples=20)
    assert report.kinds == ["not-serializable"]
    assert "results no one-at-a-time order of them gives" in report.violations[0].message


def test_which_caller_got_which_receipt_of_a_fake_external_is_not_a_lost_update():
    """The bank numbers its receipts in the order the charges reach it, and the
    inventory counts in the order the reservations reach it: two checkouts at once
    may pair them either way, as two one-at-a-time runs never do."""
    from examples import shop

    report = sd.check(services=shop.services, externals=shop.externals,
                      invoke="Shop/checkout", input={"item": "book", "amount": 30},
                      concurrent=2, max_examples=20)
    assert report.ok, report.render()
    unsafe = sd.check(services=shop.services, externals=shop.externals,
                      invoke="Shop/checkout_unsafe", input={"item": "book", "amount": 30},
                      concurrent=2, max_examples=20)
    assert "duplicate-effect" in unsafe.kinds and "not-serializable" not in unsafe.kinds


# A cart that holds each item for 15 minutes (Restate's ticket-reservation
# pattern): every add schedules its own expiry with a delayed send, which
# moves the item to the expired ones.
cart = sd.VirtualObject("Cart")


@cart.handler()
async def hold(ctx: sd.ObjectContext, item: str) -> int:
    items = list(await ctx.get("items") or [])
    items.append(item)
    ctx.set("items", items)
    ctx.object_send(expire, ctx.key(), item, send_delay=timedelta(minutes=15))
    return len(items)


@cart.handler()
async def expire(ctx: sd.ObjectContext, item: str) -> None:
    items = list(await ctx.get("items") or [])
    if item in items:
        items.remove(item)
        ctx.set("items", items)
        ctx.set("expired", list(await ctx.get("expired") or []) + [item])


@cart.handler(kind="shared")
async def items(ctx: sd.ObjectSharedContext) -> list[str]:
    return list(await ctx.get("items") or [])


@cart.handler()
async def put_items(ctx: sd.ObjectContext, items: list[str]) -> None:
    ctx.set("items", items)


shop = sd.Service("Shop")


@shop.handler()
async def hold_racy(ctx: sd.Context, item: str) -> int:
    """Read the cart through one call and write it through another, then expire later."""
    now = list(await ctx.object_call(items, "c1", None)) + [item]
    await ctx.object_call(put_items, "c1", now)
    ctx.object_send(expire, "c1", item, send_delay=timedelta(minutes=15))
    return len(now)


def test_two_quick_calls_both_before_the_expiry_each_scheduled_are_serializable():
    # One at a time, the second add may come before the first one's expiry
    # fires: results 1 and 2 are an order of the two calls, not a lost update.
    report = sd.check(services=[cart], invoke="Cart/c1/hold", input="book", concurrent=2,
                      max_examples=10)
    assert report.ok, report.render()


def test_a_lost_update_beside_a_delayed_send_is_still_found():
    report = sd.check(services=[cart, shop], invoke="Shop/hold_racy", input="book",
                      concurrent=2, max_examples=10)
    assert report.kinds == ["not-serializable"], report.render()
    assert "a lost update?" in report.violations[0].message


semaphore = sd.VirtualObject("Semaphore")


@semaphore.handler()
async def acquire(ctx: sd.ObjectContext, awk: str) -> None:
    if not await ctx.get("held"):
        ctx.set("held", True)
        ctx.resolve_awakeable(awk, None)
    else:  # the queue is written only when a second caller comes while the first holds
        ctx.set("waiting", (await ctx.get("waiting") or []) + [awk])


@semaphore.handler()
async def release(ctx: sd.ObjectContext, _: None) -> None:
    waiting = await ctx.get("waiting") or []
    if waiting:
        ctx.set("waiting", waiting[1:])  # emptied again: [] reads as unset
        ctx.resolve_awakeable(waiting[0], None)
    else:
        ctx.set("held", False)


@semaphore.handler()
async def release_racy(ctx: sd.ObjectContext, _: None) -> None:
    waiting = await ctx.get("waiting") or []
    if waiting:  # the twin hands the permit on but leaves the caller queued
        ctx.resolve_awakeable(waiting[0], None)
    else:
        ctx.set("held", False)


guarded = sd.Service("Guarded")


@guarded.handler()
async def use(ctx: sd.Context, key: str) -> None:
    awk, granted = ctx.awakeable()
    ctx.object_send(acquire, key, awk)
    await granted
    ctx.object_send(release, key, None)


@guarded.handler()
async def use_racy(ctx: sd.Context, key: str) -> None:
    awk, granted = ctx.awakeable()
    ctx.object_send(acquire, key, awk)
    await granted
    ctx.object_send(release_racy, key, None)


def permit_free(outcome: sd.Outcome) -> None:
    """Once its callers have finished, the semaphore is free and nobody waits."""
    sem = outcome.state.get("Semaphore/k", {})
    assert not sem.get("held") and not sem.get("waiting"), f"the permit is left taken: {sem}"


def test_a_queue_emptied_again_is_no_lost_update_and_one_left_behind_breaks_the_invariant():
    """The racy twin hands the permit on but leaves the second caller queued:
    the four messages handled one at a time in the order of the run at once
    (two acquires, two releases) leave that state too, so it is no lost
    update; the semaphore left taken breaks the invariant."""
    ok = sd.check(services=[semaphore, guarded], invoke="Guarded/use", input="k",
                  concurrent=2, max_examples=10, hash_seeds=(), invariant=permit_free)
    assert ok.ok, ok
    racy = sd.check(services=[semaphore, guarded], invoke="Guarded/use_racy", input="k",
                    concurrent=2, max_examples=10, hash_seeds=(), invariant=permit_free)
    assert racy.kinds == ["invariant"], racy
    assert "the permit is left taken: {'held': True, 'waiting': ['awk_" in racy.violations[0].message


journal_obj = sd.VirtualObject("Journal")
publisher = sd.Service("Publisher")


@journal_obj.handler()
async def append(ctx: sd.ObjectContext, line: str) -> None:
    ctx.set("lines", (await ctx.get("lines") or []) + [line])


@publisher.handler()
async def publish_two(ctx: sd.Context, key: str) -> None:
    ctx.object_send(append, key, "opened")
    ctx.object_send(append, key, "closed")


def test_two_producers_messages_interleaving_are_no_lost_update():
    """Each one-way message is an invocation of its own, and a key's messages
    from two senders keep no order between them: their handling interleaved is
    the senders one at a time, then the messages one at a time."""
    report = sd.check(services=[journal_obj, publisher], invoke="Publisher/publish_two",
                      input="k", concurrent=2, max_examples=10, hash_seeds=())
    assert report.ok, report.render()
    assert report.single_faults and report.examples


@publisher.handler()
async def call_two(ctx: sd.Context, key: str) -> None:
    await ctx.object_call(append, key, "opened")
    await ctx.object_call(append, key, "closed")


def test_two_callers_calls_interleaving_are_said_to_lose_nothing():
    """A call is part of its caller: two callers' calls to a key interleaving
    is no one-at-a-time order of the callers."""
    report = sd.check(services=[journal_obj, publisher], invoke="Publisher/call_two",
                      input="k", concurrent=2, max_examples=10, hash_seeds=())
    assert report.kinds == ["not-serializable"]
    message = report.violations[0].message
    assert message.endswith("nothing is lost, but the same items are in another order, as "
                            "when the invocations' calls to a key interleave"), message


topup = sd.Service("Topup")
sender = sd.Service("Sender")


@topup.handler()
async def top_up(ctx: sd.Context, key: str) -> None:
    n = await ctx.object_call(get, key, None)
    await ctx.object_call(put, key, n + 1)


@sender.handler()
async def send_top_up(ctx: sd.Context, key: str) -> None:
    ctx.service_send(top_up, key)


def test_messages_whose_own_handlers_lose_an_update_are_still_not_serializable():
    """The messages one at a time lose nothing; at once, they do."""
    report = sd.check(services=[counter, topup, sender], invoke="Sender/send_top_up",
                      input="k", concurrent=2, max_examples=10, hash_seeds=())
    assert report.kinds == ["not-serializable"], report.render()


@publisher.handler()
async def call_with_uuid(ctx: sd.Context, key: str) -> None:
    await ctx.object_call(append, key, str(ctx.uuid()))


@publisher.handler()
async def send_with_uuid(ctx: sd.Context, key: str) -> None:
    ctx.object_send(append, key, str(ctx.uuid()))


@journal_obj.handler()
async def forward_uuid(ctx: sd.ObjectContext, line: str) -> None:
    ctx.object_send(append, ctx.key(), f"{line} {ctx.uuid()}")


@pytest.mark.parametrize(("invoke", "value"), [
    ("Publisher/call_with_uuid", "k"),
    ("Publisher/send_with_uuid", "k"),
    ("Journal/k/forward_uuid", "x"),
])
def test_each_invocation_keeps_its_id_one_at_a_time_so_its_uuids_match(invoke, value):
    """``ctx.uuid()`` derives from the invocation's id, and an id counts the
    submissions before it: run one at a time after the first caller's call or
    message, the second caller got another id, wrote another uuid, and every
    run at once was reported as a lost update."""
    report = sd.check(services=[journal_obj, publisher], invoke=invoke, input=value,
                      concurrent=2, max_examples=10, hash_seeds=())
    assert report.ok, report.render()
    assert report.single_faults and report.examples


# Steps that draw values for themselves: a uuid4, the global random generator.
# Every run draws others, so no one-at-a-time order returns the same receipts;
# what they draw is left out, as a fake's receipt ids are, and a lost update
# beside it is still found.
receipts = sd.VirtualObject("Receipts")


@receipts.handler(kind="shared")
async def kept_so_far(ctx: sd.ObjectSharedContext) -> list[str]:
    return list(await ctx.get("kept") or [])


@receipts.handler()
async def keep_all(ctx: sd.ObjectContext, kept: list[str]) -> None:
    ctx.set("kept", kept)


@receipts.handler()
async def keep(ctx: sd.ObjectContext, receipt: str) -> int:
    kept = list(await ctx.get("kept") or []) + [receipt]
    ctx.set("kept", kept)
    return len(kept)


drawing = sd.Service("Drawing")


def _uuid_receipt() -> str:
    import uuid

    return f"r-{uuid.uuid4()}"


def _random_receipt() -> str:
    import random

    return f"r-{random.randint(0, 10**9)}"


@drawing.handler()
async def with_uuid(ctx: sd.Context, key: str) -> dict[str, object]:
    n = await ctx.object_call(add, key, 1)
    receipt = await ctx.run_typed("pay", _uuid_receipt)
    return {"n": n, "receipt": receipt}


@drawing.handler()
async def with_random(ctx: sd.Context, key: str) -> dict[str, object]:
    n = await ctx.object_call(add, key, 1)
    receipt = await ctx.run_typed("pay", _random_receipt)
    return {"n": n, "receipt": receipt}


@drawing.handler()
async def stored(ctx: sd.Context, key: str) -> int:
    receipt = await ctx.run_typed("pay", _uuid_receipt)
    return int(await ctx.object_call(keep, key, receipt))


@drawing.handler()
async def stored_racy(ctx: sd.Context, key: str) -> int:
    """Read, then write the receipts: two at once keep one."""
    receipt = await ctx.run_typed("pay", _uuid_receipt)
    kept = await ctx.object_call(kept_so_far, key, None)
    await ctx.object_call(keep_all, key, [*kept, receipt])
    return len(kept) + 1


@drawing.handler()
async def racy_with_uuid(ctx: sd.Context, key: str) -> dict[str, object]:
    n = await ctx.object_call(get, key, None)
    await ctx.object_call(put, key, n + 1)
    receipt = await ctx.run_typed("pay", _uuid_receipt)
    return {"n": n + 1, "receipt": receipt}


@pytest.mark.parametrize("handler", ["with_uuid", "with_random", "stored"])
@pytest.mark.parametrize("seed", [0, 1])
def test_values_steps_draw_for_themselves_are_no_lost_update(handler, seed):
    # (Before, every run was not-serializable: no order draws the same receipts.)
    report = sd.check(services=[counter, receipts, drawing], invoke=f"Drawing/{handler}",
                      input="a", concurrent=2, max_examples=10, seed=seed, hash_seeds=())
    assert report.kinds == [], [v.details for v in report.violations]


@pytest.mark.parametrize("handler", ["stored_racy", "racy_with_uuid"])
def test_a_lost_update_beside_drawn_values_is_still_found(handler):
    report = sd.check(services=[counter, receipts, drawing], invoke=f"Drawing/{handler}",
                      input="a", concurrent=2, max_examples=10, hash_seeds=())
    assert report.kinds == ["not-serializable"]


# A step that reads the real clock (allowed: its value is journaled) and a
# result made of what it read. Left out, the value is compared nowhere, but
# "#2 at 1796580135.143" is not the value; one at a time, the step ran again
# and read another time: every run was reported not-serializable.
stamping = sd.Service("Stamping")


def _now() -> float:
    import time

    return time.time()


def _now_iso() -> str:
    import datetime

    return datetime.datetime.now().isoformat()


async def _now_async() -> float:
    return _now()


@stamping.handler()
async def formatted(ctx: sd.Context, key: str) -> str:
    n = await ctx.object_call(add, key, 1)
    t = await ctx.run_typed("now", _now)
    return f"#{n} at {t:.3f}"


@stamping.handler()
async def in_ms(ctx: sd.Context, key: str) -> dict[str, int]:
    n = await ctx.object_call(add, key, 1)
    t = await ctx.run_typed("now", _now_async)
    return {"n": n, "ms": int(t * 1000)}


@stamping.handler()
async def stored_day(ctx: sd.Context, key: str) -> int:
    stamp = await ctx.run_typed("now", _now_iso)
    return int(await ctx.object_call(keep, key, stamp[:23]))


@stamping.handler()
async def racy_formatted(ctx: sd.Context, key: str) -> str:
    n = await ctx.object_call(get, key, None)
    await ctx.object_call(put, key, n + 1)
    t = await ctx.run_typed("now", _now)
    return f"#{n + 1} at {t:.3f}"


@stamping.handler()
async def racy_stored_day(ctx: sd.Context, key: str) -> int:
    """Read, then write the stamps: two at once keep one."""
    stamp = await ctx.run_typed("now", _now_iso)
    kept = await ctx.object_call(kept_so_far, key, None)
    await ctx.object_call(keep_all, key, [*kept, stamp[:23]])
    return len(kept) + 1


@pytest.mark.parametrize("handler", ["formatted", "in_ms", "stored_day"])
def test_what_a_handler_makes_of_a_real_clock_step_is_no_lost_update(handler):
    report = sd.check(services=[counter, receipts, stamping], invoke=f"Stamping/{handler}",
                      input="a", concurrent=2, max_examples=10, hash_seeds=())
    assert report.kinds == [], [v.details for v in report.violations]


@pytest.mark.parametrize("handler", ["racy_formatted", "racy_stored_day"])
def test_a_lost_update_beside_a_real_clock_step_is_still_found(handler):
    report = sd.check(services=[counter, receipts, stamping], invoke=f"Stamping/{handler}",
                      input="a", concurrent=2, max_examples=10, hash_seeds=())
    assert report.kinds == ["not-serializable"]


slow = sd.Service("SlowGreeter")


@slow.handler()
async def slow_greet(ctx: sd.Context, name: str) -> None:
    await ctx.sleep(timedelta(seconds=10))


@slow.handler()
async def greet_or_time_out(ctx: sd.Context, name: str) -> str:
    """As Restate's durable-timers snippet: a call raced against a 5 s timer."""
    match await sd.select(greeting=ctx.service_call(slow_greet, name),
                          timeout=ctx.sleep(timedelta(seconds=5))):
        case ["greeting", _]:
            return "greeting"
        case _:
            return "timeout"


def test_a_timer_that_lost_its_race_by_a_delay_is_no_lost_update():
    # A delay made one invocation's timer fire after its call returned: it ends
    # "greeting" where the other ends "timeout". No fault-free order ends so, but
    # one at a time with the same delay does: a slow machine, not an interleaving.
    report = sd.check(services=[slow], invoke="SlowGreeter/greet_or_time_out", input="ann",
                      concurrent=2, max_examples=60)
    assert report.ok, report
    lost = sd.check(services=[bump, counter], invoke="Bump/racy", input="k", concurrent=2,
                    max_examples=60)
    assert "not-serializable" in {v.kind for v in lost.violations}


echo = sd.Service("EchoOnce")


@echo.handler()
async def echo_hi(ctx: sd.Context, greeting: str) -> str:
    return f"{greeting}!"


@echo.handler()
async def send_then_cancel(ctx: sd.Context, req: dict[str, str]) -> None:
    """As Restate's invocations snippet: a keyed send, cancelled at once."""
    handle = ctx.service_send(echo_hi, "Hi", idempotency_key="my-key")
    ctx.cancel_invocation(await handle.invocation_id())


def test_a_callee_done_before_a_crashed_callers_cancel_is_no_lost_update():
    # A crash after the send: while the caller backs off, the callee ends with
    # "Hi!" before the cancellation comes. One at a time it ends cancelled,
    # unless the same crash delays the caller there too.
    report = sd.check(services=[echo], invoke="EchoOnce/send_then_cancel",
                      input={"greeting": "Hey"}, concurrent=2, max_examples=30)
    assert report.ok, report


def test_three_callers_one_at_a_time_each_take_the_faults_they_took_at_once():
    # At once the second caller crashed before its send and the third before
    # its cancellation, and the callee ended "Hi!" while the third backed off.
    # A plan's fault fires at the first caller that reaches its point: one at a
    # time, the first caller took both crashes in every order, and its callee
    # was always cancelled (restate's invocations snippet at concurrent=3).
    plan = ("crash(step=EchoOnce/echo_hi, index=0, phase=before, attempt=1); "
            "crash(index=1, phase=before, attempt=1, target=EchoOnce/send_then_cancel)")
    report = sd.replay(plan, seed=0, services=[echo], invoke="EchoOnce/send_then_cancel",
                       input={"greeting": "Hey"},
                       concurrent=[("EchoOnce/send_then_cancel", {"greeting": "Hey"})] * 2)
    assert report.ok, report.render()
    report = sd.check(services=[echo], invoke="EchoOnce/send_then_cancel",
                      input={"greeting": "Hey"}, concurrent=3, max_examples=100, hash_seeds=())
    assert report.ok, report.render()
    lost = sd.check(services=[bump, counter], invoke="Bump/racy", input="k", concurrent=3,
                    max_examples=30, hash_seeds=())
    assert "not-serializable" in lost.kinds


hello = sd.Service("Hello")


@hello.handler()
async def hi(ctx: sd.Context, name: str) -> str:
    return f"hi {name}"


def test_a_world_call_to_the_target_one_at_a_time_takes_no_callers_id():
    # One at a time, an early world call was submitted before the second caller
    # and took its id (an id counts the submissions): the caller, submitted
    # under it, was that call, and every order lost one greeting.
    report = sd.check(services=[hello], invoke="Hello/hi", input="a", concurrent=2,
                      world=[world.call("Hello/hi", "b", when="early")], max_examples=5,
                      hash_seeds=())
    assert report.ok, report.render()


@pytest.mark.parametrize("when", ["early", "waiting", "late"])
def test_a_world_call_to_the_callers_key_is_an_invocation_of_its_own(when):
    # At once, an early call comes after both callers on the key's queue; one
    # at a time it came within the first one's turn, and 5, 10, 13 was no order's.
    report = sd.check(services=services, invoke="Counter/a/add", input=5, concurrent=2,
                      world=[world.call("Counter/a/add", 3, when=when)], max_examples=10,
                      hash_seeds=())
    assert report.ok, report.render()
    lost = sd.check(services=services, invoke="Bump/racy", input="a", concurrent=2,
                    world=[world.call("Counter/a/add", 3, when=when)], max_examples=10,
                    hash_seeds=())
    assert "not-serializable" in lost.kinds


models = sd.Service("Models")


@models.handler()
async def claude(ctx: sd.Context, name: str) -> str:
    return f"Bonjour {name}!"


@models.handler()
async def gpt(ctx: sd.Context, name: str) -> str:
    return f"Hello {name}!"


@models.handler()
async def fastest(ctx: sd.Context, name: str) -> list[str]:
    """As restate-sdk's concurrent greeter: two calls raced, the first kept."""
    pending, done = await sd.wait_completed(ctx.service_call(claude, name),
                                            ctx.service_call(gpt, name))
    return sorted([await f for f in done])


@pytest.mark.parametrize("n", [2, 3])
def test_each_invocations_own_race_is_no_lost_update(n):
    # At once both greeters got the same model's answer; one at a time, at one
    # schedule, each order gave one of each. (Before: not-serializable, fault-free.)
    report = sd.check(services=[models], invoke="Models/fastest", input="Ann", concurrent=n,
                      max_examples=10, hash_seeds=())
    assert report.ok, report.render()


def test_each_early_world_call_is_placed_on_its_own():
    # A shared read early (within the first caller's turn, reading 0) and an
    # increment early (at once queued behind both callers): neither all early
    # nor all late in the orders ends so.
    report = sd.check(services=services, invoke="Counter/a/add", input=5, concurrent=2,
                      world=[world.call("Counter/a/get", None, when="early"),
                             world.call("Counter/a/add", 3, when="early")],
                      max_examples=20, hash_seeds=())
    assert report.ok, report.render()


notes = sd.VirtualObject("Notes")


@notes.handler()
async def note(ctx: sd.ObjectContext, line: str) -> None:
    await ctx.sleep(timedelta(milliseconds=20))
    ctx.set("lines", [*(await ctx.get("lines") or []), line])


@notes.handler(kind="shared")
async def lines(ctx: sd.ObjectSharedContext) -> list[str]:
    return list(await ctx.get("lines") or [])


def test_a_world_call_once_the_run_waits_may_come_after_every_caller():
    # As restate-sdk's command interpreter: at once, both notes are written
    # when the run first waits after the clock moved on; one at a time the
    # read came at the second caller's sleep, and saw one note.
    report = sd.check(services=[notes], invoke="Notes/j/note", input="x", concurrent=2,
                      world=[world.advance(timedelta(seconds=1)), world.call("Notes/j/lines")],
                      max_examples=10, hash_seeds=())
    assert report.ok, report.render()


tracker = sd.VirtualObject("Tracker")


@tracker.handler()
async def register(ctx: sd.ObjectContext, where: str) -> None:
    ctx.set("trip", {"to": where, "seen": []})


@tracker.handler()
async def seen_at(ctx: sd.ObjectContext, place: str) -> None:
    trip = await ctx.get("trip")
    if trip is None:
        raise sd.TerminalError("no trip")
    ctx.set("trip", {**trip, "seen": [*trip["seen"], place]})


@tracker.handler(kind="shared")
async def trip(ctx: sd.ObjectSharedContext) -> dict[str, object]:
    found = await ctx.get("trip")
    if found is None:
        raise sd.TerminalError("no trip")
    return dict(found)


def test_a_world_call_after_the_callers_lets_a_later_read_go_first():
    # As Restate's delivery tracker: at once, a shared read the world made
    # after its update ran first (no trip yet) and the update, queued on the key
    # behind both registrations, last; one at a time the update waited for
    # the callers and the read with it.
    report = sd.check(services=[tracker], invoke="Tracker/t/register", input="Rome",
                      concurrent=2, world=[world.call("Tracker/t/seen_at", "Milan", when="early"),
                                           world.call("Tracker/t/trip", None, when="early")],
                      max_examples=20, hash_seeds=())
    assert report.ok, report.render()


payments = sd.VirtualObject("Payments")


@payments.handler()
async def pay(ctx: sd.ObjectContext, cents: int) -> str:
    if await ctx.get("status") == "paid":
        return "already paid"
    ctx.set("status", "paid")
    await ctx.object_call(add, "balance", -cents)
    ctx.object_send(forget, ctx.key(), None, send_delay=timedelta(days=1))
    return "paid"


@payments.handler()
async def forget(ctx: sd.ObjectContext) -> None:
    ctx.clear_all()


def test_a_late_world_call_waits_for_the_callers_not_their_timers():
    # As the state-machine payments example: the world pays again late (once
    # the expiry cleared the state). One at a time, late came in the first
    # caller's turn and fired its expiry before the second caller, who paid
    # again; at once both came before it.
    report = sd.check(services=[payments, counter], invoke="Payments/p/pay", input=500,
                      concurrent=2, world=[world.call("Payments/p/pay", 500, when="late")],
                      max_examples=20, hash_seeds=())
    assert report.ok, report.render()


journal = sd.VirtualObject("Journal")


@journal.handler()
async def write(ctx: sd.ObjectContext) -> None:
    """Appends "a", then a step's "b": each writer reads one note per earlier
    writer first, so only the third writer's step is at journal index 6."""
    items = await ctx.get("items") or []
    for i in range(len(items) // 2):
        await ctx.get(f"note-{i}")
    await ctx.sleep(timedelta(milliseconds=10))
    ctx.set("items", [*items, "a"])
    b = await ctx.run_typed("b", lambda: "b")
    ctx.set("items", [*items, "a", b])


@journal.handler(name="items", kind="shared")
async def journal_items(ctx: sd.ObjectSharedContext) -> list[str]:
    return await ctx.get("items") or []


def test_a_read_the_world_makes_while_a_later_caller_waits_is_one_at_a_time_too():
    # The third writer's step delayed past the world's 1 s advance: at once the
    # advance let the first two end and the world's read of the shared handler
    # came while the third waited, ["a", "b", "a", "b", "a"]. One at a time the
    # world came in the first turn or after the last, never in the third with
    # its delay (restate-sdk's command interpreter, "combinators", concurrent=3).
    calls = [("Journal/j/write", None)] * 2
    the_world = [world.advance(timedelta(seconds=1)), world.call("Journal/j/items", None)]
    report = sd.replay("delay(step=b, index=6, attempt=1, by=1010ms)", seed=0,
                       services=[journal], invoke="Journal/j/write", input=None,
                       concurrent=calls, world=the_world)
    assert report.ok, report.render()
    assert sd.check(services=[journal], invoke="Journal/j/write", input=None, concurrent=3,
                    world=the_world, max_examples=30, hash_seeds=()).ok
    lost = sd.check(services=services, invoke="Bump/racy", input="k", concurrent=3,
                    world=[world.advance(timedelta(seconds=1)), world.call("Counter/k/get", None)],
                    max_examples=30, hash_seeds=())
    assert "not-serializable" in lost.kinds
