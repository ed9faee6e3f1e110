"""An express step calls its closure as the handler called the step: with its
one keyword by name (``_fast.keyword_run``), or itself, by position, where that
keyword names the function's first parameter (``_fast.FIRST``) or where it is
given no argument, or with its positional arguments alone
(``_fast.positional_value``), with no dict made for ``**kwargs``; every other
call through ``_fast.closure_value``. Each the same run, task for task, with
express steps on or off."""

from __future__ import annotations

import contextvars
import sys
import traceback
from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime import _fast

svc = sd.Service("Called")
callers: list[str] = []
var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="handler's")


def caller() -> str:
    """What called the closure: one of the runtime's closure callers."""
    code = sys._getframe(2).f_code
    if code is _fast.closure_value.__code__:
        return "closure_value"
    if code is _fast.positional_value.__code__:
        return "positional"
    runs = {run.__code__: keyword for keyword, run in _fast.keyword_runs.items()}
    return f"keyword {runs[code]}" if code in runs else code.co_name


def by_name(*, i: int) -> int:
    callers.append(caller())
    return i + 1


def named(**kw: Any) -> list:
    callers.append(caller())
    kw["seen"] = True  # (its own dict: the handler's is not touched)
    return sorted(kw)


def two(i: int, j: int = 0) -> int:
    callers.append(caller())
    return i + j


def plain() -> int:
    callers.append(caller())
    return 7


def sets_var(i: int) -> str:
    callers.append(caller())
    var.set("closure's")
    return var.get()


async def later(i: int) -> int:
    callers.append(caller())
    return i * 2


def raises(i: int) -> int:
    callers.append(caller())
    raise sd.TerminalError(f"no {i}", 409)


@svc.handler()
async def calls(ctx: sd.Context, x: int) -> list:
    x = await ctx.run_typed("by-name", by_name, i=x)
    a = await ctx.run_typed("action", named, action=x)
    b = await ctx.run_typed("value", named, value=x)
    c = await ctx.run_typed("name", named, name=x)
    d = await ctx.run_typed("steps", named, steps=x)
    x = await ctx.run_typed("two", two, i=x, j=2)
    x = await ctx.run_typed("positional", two, None, x)
    x = await ctx.run_typed("mixed", two, None, x, j=3)
    x = await ctx.run_typed("lambda", lambda: x + 1)
    x = await ctx.run_typed("plain", plain) + x
    e = await ctx.run_typed("var", sets_var, i=x)
    x = await ctx.run_typed("async", later, i=x)
    try:
        await ctx.run_typed("raises", raises, i=x)
    except sd.TerminalError as err:
        x += err.status_code
    return [x, a, b, c, d, e, var.get()]


EXPECTED = [439, ["action", "seen"], ["seen", "value"], ["name", "seen"], ["seen", "steps"],
            "closure's", "handler's"]


def run(express: bool) -> tuple:
    """The second of two runs, and the callers of its closures (a call site's
    first call works out its entry, ``_fast.site_of``, and calls through
    ``closure_value``)."""
    for _ in range(2):
        callers.clear()
        sim = sd.Simulation([svc], seed=3)
        sim.engine.steps.express = express
        h = sim.invoke("Called/calls", 1)
        sim.run()
    return h.result(), sim.trace(), sim.journal(h), sim.engine.tasks_run, list(callers)


def test_an_express_step_calls_its_closure_by_its_one_keyword_or_its_positions():
    result, *_, seen = run(True)
    assert result == EXPECTED
    # (``express`` itself: the one keyword names the first parameter, or no argument)
    assert seen == ["keyword i", "keyword action", "keyword value", "keyword name",
                    "keyword steps", "closure_value", "positional", "closure_value",
                    "express", "express", "drive", "express"]


def test_the_run_is_the_same_with_express_steps_or_without():
    express, general = run(True), run(False)
    assert express[:4] == general[:4]
    assert express[0] == EXPECTED
    assert set(general[4]) == {"closure_value", "drive"}  # ("drive": the async one's)


@pytest.mark.parametrize("keyword", ["i", "action", "value", "name", "steps", "result"])
def test_a_keyword_run_calls_by_that_name_and_shows_closure_values_line(keyword: str):
    run = _fast.keyword_run(keyword)
    assert run is not None and _fast.keyword_run(keyword) is run
    assert run(lambda **kw: kw, 5, None, "step") == {keyword: 5}

    def fails(**kw: Any) -> None:
        raise ValueError(kw)

    with pytest.raises(ValueError) as info:
        run(fails, 1, None, "step")
    shown = traceback.extract_tb(info.value.__traceback__)[-2]
    assert (shown.filename, shown.lineno) == (_fast.__file__, _fast._CLOSURE_LINE)
    assert shown.line == "result = action(*args, **kwargs)"


