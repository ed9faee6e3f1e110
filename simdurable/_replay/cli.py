"""``simdurable replay-journals`` and ``simdurable export-journals``::

    simdurable export-journals dev.db -o journals.json
    simdurable replay-journals journals.json myapp:greeter myapp:counter

Exit statuses of ``replay-journals``: 0 every invocation replays; 1 one or
more diverge; 2 the source or the services cannot be read (bad input, or bad
arguments); 3 none diverges but some cannot be judged (unknown service or
handler, entries simdurable does not model). ``export-journals``: 0, or 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command = parser.prog.rsplit(" ", 1)[-1]
    parser.add_argument("source", metavar="SOURCE",
                        help="a dev-executor database (simdurable serve --db), a journal "
                             "export (simdurable export-journals), or the URL of a Restate "
                             "server's admin API (http://127.0.0.1:9070)")
    if command == "export-journals":
        parser.add_argument("-o", "--output", required=True, metavar="PATH",
                            help="where to write the JSON export")
        return
    parser.add_argument("targets", nargs="+", metavar="module:attribute",
                        help="the services as the code is now (a Service/VirtualObject/"
                             "Workflow, a list of them, or a restate.app(...))")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per invocation, then a summary object")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every invocation, not only those that do not replay")


def run(args: argparse.Namespace) -> int:
    from .._loader import LoadError
    from . import JournalSourceError, export_journals, replay_journals

    name = f"simdurable {args.command}"
    try:
        if args.command == "export-journals":
            n = export_journals(args.source, args.output)
            print(f"{n} invocation(s) from {args.source} written to {args.output}")
            return 0
        from .._live._executor import load_services

        services = load_services(args.targets)
        report = replay_journals(services, args.source)
    except (JournalSourceError, LoadError, TypeError, ValueError) as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    if args.json:
        for r in report.results:
            print(json.dumps(asdict(r)))
        print(json.dumps({"summary": report.summary(), "exit_code": report.exit_code}))
        return report.exit_code
    for r in report.results:
        if args.verbose or not r.ok:
            print(r.describe())
    print(report.summary() + f" ({report.source})")
    return report.exit_code
