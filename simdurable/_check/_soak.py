"""``simdurable soak``: a long exploration campaign over a range of seeds.

Every target is checked with every seed of the range (of this shard's part
of it), until the range or the time budget runs out. Shards split the range
by seed number (seed ``s`` of ``A:B`` belongs to shard ``(s - A) % n + 1``),
so ``--shard 1/4`` to ``--shard 4/4`` on four machines cover it exactly once.
The first failure of each kind per target is saved to the shared example
database, which ``pytest --simdurable`` replays first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .._loader import LoadError, read_json
from ..runtime._errors import SimdurableError
from ._command import Progress, flag_in_range
from ._database import DEFAULT_DATABASE, DatabaseError, open_database, save
from ._parallel import MAX_EXAMPLES, jobs_from


@dataclass
class SoakTarget:
    """One check the campaign repeats with every seed."""

    label: str
    services: list[Any]
    invoke: str
    input: Any
    externals: list[Any]
    world: list[Any] = field(default_factory=list)
    concurrent: int = 1
    note: str | None = None  # why fewer invocations at once than configured


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="module:attr",
                        help="handlers (or services, with --invoke) to soak; none: every "
                             "handler of [tool.simdurable] in ./pyproject.toml")
    parser.add_argument("--input", default="null",
                        help="the input of module:attr targets, as JSON")
    parser.add_argument("--invoke", help='the target, like "Greeter/greet", for a service')
    parser.add_argument("--key", help="the object or workflow key, for a keyed handler")
    parser.add_argument("--seeds", default="0:100", metavar="A:B",
                        help="the seeds to run, A included, B not (default 0:100)")
    parser.add_argument("--shard", default="1/1", metavar="I/N",
                        help="run only shard I of N (1 <= I <= N): the seeds s with "
                             "(s - A) %% N == I - 1 (default 1/1)")
    parser.add_argument("--budget", default=None, metavar="TIME",
                        help="stop starting checks after this long: 90, 90s, 15m, 2h, 1d "
                             "(default: no limit)")
    parser.add_argument("--max-examples", type=int, default=25,
                        help="generated examples per check (default 25)")
    parser.add_argument("-j", "--jobs", default="1", metavar="N|auto",
                        help="spread the checks over N worker processes, or one per usable "
                             "core with auto (default 1); the summary is the same whatever N")
    parser.add_argument("--database", default=None, metavar="DIR|redis://...",
                        help="where failures are saved for pytest --simdurable to replay "
                             f"(default: [tool.simdurable] database, else {DEFAULT_DATABASE})")
    parser.add_argument("--no-strict", action="store_true",
                        help="do not report clock/random/uuid calls outside steps")


# len() of a range fails beyond sys.maxsize; no campaign gets near this anyway.
MAX_SEEDS: Final = 10**15


def seed_range(text: str) -> range:
    """The seeds of ``--seeds A:B``, refused with what to write when malformed."""
    a, sep, b = text.partition(":")
    try:
        lo, hi = int(a), int(b)
    except ValueError:
        raise ValueError(f"--seeds must be A:B (integers, A included, B not), "
                         f"not {text!r}") from None
    if not sep or lo < 0 or hi <= lo:
        raise ValueError(f"--seeds must be A:B with 0 <= A < B, not {text!r}")
    if hi - lo > MAX_SEEDS:
        raise ValueError(f"--seeds {text!r} holds {hi - lo} seeds; a range holds at most "
                         f"{MAX_SEEDS} (split it with --shard, or stop it with --budget)")
    return range(lo, hi)


def parse_shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    try:
        shard, of = int(i), int(n)
    except ValueError:
        raise ValueError(f"--shard must be I/N (like 2/4), not {text!r}") from None
    if not sep or of < 1 or not 1 <= shard <= of:
        raise ValueError(f"--shard must be I/N with 1 <= I <= N, not {text!r}")
    return shard, of


def shard_seeds(seeds: range, shard: int, of: int) -> range:
    """The seeds of one shard: every ``of``-th seed, from the ``shard``-th."""
    return seeds[shard - 1::of]


# Longer than any campaign (1e400 is a typo): beyond it, leave --budget out.
MAX_BUDGET: Final = 365 * 86400


def parse_budget(text: str | None) -> float | None:
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw, scale = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        seconds = float(raw) * scale
    except ValueError:
        raise ValueError(f"--budget must be a duration like 90, 90s, 15m or 2h, "
                         f"not {text!r}") from None
    if not seconds > 0:
        raise ValueError(f"--budget must be more than 0, not {text!r}")
    if seconds > MAX_BUDGET:
        raise ValueError(f"--budget must be at most 365d (a year), not {text!r}: leave it out "
                         f"for no limit")
    return seconds


def _module_targets(args: argparse.Namespace, input_value: Any) -> list[SoakTarget]:
    from ._command import refuse_bad_input, resolve

    out = []
    for name in args.targets:
        one = argparse.Namespace(**{**vars(args), "target": name, "externals": None})
        services, invoke, externals = resolve(one)
        refuse_bad_input(services, invoke, input_value)
        out.append(SoakTarget(invoke, services, invoke, input_value, externals,
                              concurrent=plugin_concurrent(services, invoke, input_value)))
    return out


def plugin_concurrent(services: Sequence[Any], invoke: str, value: Any = None) -> int:
    """How many invocations at once ``pytest --simdurable`` checks this target with.

    An object handler (or a service handler that reaches an object) runs
    ``[tool.simdurable] concurrent`` times at once (default 2) there; the saved cases are keyed by that count, so soak
    checks it the same way, or the plugin would never replay what soak found.
    """
    from .._pytest._settings import load_settings
    from .._restate import native_services
    from .._sim import parse_target

    try:
        name = parse_target(invoke)[0]
    except SimdurableError:
        return 1
    svc = next((s for s in native_services(services) if getattr(s, "name", None) == name),
               None)
    tag = getattr(svc, "service_tag", None)
    if tag is None:
        return 1
    from .._pytest._items import callers_wanted

    return callers_wanted(services, tag.kind, invoke, value,
                          load_settings(os.getcwd(), {}, {}).concurrent)


def config_targets(rootdir: str) -> tuple[list[SoakTarget], Any]:
    """The handlers ``pytest --simdurable`` checks, from ``[tool.simdurable]``."""
    from .._api.service import App, handlers_attr
    from .._codec import journal_codec_of, listed
    from .._loader import load_externals, load_object
    from .._pytest._items import (
        callers_at_once,
        callers_wanted,
        handler_targets,
        refuse_bad_inputs,
    )
    from .._pytest._settings import load_settings, unknown_name
    from .._restate import native_services

    settings = load_settings(rootdir, {}, {})
    services: list[Any] = []
    codec = None
    for name in settings.services:
        obj = load_object(name)
        codec = codec or journal_codec_of([obj])
        for o in native_services(obj if isinstance(obj, (list, tuple, App)) else [obj]):
            if not isinstance(handlers_attr(o), dict):
                raise LoadError(f"[tool.simdurable] services: {name!r} is {type(o).__name__}, "
                                "not a Service/VirtualObject/Workflow (or a list of them, or "
                                "a restate.app(...))")
            services.append(o)
    services = listed(services, codec)  # (an app's journal value codec kept)
    externals = load_externals(settings.externals, "[tool.simdurable] externals")
    available, wanted = handler_targets(services, settings.handlers)
    keyed = [svc.name for svc in services if svc.service_tag.kind != "service"]
    for setting, names, known in (("handlers", wanted, available),
                                  ("exclude", settings.exclude, available),
                                  ("world", settings.world, available),
                                  ("inputs", settings.inputs, available),
                                  ("keys", settings.keys, keyed)):
        for name in names:
            if name not in known:
                raise LoadError(unknown_name(setting, name, list(known)))
    out = []
    for target in wanted:
        if target in settings.exclude:
            continue
        svc, h = available[target]
        invoke = target
        if svc.service_tag.kind != "service":
            invoke = f"{svc.name}/{settings.keys.get(svc.name, 'key-1')}/{h.name}"
        refuse_bad_inputs(h, target, settings.inputs.get(target) or [])
        for value in settings.inputs.get(target) or [_generated(h)]:
            world = settings.world.get(target)
            if world is None:
                from .._pytest._infer import infer_world

                world, _ = infer_world(services, invoke, value, h, externals)
            concurrent, note = callers_at_once(
                services, invoke, value, externals, world,
                callers_wanted(services, svc.service_tag.kind, invoke, value,
                               settings.concurrent), settings.strict)
            out.append(SoakTarget(target, services, invoke, value, externals, list(world),
                                  concurrent, note))
    return out, settings


def _generated(handler: Any) -> Any:
    from .._pytest._items import _generated_input

    return _generated_input(handler)


def run(args: argparse.Namespace) -> int:
    try:
        seeds = seed_range(args.seeds)
        shard, of = parse_shard(args.shard)
        budget = parse_budget(args.budget)
        flag_in_range("--max-examples", args.max_examples, 0, MAX_EXAMPLES,
                      " (per check; more seeds explore longer)")
        args.jobs = jobs_from("-j/--jobs", args.jobs)
        input_value = read_json(args.input, "--input")
        if args.targets:
            targets = _module_targets(args, input_value)
            database = args.database
            if database is None:
                from .._pytest._settings import read_pyproject

                database = read_pyproject(os.getcwd()).get("database", DEFAULT_DATABASE)
        else:
            targets, settings = config_targets(os.getcwd())
            database = args.database or settings.database or DEFAULT_DATABASE
        if not targets:
            raise LoadError("nothing to soak: name module:attr targets, or services in "
                            "[tool.simdurable]")
        db = open_database(database)
    except (LoadError, DatabaseError, SimdurableError, TypeError, ValueError) as err:
        print(f"simdurable soak: {err}", file=sys.stderr)
        return 2
    mine = shard_seeds(seeds, shard, of)
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        summary = soak(targets, mine, budget, args.max_examples, args.jobs,
                       not args.no_strict, db, progress)
    finally:
        if progress is not None:
            progress.clear()
    where = f"seeds {seeds.start}:{seeds.stop}" + (f", shard {shard}/{of}" if of > 1 else "")
    print(summary.render(where, database))
    return 1 if summary.failures else 2 if summary.errors else 0


@dataclass
class Summary:
    """What a campaign did: seeds run, time taken, failures saved."""

    targets: int
    planned: int
    seeds: int = 0
    checks: int = 0
    seconds: float = 0.0
    budget_hit: bool = False
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, where: str, database: str) -> str:
        rate = self.seeds / self.seconds if self.seconds > 0 else 0.0
        stop = (f"; stopped by the budget after {self.seeds} of {self.planned} seeds"
                if self.budget_hit else "")
        lines = [f"simdurable soak: {self.seeds} seeds x {self.targets} targets ({where}), "
                 f"{self.checks} checks in {self.seconds:.1f}s, {rate:.2f} seeds/s{stop}"]
        if self.failures:
            lines.append(f"{len(self.failures)} failure(s), saved to {database} for "
                         f"pytest --simdurable to replay first:")
            lines += [f"  {f}" for f in self.failures]
        else:
            lines.append("no failures")
        lines += [f"  could not check: {e}" for e in self.errors]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# What one check of a campaign gave: an error, or its violations (kind, blob, plan).
Outcome = tuple[str | None, list[tuple[str, str, str]]]


def check_once(t: SoakTarget, seed: int, max_examples: int, strict: bool) -> Outcome:
    """One check of the campaign, in this process.

    Without the hash-seed comparison: its violation has no replayable case to
    save (``pytest --simdurable`` makes it), and it would start processes.
    """
    from ._api import check

    try:
        report = check(services=t.services, invoke=t.invoke, input=t.input,
                       externals=t.externals, max_examples=max_examples, seed=seed,
                       strict=strict, world=t.world, concurrent=t.concurrent, hash_seeds=())
    except (SimdurableError, TypeError, ValueError) as err:
        return f"{type(err).__name__}: {err}", []
    return None, [(v.kind, v.blob, str(v.fault_plan)) for v in report.violations]


def soak(targets: Sequence[SoakTarget], seeds: range, budget: float | None,
         max_examples: int, jobs: int, strict: bool, db: Any,
         progress: Progress | None = None) -> Summary:
    """Check every target with every seed, within the budget; save new failures.

    With ``jobs`` > 1 the checks are spread over that many worker processes
    (``_parallel.spread_checks``); their outcomes are taken in seed order, so
    the summary is the same whatever the number.
    """
    summary = Summary(targets=len(targets), planned=len(seeds))
    summary.notes += [t.note for t in targets if t.note is not None]
    start = time.monotonic()
    seen: set[tuple[str, Any, str]] = set()

    def over_budget(n: int) -> bool:
        if budget is not None and n > 0 and time.monotonic() - start >= budget:
            summary.budget_hit = True
        return summary.budget_hit

    def show(n: int, t: SoakTarget) -> None:
        if progress is not None:
            elapsed = max(time.monotonic() - start, 1e-9)
            progress.show(f"simdurable soak: seed {seeds[n]} ({n + 1} of {len(seeds)}), "
                          f"{t.label}, {len(summary.failures)} failure(s), "
                          f"{n / elapsed:.2f} seeds/s")

    def take(n: int, i: int, outcome: Outcome) -> None:
        """Count one check's outcome; the checks come in seed order, then target order."""
        t, seed = targets[i], seeds[n]
        error, violations = outcome
        if error is not None:
            summary.errors.append(f"{t.label} seed {seed}: {error}")
        else:
            summary.checks += 1
        for kind, blob, plan in violations:
            key = (t.invoke, json.dumps(t.input, sort_keys=True, default=repr), kind)
            if key in seen or not blob:
                continue
            seen.add(key)
            found = (f"{t.label} input {json.dumps(t.input, default=repr)} seed {seed}: "
                     f"{kind}: {plan}")
            try:
                save(db, t.invoke, t.input, t.concurrent, blob)
            except Exception as err:  # noqa: BLE001 - the database failed: keep the case here
                found += (f" (NOT saved, the database failed: {type(err).__name__}: {err}; "
                          f"replay it with simdurable check --blob {blob})")
            summary.failures.append(found)
        if i == len(targets) - 1:
            summary.seeds += 1

    if jobs > 1 and len(seeds) > 0:
        from ._parallel import spread_checks

        summary.notes += spread_checks(targets, seeds, max_examples, strict, jobs,
                                       over_budget, show, take)
    else:
        for n, seed in enumerate(seeds):
            if over_budget(n):
                break
            for i, t in enumerate(targets):
                show(n, t)
                take(n, i, check_once(t, seed, max_examples, strict))
    summary.seconds = time.monotonic() - start
    return summary
