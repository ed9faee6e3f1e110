"""What the pytest hooks do, kept apart from the hook module so that it loads lazily."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from ..runtime._faults import FaultPlan
from ._items import (
    PROPERTY,
    SETTINGS_KEY,
    ScenarioFile,
    handler_items,
    quote,
    write_trace,
)
from ._marked import SimFactory, explore, replay
from ._settings import Settings, load_settings

SELECTED_KEY = pytest.StashKey[set[str]]()
SECTION_KEY = pytest.StashKey[str]()
TARGET_PREFIX = "simdurable::"


def _ini(config: pytest.Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("services", "externals", "inputs", "scenarios", "max_examples", "seed",
                 "strict", "jobs", "journals"):
        value = config.getini(f"simdurable_{name}")
        out[name] = value if value not in ("", []) else None
    return out


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings, read once; ``pytest.UsageError`` if they are malformed."""
    if SETTINGS_KEY in config.stash:
        return config.stash[SETTINGS_KEY]
    opts = config.option
    options = {
        "seed": opts.simdurable_seed,
        "examples": opts.simdurable_examples,
        "no_strict": opts.simdurable_no_strict,
        "replay": opts.simdurable_replay,
        "trace_dir": opts.simdurable_trace_dir,
        "jobs": opts.simdurable_jobs,
        "database": opts.simdurable_database,
    }
    try:
        settings = load_settings(str(config.rootpath), _ini(config), options)
    except ValueError as err:
        raise pytest.UsageError(f"simdurable: {err}") from None
    config.stash[SETTINGS_KEY] = settings
    return settings


def configure(config: pytest.Config) -> None:
    """Check the settings once, and take ``simdurable::Target`` arguments out of the paths."""
    settings_of(config)
    # Let "module:attr" names resolve from the project's root, as the CLI does from cwd.
    root = str(config.rootpath)
    if root not in sys.path:
        sys.path.append(root)
    selected = {a[len(TARGET_PREFIX):] for a in config.args if a.startswith(TARGET_PREFIX)}
    if selected:
        config.args[:] = [a for a in config.args if not a.startswith(TARGET_PREFIX)]
    config.stash[SELECTED_KEY] = selected


def collect_file(file_path: Any, parent: pytest.Collector) -> ScenarioFile | None:
    config = parent.config
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    settings = settings_of(config)
    path = os.path.normpath(str(file_path))
    explicit = any(os.path.normpath(os.path.abspath(a.split("::")[0])) == path
                   for a in config.args)
    inside = any(path.startswith(d + os.sep) for d in settings.scenario_dirs())
    if not (explicit or inside):
        return None
    node: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
    return node


def _named_paths(config: pytest.Config) -> bool:
    return config.args_source == pytest.Config.ArgsSource.ARGS and bool(config.args)


def modify_items(session: pytest.Session, config: pytest.Config,
                 items: list[pytest.Item]) -> None:
    """Add handler items, and scenario files the path walk did not reach.

    Naming paths on the command line runs just those; naming ``simdurable::Target``
    runs just those handlers (with any paths named beside them).
    """
    settings = settings_of(config)
    journals = config.getoption("simdurable_journals", None)
    selected = config.stash.get(SELECTED_KEY, set())
    named = _named_paths(config)
    if journals:  # asked for by name: added whatever else is selected
        items.extend(_journal_items(session, settings, journals, "--simdurable-journals"))
    elif settings.journals and not named and not selected:  # a whole run, as in CI
        items.extend(_journal_items(session, settings, settings.journals,
                                    "[tool.simdurable] journals"))
    if named and not selected:
        return
    extra = handler_items(session, settings, selected or None)
    if not selected and not named:
        extra += _unreached_scenarios(session, settings, items)
    if not items and not extra and not settings.services and not settings.journals:
        from ._items import ConfigErrorItem

        extra.append(ConfigErrorItem.from_parent(
            session, name="configuration", nodeid="simdurable::configuration",
            message=f"simdurable has nothing to check: no services are configured (in "
                    f"{settings.source}), and no scenario or test was found. Name them in "
                    f"pyproject.toml:\n  [tool.simdurable]\n  services = "
                    f"[\"myapp.handlers:services\"]"))
    items.extend(extra)
    if extra:
        # Items added here came from no collector: reported as collected, so
        # that "collected N items" counts them (and "-k" does not say "-14 selected").
        config.hook.pytest_collectreport(report=pytest.CollectReport(
            "simdurable", "passed", None, list(extra)))


def _journal_items(session: pytest.Session, settings: Settings,
                   sources: list[str], origin: str) -> list[pytest.Item]:
    from ._journals import journal_items

    services: list[Any] | str
    if not settings.services:
        services = (f"no services are configured (in {settings.source}) to replay the "
                    "journals against: name them in pyproject.toml, [tool.simdurable] "
                    "services = [\"myapp.handlers:services\"]")
    else:
        from .._live._executor import load_services

        try:
            services = load_services(settings.services)
        except Exception as err:  # noqa: BLE001 - LoadError, or the module's own failure
            services = f"[tool.simdurable] services: {err}"
    return journal_items(session, services, sources, origin)


