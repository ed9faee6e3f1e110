"""The live executor's subcommands: ``serve``, ``invocations``, ``journal``,
``state``, ``cancel``, ``kill``, ``resume`` and ``trace``.

One module serves them all (the subcommand is ``args.command``)::

    simdurable serve myapp:greeter myapp:counter --db dev.db --port 8080
    simdurable invocations --db dev.db
    simdurable journal inv_3f2a... --db dev.db
    simdurable state Counter/a --db dev.db
    simdurable cancel inv_3f2a... --db dev.db
    simdurable kill inv_3f2a... --db dev.db
    simdurable resume inv_3f2a... --db dev.db
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._sqlite import SqliteStore

DEFAULT_DB: Final = "simdurable.db"


EXIT_STATUS = """exit status:
  0  done (serve: stopped cleanly)
  1  the database is damaged or failed, or serving stopped on an error
  2  bad arguments: a target, a port, or a --db that names no place for a database"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command = parser.prog.rsplit(" ", 1)[-1]
    if command != "trace":
        parser.epilog = EXIT_STATUS
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if command == "serve":
        parser.add_argument("targets", nargs="+", metavar="module:attribute",
                            help="services to serve (a Service/VirtualObject/Workflow, "
                                 "or a list of them)")
        parser.add_argument("--port", type=int, default=8080,
                            help="port of the HTTP ingress (default 8080; 0 picks a free one)")
        parser.add_argument("--host", default="127.0.0.1",
                            help="address to bind (default 127.0.0.1, this machine only)")
        parser.add_argument("--trace", metavar="PATH",
                            help="append the run's trace to PATH, one JSON event per line")
        parser.add_argument("-v", "--verbose", action="store_true",
                            help="print every trace line to stderr as it happens "
                                 "(default: only retries and paused invocations)")
        parser.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES",
                            help="largest request body accepted (default 1 MiB)")
        parser.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                            help="time a client has to send a request's body (default 30; "
                                 "a slower one gets 408)")
        parser.add_argument("--max-connections", type=int, default=512, metavar="N",
                            help="most HTTP connections open at once (default 512; more "
                                 "get 503)")
        parser.add_argument("--durability", choices=("full", "normal"), default="full",
                            help="full: fsync every commit (default); normal: survive a "
                                 "killed process but not a power loss")
        parser.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                            help="on Ctrl-C, how long steps in flight may take to finish")
    elif command in ("journal", "cancel", "kill", "resume"):
        parser.add_argument("id", help="the invocation id (or a unique prefix of it)")
    elif command == "invocations":
        from ._inspect import STATUSES

        parser.add_argument("--status", choices=STATUSES,
                            help="only invocations with this status")
        parser.add_argument("--target", metavar="TARGET",
                            help='only invocations of TARGET: "Counter", "Counter/add", '
                                 '"Counter/a" or "Counter/a/add"')
    elif command == "state":
        parser.add_argument("object", metavar="Service/key",
                            help="the object (or workflow) and its key, like Counter/a")
    elif command == "trace":
        parser.add_argument("path", help="a trace file written by serve --trace")
        parser.add_argument("--invocation", metavar="ID",
                            help="only the events of invocations whose id starts with ID")
        parser.add_argument("--chrome", metavar="OUT",
                            help="also write it as Chrome trace-event JSON (for Perfetto)")
        return
    if command in ("invocations", "journal", "state"):
        parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--db", default=DEFAULT_DB,
                        help=f"the SQLite database (default {DEFAULT_DB})")


def run(args: argparse.Namespace) -> int:
    from ._sqlite import NotADatabasePath, StoreError

    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "invocations":
            return _invocations(args)
        if args.command == "journal":
            return _journal(args)
        if args.command == "state":
            return _state(args)
        if args.command == "trace":
            return _trace(args)
        return _post(args)
    except StoreError as err:
        print(f"simdurable {args.command}: {err}", file=sys.stderr)
        # a --db that names no place for a database is a bad argument, as for check
        return 2 if isinstance(err, NotADatabasePath) else 1


