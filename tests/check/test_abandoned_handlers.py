"""Handlers abandoned mid-run are closed in that run, refusing durable operations.

A run may end with attempts in flight (it got stuck, or Hypothesis cut it
short inside the handler). Left alone, their coroutines are finalized later by
the garbage collector, which runs their ``finally:`` blocks during some other
run: effects and reports that do not reproduce.
"""

from __future__ import annotations

import gc
from datetime import timedelta

import simdurable as sd

svc = sd.Service("Abandoned")
mail = sd.FakeExternal("mail")
# (run in which the finally block ran, what a durable operation there did)
LOG: list[tuple[int, str]] = []
RUN = [0]


@svc.handler()
async def run(ctx: sd.Context, n: int) -> int:
    try:
        a = ctx.run_typed("a", lambda: 1)
        await sd.wait_completed(a, ctx.sleep(timedelta(seconds=1)))
        await ctx.sleep(timedelta(seconds=1))
        return await ctx.run_typed("b", lambda: 2)
    finally:
        try:
            await ctx.run_typed("cleanup", lambda: None)
            LOG.append((RUN[0], "ran"))
        except Exception as err:  # noqa: BLE001 - a refusal a user may catch is reported
            LOG.append((RUN[0], f"raised {type(err).__name__}"))
        except BaseException as err:
            LOG.append((RUN[0], f"refused ({type(err).__name__})"))
            raise


def test_close_runs_finally_blocks_now_and_refuses_durable_operations():
    LOG.clear()
    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke("Abandoned/run", 1)
    sim.run(until=timedelta(milliseconds=500))  # waiting on the sleep
    assert not h.done and LOG == []
    sim.close()
    assert LOG == [(0, "refused (Abort)")]
    assert "waits on" in sim.engine.waiting_on(h.id)  # still readable


def test_no_handler_of_a_check_is_finalized_after_it():
    # Runs cut short leave attempts in flight: with the garbage collector off,
    # any coroutine not closed by check itself would be finalized here.
    LOG.clear()
    gc.collect()
    gc.disable()
    try:
        report = sd.check(services=[svc], invoke="Abandoned/run", input=1, externals=[mail],
                          seed=0, max_examples=60, hash_seeds=())
        during = len(LOG)
        RUN[0] = 1
        gc.collect()
    finally:
        gc.enable()
        RUN[0] = 0
    assert [e for e in LOG if e[0] == 1] == []
    assert during > 0 and report.ok, report
    # A finally block that ran while its attempt was abandoned could not
    # make durable progress: every such attempt refused the step.
    assert any(what == "refused (Abort)" for _, what in LOG)


def test_same_seed_same_report_with_abandoned_handlers():
    def once() -> str:
        report = sd.check(services=[svc], invoke="Abandoned/run", input=1, externals=[mail],
                          seed=3, max_examples=40, hash_seeds=())
        gc.collect()
        return str(report)

    assert once() == once()
