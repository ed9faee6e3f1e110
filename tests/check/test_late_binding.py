"""A step's closure that reads a variable the handler rebound after starting it.

A step's closure runs when the handler next waits; a Python closure reads its
free variables when it runs. Steps started in a loop over a lambda of the
loop's variable, awaited together, all act on the last value (Python's late
binding), with no fault needed. Strict mode notes a closure's free variables
when the step is started and compares them before it runs.
"""

from __future__ import annotations

import functools
import random

import simdurable as restate
import simdurable as sd

svc = restate.Service("Late")
mail = sd.FakeExternal("mail")


def welcome(user: str) -> str:
    return str(mail.apply("welcome", {"user": user}, idempotency_key=f"w-{user}")["id"])


@svc.handler()
async def together(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = [ctx.run_typed(f"mail-{user}", lambda: welcome(user)) for user in users]  # noqa: B023
    await restate.gather(*mails)
    return [await m for m in mails]


@svc.handler()
async def one_by_one(ctx: restate.Context, users: list[str]) -> list[str]:
    # Each step awaited at once: it runs before the loop rebinds ``user``.
    return [await ctx.run_typed(f"mail-{user}", lambda: welcome(user))  # noqa: B023
            for user in users]


@svc.handler()
async def bound_early(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = [ctx.run_typed(f"mail-{user}", lambda user=user: welcome(user)) for user in users]
    mails += [ctx.run_typed(f"again-{user}", functools.partial(welcome, user)) for user in users]
    await restate.gather(*mails)
    return [await m for m in mails]


@svc.handler()
async def through_helper(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = []
    for user in users:
        def send() -> str:
            return welcome(user)  # noqa: B023
        mails.append(ctx.run_typed(f"mail-{user}", lambda: send()))  # noqa: B023
    await restate.gather(*mails)
    return [await m for m in mails]


@svc.handler()
async def appends(ctx: restate.Context, users: list[str]) -> int:
    # The closure's list grows between start and run: the same list, on purpose.
    seen: list[str] = []
    count = ctx.run_typed("count", lambda: len(seen))
    seen.extend(users)
    return await count


def count(batch: list[str]) -> int:
    return len(batch)


@svc.handler()
async def cleared(ctx: restate.Context, users: list[str]) -> int:
    batch = list(users)
    counted = ctx.run_typed("count", count, batch=batch)
    batch.clear()  # the step has not run yet: it counts an empty list
    return await counted


FLAKY: list[int] = []


def pop_once_flaky(queue: list[str]) -> str:
    item = queue.pop()  # the step's own change: its retry sees one item less
    if not FLAKY:
        FLAKY.append(1)
        raise ConnectionError("flaky")
    return item


@svc.handler()
async def retried(ctx: restate.Context, users: list[str]) -> str:
    return await ctx.run_typed("pop", pop_once_flaky, restate.RunOptions(max_attempts=3),
                               queue=list(users))


def problems(handler: str, strict: bool = True) -> list[tuple[str, str | None, str | None, str]]:
    mail.reset()
    FLAKY.clear()
    sim = sd.Simulation(services=[svc], strict=strict, externals=[mail])
    sim.invoke(f"Late/{handler}", ["ann", "bob", "cy"])
    sim.run()
    return [(p.kind, p.step, p.source, p.detail) for p in sim.problems]


def test_steps_started_in_a_loop_and_awaited_together_are_reported_at_the_step():
    found = problems("together")
    line = together.__code__.co_firstlineno + 2
    assert found, "not reported"
    kind, step, source, detail = found[0]
    assert (kind, source) == ("late-binding", f"test_late_binding.py:{line}")
    assert step in ("mail-ann", "mail-bob")
    then = step.removeprefix("mail-")
    assert detail.startswith(f"step \"{step}\" ran with user='cy', but user was '{then}' when")
    assert "lambda user=user: ..." in detail
    assert {s for _, s, _, _ in found} == {"mail-ann", "mail-bob"}  # never the last one


def test_a_step_awaited_at_once_or_a_value_bound_when_started_is_quiet():
    assert problems("one_by_one") == []
    assert problems("bound_early") == []
    assert problems("appends") == []


def test_a_helper_the_closure_calls_is_followed():
    found = problems("through_helper")
    assert [k for k, *_ in found] == ["late-binding", "late-binding"]
    assert all(" ran with user='cy', but user was " in detail for *_, detail in found)


def test_a_list_changed_in_place_under_a_step_that_has_not_run_is_reported():
    [(kind, step, source, detail)] = problems("cleared")
    assert (kind, step) == ("late-binding", "count")
    assert source == f"test_late_binding.py:{cleared.__code__.co_firstlineno + 3}"
    assert detail.startswith("step \"count\" ran with batch=[], but batch was ['ann', 'bob', "
                             "'cy'] when the handler started it: the handler changed batch in "
                             "place")


def test_a_step_that_changes_its_own_argument_before_a_retry_is_quiet():
    # The retry is a new attempt: the handler starts the step again, with a new list.
    assert problems("retried") == []


def test_only_strict_mode_checks():
    assert problems("together", strict=False) == []


def test_the_check_leaves_traces_and_results_unchanged():
    # The wrapper only reads: the same seed gives the same trace with and without it.
    for seed in random.Random(17).sample(range(10_000), 5):
        runs = []
        for strict in (True, False):
            mail.reset()
            sim = sd.Simulation(services=[svc], strict=strict, externals=[mail], seed=seed)
            h = sim.invoke("Late/together", ["ann", "bob", "cy"])
            sim.run()
            runs.append((h.result(), sim.trace()))
        assert runs[0] == runs[1]


def test_check_finds_it_without_an_invariant():
    report = sd.check(services=[svc], invoke="Late/together", input=["ann", "bob", "cy"],
                      externals=[mail], max_examples=0)
    assert report.kinds == ["late-binding"], report.render()
    assert report.violations[0].found_by == "the fault-free reference run"
