"""Steps in flight together: asyncio's combinators over durable futures
instead of restate's, closures started in a loop. Written with restate-sdk
itself (``import restate``), as its users write them."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import restate

import simdurable as sd

from . import Pair

broker = sd.FakeExternal("broker")


def reserve(kind: str, trip: str) -> str:
    return str(broker.apply("reserve", {"kind": kind, "trip": trip},
                            idempotency_key=f"{kind}-{trip}")["id"])


# Two steps started together and waited for with asyncio.gather: asyncio
# wraps each in a task of an event loop of its own making, and the order the
# steps are journaled in is the loop's (DBOS: distinct steps under
# asyncio.gather checkpointed in another order on another worker, a replay
# error and an endless retry). restate-sdk's futures need restate.gather, as
# Restate's documentation of concurrent tasks says. The twin's confirmations
# depend on which reservation the broker saw first, a race the handler
# allows: it was flagged `outcome-changed` when a generated schedule ran the
# hotel first and a crash followed.
# https://github.com/dbos-inc/dbos-transact-py/issues/688
# https://docs.restate.dev/develop/python/concurrent-tasks
trip_bug = restate.Service("Trip")
trip_ok = restate.Service("Trip")


@trip_bug.handler(name="book")
async def book_bug(ctx: restate.Context, trip: str) -> dict[str, str]:
    flight = ctx.run_typed("flight", reserve, kind="flight", trip=trip)
    hotel = ctx.run_typed("hotel", reserve, kind="hotel", trip=trip)
    booked_flight, booked_hotel = await asyncio.gather(flight, hotel)
    return {"flight": booked_flight, "hotel": booked_hotel}


@trip_ok.handler(name="book")
async def book_ok(ctx: restate.Context, trip: str) -> dict[str, str]:
    flight = ctx.run_typed("flight", reserve, kind="flight", trip=trip)
    hotel = ctx.run_typed("hotel", reserve, kind="hotel", trip=trip)
    await restate.gather(flight, hotel)
    return {"flight": await flight, "hotel": await hotel}


mail = sd.FakeExternal("mail")


def welcome(user: str) -> str:
    return str(mail.apply("welcome", {"user": user}, idempotency_key=f"welcome-{user}")["id"])


# A welcome mail to each user of a batch, the steps started in a loop and
# awaited together. Each closure is a lambda over the loop's variable, and a
# step's closure runs only once the handler waits (restate-sdk runs it then,
# as simdurable does): by then the loop has ended, and every closure mails
# the last user (a Python closure captures the variable, not its value).
# Strict mode compares the closure's variables when the step starts and when
# it runs (`late-binding`; before, only a user invariant caught it). The twin
# passes the user as an argument of run_typed. The twin's receipts are
# numbered in the order the steps ran: it was flagged `outcome-changed` when a
# generated schedule ran them in another order before a crash.
# The same late binding in deferred callbacks: a lambda over `ctx` handed to
# a thread pool in a loop ran with the last one (langfuse/langfuse-docs#1237),
# a reconnect timer per member address connected to the last address
# (hazelcast/hazelcast-python-client#271).
# https://github.com/slgobinath/safeeyes/pull/650
# https://github.com/animatlabs/workflow-forge/issues/45
# https://github.com/langfuse/langfuse-docs/pull/1237
# https://github.com/hazelcast/hazelcast-python-client/pull/271
batch_bug = restate.Service("Welcome")
batch_ok = restate.Service("Welcome")


@batch_bug.handler(name="batch")
async def batch_bug_run(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = [ctx.run_typed(f"mail-{user}", lambda: welcome(user)) for user in users]  # noqa: B023
    await restate.gather(*mails)
    return [await m for m in mails]


@batch_ok.handler(name="batch")
async def batch_ok_run(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = [ctx.run_typed(f"mail-{user}", welcome, user=user) for user in users]
    await restate.gather(*mails)
    return [await m for m in mails]


# Refunds of an order's lines issued together, and the list of their futures
# handed to restate.gather, which takes the futures themselves (*futures), as
# asyncio.gather does (p4p and hummingbot fixed the same call to
# asyncio.gather by adding the `*`). restate-sdk ends the invocation for good:
# "All futures must SDK created futures.", an ending `check` took for an
# outcome, the order never refunded.
# https://github.com/epics-base/p4p/pull/32
# https://github.com/hummingbot/hummingbot/pull/640
refunds_bug = restate.Service("Refunds")
refunds_ok = restate.Service("Refunds")


def refund(order: str, line: int) -> str:
    return str(broker.apply("refund", {"order": order, "line": line},
                            idempotency_key=f"refund-{order}-{line}")["id"])


@refunds_bug.handler(name="order")
async def refund_order_bug(ctx: restate.Context, order: str) -> int:
    refunds = [ctx.run_typed(f"refund-{line}", refund, order=order, line=line)
               for line in (1, 2)]
    await restate.gather(refunds)  # type: ignore[arg-type]
    return len(refunds)


@refunds_ok.handler(name="order")
async def refund_order_ok(ctx: restate.Context, order: str) -> int:
    refunds = [ctx.run_typed(f"refund-{line}", refund, order=order, line=line)
               for line in (1, 2)]
    await restate.gather(*refunds)
    return len(refunds)


# Orders shipped in batches of two: each full batch is handed to a step as a
# list, and the list is emptied for the next batch. The steps run only once
# the handler waits, after the loop: each ships the list as it is then, empty,
# and no order is shipped. The step's argument is the list itself, not a
# copy of it (executorlib's batching: "the loop modifies the list which is an
# input argument while the function is still waiting to be executed"; IPED's
# batching tasks copy their queued items before handing them on). The twin
# hands each step a list of its own.
# https://github.com/pyiron/executorlib/pull/756
# https://github.com/sepinf-inc/IPED/issues/2659
shipping_bug = restate.Service("Shipping")
shipping_ok = restate.Service("Shipping")


def ship(orders: list[str]) -> int:
    for order in orders:
        broker.apply("ship", {"order": order}, idempotency_key=f"ship-{order}")
    return len(orders)


@shipping_bug.handler(name="batches")
async def ship_batches_bug(ctx: restate.Context, orders: list[str]) -> int:
    batch: list[str] = []
    shipments = []
    for order in orders:
        batch.append(order)
        if len(batch) == 2:
            shipments.append(ctx.run_typed(f"ship-to-{order}", ship, orders=batch))
            batch.clear()
    await restate.gather(*shipments)
    return sum([await s for s in shipments])


@shipping_ok.handler(name="batches")
async def ship_batches_ok(ctx: restate.Context, orders: list[str]) -> int:
    batch: list[str] = []
    shipments = []
    for order in orders:
        batch.append(order)
        if len(batch) == 2:
            shipments.append(ctx.run_typed(f"ship-to-{order}", ship, orders=batch))
            batch = []
    await restate.gather(*shipments)
    return sum([await s for s in shipments])


# Files uploaded in parts of two: once a part is full, a step commits its
# manifest, a lambda over the list of the part's files, and the list is
# emptied for the next part. The steps run only once the handler waits, after
# the loop: each commits the list as it is then, empty. The closure holds the
# list itself, not its items (Beam's allAsList closed over a list of futures
# that its caller cleared for the next batch; pipedag's tasks read a dict of
# tables the flow added to after declaring them, and now copy their inputs
# when declared). Before, strict mode compared a closure's variables by
# identity only, and the same list changed in place passed. The twin binds a
# copy of the part's files when it starts the step.
# https://github.com/apache/beam/issues/23809
# https://github.com/pydiverse/pydiverse.pipedag/pull/137
storage = sd.FakeExternal("storage")
manifest_bug = restate.Service("Upload")
manifest_ok = restate.Service("Upload")


def commit_manifest(part: int, files: list[str]) -> int:
    storage.apply("commit", {"part": part, "files": list(files)},
                  idempotency_key=f"manifest-{part}")
    return len(files)


@manifest_bug.handler(name="files")
async def upload_bug(ctx: restate.Context, files: list[str]) -> int:
    part: list[str] = []
    commits = []
    for name in files:
        part.append(name)
        if len(part) == 2:
            n = len(commits)
            commits.append(ctx.run_typed(f"commit-{n}", lambda n=n: commit_manifest(n, part)))
            part.clear()
    await restate.gather(*commits)
    return sum([await c for c in commits])


@manifest_ok.handler(name="files")
async def upload_ok(ctx: restate.Context, files: list[str]) -> int:
    part: list[str] = []
    commits = []
    for name in files:
        part.append(name)
        if len(part) == 2:
            n = len(commits)
            commits.append(ctx.run_typed(
                f"commit-{n}", lambda n=n, part=list(part): commit_manifest(n, part)))
            part.clear()
    await restate.gather(*commits)
    return sum([await c for c in commits])


# A shipping notice for each order of a batch, one request object reused for
# every order: its fields are set and it is handed to a step, then set again
# for the next order before any step ran. Each step reads the object when it
# runs, once the handler waits: every notice names the last order. Handing an
# object to a step as an argument copies nothing (concurrent-ruby: a value
# passed to a thread pool's task is the same object, "not safe" when changed
# after; the serverless-workflow SDK's loop reused one task context whose
# fields later iterations overwrote under background work: "consider
# snapshotting/cloning the context"). The twin makes a notice per order.
# https://github.com/ruby-concurrency/concurrent-ruby/issues/223
# https://github.com/open-workflow-specification/sdk-java/pull/1369
@dataclass
class Notice:
    order: str = ""
    status: str = ""


notices_bug = restate.Service("Notices")
notices_ok = restate.Service("Notices")


def notify(notice: Notice) -> str:
    return str(mail.apply("notice", {"order": notice.order, "status": notice.status},
                          idempotency_key=f"notice-{notice.order}")["id"])


@notices_bug.handler(name="shipped")
async def notify_bug(ctx: restate.Context, orders: list[str]) -> list[str]:
    notice = Notice()
    sends = []
    for order in orders:
        notice.order, notice.status = order, "shipped"
        sends.append(ctx.run_typed(f"notice-{order}", notify, notice=notice))
    await restate.gather(*sends)
    return [await s for s in sends]


@notices_ok.handler(name="shipped")
async def notify_ok(ctx: restate.Context, orders: list[str]) -> list[str]:
    sends = []
    for order in orders:
        notice = Notice(order=order, status="shipped")
        sends.append(ctx.run_typed(f"notice-{order}", notify, notice=notice))
    await restate.gather(*sends)
    return [await s for s in sends]


# Events kept in a bounded buffer (a deque with a maximum length): once three
# arrived, a step archives the buffer, and the handler goes on appending to it.
# The step runs only once the handler waits: the deque has rotated meanwhile,
# and the step archives the latest events, twice, and never the first ones.
# (Gridsync's log buffer, a deque read by a thread while it was appended to,
# is now copied with list() first; CAMEL's workforce snapshot kept its deque
# of pending tasks by reference to their objects, later changed under it.)
# Strict mode compared only lists, dicts and sets in place; the twin hands
# the step a list of the events as they are when it starts.
# https://github.com/gridsync/gridsync/pull/250
# https://github.com/camel-ai/camel/issues/4166
archive_bug = restate.Service("Archive")
archive_ok = restate.Service("Archive")


def archive(part: int, events: Iterable[str]) -> int:
    kept = list(events)
    storage.apply("archive", {"part": part, "events": kept}, idempotency_key=f"archive-{part}")
    return len(kept)


@archive_bug.handler(name="events")
async def archive_events_bug(ctx: restate.Context, events: list[str]) -> int:
    recent: deque[str] = deque(maxlen=3)
    parts = []
    for i, event in enumerate(events, 1):
        recent.append(event)
        if i % 3 == 0:
            parts.append(ctx.run_typed(f"archive-{i // 3}", archive, part=i // 3, events=recent))
    await restate.gather(*parts)
    return sum([await p for p in parts])


@archive_ok.handler(name="events")
async def archive_events_ok(ctx: restate.Context, events: list[str]) -> int:
    recent: deque[str] = deque(maxlen=3)
    parts = []
    for i, event in enumerate(events, 1):
        recent.append(event)
        if i % 3 == 0:
            parts.append(ctx.run_typed(f"archive-{i // 3}", archive, part=i // 3,
                                       events=list(recent)))
    await restate.gather(*parts)
    return sum([await p for p in parts])


# Page views tallied in a Counter and reported once per window: the report's
# step is handed the Counter, which the handler then empties for the next
# window. The steps run once the handler waits, each with the Counter as it
# is then: the last window's views, reported under every window. (dd-trace's
# writer deep-copies its nested metrics before flushing them, as the reset
# that follows the flush would empty them under it; datadogpy's sampled
# metrics are copied, then cleared, before the flush reads them.) The twin
# reports a dict of the window's counts.
# https://github.com/DataDog/dd-trace-py/pull/7413
# https://github.com/DataDog/datadogpy/pull/863
views_bug = restate.Service("Views")
views_ok = restate.Service("Views")


def report_views(window: int, counts: Mapping[str, int]) -> int:
    mail.apply("views", {"window": window, "counts": dict(sorted(counts.items()))},
               idempotency_key=f"views-{window}")
    return sum(counts.values())


@views_bug.handler(name="tally")
async def tally_bug(ctx: restate.Context, pages: list[str]) -> int:
    views: Counter[str] = Counter()
    reports = []
    for i, page in enumerate(pages, 1):
        views[page] += 1
        if i % 2 == 0:
            reports.append(ctx.run_typed(f"report-{i // 2}", report_views, window=i // 2,
                                         counts=views))
            views.clear()
    await restate.gather(*reports)
    return sum([await r for r in reports])


@views_ok.handler(name="tally")
async def tally_ok(ctx: restate.Context, pages: list[str]) -> int:
    views: Counter[str] = Counter()
    reports = []
    for i, page in enumerate(pages, 1):
        views[page] += 1
        if i % 2 == 0:
            reports.append(ctx.run_typed(f"report-{i // 2}", report_views, window=i // 2,
                                         counts=dict(views)))
            views.clear()
    await restate.gather(*reports)
    return sum([await r for r in reports])


# Seats held for a booking, confirmed by a step handed a copy of the set of
# held seats (set(...)): a copy of the set, not of the seats in it. The
# handler then marks the seats released for the next booking before the step
# runs, and the step confirms seats that read as released. (CAMEL's workforce
# snapshot copied its containers and kept the same task objects, changed
# under the snapshot later; Square's workflow snapshots read their state when
# serialized, not when taken.) Strict mode copied a set's members only by
# identity; the twin hands the step the seats' numbers and states as values.
# https://github.com/camel-ai/camel/issues/4166
# https://github.com/square/workflow/issues/404
@dataclass(eq=False)
class Seat:
    number: str
    status: str = "free"


seats_bug = restate.Service("Seats")
seats_ok = restate.Service("Seats")


def confirm_seats(booking: str, seats: Iterable[Seat | tuple[str, str]]) -> int:
    rows = sorted((s.number, s.status) if isinstance(s, Seat) else s for s in seats)
    broker.apply("confirm", {"booking": booking, "seats": [list(r) for r in rows]},
                 idempotency_key=f"confirm-{booking}")
    return sum(status == "held" for _, status in rows)


@seats_bug.handler(name="book")
async def book_seats_bug(ctx: restate.Context, numbers: list[str]) -> int:
    seats = [Seat(n) for n in numbers]
    for seat in seats:
        seat.status = "held"
    confirmed = ctx.run_typed("confirm", confirm_seats, booking="b-1", seats=set(seats))
    for seat in seats:
        seat.status = "released"  # for the next booking
    return await confirmed


@seats_ok.handler(name="book")
async def book_seats_ok(ctx: restate.Context, numbers: list[str]) -> int:
    seats = [Seat(n) for n in numbers]
    for seat in seats:
        seat.status = "held"
    confirmed = ctx.run_typed("confirm", confirm_seats, booking="b-1",
                              seats=[(s.number, s.status) for s in seats])
    for seat in seats:
        seat.status = "released"  # for the next booking
    return await confirmed


PAIRS = [
    Pair(name="asyncio-gather-over-steps", kind="handler-error",
         source="dbos-inc/dbos-transact-py#688; docs.restate.dev concurrent-tasks",
         invoke="Trip/book", input="lisbon", buggy=[trip_bug], correct=[trip_ok],
         externals=(broker,)),
    Pair(name="gather-given-a-list", kind="handler-error",
         source="epics-base/p4p#32; hummingbot/hummingbot#640",
         invoke="Refunds/order", input="o-7", buggy=[refunds_bug], correct=[refunds_ok],
         externals=(broker,)),
    Pair(name="lambda-captures-loop-variable", kind="late-binding",
         source="slgobinath/safeeyes#650; animatlabs/workflow-forge#45; "
                "langfuse/langfuse-docs#1237; hazelcast/hazelcast-python-client#271",
         invoke="Welcome/batch", input=["ann", "bob", "cy"], buggy=[batch_bug],
         correct=[batch_ok], externals=(mail,)),
    Pair(name="batch-list-cleared-under-step", kind="late-binding",
         source="pyiron/executorlib#756; sepinf-inc/IPED#2659",
         invoke="Shipping/batches", input=["o-1", "o-2", "o-3", "o-4"], buggy=[shipping_bug],
         correct=[shipping_ok], externals=(broker,)),
    Pair(name="closure-list-cleared-under-step", kind="late-binding",
         source="apache/beam#23809; pydiverse/pydiverse.pipedag#137",
         invoke="Upload/files", input=["a.csv", "b.csv", "c.csv", "d.csv"],
         buggy=[manifest_bug], correct=[manifest_ok], externals=(storage,)),
    Pair(name="object-argument-changed-under-step", kind="late-binding",
         source="ruby-concurrency/concurrent-ruby#223; "
                "open-workflow-specification/sdk-java#1369",
         invoke="Notices/shipped", input=["o-1", "o-2", "o-3"], buggy=[notices_bug],
         correct=[notices_ok], externals=(mail,)),
    Pair(name="deque-rotated-under-step", kind="late-binding",
         source="gridsync/gridsync#250; camel-ai/camel#4166",
         invoke="Archive/events", input=["e1", "e2", "e3", "e4", "e5", "e6"],
         buggy=[archive_bug], correct=[archive_ok], externals=(storage,)),
    Pair(name="counter-cleared-under-step", kind="late-binding",
         source="DataDog/dd-trace-py#7413; DataDog/datadogpy#863",
         invoke="Views/tally", input=["/", "/a", "/", "/b"], buggy=[views_bug],
         correct=[views_ok], externals=(mail,)),
    Pair(name="objects-in-copied-set-changed-under-step", kind="late-binding",
         source="camel-ai/camel#4166; square/workflow#404",
         invoke="Seats/book", input=["1A", "1B"], buggy=[seats_bug], correct=[seats_ok],
         externals=(broker,)),
]