def test_no_keyword_run_for_a_name_a_call_cannot_spell():
    assert _fast.keyword_run("class") is None
    assert _fast.keyword_run("a-b") is None


twins = sd.Service("Twins")


@twins.handler()
async def kept(ctx: sd.Context, x: int) -> int:
    future = ctx.run_typed("kept", by_name, i=x)
    return await future


@twins.handler()
async def at_once(ctx: sd.Context, x: int) -> int:
    return await ctx.run_typed("at-once", by_name, i=x)


def call_offset(handler: Any) -> int:
    import dis

    return [i.offset for i in dis.get_instructions(handler) if i.opname in ("CALL", "CALL_KW")][0]


def test_a_call_at_once_where_another_code_kept_its_step_at_the_same_offset():
    """``_fast._sites`` is keyed by the caller's offset: a call awaited at once
    reads the entry a kept call of another code made there (no closure caller
    in it), and works out its own."""
    assert call_offset(kept.__wrapped__ if hasattr(kept, "__wrapped__") else kept) == \
        call_offset(at_once.__wrapped__ if hasattr(at_once, "__wrapped__") else at_once)
    runs = []
    for express in (True, False):
        sim = sd.Simulation([twins], seed=1)
        sim.engine.steps.express = express
        handles = [sim.invoke(f"Twins/{name}", n) for n, name in
                   enumerate(["kept", "at_once", "kept", "at_once"])]
        sim.run()
        runs.append(([h.result() for h in handles], sim.trace()))
    assert runs[0] == runs[1]
    assert runs[0][0] == [1, 2, 3, 4]


def swapped(j: int = 100, i: int = 0) -> int:
    """``i`` a keyword only by name: by position the value would be ``j``."""
    callers.append(caller())
    return i * 3 + j


def posonly(i: int, /) -> int:
    return i


def keyword_only(*, i: int) -> int:
    return i


def first_of_many(i: int, *args: int, j: int = 0, **kw: int) -> int:
    return i


alternating = sd.Service("Alternating")


@alternating.handler()
async def alternate(ctx: sd.Context, x: int) -> int:
    # one call site, each function in turn: its entry worked out again for each
    for fn in (two, swapped, two, by_name, two, swapped, swapped):
        x = await ctx.run_typed("alternate", fn, i=x)
    return x


def test_a_keyword_that_names_the_first_parameter_only_for_that_function():
    """A site's entry says whether its one keyword names its function's first
    parameter (``_fast.first_parameter``): a call at that site with another
    function reads that entry and works out its own, and calls ``swapped``
    by its keyword's name, not by position (by position, ``i`` would be ``j``)."""
    runs = []
    for express in (True, False):
        for _ in range(2):  # (the second run: the site seen, its last entry swapped's)
            callers.clear()
            sim = sd.Simulation([alternating], seed=2)
            sim.engine.steps.express = express
            h = sim.invoke("Alternating/alternate", 1)
            sim.run()
        runs.append((h.result(), sim.trace(), sim.journal(h), sim.engine.tasks_run,
                     list(callers)))
    assert runs[0][:4] == runs[1][:4]
    assert runs[0][0] == ((((1 * 3 + 100) + 1) * 3 + 100) * 3 + 100)
    assert runs[0][4] == ["express", "keyword i", "express", "keyword i", "express",
                          "keyword i", "keyword i"]


def test_which_functions_take_their_keyword_by_position():
    assert _fast.first_parameter(two.__code__, "i")
    assert _fast.first_parameter(first_of_many.__code__, "i")
    assert not _fast.first_parameter(two.__code__, "j")
    assert not _fast.first_parameter(swapped.__code__, "i")
    assert not _fast.first_parameter(posonly.__code__, "i")
    assert not _fast.first_parameter(keyword_only.__code__, "i")
    assert not _fast.first_parameter(plain.__code__, "i")
    assert not _fast.first_parameter(named.__code__, "i")


def strict_run(strict: bool) -> tuple:
    """``run``'s second run, in strict mode or not (a strict step awaited at
    once keeps its site's one keyword too: ``_api.context._STRICT_SITES``)."""
    for _ in range(2):
        callers.clear()
        sim = sd.Simulation([svc], seed=3, strict=strict)
        h = sim.invoke("Called/calls", 1)
        sim.run()
    return h.result(), sim.journal(h), list(callers)


def test_a_strict_step_calls_its_closure_by_its_one_keyword_with_the_same_run():
    strict, plain = strict_run(True), strict_run(False)
    assert strict[0] == plain[0] == EXPECTED
    assert strict[1] == plain[1]
    assert strict[2][:5] == ["keyword i", "keyword action", "keyword value", "keyword name",
                             "keyword steps"]
    assert strict[2][5:8] == ["closure_value"] * 3  # (two keywords; positions)
