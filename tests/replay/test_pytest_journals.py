"""``pytest --simdurable --simdurable-journals=PATH``: one item per recorded invocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as restate

pytest_plugins = ["pytester"]

SHOP = '''
from datetime import timedelta

import simdurable as sd

shop = sd.Service("Shop")


def reserve(item):
    raise AssertionError("a replay ran a step")


@shop.handler()
async def order(ctx: sd.Context, item: str) -> str:
    r = await ctx.run_typed("{first}", reserve, item=item)
    await ctx.sleep(timedelta(hours=1))
    return r


services = [shop]
'''

PYPROJECT = '''
[tool.pytest.ini_options]
pythonpath = ["."]
addopts = "-p no:cacheprovider -p no:hypothesispytest"

[tool.simdurable]
services = ["shopmod:services"]
handlers = []
'''


def _record(path: str) -> None:
    shop = restate.Service("Shop")

    @shop.handler()
    async def order(ctx: restate.Context, item: str) -> str:
        r = await ctx.run_typed("reserve", lambda: f"r-{item}")
        await ctx.sleep(timedelta(hours=1))
        return r

    sim = restate.Simulation([shop])
    sim.invoke("Shop/order", "book")
    sim.run()
    sim.invoke("Shop/order", "lamp")
    sim.run(until=timedelta(hours=1, minutes=30))
    restate.export_journals(sim, path)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", pyproject=PYPROJECT)
    _record(str(pytester.path / "journals.json"))
    return pytester


def test_each_invocation_is_an_item_and_a_divergence_fails_it(
        project: pytest.Pytester) -> None:
    project.makepyfile(shopmod=SHOP.replace("{first}", "reserve-stock"))
    result = project.runpytest("--simdurable", "--simdurable-journals=journals.json", "-rf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*the current code does not replay this journal recorded in journals.json;*",
        "inv_* Shop/order (ended, 4 entries): diverges at journal index #0",
        '  recorded: run "reserve"',
        '  new code: run "reserve-stock"  (shopmod.py:*)',
        "*journals: 2 replayed, 0 replay, 2 diverge, 0 cannot be judged*",
    ])


def test_unchanged_code_passes_and_nothing_runs(project: pytest.Pytester) -> None:
    project.makepyfile(shopmod=SHOP.replace("{first}", "reserve"))
    result = project.runpytest("--simdurable", "--simdurable-journals=journals.json",
                               "--collect-only", "-q")
    result.stdout.fnmatch_lines(["simdurable::journal:journals.json::Shop/order::inv_*"] * 2)
    result = project.runpytest("--simdurable", "--simdurable-journals=journals.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*journals: 2 replayed, 2 replay, 0 diverge, 0 cannot be "
                                 "judged*"])


def test_a_source_that_cannot_be_read_is_one_failing_item(project: pytest.Pytester) -> None:
    project.makepyfile(shopmod=SHOP.replace("{first}", "reserve"))
    project.path.joinpath("bad.json").write_text('{"format": "simdurable-journals", '
                                                 '"version": 9}')
    result = project.runpytest("--simdurable", "--simdurable-journals=bad.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bad.json: a journal export of version 9; this simdurable "
                                 "reads versions 1 and 2*"])


def test_journals_named_in_pyproject_are_replayed_without_the_flag(
        project: pytest.Pytester) -> None:
    """``journals = [...]`` in ``[tool.simdurable]``: a CI step running plain
    ``pytest --simdurable`` refuses a deploy that would break them."""
    project.makefile(".toml", pyproject=PYPROJECT + 'journals = ["journals.json"]\n')
    project.makepyfile(shopmod=SHOP.replace("{first}", "reserve-stock"))
    result = project.runpytest("--simdurable", "-rf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*journals: 2 replayed, 0 replay, 2 diverge, 0 cannot be "
                                 "judged*"])
    project.makepyfile(shopmod=SHOP.replace("{first}", "reserve"))
    project.runpytest("--simdurable").assert_outcomes(passed=2)
    # the flag replaces the setting; naming a test file runs just that file
    project.path.joinpath("other.json").write_text('{"format": "simdurable-journals", '
                                                   '"version": 9}')
    result = project.runpytest("--simdurable", "--simdurable-journals=other.json")
    result.assert_outcomes(failed=1)
    project.makepyfile(test_plain="def test_ok() -> None:\n    pass\n")
    project.runpytest("--simdurable", "test_plain.py").assert_outcomes(passed=1)


def test_a_journal_source_in_pyproject_that_cannot_be_read_names_the_setting(
        project: pytest.Pytester) -> None:
    project.makefile(".toml", pyproject=PYPROJECT + 'journals = ["missing.json"]\n')
    project.makepyfile(shopmod=SHOP.replace("{first}", "reserve"))
    result = project.runpytest("--simdurable")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]tool.simdurable[]] journals: *missing.json*"])
    project.makefile(".toml", pyproject=PYPROJECT + "journals = [1]\n")
    result = project.runpytest("--simdurable")
    result.stderr.fnmatch_lines(["*[[]tool.simdurable[]] journals must be a list of strings, "
                                 "not [[]1[]]*"])
