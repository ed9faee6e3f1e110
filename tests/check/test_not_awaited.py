"""A step or timer started and never awaited when the handler returns: ``not-awaited``."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as sd

try:
    import restate
except ImportError:  # restate-sdk is a dev extra: its test is skipped without it
    restate = None

svc = sd.Service("Later")
done = sd.FakeExternal("done")


def mark(what: str) -> str:
    done.apply("mark", {"what": what}, idempotency_key=what)
    return what


@svc.handler()
async def no_wait(ctx: sd.Context, days: int) -> str:
    ctx.sleep(timedelta(days=days))  # the bug: nothing waits
    await ctx.run_typed("mark", mark, what="late")
    return "ok"


@svc.handler()
async def ran_meanwhile(ctx: sd.Context) -> str:
    ctx.run_typed("audit", mark, what="audit")  # runs only because of the sleep below
    await ctx.sleep(timedelta(seconds=1))
    return "ok"


@svc.handler()
async def combined(ctx: sd.Context) -> list[str]:
    a = ctx.run_typed("a", mark, what="a")
    b = ctx.run_typed("b", mark, what="b")
    await sd.gather(a, b)
    which, _ = await sd.select(c=ctx.run_typed("c", mark, what="c"),
                               late=ctx.sleep(timedelta(hours=1)))
    finished, pending = await sd.wait_completed(ctx.run_typed("d", mark, what="d"),
                                                ctx.sleep(timedelta(minutes=5)))
    order = [f async for f in sd.as_completed(ctx.sleep(timedelta(seconds=2)),
                                              ctx.run_typed("e", mark, what="e"))]
    return [await a, await b, which, str(len(finished)), str(len(pending)), str(len(order))]


@svc.handler()
async def raises(ctx: sd.Context) -> str:
    ctx.run_typed("left", mark, what="left")
    raise sd.TerminalError("refused", 400)


wf = sd.Workflow("Approve")


@wf.main()
async def approve(ctx: sd.WorkflowContext, ok: bool) -> str:
    answer = ctx.promise("answer").value() if not ok else await ctx.promise("answer").value()
    if answer != "yes":  # the bug: a future is never "yes", so it always refuses
        raise sd.TerminalError("refused", 403)
    return "approved"


@wf.handler()
async def answer(ctx: sd.WorkflowSharedContext, text: str) -> None:
    await ctx.promise("answer").resolve(text)


def problems(target: str, arg: object = None, strict: bool = True) -> list[sd.HandlerError]:
    sim = sd.Simulation(services=[svc, wf], strict=strict, externals=[done])
    sim.invoke(target, arg)
    if target.startswith("Approve/"):
        sim.run()
        sim.invoke("Approve/w1/answer", "yes")
    sim.run()
    return sim.problems


def test_a_timer_never_awaited_is_reported_with_its_line_in_strict_mode() -> None:
    (err,) = problems("Later/no_wait", 3)
    assert isinstance(err, sd.NotAwaitedError) and err.kind == "not-awaited"
    assert err.journal_index == 0 and err.handler == "Later/no_wait"
    assert err.source == f"test_not_awaited.py:{no_wait.__code__.co_firstlineno + 2}"
    assert "the timer of 3 days was started but never awaited" in str(err)
    assert problems("Later/no_wait", 3, strict=False) == []


def test_a_step_that_ran_while_the_handler_waited_on_something_else_is_still_reported() -> None:
    (err,) = problems("Later/ran_meanwhile")
    assert err.step == "audit"
    assert "its closure ran only because the handler waited on something else" in str(err)


def test_futures_handed_to_combinators_are_awaited_even_when_they_lose() -> None:
    assert problems("Later/combined") == []


def test_a_handler_that_raises_is_not_judged_for_its_steps() -> None:
    assert problems("Later/raises") == []


def test_a_promise_value_never_awaited_is_reported_even_when_the_handler_raises() -> None:
    (err,) = problems("Approve/w1/approve", False)
    assert err.kind == "not-awaited" and err.journal_index == 0
    assert 'the value of promise "answer" was asked for but never awaited before the ' \
           "handler raised" in str(err)
    assert err.source == f"test_not_awaited.py:{approve.__code__.co_firstlineno + 2}"
    assert problems("Approve/w1/approve", True) == []


def test_check_reports_it_and_stays_quiet_on_the_awaited_twin() -> None:
    report = sd.check(services=[svc], invoke="Later/no_wait", input=2, externals=[done],
                      max_examples=5)
    assert report.kinds == ["not-awaited"]
    (v,) = report.violations
    assert v.source is not None and v.source.startswith("test_not_awaited.py:")
    again = sd.check(services=[svc], invoke="Later/no_wait", input=2, externals=[done],
                     max_examples=5)
    assert again.render() == report.render()
    assert sd.check(services=[svc], invoke="Later/combined", externals=[done],
                    max_examples=5).ok


def test_restate_sdk_handlers_and_restates_own_combinators() -> None:
    if restate is None:
        pytest.skip("restate-sdk is not installed")
    from tests.restate_sdk import shop

    sim = sd.Simulation(services=[shop.app], strict=True)
    sim.invoke("Shop/combinators")
    sim.run()
    assert sim.problems == []  # select/wait_completed losers, restate's combinators

    hosted = restate.Service("Hosted")

    @hosted.handler()
    async def forgets(ctx: restate.Context) -> str:
        ctx.run_typed("never", lambda: "x")
        return "ok"

    sim = sd.Simulation(services=[hosted], strict=True)
    sim.invoke("Hosted/forgets")
    sim.run()
    (err,) = sim.problems
    assert err.kind == "not-awaited" and err.step == "never"
