"""``[tool.simdurable]`` and the ``--simdurable-*`` options, read and checked once.

Settings come from ``[tool.simdurable]`` in the rootdir's ``pyproject.toml``;
pytest ini options (``simdurable_services = ...``) fill whatever it leaves
unset; command-line options override both. Anything malformed is a
``ValueError`` naming the setting, the value and what is allowed, which the
plugin turns into a usage error before any test runs.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Final

DEFAULT_SCENARIOS: Final = ("scenarios",)
DEFAULT_MAX_EXAMPLES: Final = 100
KNOWN_KEYS: Final = frozenset({
    "services", "externals", "inputs", "handlers", "exclude", "scenarios", "max_examples",
    "seed", "strict", "keys", "world", "concurrent", "jobs", "database", "journals",
})
DEFAULT_CONCURRENT: Final = 2


@dataclass
class Settings:
    """Everything the plugin needs to know, validated."""

    rootdir: str
    services: list[str] = field(default_factory=list)
    externals: list[str] = field(default_factory=list)
    inputs: dict[str, list[Any]] = field(default_factory=dict)
    handlers: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    world: dict[str, list[Any]] = field(default_factory=dict)
    concurrent: int = DEFAULT_CONCURRENT
    scenarios: list[str] = field(default_factory=lambda: list(DEFAULT_SCENARIOS))
    # Where ``scenarios`` was set ("[tool.simdurable] scenarios", ...), or None for
    # the default: a folder the user named must exist, the default need not.
    scenarios_from: str | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int = 0
    jobs: int = 1
    # The example database failures are replayed from (a directory or redis://...).
    database: str | None = None
    # Journal sources replayed against the services (dev-executor databases,
    # exports, Restate admin URLs): ``--simdurable-journals`` replaces them.
    journals: list[str] = field(default_factory=list)
    strict: bool = True
    replay: str | None = None
    trace_dir: str | None = None
    source: str = "defaults"

    def scenario_dirs(self) -> list[str]:
        return [os.path.normpath(os.path.join(self.rootdir, d)) for d in self.scenarios]


def _strings(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"[tool.simdurable] {name} must be a list of strings, not {value!r}")


def _int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in range; a float (``2.5``, ``1e400``) is refused, not cut."""
    bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    try:
        if isinstance(value, (bool, float)):
            raise TypeError
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be an integer {bound}, not {value!r}") from None
    if n < minimum or (maximum is not None and n > maximum):
        raise ValueError(f"{name} must be an integer {bound}, not {value!r}")
    return n


def _where(table: dict[str, Any], key: str) -> str:
    """How a setting read from pyproject.toml's table, or else from the ini
    options, is named in an error."""
    return f"[tool.simdurable] {key}" if key in table else f"simdurable_{key}"


