"""pytest plugin for simdurable, registered under the ``pytest11`` entry point.

Loaded in every pytest run, so it imports nothing of simdurable until asked:
without ``--simdurable`` it only adds its options, the ``simdurable`` marker
and the ``sim`` fixture. With ``--simdurable``:

* every handler of the services named in ``[tool.simdurable]`` becomes an
  item ``simdurable::Service/handler`` that runs ``simdurable.check``;
* every ``*.yaml``/``*.yml`` file under the scenario folders (default
  ``scenarios/``) becomes an item that runs the scenario;
* tests marked ``@pytest.mark.simdurable`` are re-run under crash plans
  derived from the fault points of their own simulations, and the failing
  plan is shrunk and printed with the command that replays it;
* with ``--simdurable-journals=PATH``, every invocation recorded in PATH
  becomes an item that replays its journal against the current code.

The work is done in ``simdurable._pytest``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simdurable", "simdurable: durable handlers under crashes")
    group.addoption(
        "--simdurable", action="store_true", default=False,
        help="check the configured handlers, run YAML scenarios and explore tests marked "
             "@pytest.mark.simdurable under injected faults",
    )
    group.addoption(
        "--simdurable-seed", type=int, default=None, metavar="N",
        help="seed of the exploration (default: [tool.simdurable] seed, else 0); overrides "
             "each scenario's seed; with --simdurable-replay, the seed of the run to replay",
    )
    group.addoption(
        "--simdurable-examples", type=int, default=None, metavar="N",
        help="examples to explore per handler, marked test or scenario `explore` "
             "(default: [tool.simdurable] max_examples, else 100)",
    )
    group.addoption(
        "--simdurable-replay", default=None, metavar="PLAN",
        help="re-run one recorded case: the fault plan printed by a failure, like "
             "'crash(step=charge, phase=effect-done, attempt=1)'",
    )
    group.addoption(
        "--simdurable-trace-dir", default=None, metavar="DIR",
        help="write the report and timeline of every simdurable failure to DIR",
    )
    group.addoption(
        "--simdurable-journals", action="append", default=None, metavar="PATH",
        help="replay the journals recorded in PATH (a dev-executor database or a journal "
             "export) against the configured services: one item per invocation, failing "
             "where the current code diverges; may be given more than once",
    )
    group.addoption(
        "--simdurable-jobs", default=None, metavar="N|auto",
        help="share each handler check and scenario exploration among N worker processes, "
             "or one per usable core with auto (default: [tool.simdurable] jobs, else 1); "
             "the reports are the same whatever N",
    )
    group.addoption(
        "--simdurable-database", default=None, metavar="DIR|redis://...",
        help="replay first the failures saved there (by simdurable soak) for each handler "
             "(default: [tool.simdurable] database, else .simdurable/examples if it exists)",
    )
    group.addoption(
        "--simdurable-no-strict", action="store_true", default=False,
        help="do not report clocks, RNGs or uuid4 used outside steps",
    )
    parser.addini("simdurable_services", type="linelist", default=[],
                  help="module:attribute names of the services to check")
    parser.addini("simdurable_externals", type="linelist", default=[],
                  help="module:attribute names of the FakeExternal objects they use")
    parser.addini("simdurable_inputs", type="linelist", default=[],
                  help="example inputs, one per line: Target = JSON")
    parser.addini("simdurable_scenarios", type="linelist", default=[],
                  help="folders holding YAML scenarios (default: scenarios)")
    parser.addini("simdurable_max_examples", type="string", default="",
                  help="examples to explore per handler or marked test")
    parser.addini("simdurable_seed", type="string", default="",
                  help="seed of the exploration")
    parser.addini("simdurable_jobs", type="string", default="",
                  help="worker processes each check is shared among")
    parser.addini("simdurable_journals", type="linelist", default=[],
                  help="journal sources replayed against the services, one per line "
                       "(a dev-executor database, a journal export, a Restate admin URL)")
    parser.addini("simdurable_strict", type="string", default="",
                  help="report clocks/RNGs used outside steps (true or false)")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("simdurable", default=False))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "simdurable: with --simdurable, re-run this test under explored fault plans "
        "(the test takes the `sim` fixture)",
    )
    if _enabled(config):
        from simdurable._pytest._plugin import configure

        configure(config)
        config.pluginmanager.register(_Summary(), "simdurable-summary")


def pytest_collect_file(file_path: Any, parent: pytest.Collector) -> pytest.Collector | None:
    if not _enabled(parent.config) or file_path.suffix not in (".yaml", ".yml"):
        return None
    from simdurable._pytest._plugin import collect_file

    return collect_file(file_path, parent)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if _enabled(config):
        from simdurable._pytest._plugin import modify_items

        modify_items(session, config, items)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _enabled(pyfuncitem.config) or pyfuncitem.get_closest_marker("simdurable") is None:
        return None
    __tracebackhide__ = True
    from simdurable._pytest._plugin import run_marked

    return run_marked(pyfuncitem)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # With --simdurable-replay, every check() in a plain test replays that one case.
    config = item.config
    if (not _enabled(config) or config.getoption("simdurable_replay", None) is None
            or not isinstance(item, pytest.Function)
            or item.get_closest_marker("simdurable") is not None):
        return (yield)
    from simdurable._pytest._plugin import replaying_check

    with replaying_check(config):
        return (yield)


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Any:
    """A ``Simulation`` factory: ``s = sim([greeter], seed=7, externals=[bank])``.

    Without services it uses the ones in ``[tool.simdurable]``. In tests
    marked ``@pytest.mark.simdurable`` run with ``--simdurable``, the
    simulations it makes carry the fault plan being explored.
    """
    from simdurable._pytest._plugin import make_factory

    return make_factory(request.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call" and _enabled(item.config):
        from simdurable._pytest._plugin import SECTION_KEY

        section = item.stash.get(SECTION_KEY, None)
        if section:
            report.sections.append(("simdurable", section))
    return report


class _Summary:
    """Per-run collector of item statistics (on the xdist controller, from the reports)."""

    def __init__(self) -> None:
        self.stats: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "simdurable" and isinstance(value, dict):
                self.stats.append(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.stats:
            return
        from simdurable._pytest._plugin import summary_lines

        terminalreporter.section("simdurable")
        for line in summary_lines(self.stats):
            terminalreporter.write_line(line)
