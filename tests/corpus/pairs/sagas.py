"""Sagas whose compensations do not run, or not for every step that had an effect."""

from __future__ import annotations

import simdurable as restate
import simdurable as sd

from . import Pair

travel = sd.FakeExternal("travel")
pay = sd.FakeExternal("pay")


def book(what: str, trip: str) -> str:
    return str(travel.apply(f"book-{what}", {"trip": trip}, idempotency_key=f"{what}-{trip}")["id"])


def cancel(what: str, trip: str) -> None:
    travel.apply(f"cancel-{what}", {"trip": trip}, idempotency_key=f"cancel-{what}-{trip}")


def nothing_left_booked_on_failure(outcome: sd.Outcome) -> None:
    """A trip that failed left no booking behind."""
    if outcome.error is None:
        return
    ops = [e.op for e in outcome.effects["travel"]]
    for what in ("flight", "hotel", "car", "train"):
        assert not ops.count(f"book-{what}") or ops.count(f"cancel-{what}"), (
            f"the trip failed ({outcome.error.message}) but its {what} is still booked: {ops}")


# A compensation behind the wrong exception: failures reach the handler as
# TerminalError, so ``except ConnectionError`` never compensates.
# https://github.com/meadsteve/talepy/issues/17 (each step cleans up in a catch, then rethrows)
trip_bug = restate.Service("Trip")
trip_ok = restate.Service("Trip")


@trip_bug.handler(name="book")
async def trip_book_bug(ctx: restate.Context, trip: str) -> str:
    await ctx.run_typed("book-flight", book, what="flight", trip=trip)
    try:
        await ctx.run_typed("book-hotel", book, what="hotel", trip=trip)
    except ConnectionError:
        await ctx.run_typed("cancel-flight", cancel, what="flight", trip=trip)
        raise
    return "booked"


