"""A catch-all ``except`` around a durable await is reported where it is written.

On Restate, restate-sdk raises ``SuspendedException`` (a ``BaseException``)
at the await when the invocation suspends; an ``except:`` or ``except
BaseException`` that does not raise it again lets the handler go on as if the
await had returned (restate-sdk's own message for it: "you might be using a
try/catch all statement"). Strict mode reads the source of each coroutine of
the user's that waits while the handler runs, and reports a clause whose
``try`` holds the await it waits at.
"""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable import TerminalError

svc = restate.Service("Catch")


def work() -> str:
    return "done"


async def wait_quietly(ctx: restate.Context) -> None:
    try:
        await ctx.sleep(timedelta(minutes=1))
    except BaseException:  # the helper's line is the one reported
        pass


@svc.handler()
async def bare(ctx: restate.Context, _: int) -> str:
    try:
        await ctx.sleep(timedelta(minutes=1))
    except:  # noqa: E722
        return "failed"
    return await ctx.run_typed("work", work)


@svc.handler()
async def through_helper(ctx: restate.Context, _: int) -> str:
    await wait_quietly(ctx)
    return await ctx.run_typed("work", work)


@svc.handler()
async def careful(ctx: restate.Context, _: int) -> str:
    try:
        await ctx.sleep(timedelta(minutes=1))
    except BaseException:
        raise
    try:
        await ctx.run_typed("work", work)
    except (TerminalError, BaseException) as err:
        raise err
    try:
        await ctx.run_typed("work", work)
    except Exception:  # SuspendedException is no Exception
        pass
    try:
        int("1")
    except:  # noqa: E722 - no await inside: nothing suspends here
        pass

    async def closure() -> str:
        try:
            return work()
        except BaseException:  # a step's own code: not the handler's
            return "x"

    return await ctx.run_typed("inside", closure)


@svc.handler()
async def raises_first(ctx: restate.Context, _: int) -> str:
    # As Restate's own error-handling snippet: the clause is never reached.
    raise TerminalError("Invalid input - will not retry")
    try:
        result = await ctx.run_typed("work", work)
    except:  # noqa: E722
        result = "none"
    return result


def problems(handler: str) -> list[tuple[str, str | None, str]]:
    sim = sd.Simulation(services=[svc], strict=True)
    sim.invoke(f"Catch/{handler}", 0)
    sim.run()
    return [(p.kind, p.source, p.detail) for p in sim.problems]


def test_a_bare_except_around_an_await_is_reported_at_its_line():
    [(kind, source, detail)] = problems("bare")
    line = bare.__code__.co_firstlineno + 4
    assert (kind, source) == ("context-misuse", f"test_catch_all.py:{line}")
    assert detail.startswith(f"`except:` around the await at line {line - 1} catches what ends")
    assert "SuspendedException" in detail and "bare() goes on" in detail


def test_a_helper_coroutine_is_judged_by_its_own_lines():
    [(kind, source, detail)] = problems("through_helper")
    line = wait_quietly.__code__.co_firstlineno + 3
    assert (kind, source) == ("context-misuse", f"test_catch_all.py:{line}")
    assert "`except BaseException`" in detail and "wait_quietly() goes on" in detail


def test_a_clause_that_raises_again_catches_exceptions_only_or_is_not_reached_is_quiet():
    assert problems("careful") == []
    assert problems("raises_first") == []


def test_check_reports_it_from_the_reference_run():
    report = sd.check(services=[svc], invoke="Catch/bare", input=0, max_examples=0)
    assert report.kinds == ["context-misuse"], report.render()
    assert report.violations[0].found_by == "the fault-free reference run"