def unknown_name(setting: str, name: str, known: list[str]) -> str:
    """The error for a ``[tool.simdurable]`` entry naming no handler (or no
    object or workflow, for ``keys``), with the closest name."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    service, key, handler = (name.split("/") + ["", ""])[:3]
    if setting != "keys" and name.count("/") == 2 and f"{service}/{handler}" in known:
        # "Cart/ada/add" as a Restate URL names it: the key has a setting of its own
        hint = (f"; name it {service}/{handler}, and give the key in [tool.simdurable.keys]: "
                f"{service} = {json.dumps(key)}")
    what, kinds = ("object or workflow", "objects and workflows") if setting == "keys" \
        else ("handler", "handlers")
    return (f"[tool.simdurable] {setting}: no {what} {name!r}{hint} "
            f"({kinds}: {', '.join(known) or 'none'})")


def read_pyproject(rootdir: str) -> dict[str, Any]:
    """The ``[tool.simdurable]`` table of ``rootdir/pyproject.toml`` (empty if none)."""
    path = os.path.join(rootdir, "pyproject.toml")
    if not os.path.exists(path):
        return {}
    try:
        with open(path, "rb") as f:
            raw = f.read()
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ValueError(f"{path}:{line}:{col}: cannot read it: byte "
                         f"{raw[err.start]:#04x} is not UTF-8 (TOML files are UTF-8)") from None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: cannot read it: {err}") from None
    except ValueError as err:  # an integer of more than 4300 digits
        raise ValueError(f"{path}: cannot read it: a number too long to read ({err})") from None
    except RecursionError:
        raise ValueError(f"{path}: cannot read it: arrays or tables nested too deep "
                         f"(Python's TOML reader gives up at about a thousand)") from None
    table = data.get("tool", {}).get("simdurable", {})
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [tool.simdurable] must be a table")
    return table


def _inputs(value: Any) -> dict[str, list[Any]]:
    if not isinstance(value, dict):
        raise ValueError(
            "[tool.simdurable] inputs must be a table of handler -> list of example inputs, "
            'like inputs = { "Payments/pay" = [{ amount = 10 }] }'
        )
    out: dict[str, list[Any]] = {}
    for target, examples in value.items():
        if not isinstance(examples, list) or not examples:
            raise ValueError(
                f"[tool.simdurable] inputs.{target!r} must be a non-empty list of example "
                f"inputs (one per check), not {examples!r}; write "
                f"[{json.dumps(examples, default=str)}] "
                "for a single input"
            )
        out[target] = examples
    return out


def _world(value: Any) -> dict[str, list[Any]]:
    from .._check._world import from_dict

    if not isinstance(value, dict):
        raise ValueError(
            "[tool.simdurable] world must be a table of handler -> list of events, like "
            '[tool.simdurable.world] "Signup/run" = [{ resolve_promise = { name = "code", '
            'value = "1234" } }]'
        )
    out: dict[str, list[Any]] = {}
    for target, events in value.items():
        if not isinstance(events, list):
            raise ValueError(f"[tool.simdurable] world.{json.dumps(target)} must be a list "
                             f"of events, not {events!r}")
        out[target] = [from_dict(e, f"[tool.simdurable] world.{json.dumps(target)}[{i}]")
                       for i, e in enumerate(events)]
    return out


def _ini_inputs(lines: list[str]) -> dict[str, list[Any]]:
    from .._loader import read_json

    out: dict[str, list[Any]] = {}
    for line in lines:
        target, sep, raw = line.partition("=")
        if not sep:
            raise ValueError(
                f"simdurable_inputs line {line!r}: expected Target = JSON, like "
                'Payments/pay = {"amount": 10}'
            )
        out.setdefault(target.strip(), []).append(
            read_json(raw, f"simdurable_inputs line {line[:60]!r}"))
    return out


def load_settings(rootdir: str, ini: dict[str, Any], options: dict[str, Any]) -> Settings:
    """Merge pyproject, ini values (already read by pytest) and command-line options."""
    table = read_pyproject(rootdir)
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"[tool.simdurable] in {os.path.join(rootdir, 'pyproject.toml')} has unknown "
            f"key(s) {', '.join(hints)}; allowed: {', '.join(sorted(KNOWN_KEYS))}"
        )
    s = Settings(rootdir=rootdir, source="pyproject.toml" if table else "pytest ini options")
    s.services = _strings("services", table["services"]) if "services" in table \
        else list(ini.get("services") or [])
    s.externals = _strings("externals", table["externals"]) if "externals" in table \
        else list(ini.get("externals") or [])
    s.inputs = _inputs(table["inputs"]) if "inputs" in table \
        else _ini_inputs(list(ini.get("inputs") or []))
    if "journals" in table:
        s.journals = _strings("journals", table["journals"])
        if not all(s.journals):
            raise ValueError("[tool.simdurable] journals must name journal sources (a "
                             "dev-executor database, a journal export or a Restate admin "
                             f"URL), not an empty string: {table['journals']!r}")
    else:
        s.journals = list(ini.get("journals") or [])
    if "handlers" in table:
        s.handlers = _strings("handlers", table["handlers"])
    if "exclude" in table:
        s.exclude = _strings("exclude", table["exclude"])
    if "world" in table:
        s.world = _world(table["world"])
    if "concurrent" in table:
        from .._check._explore import MAX_CONCURRENT

        # How many run at once, the target included: 1 turns it off.
        s.concurrent = _int("[tool.simdurable] concurrent", table["concurrent"], 1, MAX_CONCURRENT)
    if "keys" in table:
        keys = table["keys"]
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise ValueError("[tool.simdurable] keys must map an object or workflow name to "
                             'the key to check it with, like keys = { Counter = "a" }')
        s.keys = dict(keys)
    if "scenarios" in table:
        s.scenarios = _strings("scenarios", table["scenarios"])
        s.scenarios_from = "[tool.simdurable] scenarios"
    elif ini.get("scenarios"):
        s.scenarios = list(ini["scenarios"])
        s.scenarios_from = "simdurable_scenarios"
    from .._check._parallel import MAX_EXAMPLES, jobs_from

    raw_examples = table.get("max_examples", ini.get("max_examples") or None)
    if raw_examples is not None:
        s.max_examples = _int(_where(table, "max_examples"), raw_examples, 1, MAX_EXAMPLES)
    raw_seed = table.get("seed", ini.get("seed") or None)
    if raw_seed is not None:
        s.seed = _int(_where(table, "seed"), raw_seed, 0)
    raw_jobs = table.get("jobs", ini.get("jobs") or None)
    if raw_jobs is not None:
        s.jobs = jobs_from(_where(table, "jobs"), raw_jobs)
    if "strict" in table:
        if not isinstance(table["strict"], bool):
            raise ValueError(f"[tool.simdurable] strict must be true or false, "
                             f"not {table['strict']!r}")
        s.strict = table["strict"]
    elif ini.get("strict"):
        text = str(ini["strict"]).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"simdurable_strict must be true or false, not {ini['strict']!r}")
        s.strict = text in ("true", "1", "yes")
    if options.get("seed") is not None:
        s.seed = _int("--simdurable-seed", options["seed"], 0)
    if options.get("examples") is not None:
        s.max_examples = _int("--simdurable-examples", options["examples"], 1, MAX_EXAMPLES)
    raw_db = options.get("database") or table.get("database")
    if raw_db is not None:
        if not isinstance(raw_db, str) or not raw_db:
            raise ValueError(f"[tool.simdurable] database must be a directory or a "
                             f"redis:// URL, not {raw_db!r}")
        s.database = raw_db if "://" in raw_db else os.path.join(rootdir, raw_db)
    if options.get("jobs") is not None:
        s.jobs = jobs_from("--simdurable-jobs", options["jobs"])
    if options.get("no_strict"):
        s.strict = False
    s.trace_dir = options.get("trace_dir")
    replay = options.get("replay")
    if replay is not None:
        from ..runtime._faults import FaultPlan, FaultPlanError

        try:
            FaultPlan.parse(replay)
        except FaultPlanError as err:
            raise ValueError(f"--simdurable-replay: {err}") from None
        s.replay = replay
    return s
