"""``simdurable scenario FILE...``: run YAML scenarios outside pytest.

Exits 0 when every scenario passes, 1 when any fails or cannot be loaded,
so it fits a CI step or a pre-commit hook.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="scenario files, or folders to search for *.yaml/*.yml")
    parser.add_argument("--seed", type=int, default=None,
                        help="override every scenario's seed")
    parser.add_argument("--no-strict", action="store_true",
                        help="do not report clocks/RNG used outside steps")
    parser.add_argument("--max-examples", type=int, default=None,
                        help="override `explore: {max_examples}`")
    parser.add_argument("-j", "--jobs", default="1", metavar="N|auto",
                        help="share each exploration among N worker processes, or one per "
                             "usable core with auto (default 1); the results are the same "
                             "whatever N")
    parser.add_argument("--schema", action="store_true",
                        help="print the path of the scenario JSON Schema and exit")


def find_files(paths: list[str]) -> list[str]:
    """Files as given, and *.yaml/*.yml under folders, sorted."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out += [os.path.join(root, f) for f in sorted(files)
                        if f.endswith((".yaml", ".yml"))]
        else:
            out.append(p)
    return out


def run(args: argparse.Namespace) -> int:
    if args.schema:
        print(resources.files("simdurable").joinpath("scenario.schema.json"))
        return 0
    from ._check._parallel import MAX_EXAMPLES, jobs_from
    from ._scenario import ScenarioError, load_scenario, run_scenario

    # Checked once here, not reported as a failure of each scenario that explores.
    for flag, value, low, high in (("--seed", args.seed, 0, None),
                                   ("--max-examples", args.max_examples, 0, MAX_EXAMPLES)):
        if value is not None and (value < low or (high is not None and value > high)):
            allowed = f">= {low}" if high is None else f"from {low} to {high}"
            print(f"simdurable scenario: {flag} must be an integer {allowed}, not {value}",
                  file=sys.stderr)
            return 2
    try:
        args.jobs = jobs_from("-j/--jobs", args.jobs)
    except ValueError as err:
        print(f"simdurable scenario: {err}", file=sys.stderr)
        return 2

    files = find_files(args.files or ["scenarios"])
    if not files:
        print("no scenario files found")
        return 1
    failed = 0
    for path in files:
        try:
            sc = load_scenario(path)
            result = run_scenario(sc, seed=args.seed,
                                  strict=False if args.no_strict else None,
                                  max_examples=args.max_examples, jobs=args.jobs)
        except ScenarioError as err:
            failed += 1
            print(f"ERROR {path}\n{err}\n")
            continue
        if result.ok:
            print(f"ok    {path}  ({sc.name})")
        else:
            failed += 1
            print(f"FAIL  {path}\n{result.render()}\n")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0
