"""A run's only ready task, an invocation's start, takes ``Lifecycle.start_alone``:
its common case (a handler that returns in its first segment, its steps run in
place) is opened, driven and completed in one call, and every run is the same,
write for write, as through ``Lifecycle.start`` and the parts it calls. A new
submission is stored by ``Lifecycle.submit`` as ``Invocations.new`` stores it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simdurable as sd
from simdurable._sim import parse_target
from simdurable.runtime._errors import HandlerError, NotFinishedError, StuckError
from simdurable.runtime._lifecycle import Lifecycle
from simdurable.runtime._running import Running

lone = sd.Service("Lone")
keyed = sd.VirtualObject("Keyed")
tries: dict[int, int] = {}


def add(i: int) -> int:
    return i + 1


@lone.handler()
async def at_once(ctx: sd.Context, x: int) -> int:
    return x


@lone.handler()
async def nothing(ctx: sd.Context, x: int) -> None:
    return None


@lone.handler()
async def five(ctx: sd.Context, x: int) -> int:
    for _ in range(5):
        x = await ctx.run_typed("step", add, i=x)
    return x


@lone.handler()
async def refused(ctx: sd.Context, x: int) -> int:
    await ctx.run_typed("before", add, i=x)
    raise sd.TerminalError(f"no {x}", 422)


@lone.handler()
async def flaky(ctx: sd.Context, x: int) -> int:
    tries[x] = tries.get(x, 0) + 1
    if tries[x] % 2:
        raise ValueError(f"try {tries[x]}")
    return await ctx.run_typed("after", add, i=x)


@lone.handler()
async def sleeper(ctx: sd.Context, x: int) -> int:
    y = await ctx.run_typed("first", add, i=x)
    await ctx.sleep(timedelta(milliseconds=x % 5 + 1))
    return await ctx.run_typed("second", add, i=y)


@lone.handler()
async def caller(ctx: sd.Context, x: int) -> int:
    got = await ctx.service_call(five, arg=x)
    return await ctx.run_typed("after-call", add, i=got)


@lone.handler()
async def sender(ctx: sd.Context, x: int) -> str:
    ctx.service_send(at_once, arg=x, send_delay=timedelta(milliseconds=3))
    return f"{ctx.random().random():.6f}"


@lone.handler()
async def gathered(ctx: sd.Context, x: int) -> list:
    both = await sd.gather(ctx.run_typed("left", add, i=x), ctx.run_typed("right", add, i=x))
    return [await f for f in both]


@lone.handler()
async def misuse(ctx: sd.Context, x: int) -> int:
    async def nested() -> int:
        return await ctx.run_typed("inner", add, i=x)
    return await ctx.run_typed("outer", nested)


@keyed.handler()
async def bump(ctx: sd.ObjectContext, x: int) -> int:
    n = (await ctx.get("n") or 0) + x
    ctx.set("n", n)
    return n


@keyed.handler(kind="shared")
async def peek(ctx: sd.ObjectSharedContext, x: int) -> int:
    return (await ctx.get("n") or 0) + x


TARGETS = ["Lone/at_once", "Lone/nothing", "Lone/five", "Lone/refused", "Lone/flaky",
           "Lone/sleeper", "Lone/caller", "Lone/sender", "Lone/gathered", "Lone/misuse",
           "Keyed/k/bump"]


def lone_run(target: str, x: int, plan: sd.FaultPlan, seed: int, fused: bool,
             delay: int, **options: object) -> tuple:
    tries.clear()
    sim = sd.Simulation([lone, keyed], seed=seed, faults=plan, max_steps=2_000, **options)
    if not fused:
        lifecycle = sim.engine.lifecycle
        # (a crowd's start, ``crowd=True``, then opens through ``open_attempt``)
        lifecycle.start_alone = (  # type: ignore[method-assign]
            lambda inv_id, crowd=False, known=0: None if crowd else lifecycle.start(inv_id))
    if delay:
        h = sim.send(target, x, delay=timedelta(milliseconds=delay))
    else:
        h = sim.invoke(target, x)
    try:
        summary = str(sim.run())
    except StuckError as err:
        summary = str(err)
    try:
        result = repr(h.result())
    except (sd.TerminalError, NotFinishedError, HandlerError) as err:
        result = f"{type(err).__name__}: {err}"
    journals = [[(e.kind, e.name, e.data, e.result, e.target, e.at_ms) for e in sim.journal(r)]
                for r in sim.invocations()]
    records = [(r.id, r.status, r.attempts, r.failures, r.last_failure)
               for r in sim.engine.records()]
    return (sim.trace(), summary, result, journals, records, sim.engine.tasks_run,
            sim.engine.step_run_log, [str(p) for p in sim.problems], sim.scheduler.decisions)


phases = st.sampled_from(["before", "effect-done", "after-store"])
faults = st.one_of(
    st.builds(lambda i, p: sd.Fault("crash", index=i, phase=p), st.integers(0, 6), phases),
    st.builds(lambda s, p: sd.Fault("crash", step=s, phase=p),
              st.sampled_from(["step", "first", "after", "left"]), phases),
    st.builds(lambda i: sd.Fault("suspend", index=i, phase="after-store"), st.integers(0, 6)),
    st.builds(lambda s: sd.Fault("fail", step=s), st.sampled_from(["step", "second", "right"])),
    st.builds(lambda t: sd.Fault("restart", at_ms=t), st.integers(0, 10)),
)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TARGETS), st.integers(0, 9), st.lists(faults, max_size=2),
       st.integers(0, 2**16), st.booleans(), st.booleans(), st.sampled_from([0, 0, 2]))
def test_a_lone_start_is_the_same_in_one_call_or_through_the_parts(
        target, x, plan_faults, seed, strict, suspend, delay):
    plan = sd.FaultPlan(tuple(plan_faults))
    options = {"strict": strict, "always_suspend": suspend}
    fused = lone_run(target, x, plan, seed, True, delay, **options)
    assert lone_run(target, x, plan, seed, False, delay, **options) == fused
    assert lone_run(target, x, plan, seed, True, delay, **options) == fused


@pytest.mark.parametrize("target", ["Lone/at_once", "Lone/nothing", "Lone/five", "Lone/sender"])
def test_a_lone_invocation_that_returns_at_once_takes_none_of_the_parts_calls(
        monkeypatch, target):
    sim = sd.Simulation([lone, keyed], seed=1)
    h = sim.invoke(target, 3)

    def general(*args: object) -> None:
        raise AssertionError("the general way")

    for name in ("start", "open_attempt", "finish", "complete", "segment_ended"):
        monkeypatch.setattr(Lifecycle, name, general)
    for name in ("open", "drive", "ended", "kill"):
        monkeypatch.setattr(Running, name, general)
    sim.run()
    assert h.status == "completed"


def submitted(general: bool, submissions: list[tuple[str, int, int, dict | None]],
              max_invocations: int, invoke: bool = False) -> tuple:
    """What ``Lifecycle.submit`` leaves for ``submissions`` (target, input,
    delay in ms, headers): records, stored records, trace, ready tasks and
    timers; with ``general``, through ``Invocations.new`` (``create``) and the
    follow-up it returns, as a handler's call goes; with ``invoke``, those
    with no delay or headers through ``Simulation.invoke`` (its common case,
    after a first submission to the target)."""
    sim = sd.Simulation([lone, keyed], seed=1, max_invocations=max_invocations)
    engine = sim.engine
    ids = []
    for target, x, delay, headers in submissions:
        service, key, handler = parse_target(target)
        if invoke and not delay and headers is None:
            ids.append(sim.invoke(target, x).id)
            continue
        if general:
            inv_id, then = engine.lifecycle.create(service, handler, key, b"%d" % x,
                                                   delay_ms=delay, headers=headers)
            then()
        else:
            inv_id = engine.submit(service, handler, key, b"%d" % x, delay_ms=delay,
                                   headers=headers)
        ids.append(inv_id)
    return (ids, engine.records(), sim.store.invocations(), sim.trace(), sim.scheduler.ready,
            sim.scheduler.timers(), sim.scheduler.stop_reason, engine.invocations.seq)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["Lone/five", "Lone/at_once", "Keyed/k/bump",
                                           "Keyed/j/bump", "Keyed/j/peek"]),
                          st.integers(0, 9), st.sampled_from([0, 0, 5]),
                          st.sampled_from([None, {}, {"h": "v"}])), max_size=6),
       st.integers(1, 4))
def test_a_new_submission_is_stored_and_queued_as_a_new_invocation_is(submissions, limit):
    """A submission with nothing to absorb it (no idempotency key, not a
    workflow's run) is stored by ``Lifecycle.submit`` itself, as
    ``Invocations.new`` stores it, and so does ``Simulation.invoke``'s common
    case, which calls it without ``_submit``."""
    general = submitted(True, submissions, limit)
    assert submitted(False, submissions, limit) == general
    assert submitted(False, submissions, limit, invoke=True) == general


def test_a_new_submission_takes_no_call_of_the_records_part(monkeypatch):
    from simdurable.runtime._invocations import Invocations

    def general(*args: object, **kwargs: object) -> None:
        raise AssertionError("the general way")

    sim = sd.Simulation([lone, keyed], seed=1)
    monkeypatch.setattr(Invocations, "new", general)
    h = sim.invoke("Lone/five", 1)
    sim.run()
    assert h.result() == 6


def test_a_new_submissions_record_has_every_field_a_record_is_made_with():
    """``Lifecycle.submit`` writes a new record's fields itself (no
    ``InvocationRecord(...)`` call): every slot is written, each with the value
    the dataclass gives it, ``done_bits`` (not compared) and ``headers`` too."""
    from simdurable.runtime._store import NO_HEADERS, PENDING, InvocationRecord

    sim = sd.Simulation([lone, keyed], seed=1)
    engine = sim.engine
    for target, delay, headers in (("Lone/five", 0, None), ("Keyed/k/bump", 5, {"h": "v"})):
        service, key, handler = parse_target(target)
        inv_id = engine.submit(service, handler, key, b"3", delay_ms=delay, headers=headers)
        made = engine.invocations.by_id[inv_id]
        now = sim.scheduler.now_ms
        expected = InvocationRecord(
            inv_id, service, handler, key, b"3", made.seq, PENDING, now + delay, now,
            headers=dict(headers) if headers else NO_HEADERS)
        slots = [name for klass in InvocationRecord.__mro__
                 for name in klass.__dict__.get("__slots__", ())]
        assert len(slots) == 23
        assert [getattr(made, name) for name in slots] == [
            getattr(expected, name) for name in slots]
        assert made.headers == (headers or {})
        assert made.headers is not headers  # (a copy of the caller's)
