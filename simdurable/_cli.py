"""The ``simdurable`` command: one subcommand per module, imported on use.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``
(the exit status). Modules are imported only when their subcommand runs, so
``simdurable --help`` stays fast and the core never imports its adapters.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Final

# name -> (module, one-line help)
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "serve": ("simdurable._live.cli", "run handlers for real: HTTP ingress, SQLite journal"),
    "invocations": ("simdurable._live.cli", "list the invocations in a live database"),
    "journal": ("simdurable._live.cli", "print an invocation's journal from a live database"),
    "state": ("simdurable._live.cli", "print an object's (or workflow's) state from a live "
              "database"),
    "cancel": ("simdurable._live.cli", "cancel an invocation in a live database"),
    "kill": ("simdurable._live.cli", "kill an invocation in a live database: it ends at once, "
             "no more of its code runs"),
    "resume": ("simdurable._live.cli", "resume a paused invocation in a live database "
               "(once what paused it is fixed)"),
    "trace": ("simdurable._live.cli", "print a live run's trace file as the simulation does"),
    "check": ("simdurable._check._command", "explore crashes and schedules of a handler; "
              "exit 1 on a violation"),
    "demo": ("simdurable._demo", "simulate an example handler under crashes and print the run"),
    "export-journals": ("simdurable._replay.cli", "write the journals of a live database (or "
                        "a Restate server) to a JSON export"),
    "replay-journals": ("simdurable._replay.cli", "replay recorded journals against the "
                        "current code, running no step; exit 1 if one diverges"),
    "soak": ("simdurable._check._soak", "check handlers over a range of seeds, shardable, "
             "within a time budget; failures go to a shared example database"),
    "scenario": ("simdurable._scenario_cli", "run YAML fault scenarios; exit 1 if any fails"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported.

    Importing every subcommand's module would cost every command the dev
    executor's imports (trio, SQLite, HTTP): a tenth of a second before a
    ``check`` starts, in each worker process that reads the command line too.
    """
    parser = argparse.ArgumentParser(
        prog="simdurable",
        description="Deterministic simulation testing for durable-execution handlers.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"simdurable {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first word that is one), if any."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    # Let "module:attr" names resolve against the current directory, as pytest does.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    words = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(words)
    parser = build_parser(command) if command is not None else build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if command == "check":
        from ._check._command import start_early

        start_early(args)
    if command in ("check", "soak"):  # both generate examples at once
        from ._check._workers import import_hypothesis

        import_hypothesis()
    status: int = importlib.import_module(args._module).run(args)
    return status