@trip_ok.handler(name="book")
async def trip_book_ok(ctx: restate.Context, trip: str) -> str:
    await ctx.run_typed("book-flight", book, what="flight", trip=trip)
    try:
        await ctx.run_typed("book-hotel", book, what="hotel", trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("cancel-flight", cancel, what="flight", trip=trip)
        raise
    return "booked"


# Only the last step compensated: when the third step fails, the first
# and second must both be undone, in reverse order.
# https://github.com/eventuate-tram/eventuate-tram-sagas/issues/9
tour_bug = restate.Service("Tour")
tour_ok = restate.Service("Tour")


@tour_bug.handler(name="book")
async def tour_book_bug(ctx: restate.Context, trip: str) -> str:
    await ctx.run_typed("book-flight", book, what="flight", trip=trip)
    await ctx.run_typed("book-hotel", book, what="hotel", trip=trip)
    try:
        await ctx.run_typed("book-car", book, what="car", trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("cancel-hotel", cancel, what="hotel", trip=trip)
        raise
    return "booked"


@tour_ok.handler(name="book")
async def tour_book_ok(ctx: restate.Context, trip: str) -> str:
    undo: list[str] = []
    try:
        for what in ("flight", "hotel", "car"):
            undo.append(what)
            await ctx.run_typed(f"book-{what}", book, what=what, trip=trip)
    except restate.TerminalError:
        for what in reversed(undo):
            await ctx.run_typed(f"cancel-{what}", cancel, what=what, trip=trip)
        raise
    return "booked"


def charged_means_refunded_on_failure(outcome: sd.Outcome) -> None:
    """A failed order has refunded whatever it charged."""
    if outcome.error is None:
        return
    ops = [e.op for e in outcome.effects["pay"]]
    assert not ops.count("charge") or ops.count("refund"), (
        f"the order failed ({outcome.error.message}) but the card stays charged: {ops}")


def charge_card(order: str) -> str:
    return str(pay.apply("charge", {"order": order}, idempotency_key=order)["id"])


def refund_card(order: str) -> None:
    pay.apply("refund", {"order": order}, idempotency_key=f"refund-{order}")


# An undo registered after its step succeeded: a step that charged and then
# failed (its response lost until its attempts ran out) is never undone.
# https://github.com/anomalyco/sst/issues/6902
undo_bug = restate.Service("Undo")
undo_ok = restate.Service("Undo")
THREE_TRIES = restate.RunOptions(max_attempts=3)


@undo_bug.handler(name="order")
async def undo_order_bug(ctx: restate.Context, order: str) -> str:
    undo = []
    try:
        await ctx.run_typed("charge", charge_card, THREE_TRIES, order=order)
        undo.append("refund")
        await ctx.run_typed("ship", lambda: "shipped", THREE_TRIES)
    except restate.TerminalError:
        for _ in reversed(undo):
            await ctx.run_typed("refund", refund_card, order=order)
        raise
    return "done"


@undo_ok.handler(name="order")
async def undo_order_ok(ctx: restate.Context, order: str) -> str:
    undo = []
    try:
        undo.append("refund")  # before the step: it may charge and then fail
        await ctx.run_typed("charge", charge_card, THREE_TRIES, order=order)
        await ctx.run_typed("ship", lambda: "shipped", THREE_TRIES)
    except restate.TerminalError:
        for _ in reversed(undo):
            await ctx.run_typed("refund", refund_card, order=order)
        raise
    return "done"



def booked_means_kept(outcome: sd.Outcome) -> None:
    """A trip that succeeded still holds its flight and hotel."""
    if outcome.error is not None:
        return
    ops = [e.op for e in outcome.effects["travel"]]
    assert "cancel-flight" not in ops and "cancel-hotel" not in ops, (
        f"the trip was booked but a booking of it was cancelled: {ops}")


# Cleanup in ``finally:``, outside a step: it is meant for a failed trip, but a
# handler's coroutine is also closed when its attempt is abandoned (a crash, a
# suspension), and the ``finally:`` then cancels a flight the retried
# invocation goes on to keep. Temporal's Python SDK ran such blocks when it
# evicted a workflow, at first under the garbage collector in whatever ran then.
# https://github.com/temporalio/sdk-python/pull/499 ("finally may execute in another thread")
# https://github.com/vercel/vercel-py/pull/332 (hook.dispose() in a finally block)
tidy_bug = restate.Service("Tidy")
tidy_ok = restate.Service("Tidy")


@tidy_bug.handler(name="book")
async def tidy_book_bug(ctx: restate.Context, trip: str) -> str:
    done = False
    try:
        await ctx.run_typed("book-flight", book, what="flight", trip=trip)
        await ctx.run_typed("book-hotel", book, what="hotel", trip=trip)
        done = True
        return "booked"
    finally:
        if not done:
            cancel("flight", trip)  # runs whenever the attempt ends early


@tidy_ok.handler(name="book")
async def tidy_book_ok(ctx: restate.Context, trip: str) -> str:
    try:
        await ctx.run_typed("book-flight", book, what="flight", trip=trip)
        await ctx.run_typed("book-hotel", book, what="hotel", trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("cancel-flight", cancel, what="flight", trip=trip)
        raise
    return "booked"

def quote(what: str, trip: str) -> int:
    return 900 if what == "hotel" else 300


# Restate's saga example (restatedev/examples, python/patterns-use-cases/sagas:
# each booking registers its undo first; ``except TerminalError`` runs the
# undos in reverse and re-raises) with a refusal the handler raises itself: a
# trip over budget. Raised after the ``try``, it undoes nothing and the flight
# stays booked; raised inside it, it is compensated like a failed booking.
# (The correct twin was once flagged: a terminal failure injected into its
# compensation step, as if the handler's own refusal were not a failure.)
# https://github.com/restatedev/documentation/blob/main/docs/develop/ts/error-handling.mdx
# ("when you throw a terminal error, you might need to undo the actions you
# did earlier in your handler"); https://github.com/restatedev/examples/pull/288
budget_bug = restate.Service("Budget")
budget_ok = restate.Service("Budget")
BUDGET = 1_000


@budget_bug.handler(name="book")
async def budget_book_bug(ctx: restate.Context, trip: str) -> str:
    compensations = []
    total = 0
    try:
        for what in ("flight", "hotel"):
            compensations.append(
                lambda what=what: ctx.run_typed(f"cancel-{what}", cancel, what=what, trip=trip))
            total += await ctx.run_typed(f"quote-{what}", quote, what=what, trip=trip)
            await ctx.run_typed(f"book-{what}", book, what=what, trip=trip)
    except restate.TerminalError:
        for compensation in reversed(compensations):
            await compensation()
        raise
    if total > BUDGET:  # outside the try: nothing is undone
        raise restate.TerminalError(f"over budget: {total}", 402)
    return "booked"


@budget_ok.handler(name="book")
async def budget_book_ok(ctx: restate.Context, trip: str) -> str:
    compensations = []
    total = 0
    try:
        for what in ("flight", "hotel"):
            compensations.append(
                lambda what=what: ctx.run_typed(f"cancel-{what}", cancel, what=what, trip=trip))
            total += await ctx.run_typed(f"quote-{what}", quote, what=what, trip=trip)
            if total > BUDGET:
                raise restate.TerminalError(f"over budget: {total}", 402)
            await ctx.run_typed(f"book-{what}", book, what=what, trip=trip)
    except restate.TerminalError:
        for compensation in reversed(compensations):
            await compensation()
        raise
    return "booked"


def trip_all_or_nothing(outcome: sd.Outcome) -> None:
    """A trip that failed left no booking behind; one that succeeded kept them."""
    nothing_left_booked_on_failure(outcome)
    booked_means_kept(outcome)


# Restate's saga example in Go (restatedev/examples, go/patterns-use-cases
# sagas) keeps the failure in the named result ``err`` and compensates in a
# deferred function, after the handler's body has ended; ported to Python, the
# failure is kept in a variable and the undo steps run after the ``except``
# block. An earlier version of the example returned what running the
# compensations returned (nil once they had all run): a trip that was undone
# ended as a success. Here the trip refuses on its own (over budget), so every
# run compensates. (The correct twin was once flagged: the error no longer
# handled when its undo steps ran, a terminal failure was injected into them.)
# https://github.com/restatedev/examples/blob/main/go/patterns-use-cases/src/sagas/bookingworkflow.go
kept_bug = restate.Service("Kept")
kept_ok = restate.Service("Kept")


async def _undo(compensations: list) -> None:  # type: ignore[type-arg]
    for compensation in reversed(compensations):
        await compensation()


@kept_bug.handler(name="book")
async def kept_book_bug(ctx: restate.Context, trip: str) -> str | None:
    compensations = []
    failure = None
    total = 0
    try:
        for what in ("flight", "hotel"):
            compensations.append(
                lambda what=what: ctx.run_typed(f"cancel-{what}", cancel, what=what, trip=trip))
            await ctx.run_typed(f"book-{what}", book, what=what, trip=trip)
            total += await ctx.run_typed(f"quote-{what}", quote, what=what, trip=trip)
            if total > BUDGET:
                raise restate.TerminalError(f"over budget: {total}", 402)
    except restate.TerminalError as err:
        failure = err
    if failure is not None:
        return await _undo(compensations)  # the failure is dropped: the trip "succeeds"
    return "booked"


@kept_ok.handler(name="book")
async def kept_book_ok(ctx: restate.Context, trip: str) -> str | None:
    compensations = []
    failure = None
    total = 0
    try:
        for what in ("flight", "hotel"):
            compensations.append(
                lambda what=what: ctx.run_typed(f"cancel-{what}", cancel, what=what, trip=trip))
            await ctx.run_typed(f"book-{what}", book, what=what, trip=trip)
            total += await ctx.run_typed(f"quote-{what}", quote, what=what, trip=trip)
            if total > BUDGET:
                raise restate.TerminalError(f"over budget: {total}", 402)
    except restate.TerminalError as err:
        failure = err
    if failure is not None:
        await _undo(compensations)
        raise failure
    return "booked"


def pay_fare(what: str, trip: str) -> None:
    pay.apply("charge", {"fare": what, "trip": trip}, idempotency_key=f"fare-{what}-{trip}")


# A handler that compensates and carries on: the flight over budget is
# undone, and the trip goes on by train. The train's booking is a new saga
# of its own, which the buggy handler leaves without an undo: when paying
# the fare fails for good, the train stays booked. (The steps after the
# compensation were once never failed for good by ``check``: an invocation
# that had handled a TerminalError of its own was compensating until it
# ended, and the bug passed silently.)
# https://github.com/danielgerlag/workflow-core/issues/818 (cleaning up after
# one activity fails so the rest of the workflow can continue);
# https://github.com/danielgerlag/workflow-core/issues/288 (the workflow goes
# on after the compensation step)
fallback_bug = restate.Service("Fallback")
fallback_ok = restate.Service("Fallback")


@fallback_bug.handler(name="book")
async def fallback_book_bug(ctx: restate.Context, trip: str) -> str:
    try:
        await ctx.run_typed("book-flight", book, what="flight", trip=trip)
        if await ctx.run_typed("quote-flight", quote, what="flight", trip=trip) > 200:
            raise restate.TerminalError("the flight is over budget", 402)
        return "flight"
    except restate.TerminalError:
        await ctx.run_typed("cancel-flight", cancel, what="flight", trip=trip)
    await ctx.run_typed("book-train", book, what="train", trip=trip)
    await ctx.run_typed("pay-train", pay_fare, what="train", trip=trip)
    return "train"


@fallback_ok.handler(name="book")
async def fallback_book_ok(ctx: restate.Context, trip: str) -> str:
    try:
        await ctx.run_typed("book-flight", book, what="flight", trip=trip)
        if await ctx.run_typed("quote-flight", quote, what="flight", trip=trip) > 200:
            raise restate.TerminalError("the flight is over budget", 402)
        return "flight"
    except restate.TerminalError:
        await ctx.run_typed("cancel-flight", cancel, what="flight", trip=trip)
    try:
        await ctx.run_typed("book-train", book, what="train", trip=trip)
        await ctx.run_typed("pay-train", pay_fare, what="train", trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("cancel-train", cancel, what="train", trip=trip)
        raise
    return "train"


# The same fallback after a failure the runtime hands the handler: the
# airline, a service of its own, is sold out and fails the call for good; the
# handler catches that and goes by train. The train's booking is a saga of its
# own again, and the buggy handler leaves it without an undo.
# https://github.com/durable-workflow/workflow/pull/89 (an activity that fails
# for good after an earlier one succeeded: nothing rolls the earlier one back);
# https://github.com/danielgerlag/workflow-core/issues/288 (the workflow goes on
# after a failure it handled, into steps outside any compensation)
airline = restate.Service("Airline")


@airline.handler(name="book")
async def airline_book(ctx: restate.Context, trip: str) -> str:
    raise restate.TerminalError(f"no seat left for {trip}", 409)


reroute_bug = restate.Service("Reroute")
reroute_ok = restate.Service("Reroute")


@reroute_bug.handler(name="book")
async def reroute_book_bug(ctx: restate.Context, trip: str) -> str:
    try:
        return str(await ctx.service_call(airline_book, trip))
    except restate.TerminalError:
        pass  # sold out: the train, then
    await ctx.run_typed("book-train", book, what="train", trip=trip)
    await ctx.run_typed("pay-train", pay_fare, what="train", trip=trip)
    return "train"


@reroute_ok.handler(name="book")
async def reroute_book_ok(ctx: restate.Context, trip: str) -> str:
    try:
        return str(await ctx.service_call(airline_book, trip))
    except restate.TerminalError:
        pass  # sold out: the train, then
    try:
        await ctx.run_typed("book-train", book, what="train", trip=trip)
        await ctx.run_typed("pay-train", pay_fare, what="train", trip=trip)
    except restate.TerminalError:
        await ctx.run_typed("cancel-train", cancel, what="train", trip=trip)
        raise
    return "train"


# Two bookings made in parallel, awaited in turn: at the first failure the
# buggy handler undoes only what it has read so far, and the other booking,
# which went ahead at the same time, stays. The twin waits for both to end,
# then undoes every booking that succeeded.
# https://github.com/arrow-kt/arrow/issues/3323 (an exception in the first
# async step of a saga: the second one's compensation is not run);
# https://github.com/simplesourcing/simplesagas/issues/20 (undo only once
# every action running in parallel has finished)
parallel_bug = restate.Service("Parallel")
parallel_ok = restate.Service("Parallel")


@parallel_bug.handler(name="book")
async def parallel_book_bug(ctx: restate.Context, trip: str) -> str:
    legs = {what: ctx.run_typed(f"book-{what}", book, what=what, trip=trip)
            for what in ("flight", "hotel")}
    booked = []
    try:
        for what, leg in legs.items():
            await leg  # the first failure in this order ends the loop
            booked.append(what)
    except restate.TerminalError:
        for what in reversed(booked):
            await ctx.run_typed(f"cancel-{what}", cancel, what=what, trip=trip)
        raise
    return "booked"


@parallel_ok.handler(name="book")
async def parallel_book_ok(ctx: restate.Context, trip: str) -> str:
    legs = {what: ctx.run_typed(f"book-{what}", book, what=what, trip=trip)
            for what in ("flight", "hotel")}
    await restate.gather(*legs.values())  # every leg has ended, booked or not
    booked, failure = [], None
    for what, leg in legs.items():
        try:
            await leg
            booked.append(what)
        except restate.TerminalError as err:
            failure = failure or err
    if failure is not None:
        for what in reversed(booked):
            await ctx.run_typed(f"cancel-{what}", cancel, what=what, trip=trip)
        raise failure
    return "booked"


# The compensation reads what the handler already cleared: the cart's items are
# cleared once they are reserved ("the cart is done"), so when the charge fails
# for good the release loop reads no items and frees nothing.
# https://github.com/Kaoruha/GinkGO/issues/5480 (a rollback step that cannot restore
# what an earlier step deleted: the compensation needs it kept until the saga ends)
shelf = sd.FakeExternal("shelf")
cart_bug = restate.VirtualObject("Cart")
cart_ok = restate.VirtualObject("Cart")


def hold(sku: str, key: str) -> None:
    shelf.apply("hold", {"sku": sku}, idempotency_key=key)


def free(sku: str, key: str) -> None:
    shelf.apply("free", {"sku": sku}, idempotency_key=key)


def charge_items(key: str, n: int) -> str:
    return str(pay.apply("charge", {"items": n}, idempotency_key=key)["id"])


async def _release(ctx: restate.ObjectContext) -> None:
    for sku in await ctx.get("items") or []:
        await ctx.run_typed(f"free {sku}", free, sku=sku, key=f"{ctx.key()}-free-{sku}")


@cart_bug.handler(name="checkout")
async def cart_checkout_bug(ctx: restate.ObjectContext, items: list[str]) -> str:
    ctx.set("items", items)
    try:
        for sku in items:
            await ctx.run_typed(f"hold {sku}", hold, sku=sku, key=f"{ctx.key()}-{sku}")
        ctx.clear("items")
        return await ctx.run_typed("charge", charge_items, key=ctx.key(), n=len(items))
    except restate.TerminalError:
        await _release(ctx)
        raise


@cart_ok.handler(name="checkout")
async def cart_checkout_ok(ctx: restate.ObjectContext, items: list[str]) -> str:
    ctx.set("items", items)
    try:
        for sku in items:
            await ctx.run_typed(f"hold {sku}", hold, sku=sku, key=f"{ctx.key()}-{sku}")
        receipt = await ctx.run_typed("charge", charge_items, key=ctx.key(), n=len(items))
    except restate.TerminalError:
        await _release(ctx)
        raise
    ctx.clear("items")
    return receipt


def failed_checkout_holds_nothing(outcome: sd.Outcome) -> None:
    """A checkout that failed left no item held."""
    if outcome.error is None:
        return
    held = {e.payload["sku"] for e in outcome.effects["shelf"] if e.op == "hold"}
    freed = {e.payload["sku"] for e in outcome.effects["shelf"] if e.op == "free"}
    assert held <= freed, (f"the checkout failed ({outcome.error.message}) but "
                           f"{sorted(held - freed)} stay held")


def charge_once(order: str) -> str:
    return str(pay.apply("charge", {"order": order, "amount": 30},
                         idempotency_key=f"charge-{order}")["id"])


def refund_bare(order: str) -> None:
    pay.apply("refund", {"order": order, "amount": 30})


def refund_keyed(order: str) -> None:
    pay.apply("refund", {"order": order, "amount": 30}, idempotency_key=f"refund-{order}")


# A compensation that is not idempotent: the refund after a failed dispatch
# carries no idempotency key, so a crash once the refund was applied, before
# its result was stored, refunds the customer twice (medusajs/medusa: a retried
# refund sent a new key, "the customer could be refunded twice"). Two faults
# deep: the failure for good, then a crash in the compensation; the generated
# examples found it at some seeds only, until the single faults added a crash
# at each compensating step's effect after each failure for good.
# https://github.com/medusajs/medusa/issues/16681
refund_bug = restate.Service("Dispatch")
refund_ok = restate.Service("Dispatch")


def _dispatch_order(refund: object) -> object:
    async def order(ctx: restate.Context, oid: str) -> str:
        await ctx.run_typed("charge", charge_once, order=oid)
        try:
            return await ctx.run_typed("dispatch", lambda: f"parcel-{oid}")
        except restate.TerminalError:
            await ctx.run_typed("refund", refund, order=oid)  # type: ignore[arg-type]
            raise
    return order


refund_bug.handler(name="order")(_dispatch_order(refund_bare))
refund_ok.handler(name="order")(_dispatch_order(refund_keyed))


PAIRS = [
    Pair(name="compensation-not-idempotent", kind="duplicate-effect",
         source="medusajs/medusa#16681", invoke="Dispatch/order", input="o1",
         buggy=[refund_bug], correct=[refund_ok], externals=(pay,)),
    Pair(name="compensation-wrong-exception", kind="invariant",
         source="meadsteve/talepy#17", invoke="Trip/book", input="t1", buggy=[trip_bug],
         correct=[trip_ok], externals=(travel,), invariant=nothing_left_booked_on_failure),
    Pair(name="only-last-step-compensated", kind="invariant",
         source="eventuate-tram/eventuate-tram-sagas#9", invoke="Tour/book", input="t1",
         buggy=[tour_bug], correct=[tour_ok], externals=(travel,),
         invariant=nothing_left_booked_on_failure),
    Pair(name="undo-registered-after-step", kind="invariant", source="anomalyco/sst#6902",
         invoke="Undo/order", input="o1", buggy=[undo_bug], correct=[undo_ok],
         externals=(pay,), invariant=charged_means_refunded_on_failure),
    Pair(name="cleanup-in-finally", kind="invariant",
         source="temporalio/sdk-python#499; vercel/vercel-py#332", invoke="Tidy/book",
         input="t1", buggy=[tidy_bug], correct=[tidy_ok], externals=(travel,),
         invariant=booked_means_kept),
    Pair(name="own-terminal-error-not-compensated", kind="invariant",
         source="restatedev/documentation error-handling; restatedev/examples#288",
         invoke="Budget/book", input="t1", buggy=[budget_bug], correct=[budget_ok],
         externals=(travel,), invariant=nothing_left_booked_on_failure),
    Pair(name="compensated-saga-ends-as-success", kind="invariant",
         source="restatedev/examples go/patterns-use-cases/src/sagas/bookingworkflow.go",
         invoke="Kept/book", input="t1", buggy=[kept_bug], correct=[kept_ok],
         externals=(travel,), invariant=trip_all_or_nothing),
    Pair(name="fallback-after-compensation-not-undone", kind="invariant",
         source="danielgerlag/workflow-core#818; danielgerlag/workflow-core#288",
         invoke="Fallback/book", input="t1", buggy=[fallback_bug], correct=[fallback_ok],
         externals=(travel, pay), invariant=nothing_left_booked_on_failure),
    Pair(name="fallback-after-failed-call-not-undone", kind="invariant",
         source="durable-workflow/workflow#89; danielgerlag/workflow-core#288",
         invoke="Reroute/book", input="t1", buggy=[reroute_bug, airline],
         correct=[reroute_ok, airline], externals=(travel, pay),
         invariant=nothing_left_booked_on_failure),
    Pair(name="parallel-leg-left-booked", kind="invariant",
         source="arrow-kt/arrow#3323; simplesourcing/simplesagas#20", invoke="Parallel/book",
         input="t1", buggy=[parallel_bug], correct=[parallel_ok], externals=(travel,),
         invariant=nothing_left_booked_on_failure),
    Pair(name="state-cleared-before-compensation", kind="invariant",
         source="Kaoruha/GinkGO#5480", invoke="Cart/c1/checkout", input=["pen", "ink"],
         buggy=[cart_bug], correct=[cart_ok], externals=(shelf, pay),
         invariant=failed_checkout_holds_nothing),
]
