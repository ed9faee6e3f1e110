"""Handler exceptions with their line, retry loops at once, never-ending runs
stopped quickly, and messages that say what to write."""

from __future__ import annotations

import asyncio
import functools
import operator
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

import simdurable as sd
from simdurable._check._properties import retry_loop_violations

buggy = sd.Service("Buggy")


@buggy.handler()
async def lookup(ctx: sd.Context, order: dict) -> int:
    return int(order["missing"])  # the line a retry loop names


@buggy.handler()
async def fine(ctx: sd.Context, order: dict) -> int:
    return int(order.get("missing", 0))


@buggy.handler()
async def forever(ctx: sd.Context) -> None:
    while True:
        await ctx.sleep(timedelta(seconds=1))


@buggy.handler()
async def spin(ctx: sd.Context) -> None:
    while True:  # never gives the runtime a turn
        pass


async def _waits_for_ever() -> int:
    while True:
        await asyncio.sleep(0.01)  # LINE waits


@buggy.handler()
async def async_step_spins(ctx: sd.Context) -> int:
    return await ctx.run_typed("poll", _waits_for_ever)


LINE = lookup.__code__.co_firstlineno + 2  # `return int(order["missing"])`


def test_a_plain_exception_is_traced_with_its_line():
    sim = sd.Simulation([buggy], retry_policy=sd.InvocationRetryPolicy(max_attempts=2))
    sim.invoke("Buggy/lookup", {})
    sim.run()
    assert any(f"handler raised KeyError('missing') at test_handler_errors.py:{LINE}" in line
               for line in sim.trace())


def test_an_exception_on_every_attempt_is_a_retry_loop_reported_at_once():
    report = sd.check(services=[buggy], invoke="Buggy/lookup", input={})
    assert report.kinds == ["retry-loop"]
    v = report.violations[0]
    assert v.message.startswith(f"Buggy/lookup raised KeyError('missing') at "
                                f"test_handler_errors.py:{LINE} on every attempt")
    assert v.source == f"test_handler_errors.py:{LINE}"
    assert 'return int(order["missing"])' in (v.details or "")
    assert "KeyError: 'missing'" in (v.details or "")
    assert report.single_faults == 0 and report.examples == 0 and report.runs == 2
    assert any("faults were not explored" in n for n in report.notes)
    assert sd.check(services=[buggy], invoke="Buggy/fine", input={}, max_examples=5).ok


limits = sd.FakeExternal("limits")
approvals = sd.Workflow("Approvals")


def _load_limit() -> int:
    return int(limits.query("limit", {}).get("limit", 100))


@approvals.main()
async def run(ctx: sd.WorkflowContext) -> str:
    await ctx.run_typed("limit", _load_limit)
    return await ctx.promise("approval").value()  # (nothing resolves it)


def _retry_loops_after_lost_responses(attempts: range) -> list[str]:
    sim = sd.Simulation([approvals], seed=1, externals=[limits])
    for n in attempts:
        sim.inject(sd.FaultPlan.parse(f"lose-response(step=limit, index=0, attempt={n}, "
                                      f"external=limits, operation=limit)").faults[0])
    sim.invoke("Approvals/a1/run")
    sim.run()
    return [v.message for v in retry_loop_violations(
        SimpleNamespace(sim=sim, fired=[], records=sim.engine.records()))]


def test_failures_a_later_attempt_got_past_are_no_retry_loop():
    """Three lost responses of a step, then its value: the fourth attempt got
    past them and waits on a promise (a ``stuck`` run), which is no failure
    on every attempt. Lost on every attempt of the run, it is."""
    assert _retry_loops_after_lost_responses(range(1, 4)) == []
    [loop] = _retry_loops_after_lost_responses(range(1, 200))
    assert loop.startswith('Approvals/a1/run step "limit" (#0) failed: ConnectionError(')
    assert "on every attempt" in loop


class _Box:
    pass


_BOX = _Box()  # its repr says "<..._Box object at 0x...>"
boxes = sd.Service("Boxes")


@boxes.handler()
async def find(ctx: sd.Context) -> None:
    # The closure is C code: no line of the user's raised the KeyError.
    await ctx.run_typed("find", functools.partial(operator.getitem, {}, _BOX))


@boxes.handler()
async def name(ctx: sd.Context) -> None:
    raise ValueError(f"no {_BOX!r}")  # the line a retry loop names, " at " in its message


def test_a_retry_loop_names_its_line_from_data_not_from_the_words_at_in_its_message():
    report = sd.check(services=[boxes], invoke="Boxes/find", hash_seeds=())
    (v,) = report.violations
    assert v.kind == "retry-loop" and "_Box object at 0x" in v.message
    # Not "0x...>)" cut from the message: the line that started the step.
    line = find.__code__.co_firstlineno + 3
    assert v.source == f"test_handler_errors.py:{line}"
    assert (f'  where: handler Boxes/find, step "find" (journal #0, '
            f'test_handler_errors.py:{line})\n') in report.render()
    report = sd.check(services=[boxes], invoke="Boxes/name", hash_seeds=())
    (v,) = report.violations
    assert v.source == f"test_handler_errors.py:{name.__code__.co_firstlineno + 2}"


_KEPT: list[_Box] = []  # kept alive: every run's box has an address of its own
fresh_boxes = sd.Service("FreshBoxes")