def _serve(args: argparse.Namespace) -> int:
    import errno
    import sqlite3

    from .._loader import LoadError
    from ._executor import Executor, load_services
    from ._sqlite import StoreError, explain

    if not 0 <= args.port <= 65535:
        print(f"simdurable serve: --port must be 0..65535, not {args.port}", file=sys.stderr)
        return 2
    if not args.grace >= 0:  # (NaN too)
        print(f"simdurable serve: --grace must be 0 or more seconds, not {args.grace}",
              file=sys.stderr)
        return 2
    try:
        services = load_services(args.targets)
        ex = Executor(services, db=args.db, trace=args.trace,
                      echo=True if args.verbose else "problems",
                      durability=args.durability, max_body=args.max_body,
                      body_timeout=args.body_timeout, max_connections=args.max_connections)
    except (LoadError, TypeError, ValueError, ImportError) as err:
        print(f"simdurable serve: {err}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"simdurable serve: warning: binding {args.host} lets other machines invoke "
              "these handlers; there is no authentication", file=sys.stderr)

    def ready(url: str | None) -> None:
        targets = ", ".join(sorted(
            f"{s}/{h}" if ex.handlers[(s, h)].service_tag.kind == "service"
            else f"{s}/<key>/{h}" for s, h in ex.handlers))
        print(f"simdurable: serving {targets}", flush=True)
        print(f"simdurable: listening on {url} (database {args.db}); Ctrl-C stops",
              flush=True)

    try:
        ex.serve(args.host, args.port, ready=ready, grace=args.grace)
    except BaseException as err:  # noqa: BLE001 - reported in words below
        leaf = _leaf(err)
        if isinstance(leaf, StoreError):
            raise leaf from None
        if isinstance(leaf, ValueError):
            print(f"simdurable serve: {leaf}", file=sys.stderr)
            return 1
        if isinstance(leaf, OSError) and leaf.errno in (errno.ENOSPC, errno.EDQUOT):
            print(f"simdurable serve: {explain(args.db, leaf)}", file=sys.stderr)
            return 1
        if isinstance(leaf, OSError):
            print(f"simdurable serve: cannot listen on {args.host}:{args.port}: "
                  f"{leaf.strerror or leaf}", file=sys.stderr)
            return 1
        if isinstance(leaf, KeyboardInterrupt):
            return 130
        if isinstance(leaf, sqlite3.Error):
            print(f"simdurable serve: the database failed: {explain(args.db, leaf)}",
                  file=sys.stderr)
            return 1
        from .._base_exceptions import not_an_exception

        raised = None if isinstance(leaf, Exception) else not_an_exception(
            leaf, "The executor stopped: serving the same database again resumes the "
                  "invocation, which raises it again.")
        if raised is not None:
            print(f"simdurable serve: {raised}", file=sys.stderr)
            return 1
        import traceback

        print("simdurable serve: stopped by an internal error (a bug in simdurable; "
              "please report it). Nothing committed is lost: serving the same database "
              "again resumes every invocation.", file=sys.stderr)
        traceback.print_exception(leaf, file=sys.stderr)
        return 70
    print("simdurable: stopped", file=sys.stderr)
    return 0


def _leaf(err: BaseException) -> BaseException:
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def _invocations(args: argparse.Namespace) -> int:
    from ._inspect import format_invocations, invocation_rows, target_matches
    from ._sqlite import SqliteStore

    store = SqliteStore(args.db, create=False, readonly=True)
    try:
        _warn_lost(store)
        records, damaged = store.readable_invocations()
        rows = invocation_rows(records)
    finally:
        store.close()
    if args.status is not None:
        rows = [r for r in rows if r["status"] == args.status]
    if args.target is not None:
        rows = [r for r in rows if target_matches(r["target"], args.target)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_invocations(rows))
    for err in damaged:
        print(f"simdurable invocations: {err}", file=sys.stderr)
    return 1 if damaged else 0


def _warn_lost(store: SqliteStore) -> None:
    if store.lost_commits:
        print(f"simdurable: warning: {store.path} lost its last {store.lost_commits} "
              f"commit(s) (its -wal was deleted or damaged): what follows is what is left",
              file=sys.stderr)