def _unreached_scenarios(session: pytest.Session, settings: Settings,
                         items: list[pytest.Item]) -> list[pytest.Item]:
    have = {str(i.path) for i in items if i.path is not None}
    out: list[pytest.Item] = []
    for name, folder in zip(settings.scenarios, settings.scenario_dirs(), strict=True):
        if os.path.isfile(folder) and folder.endswith((".yaml", ".yml")):
            if folder not in have:
                out += list(ScenarioFile.from_parent(session, path=Path(folder)).collect())
            continue
        if settings.scenarios_from is not None and not os.path.isdir(folder):
            from ._items import ConfigErrorItem

            # A folder named and missing would run no scenario, silently.
            out.append(ConfigErrorItem.from_parent(
                session, name=f"scenarios:{name}", nodeid=f"simdurable::scenarios:{name}",
                message=f"{settings.scenarios_from}: {name!r} is not a folder of scenarios "
                        f"(nothing at {folder}): name an existing folder (or YAML file), "
                        f"relative to {settings.rootdir}"))
            continue
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                if name.endswith((".yaml", ".yml")) and full not in have:
                    node = ScenarioFile.from_parent(session, path=Path(full))
                    out += list(node.collect())
    return out


def replaying_check(config: pytest.Config) -> contextlib.AbstractContextManager[None]:
    """``--simdurable-replay``/``--simdurable-seed`` as the case every ``check`` replays."""
    from .._check._replay import replaying

    settings = settings_of(config)
    return replaying(settings.replay, settings.seed)


def make_factory(config: pytest.Config) -> SimFactory:
    """The ``sim`` fixture's value; its defaults come from the settings."""
    settings = settings_of(config)
    return SimFactory(settings.services, settings.externals, seed=settings.seed)


def run_marked(item: pytest.Function) -> bool:
    """Explore a ``@pytest.mark.simdurable`` test (or replay one plan); see ``_marked``."""
    __tracebackhide__ = True
    settings = settings_of(item.config)
    funcargs = item.funcargs
    args = {name: funcargs[name] for name in item._fixtureinfo.argnames}
    factory = funcargs.get("sim")
    if not isinstance(factory, SimFactory):
        pytest.fail(
            f"{item.nodeid} is marked @pytest.mark.simdurable but does not take the `sim` "
            "fixture; simdurable explores the simulations made with sim(...)",
            pytrace=False,
        )

    def body() -> object:
        __tracebackhide__ = True
        return item.obj(**args)

    if settings.replay is not None:
        replay(factory, body, FaultPlan.parse(settings.replay), settings.seed)
        item.user_properties.append((PROPERTY, {"kind": "marked", "examples": 1,
                                                "fault_points": 0, "violations": 0}))
        return True
    result = explore(factory, body, seed=settings.seed, max_examples=settings.max_examples)
    stats = {"kind": "marked", "target": item.nodeid, "examples": result.examples,
             "fault_points": result.fault_points, "violations": int(bool(result.finding))}
    item.user_properties.append((PROPERTY, stats))
    found = result.finding
    if found is None:
        return True
    lines = [
        f"simdurable: this test fails under the fault plan: {found.plan}",
        f"  (seed {found.seed}; found after {result.examples} example(s) over "
        f"{result.fault_points} fault point(s), shrunk to {len(found.plan)} fault(s))",
        "reproduce this exact case:",
        f"  pytest --simdurable --simdurable-seed={found.seed} "
        f"--simdurable-replay={quote(str(found.plan))} {quote(item.nodeid)}",
    ]
    note = "\n".join(lines)
    section = f"timeline of the failing simulation (seed {found.seed}, {found.plan}):\n" + \
        "\n".join("  " + t for t in found.timeline)
    item.stash[SECTION_KEY] = section
    written = write_trace(settings, item.nodeid, note + "\n" + section)
    if written:
        note += f"\n{written}"
    found.error.add_note(note)
    raise found.error


def summary_lines(stats: list[dict[str, Any]]) -> list[str]:
    """The terminal summary: per handler, examples, fault points and violations."""
    lines: list[str] = []
    handlers = [s for s in stats if s.get("kind") == "handler"]
    for s in sorted(handlers, key=lambda s: str(s.get("target"))):
        lines.append(f"{s['target']}: {s['examples']} examples, fault points covered "
                     f"{s.get('exercised', 0)}/{s['fault_points']}, "
                     f"{s['violations']} violation(s)")
        if s.get("world"):
            lines.append(f"  world inferred: {s['world']}")
        if s.get("input"):
            lines.append(f"  {s['input']}")
        lines += [f"  {why}" for why in s.get("concurrency", [])]
    marked = [s for s in stats if s.get("kind") == "marked"]
    if marked:
        examples = sum(int(s["examples"]) for s in marked)
        bad = sum(int(s["violations"]) for s in marked)
        lines.append(f"marked tests: {len(marked)} explored, {examples} examples, "
                     f"{bad} failing")
    journals = [s for s in stats if s.get("kind") == "journal"]
    if journals:
        verdicts = [str(s.get("verdict")) for s in journals]
        lines.append(f"journals: {len(journals)} replayed, {verdicts.count('replays')} "
                     f"replay, {verdicts.count('diverges')} diverge, "
                     f"{verdicts.count('cannot-judge')} cannot be judged")
    scenarios = [s for s in stats if s.get("kind") == "scenario"]
    if scenarios:
        ok = sum(1 for s in scenarios if s.get("ok"))
        lines.append(f"scenarios: {ok} passed, {len(scenarios) - ok} failed")
    return lines