def _fresh_box() -> _Box:
    _KEPT.append(_Box())
    return _KEPT[-1]


@fresh_boxes.handler()
async def broken(ctx: sd.Context) -> None:
    await ctx.run_typed("look", lambda: 1)
    raise ValueError(f"cannot use {_fresh_box()!r}")


@fresh_boxes.handler()
async def refused(ctx: sd.Context) -> None:
    await ctx.run_typed("look", lambda: 1)
    raise sd.TerminalError(f"refused {_fresh_box()!r}")


def test_an_object_named_in_an_error_is_not_taken_for_nondeterminism():
    # Each run raises with a new object's address in its message: masked, the
    # twin runs read the same, so only the real finding is reported.
    report = sd.check(services=[fresh_boxes], invoke="FreshBoxes/broken", hash_seeds=())
    assert report.kinds == ["retry-loop"]
    assert "_Box object at 0x…>" in report.violations[0].message
    again = sd.check(services=[fresh_boxes], invoke="FreshBoxes/broken", hash_seeds=())
    assert again.render() == report.render()
    report = sd.check(services=[fresh_boxes], invoke="FreshBoxes/refused", max_examples=10,
                      hash_seeds=())
    assert report.ok, report.render()
    sim = sd.Simulation([fresh_boxes])
    h = sim.invoke("FreshBoxes/refused")
    sim.run()
    with pytest.raises(sd.TerminalError, match=r"refused <.*_Box object at 0x…>"):
        h.result()


def test_a_never_ending_handler_is_stuck_after_one_run():
    report = sd.check(services=[buggy], invoke="Buggy/forever", max_steps=3_000)
    assert report.kinds == ["stuck"]
    assert report.runs == 1 and report.single_faults == 0 and report.fault_points == 0
    assert report.reference.startswith("did not finish: no end in sight")
    assert "3000 tasks ran" in report.reference


def test_a_handler_spinning_in_plain_python_is_stopped_after_its_budget():
    sd.Simulation([buggy]).run()  # imports done, so that the budget is the handler's
    sim = sd.Simulation([buggy], wall_budget=0.3)
    sim.invoke("Buggy/spin")
    started = time.monotonic()
    with pytest.raises(sd.StuckError) as exc:
        sim.run()
    assert time.monotonic() - started < 10
    line = spin.__code__.co_firstlineno + 2
    assert f"stopped after 0.3 s of wall-clock time in plain Python at " \
           f"test_handler_errors.py:{line} (in spin)" in str(exc.value)
    report = sd.check(services=[buggy], invoke="Buggy/spin", wall_budget=0.3)
    assert report.kinds == ["stuck"] and "wall-clock" in report.violations[0].message
    time.sleep(0.5)  # nothing fires after the run ended
    with pytest.raises(ValueError, match="wall_budget"):
        sd.Simulation([buggy], wall_budget=0)


def test_an_async_step_that_never_ends_is_named_where_its_coroutine_waits():
    # Before: "in plain Python at selectors.py:468 (in select): a loop that never
    # awaits", a line of the standard library, for a coroutine that does await.
    sd.Simulation([buggy]).run()
    sim = sd.Simulation([buggy], wall_budget=0.3)
    sim.invoke("Buggy/async_step_spins")
    with pytest.raises(sd.StuckError) as exc:
        sim.run()
    line = next(i for i, text in enumerate(open(__file__), 1)
                if text.rstrip().endswith("# LINE waits"))
    assert (f"stopped after 0.3 s of wall-clock time at test_handler_errors.py:{line} "
            f"(in _waits_for_ever), where an async step's coroutine waits: a step that "
            f"never ends") in str(exc.value), str(exc.value)
    sim.close()


flags = {"v2": False}
changing = sd.Service("Changing")


def _one() -> int:
    return 1


def _deploy() -> int:
    flags["v2"] = True  # as if a new version were deployed while the invocation ran
    return 2


@changing.handler()
async def flow(ctx: sd.Context) -> None:
    await ctx.run_typed("a", _one)
    if flags["v2"]:
        await ctx.sleep(timedelta(seconds=1))
    else:
        await ctx.run_typed("b", _deploy)


def test_a_journal_mismatch_says_the_code_may_have_changed():
    flags["v2"] = False
    sim = sd.Simulation([changing], faults="crash(step=b, phase=after-store)")
    sim.invoke("Changing/flow")
    sim.run()
    (err,) = sim.problems
    assert isinstance(err, sd.JournalMismatchError)
    assert "the handler's code changed since the journal was written" in str(err)


def test_the_context_misuse_hint_awaits_what_must_be_awaited():
    obj = sd.VirtualObject("O")

    @obj.handler()
    async def reads(ctx: sd.ObjectContext) -> None:
        await ctx.run_typed("s", lambda: ctx.get("k"))

    @obj.handler()
    async def writes(ctx: sd.ObjectContext) -> None:
        await ctx.run_typed("s", lambda: ctx.set("k", 1))

    sim = sd.Simulation([obj])
    sim.invoke("O/a/reads")
    sim.invoke("O/b/writes")
    sim.run()
    texts = sorted(str(p) for p in sim.problems)
    assert 'x = await ctx.get(...); await ctx.run_typed("s", fn, x=x)  # correct!' in texts[0]
    assert 'x = await ctx.run_typed("s", fn); ctx.set(...)  # correct!' in texts[1]