def _journal(args: argparse.Namespace) -> int:
    from ._inspect import entry_row, find_invocation, format_journal, with_awakeable_ids
    from ._sqlite import SqliteStore

    store = SqliteStore(args.db, create=False, readonly=True)
    try:
        _warn_lost(store)
        rec = find_invocation(store, args.id)
        journal = store.journal(rec.id)
    finally:
        store.close()
    if args.json:
        print(json.dumps({
            "id": rec.id, "target": rec.target,
            "entries": with_awakeable_ids(
                rec.id, [entry_row(i, e, rec.created_ms) for i, e in enumerate(journal)]),
        }, indent=2))
    else:
        print(format_journal(rec, journal))
    return 0


def _state(args: argparse.Namespace) -> int:
    from ._inspect import format_state, state_rows
    from ._sqlite import SqliteStore

    service, _, key = args.object.partition("/")
    if not service or not key:
        print(f"simdurable state: name an object and its key, like Counter/a, not "
              f"{args.object!r}", file=sys.stderr)
        return 2
    store = SqliteStore(args.db, create=False, readonly=True)
    try:
        _warn_lost(store)
        rows = state_rows(store, service, key)
        known = [] if rows else store.state_keys_of(service)
    finally:
        store.close()
    if not rows:
        hint = (f"; keys of {service} with state: {', '.join(sorted(known))}" if known
                else f"; no {service} key has state")
        print(f"simdurable state: {service}/{key} has no state in {args.db}{hint}",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_state(rows))
    return 0


# command -> (the statuses it applies to, what is wrong otherwise, what it does)
_POSTED: Final = {
    "cancel": (("pending", "paused"), "has already finished", "cancelling"),
    "kill": (("pending", "paused"), "has already finished", "killing"),
    "resume": (("paused",), "is not paused", "resuming"),
}


def _post(args: argparse.Namespace) -> int:
    """``cancel``, ``kill`` and ``resume``: leave the command for the executor that owns
    the database (it applies it within half a second, or when it starts)."""
    from pathlib import Path

    from ._executor import ExecutorLock
    from ._inspect import find_invocation
    from ._sqlite import SqliteStore

    statuses, wrong, doing = _POSTED[args.command]
    store = SqliteStore(args.db, create=False)
    try:
        rec = find_invocation(store, args.id)
        if rec.status not in statuses:
            print(f"simdurable {args.command}: {rec.id} ({rec.target}) {wrong} "
                  f"({rec.status})", file=sys.stderr)
            return 1
        store.post(args.command, rec.id)
    finally:
        store.close()
    if ExecutorLock(Path(args.db)).held_elsewhere():
        print(f"{doing} {rec.id} ({rec.target}): the running executor applies it now")
    else:
        print(f"{doing} {rec.id} ({rec.target}): no executor is running on {args.db}; "
              "it applies when one starts")
    return 0


def _trace(args: argparse.Namespace) -> int:
    from ._trace import TraceFileError, format_event, read_trace

    try:
        events = list(read_trace(args.path))
    except OSError as err:
        print(f"simdurable trace: cannot read {args.path or repr(args.path)}: {err.strerror}",
              file=sys.stderr)
        return 1
    except TraceFileError as err:
        print(f"simdurable trace: {err}", file=sys.stderr)
        return 1
    if args.invocation:
        events = [e for e in events if e[2].startswith(args.invocation)]
    if not events:
        print(f"simdurable trace: no trace events in {args.path}", file=sys.stderr)
        return 1
    origin = events[0][0]
    for event in events:
        print(format_event(event, origin))
    if args.chrome:
        from .._check import write_chrome_trace

        shifted = [(t - origin, kind, inv, text) for t, kind, inv, text in events]
        try:
            write_chrome_trace(shifted, args.chrome, title=str(args.path))
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err
            print(f"simdurable trace: cannot write the Chrome trace {args.chrome}: {reason}",
                  file=sys.stderr)
            return 1
        print(f"wrote {args.chrome} (open it in https://ui.perfetto.dev)", file=sys.stderr)
    return 0
