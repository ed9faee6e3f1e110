"""Handler code that takes another path on replay: clocks, RNGs, ambient reads, hash order."""

from __future__ import annotations

import os
import random
import secrets
import time
import traceback
import uuid
from datetime import date, datetime, timedelta

import simdurable as restate
import simdurable as sd

from . import Pair

bank = sd.FakeExternal("bank")
mail = sd.FakeExternal("mail")
EXTERNALS = (bank, mail)


def charge(amount: int, key: str) -> str:
    return str(bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"])


def send(to: str, key: str) -> str:
    return str(mail.apply("send", {"to": to}, idempotency_key=key)["id"])


# An idempotency key from uuid4() in the handler's body: a new key on replay.
# "Generate idempotency keys tied to the logical payment attempt ... rather
# than random values."  https://mcp.waymark.network/r/e81a8ce2-0914-4e31-8102-38e9347ee2a5
uuidkey_bug = restate.Service("UuidKey")
uuidkey_ok = restate.Service("UuidKey")


@uuidkey_bug.handler(name="pay")
async def uuidkey_pay_bug(ctx: restate.Context, amount: int) -> str:
    key = str(uuid.uuid4())
    return await ctx.run_typed("charge", charge, amount=amount, key=key)


@uuidkey_ok.handler(name="pay")
async def uuidkey_pay_ok(ctx: restate.Context, amount: int) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("charge", charge, amount=amount, key=key)


# Math.random()/Date.now() outside step.run() break replay.
# https://github.com/openworkflowdev/openworkflow/issues/49
ab_bug = restate.Service("AbTest")
ab_ok = restate.Service("AbTest")


@ab_bug.handler(name="greet")
async def ab_greet_bug(ctx: restate.Context, user: str) -> str:
    variant = "a" if random.random() < 0.5 else "b"
    return await ctx.run_typed(f"send-{variant}", send, to=user, key=f"{user}-{variant}")


@ab_ok.handler(name="greet")
async def ab_greet_ok(ctx: restate.Context, user: str) -> str:
    variant = "a" if ctx.random().random() < 0.5 else "b"
    return await ctx.run_typed(f"send-{variant}", send, to=user, key=f"{user}-{variant}")


# random.choice outside a step; the twin uses ctx.random().choice, the
# recommended API, which must not be taken for the module's random/secrets.
# https://github.com/openworkflowdev/openworkflow/issues/49
pick_bug = restate.Service("Pick")
pick_ok = restate.Service("Pick")
GATEWAYS = ["adyen", "stripe", "braintree"]


@pick_bug.handler(name="route")
async def pick_route_bug(ctx: restate.Context, amount: int) -> str:
    gw = random.choice(GATEWAYS)
    return await ctx.run_typed(f"charge-{gw}", charge, amount=amount, key=f"{gw}-{amount}")


@pick_ok.handler(name="route")
async def pick_route_ok(ctx: restate.Context, amount: int) -> str:
    gw = ctx.random().choice(GATEWAYS)
    return await ctx.run_typed(f"charge-{gw}", charge, amount=amount, key=f"{gw}-{amount}")


# A business-hours branch on datetime.now() in the workflow body.
# https://github.com/temporalio/documentation/pull/2478 (intrinsic non-determinism)
hours_bug = restate.Service("Hours")
hours_ok = restate.Service("Hours")


@hours_bug.handler(name="route")
async def hours_route_bug(ctx: restate.Context, ticket: str) -> str:
    team = "day" if 8 <= datetime.now().hour < 18 else "night"
    return await ctx.run_typed(f"page-{team}", send, to=team, key=ticket)


@hours_ok.handler(name="route")
async def hours_route_ok(ctx: restate.Context, ticket: str) -> str:
    now = datetime.fromtimestamp(await ctx.time())
    team = "day" if 8 <= now.hour < 18 else "night"
    return await ctx.run_typed(f"page-{team}", send, to=team, key=ticket)


# A sleep computed from the wall clock: the replayed sleep has another duration.
# https://github.com/temporalio/documentation/pull/2478
remind_bug = restate.Service("Remind")
remind_ok = restate.Service("Remind")


@remind_bug.handler(name="at")
async def remind_at_bug(ctx: restate.Context, epoch: float) -> str:
    await ctx.sleep(timedelta(seconds=max(0.0, epoch - time.time())))
    return await ctx.run_typed("remind", send, to="ann", key="remind")


@remind_ok.handler(name="at")
async def remind_at_ok(ctx: restate.Context, epoch: float) -> str:
    now = await ctx.time()
    await ctx.sleep(timedelta(seconds=max(0.0, epoch - now)))
    return await ctx.run_typed("remind", send, to="ann", key="remind")


# date.today() picks the invoice's period: a replay after midnight bills the next one.
# https://github.com/temporalio/documentation/pull/2478
period_bug = restate.Service("Period")
period_ok = restate.Service("Period")


@period_bug.handler(name="invoice")
async def period_invoice_bug(ctx: restate.Context, customer: str) -> str:
    period = date.today().strftime("%Y-%m")
    return await ctx.run_typed(f"bill-{period}", charge, amount=5, key=f"{customer}-{period}")


@period_ok.handler(name="invoice")
async def period_invoice_ok(ctx: restate.Context, customer: str) -> str:
    period = await ctx.run_typed("period", lambda: date.today().strftime("%Y-%m"))
    return await ctx.run_typed(f"bill-{period}", charge, amount=5, key=f"{customer}-{period}")


# A timeout measured with time.monotonic() in the body.
# https://github.com/openworkflowdev/openworkflow/issues/49
poll_bug = restate.Service("Poll")
poll_ok = restate.Service("Poll")


@poll_bug.handler(name="wait")
async def poll_wait_bug(ctx: restate.Context, job: str) -> str:
    start = time.monotonic()
    await ctx.run_typed("status", lambda: "pending")
    if time.monotonic() - start > 0.000001:
        return await ctx.run_typed("escalate", send, to="ops", key=job)
    return "fine"


@poll_ok.handler(name="wait")
async def poll_wait_ok(ctx: restate.Context, job: str) -> str:
    start = await ctx.time()
    await ctx.run_typed("status", lambda: "pending")
    if await ctx.time() - start > 3600:
        return await ctx.run_typed("escalate", send, to="ops", key=job)
    return "fine"


# A token from secrets outside a step. https://github.com/openworkflowdev/openworkflow/issues/49
token_bug = restate.Service("Token")
token_ok = restate.Service("Token")


@token_bug.handler(name="invite")
async def token_invite_bug(ctx: restate.Context, user: str) -> str:
    token = secrets.token_hex(8)
    return await ctx.run_typed("send", send, to=user, key=token)


@token_ok.handler(name="invite")
async def token_invite_ok(ctx: restate.Context, user: str) -> str:
    token = await ctx.run_typed("token", lambda: secrets.token_hex(8))
    return await ctx.run_typed("send", send, to=user, key=token)


# A feature flag read from the environment in the workflow body: "they can't
# be used normally with Workflow code, as that would be non-deterministic".
# https://github.com/temporalio/documentation/pull/1778
flag_bug = restate.Service("Flag")
flag_ok = restate.Service("Flag")


@flag_bug.handler(name="pay")
async def flag_pay_bug(ctx: restate.Context, amount: int) -> str:
    gw = "new" if os.environ.get("USE_NEW_GATEWAY") == "1" else "old"
    return await ctx.run_typed(f"charge-{gw}", charge, amount=amount, key=str(ctx.uuid()))


@flag_ok.handler(name="pay")
async def flag_pay_ok(ctx: restate.Context, amount: int) -> str:
    gw = await ctx.run_typed("flag", lambda: "new" if os.environ.get("USE_NEW_GATEWAY") == "1"
                             else "old")
    return await ctx.run_typed(f"charge-{gw}", charge, amount=amount, key=str(ctx.uuid()))


# os.getenv, the same bug in its other spelling. https://github.com/vercel/workflow/pull/3130
region_bug = restate.Service("Region")
region_ok = restate.Service("Region")


@region_bug.handler(name="store")
async def region_store_bug(ctx: restate.Context, doc: str) -> str:
    region = os.getenv("REGION", "eu")
    return await ctx.run_typed(f"store-{region}", send, to=region, key=doc)


@region_ok.handler(name="store")
async def region_store_ok(ctx: restate.Context, doc: str) -> str:
    region = await ctx.run_typed("region", lambda: os.getenv("REGION", "eu"))
    return await ctx.run_typed(f"store-{region}", send, to=region, key=doc)


# Files listed in the body: "file I/O ... should be avoided within the Workflow".
# https://github.com/temporalio/documentation/pull/2478
inbox_bug = restate.Service("Inbox")
inbox_ok = restate.Service("Inbox")


@inbox_bug.handler(name="scan")
async def inbox_scan_bug(ctx: restate.Context, folder: str) -> int:
    names = sorted(os.listdir(folder))[:2]
    for n in names:
        await ctx.run_typed(f"import-{n}", send, to=n, key=n)
    return len(names)


@inbox_ok.handler(name="scan")
async def inbox_scan_ok(ctx: restate.Context, folder: str) -> int:
    names = await ctx.run_typed("list", lambda: sorted(os.listdir(folder))[:2])
    for n in names:
        await ctx.run_typed(f"import-{n}", send, to=n, key=n)
    return len(names)


# A file's existence checked in the body (a lock or marker file).
# https://github.com/temporalio/documentation/pull/2478
marker_bug = restate.Service("Marker")
marker_ok = restate.Service("Marker")


@marker_bug.handler(name="export")
async def marker_export_bug(ctx: restate.Context, path: str) -> str:
    if os.path.exists(path):
        return await ctx.run_typed("append", send, to=path, key="append")
    return await ctx.run_typed("create", send, to=path, key="create")


@marker_ok.handler(name="export")
async def marker_export_ok(ctx: restate.Context, path: str) -> str:
    if await ctx.run_typed("exists", lambda: os.path.exists(path)):
        return await ctx.run_typed("append", send, to=path, key="append")
    return await ctx.run_typed("create", send, to=path, key="create")


# A report stamped with time.strftime() (the current time, without an argument).
# https://github.com/temporalio/documentation/pull/2478
stamp_bug = restate.Service("Stamp")
stamp_ok = restate.Service("Stamp")


@stamp_bug.handler(name="report")
async def stamp_report_bug(ctx: restate.Context, name: str) -> str:
    title = f"{name}-{time.strftime('%H%M%S')}"
    return await ctx.run_typed("publish", send, to=title, key=title)


@stamp_ok.handler(name="report")
async def stamp_report_ok(ctx: restate.Context, name: str) -> str:
    when = time.gmtime(await ctx.time())
    title = f"{name}-{time.strftime('%H%M%S', when)}"
    return await ctx.run_typed("publish", send, to=title, key=title)


# The process id as a worker tag in the body: another process replays it.
# https://github.com/dbos-inc/dbos-docs/pull/95 (executor ids per process, DBOS__VMID)
worker_bug = restate.Service("Worker")
worker_ok = restate.Service("Worker")


@worker_bug.handler(name="claim")
async def worker_claim_bug(ctx: restate.Context, job: str) -> str:
    owner = f"worker-{os.getpid()}"
    return await ctx.run_typed("claim", send, to=owner, key=f"{job}-{owner}")


@worker_ok.handler(name="claim")
async def worker_claim_ok(ctx: restate.Context, job: str) -> str:
    owner = f"worker-{str(ctx.uuid())[:8]}"
    return await ctx.run_typed("claim", send, to=owner, key=f"{job}-{owner}")


# Objects ordered by id(): addresses differ between processes.
# https://github.com/ASPP/pelita/pull/703 ("hash(object()) and therefore id(object()) ...")
class Task:
    def __init__(self, name: str) -> None:
        self.name = name


idorder_bug = restate.Service("IdOrder")
idorder_ok = restate.Service("IdOrder")


@idorder_bug.handler(name="run")
async def idorder_run_bug(ctx: restate.Context, names: list[str]) -> list[str]:
    tasks = sorted((Task(n) for n in names), key=id)
    return [await ctx.run_typed(f"run-{t.name}", send, to=t.name, key=t.name) for t in tasks]


@idorder_ok.handler(name="run")
async def idorder_run_ok(ctx: restate.Context, names: list[str]) -> list[str]:
    tasks = sorted((Task(n) for n in names), key=lambda t: t.name)
    return [await ctx.run_typed(f"run-{t.name}", send, to=t.name, key=t.name) for t in tasks]


# Steps issued while iterating a set of strings: the order follows the
# process's hash seed, so a replay in a restarted process diverges.
# https://github.com/UCL/TLOmodel/pull/419
fanout_bug = restate.Service("Fanout")
fanout_ok = restate.Service("Fanout")


@fanout_bug.handler(name="notify")
async def fanout_notify_bug(ctx: restate.Context, regions: list[str]) -> int:
    for r in set(regions):
        await ctx.run_typed(f"notify-{r}", send, to=r, key=r)
    return len(set(regions))


@fanout_ok.handler(name="notify")
async def fanout_notify_ok(ctx: restate.Context, regions: list[str]) -> int:
    for r in sorted(set(regions)):
        await ctx.run_typed(f"notify-{r}", send, to=r, key=r)
    return len(set(regions))


# A dict built from a set intersection: list(set(a) & set(b)) over strings
# came out in a different order in every process.
# https://github.com/meta-pytorch/torchrec/pull/4648
allowed_bug = restate.Service("Allowed")
allowed_ok = restate.Service("Allowed")


@allowed_bug.handler(name="grant")
async def allowed_grant_bug(ctx: restate.Context, wanted: list[str]) -> list[str]:
    granted = {p: "rw" for p in set(wanted) & {"read", "write", "admin", "audit"}}
    for p in granted:
        await ctx.run_typed(f"grant-{p}", send, to=p, key=p)
    return sorted(granted)


@allowed_ok.handler(name="grant")
async def allowed_grant_ok(ctx: restate.Context, wanted: list[str]) -> list[str]:
    granted = {p: "rw" for p in sorted(set(wanted) & {"read", "write", "admin", "audit"})}
    for p in granted:
        await ctx.run_typed(f"grant-{p}", send, to=p, key=p)
    return sorted(granted)


# A shard picked by hash(str) % n: salted per process.
# https://github.com/Mouse-Imaging-Centre/pydpiper/issues/291
shard_bug = restate.Service("Shard")
shard_ok = restate.Service("Shard")


@shard_bug.handler(name="write")
async def shard_write_bug(ctx: restate.Context, user: str) -> str:
    shard = hash(user) % 8
    return await ctx.run_typed(f"write-{shard}", send, to=f"shard-{shard}", key=user)


@shard_ok.handler(name="write")
async def shard_write_ok(ctx: restate.Context, user: str) -> str:
    shard = sum(user.encode()) % 8
    return await ctx.run_typed(f"write-{shard}", send, to=f"shard-{shard}", key=user)


# A failure's details passed on to a call: the message and status are what
# the journal recorded, but the formatted traceback is where the error was
# raised this time, live at the await, and elsewhere when the failure is
# replayed, so the replayed call's argument differs from the recorded one (a
# journal mismatch, Restate's error 570, on every retry after a crash).
# https://github.com/restatedev/sdk-typescript/issues/656 ("TerminalError
# stacktrace reconstruction during replay can result into journal mismatch")
runner = restate.Service("Runner")
jobs_bug = restate.Service("Jobs")
jobs_ok = restate.Service("Jobs")


@runner.handler()
async def run(ctx: restate.Context, job: str) -> str:
    raise restate.TerminalError(f"no runner free for {job}", 503)


@runner.handler()
async def on_error(ctx: restate.Context, report: dict) -> None:
    return None


@jobs_bug.handler(name="start")
async def jobs_start_bug(ctx: restate.Context, job: str) -> str:
    try:
        return await ctx.service_call(run, job)
    except restate.TerminalError as err:
        stack = "".join(traceback.format_exception(err))
        await ctx.service_call(on_error, {"job": job, "message": err.message, "stack": stack})
        return "failed"


@jobs_ok.handler(name="start")
async def jobs_start_ok(ctx: restate.Context, job: str) -> str:
    try:
        return await ctx.service_call(run, job)
    except restate.TerminalError as err:
        await ctx.service_call(on_error, {"job": job, "message": err.message,
                                          "status": err.status_code})
        return "failed"


def _pair(name: str, kind: str, source: str, bug: restate.Service, ok: restate.Service,
          target: str, value: object) -> Pair:
    return Pair(name=name, kind=kind, source=source, invoke=target, input=value, buggy=[bug],
                correct=[ok], externals=EXTERNALS)


# An exchange rate fetched once per process and kept in a module-level dict:
# the step that fetches it runs only while the dict is empty. The process's
# memory is not journaled: a replay after a crash at the booking finds the
# rate there and skips the step its journal holds (a journal mismatch), and
# once the rate is cached, invocations journal no step at all, so a replay on
# a fresh process runs one. pydantic-ai's Temporal MCP wrapper decided by an instance cache
# shared by every workflow of the worker whether to schedule an activity
# ("a history recorded with a warm cache fails replay on a cold process");
# Temporal's TypeScript SDK saw a module-level map leak from one execution of
# a workflow into a replay of it. The pair's setup empties the caches before
# every example, as in a fresh process: without it, only the first check in a
# process finds the bug (its reference run, repeated, journals no step), and
# later ones, the cache warm, journal the same each time. The twin keeps the
# cache, but reads it inside the step: the step's result is journaled.
# https://github.com/pydantic/pydantic-ai/issues/5875
# https://github.com/temporalio/sdk-typescript/issues/1355
convert_bug = restate.Service("Convert")
convert_ok = restate.Service("Convert")
_RATES: dict[str, float] = {}
_CACHED_RATES: dict[str, float] = {}


def fetch_rate(currency: str) -> float:
    bank.query("rate", {"currency": currency})
    return 1.25


def cached_rate(currency: str) -> float:
    if currency not in _CACHED_RATES:
        _CACHED_RATES[currency] = fetch_rate(currency)
    return _CACHED_RATES[currency]


def _forget_rates() -> None:
    """A fresh process's caches, before every example (as a test resets them)."""
    _RATES.clear()
    _CACHED_RATES.clear()


def book(cents: int) -> str:
    return str(bank.apply("book", {"eur_cents": cents}, idempotency_key=f"book-{cents}")["id"])


@convert_bug.handler(name="to_eur")
async def to_eur_bug(ctx: restate.Context, cents: int) -> str:
    if "EUR" not in _RATES:
        _RATES["EUR"] = await ctx.run_typed("fetch-rate", fetch_rate, currency="EUR")
    return await ctx.run_typed("book", book, cents=round(cents * _RATES["EUR"]))


@convert_ok.handler(name="to_eur")
async def to_eur_ok(ctx: restate.Context, cents: int) -> str:
    rate = await ctx.run_typed("fetch-rate", cached_rate, currency="EUR")
    return await ctx.run_typed("book", book, cents=round(cents * rate))


NDC = "nondeterministic-call"
PAIRS = [
    _pair("uuid4-key-in-body", NDC, "waymark: Stripe idempotency keys", uuidkey_bug, uuidkey_ok,
          "UuidKey/pay", 30),
    _pair("random-branch", NDC, "openworkflowdev/openworkflow#49", ab_bug, ab_ok,
          "AbTest/greet", "ann"),
    _pair("random-choice-vs-ctx-random", NDC, "openworkflowdev/openworkflow#49", pick_bug,
          pick_ok, "Pick/route", 30),
    _pair("datetime-now-branch", NDC, "temporalio/documentation#2478", hours_bug, hours_ok,
          "Hours/route", "t1"),
    _pair("sleep-from-wall-clock", NDC, "temporalio/documentation#2478", remind_bug, remind_ok,
          "Remind/at", 0.0),
    _pair("date-today-period", NDC, "temporalio/documentation#2478", period_bug, period_ok,
          "Period/invoice", "c1"),
    _pair("monotonic-timeout", NDC, "openworkflowdev/openworkflow#49", poll_bug, poll_ok,
          "Poll/wait", "j1"),
    _pair("secrets-token", NDC, "openworkflowdev/openworkflow#49", token_bug, token_ok,
          "Token/invite", "ann"),
    _pair("environ-flag", NDC, "temporalio/documentation#1778", flag_bug, flag_ok,
          "Flag/pay", 30),
    _pair("getenv-region", NDC, "vercel/workflow#3130", region_bug, region_ok,
          "Region/store", "d1"),
    _pair("listdir-in-body", NDC, "temporalio/documentation#2478", inbox_bug, inbox_ok,
          "Inbox/scan", os.path.dirname(os.path.abspath(__file__))),
    _pair("exists-in-body", NDC, "temporalio/documentation#2478", marker_bug, marker_ok,
          "Marker/export", os.path.abspath(__file__)),
    _pair("strftime-now", NDC, "temporalio/documentation#2478", stamp_bug, stamp_ok,
          "Stamp/report", "daily"),
    _pair("getpid-owner", NDC, "dbos-inc/dbos-docs#95", worker_bug, worker_ok,
          "Worker/claim", "j1"),
    _pair("id-ordering", "nondeterminism", "ASPP/pelita#703", idorder_bug, idorder_ok,
          "IdOrder/run", ["a", "b", "c", "d"]),
    _pair("set-iteration", "nondeterminism", "UCL/TLOmodel#419", fanout_bug, fanout_ok,
          "Fanout/notify", ["eu", "us", "asia", "africa", "oceania"]),
    _pair("dict-from-set", "nondeterminism", "meta-pytorch/torchrec#4648", allowed_bug,
          allowed_ok, "Allowed/grant", ["read", "write", "admin", "audit"]),
    _pair("hash-shard", "nondeterminism", "Mouse-Imaging-Centre/pydpiper#291", shard_bug,
          shard_ok, "Shard/write", "ann"),
    Pair(name="error-stack-in-call", kind="nondeterminism",
         source="restatedev/sdk-typescript#656", invoke="Jobs/start", input="j1",
         buggy=[jobs_bug, runner], correct=[jobs_ok, runner], externals=EXTERNALS),
    Pair(name="process-cache-decides-step", kind="nondeterminism",
         source="pydantic/pydantic-ai#5875; temporalio/sdk-typescript#1355",
         invoke="Convert/to_eur", input=400, buggy=[convert_bug], correct=[convert_ok],
         externals=EXTERNALS, setup=_forget_rates),
]
