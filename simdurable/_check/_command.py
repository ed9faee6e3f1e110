"""``simdurable check module:attr --input JSON``: explore a handler from the shell.

``module:attr`` names a handler function (its service and every service and
fake external in its module are loaded), a service, or a list of services
(then ``--invoke`` names the target). Exit status: see ``EXIT_STATUS``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time
from typing import Any, TextIO

from .._api.external import FakeExternal
from .._api.service import (
    App,
    Handler,
    Service,
    VirtualObject,
    Workflow,
    collect_handlers,
    handler_of,
    handlers_attr,
)
from .._codec import journal_codec_of, listed
from .._loader import LoadError, load_externals, load_object, read_json
from .._restate import is_hostable, restate_handler_of
from ..runtime._errors import SimdurableError
from ..runtime._faults import FaultPlanError

_SERVICE_TYPES = (Service, VirtualObject, Workflow)

EXIT_STATUS = """exit status:
  0  no violation found
  1  a violation was found, or a replayed case did not reproduce
  2  the check could not run: bad arguments, input, target or fault plan"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_STATUS
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("target", metavar="module:attr",
                        help="a handler function, a service, a list of services or a "
                             "restate.app(...); module:service/handler names one handler "
                             "of the service whose variable is `service` (for a module "
                             "with two services of one name)")
    parser.add_argument("--input", default="null", help="the invocation's input, as JSON")
    parser.add_argument("--invoke", help='the target, like "Greeter/greet" or "Counter/a/add"')
    parser.add_argument("--key", help="the object or workflow key, for a keyed handler")
    parser.add_argument("--externals", nargs="*", default=None, metavar="module:attr",
                        help="fake externals (default: every FakeExternal in the module)")
    parser.add_argument("--max-examples", type=int, default=200,
                        help="Hypothesis examples after the single faults (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="the seed (default 0)")
    parser.add_argument("--no-strict", action="store_true",
                        help="do not report clock/random/uuid calls outside steps")
    parser.add_argument("--replay", metavar="PLAN", help="replay one fault plan instead")
    parser.add_argument("--blob", help="replay the case of a reproduction blob instead "
                                       "(a report prints it when the seed alone is not enough)")
    parser.add_argument("--world", action="append", default=[], metavar="JSON",
                        help='what the outside world does, in order (repeat it): '
                             '\'{"resolve_promise": {"name": "code", "value": "1234"}}\', '
                             '\'{"resolve_awakeable": {"value": 1}, "at": "5s"}\', '
                             '\'{"call": {"target": "Signup/ada/confirm", "input": "x"}}\', '
                             '\'{"send": ...}\', \'{"advance": "1h"}\'; without "at", once '
                             'the run waits')
    parser.add_argument("--concurrent", type=int, default=1, metavar="N",
                        help="run N invocations of the target at once (default 1); each "
                             "run must then end as some one-at-a-time order ends")
    parser.add_argument("-j", "--jobs", default="1", metavar="N|auto",
                        help="share the single faults and generated examples among N worker "
                             "processes, or one per usable core with auto (default 1); the "
                             "report is the same whatever N")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON (for tools); exit status unchanged")
    parser.add_argument("--coverage", action="store_true",
                        help="report handler lines run only under faults (coverage.py)")
    parser.add_argument("--chrome-trace", metavar="FILE",
                        help="write the first failing run as Chrome trace-event JSON")


def _is_service(value: Any) -> bool:
    """A simdurable service, object or workflow, or a restate-sdk one to host."""
    return isinstance(value, _SERVICE_TYPES) or is_hostable(value)


def _module_objects(module_name: str) -> tuple[list[Any], list[FakeExternal]]:
    mod = sys.modules[module_name]
    services, externals = [], []
    for _, value in sorted(vars(mod).items()):
        if _is_service(value) and value not in services:
            services.append(value)
        elif isinstance(value, FakeExternal) and value not in externals:
            externals.append(value)
    return services, externals


def _handlers_of(svc: Any) -> dict[str, Any]:
    handlers = handlers_attr(svc)
    return handlers if isinstance(handlers, dict) else {}


def _with_target_first(services: list[Any], chosen: Any) -> list[Any]:
    """``chosen`` (the service the target names), then the module's others that
    can be hosted beside it: a module holding two services of one name (a
    buggy and a correct twin) hosts the one named, and neither of two others
    that share a name (which of them a call would reach is not said)."""
    def name(svc: Any) -> str | None:
        n = getattr(svc, "name", None)
        return n if isinstance(n, str) and _handlers_of(svc) else None

    names = [name(s) for s in services if s is not chosen]
    out = [chosen]
    for svc in services:
        n = name(svc)
        if svc is chosen or (n is not None and (n == name(chosen) or names.count(n) > 1)):
            continue
        out.append(svc)
    return out


def twins_left_out(target: str, hosted: list[Any]) -> str | None:
    """A note naming the services of the target's module that share a name and
    so were not hosted (a call to them would find no handler), and how to host one."""
    module_name = target.partition(":")[0]
    if module_name not in sys.modules:
        return None
    mod = sys.modules[module_name]
    names = {getattr(s, "name", None) for s in hosted}
    groups: dict[str, list[str]] = {}
    for attr, value in sorted(vars(mod).items()):
        n = getattr(value, "name", None)
        if (_is_service(value) and _handlers_of(value)
                and isinstance(n, str) and n not in names and not attr.startswith("_")):
            groups.setdefault(n, []).append(attr)
    if not groups:
        return None
    hosted_vars = [attr for attr, value in sorted(vars(mod).items())
                   if any(value is s for s in hosted) and not attr.startswith("_")]
    which = "; ".join(f"{len(attrs)} services named {n} ({', '.join(attrs)})"
                      for n, attrs in sorted(groups.items()))
    first = sorted(groups.items())[0]
    example = ", ".join(hosted_vars[:1] + [first[1][0]])
    return (f"{module_name} holds {which}: none of them is hosted, since which one a call "
            f"should reach is not said, and a call to {' or '.join(sorted(groups))} finds no "
            f"handler. To host one, check a list of services: `services = [{example}]` in "
            f"{module_name}, then `simdurable check {module_name}:services --invoke ...`")


def _many_services_hint(target: str, obj: Any) -> str:
    """The error for ``module:services/handler`` naming a list of services or an
    app: it takes ``--invoke``, with the handler's target when one is so named."""
    from .._restate import native_services

    base, _, handler_name = target.rpartition("/")
    found = [f"{s.name}/{handler_name}" if s.service_tag.kind == "service"
             else f"{s.name}/<key>/{handler_name}"
             for s in native_services(list(obj) if isinstance(obj, (list, tuple, App))
                                      else [obj])
             if handler_name in _handlers_of(s)]
    what = "a list of services" if isinstance(obj, (list, tuple)) else "an app"
    like = found[0] if found else "Service/handler"
    return (f"{target!r}: {base.partition(':')[2]!r} is {what}, not a service: name the "
            f"handler with --invoke, like simdurable check {base} --invoke \"{like}\""
            + ("" if found else f" (none of its services has a handler {handler_name!r})"))


def _service_handler(target: str, obj: Any) -> Any:
    """The handler of ``module:service/handler``: ``obj`` is the service."""
    handler_name = target.rpartition("/")[2]
    if (isinstance(obj, (list, tuple, App)) and any(_is_service(o) for o in obj)
            or is_hostable(obj) and not _handlers_of(obj)):
        raise LoadError(_many_services_hint(target, obj))
    if not _is_service(obj) or not _handlers_of(obj):
        raise LoadError(f"{target!r}: {target.rpartition('/')[0]!r} is a "
                        f"{type(obj).__name__}, not a service: module:service/handler names "
                        f"a handler of the service whose variable is `service`")
    handlers = _handlers_of(obj)
    if handler_name not in handlers:
        raise LoadError(f"{target!r}: service {obj.name} has no handler {handler_name!r}; "
                        f"it has: {', '.join(sorted(handlers))}")
    return handlers[handler_name]


def resolve(args: argparse.Namespace) -> tuple[list[Any], str, list[FakeExternal]]:
    """The services, target and externals the arguments name."""
    module_name, _, attr = args.target.partition(":")
    service_handler = "/" in attr
    obj = load_object(args.target.rpartition("/")[0] if service_handler else args.target)
    services, externals = _module_objects(module_name)
    invoke = args.invoke
    picked = None  # the Handler (simdurable's or restate-sdk's) of module:service/handler
    if service_handler:
        picked = _service_handler(args.target, obj)
        services = _with_target_first(services, obj)
    if isinstance(obj, App) and picked is None:  # the swap's restate.app(...): callable
        services = list(obj)
    elif (picked is not None or isinstance(obj, Handler)
            or callable(obj) and not _is_service(obj)):
        handler = (picked if picked is not None else obj if isinstance(obj, Handler)
                   else restate_handler_of(obj) or handler_of(obj))
        if picked is None:
            chosen = next((s for s in services
                           if any(h is handler for h in _handlers_of(s).values())), None)
            if chosen is not None:
                services = _with_target_first(services, chosen)
        tag = handler.service_tag
        if tag.kind == "service" and args.key is not None:
            raise LoadError(f"--key is for objects and workflows; {tag.name} is a service, "
                            f"whose handlers take no key")
        if invoke is None:
            if tag.kind == "service":
                invoke = f"{tag.name}/{handler.name}"
            elif args.key is None:
                raise LoadError(f"{tag.name} is keyed: give --key (or --invoke "
                                f"\"{tag.name}/<key>/{handler.name}\")")
            else:
                invoke = f"{tag.name}/{args.key}/{handler.name}"
    elif _is_service(obj):
        services = _with_target_first(services, obj)
    elif isinstance(obj, (list, tuple)):
        services = list(obj)
    else:
        raise LoadError(f"{args.target!r} is a {type(obj).__name__}: expected a handler, "
                        f"a service or a list of services")
    if invoke is None:
        raise LoadError("--invoke is needed to say which handler to check, like "
                        '--invoke "Greeter/greet"')
    if args.invoke is not None and args.key is not None:
        raise LoadError(f"give --key or --invoke, not both: --invoke {args.invoke!r} names "
                        f"the key itself, like \"Counter/<key>/add\"")
    if args.externals is not None:
        externals = load_externals(list(args.externals), "--externals")
    try:
        collect_handlers(services)
    except ValueError as err:
        if not str(err).startswith("two handlers are named"):
            raise
        raise LoadError(f"{err} (two services of one name would be hosted together): name "
                        f"the one to check as module:service/handler, `service` being its "
                        f"variable, like {module_name}:<service>/{str(err).rpartition('/')[2]}"
                        ) from None
    return listed(services, journal_codec_of([obj])), invoke, externals


def refuse_bad_input(services: list[Any], invoke: str, value: Any) -> None:
    """A ``LoadError`` if ``--input`` is not a valid input for the target: checked
    as given, the handler would fail on it in every run and the check explore
    nothing else (an unknown target is left to ``check`` to name)."""
    from .._inputs import value_problem
    from .._sim import parse_target

    try:
        service, _, name = parse_target(invoke)
    except SimdurableError:
        return
    handler = collect_handlers(services).get((service, name))
    wrong = None if handler is None else value_problem(handler, value)
    if wrong is not None:
        raise LoadError(f"--input is not a valid input for {service}/{name}: {wrong}"
                        + (" (give the input with --input, as JSON)" if value is None else ""))


def refuse_bad_world_inputs(services: list[Any], world: list[Any]) -> None:
    """``refuse_bad_input`` for the input a ``--world`` call or send gives: an input
    its handler cannot take made every run of the check carry a call that failed
    on it, and nothing said so. An input left out, or one from an effect, is
    left alone."""
    from .._inputs import value_problem
    from .._sim import parse_target
    from ._world import FromEffect

    handlers = collect_handlers(services)
    for i, event in enumerate(world):
        if (event.action not in ("call", "send") or event.target is None
                or event.value is None or isinstance(event.value, FromEffect)):
            continue
        try:
            service, _, name = parse_target(event.target)
        except SimdurableError:
            continue
        handler = handlers.get((service, name))
        wrong = None if handler is None else value_problem(handler, event.value)
        if wrong is not None:
            raise LoadError(f"--world #{i + 1}.{event.action}.input is not a valid input for "
                            f"{service}/{name}: {wrong}")


def replay_line(args: argparse.Namespace, plan: str, seed: int, blob: str | None) -> str:
    """The ``simdurable check`` command that replays one case of this check."""
    argv = ["simdurable", "check", args.target, "--input", args.input]
    for flag, value in (("--invoke", args.invoke), ("--key", args.key)):
        if value is not None:
            argv += [flag, value]
    if args.externals is not None:
        argv += ["--externals", *args.externals]
    if args.no_strict:
        argv.append("--no-strict")
    for text in args.world:
        argv += ["--world", text]
    if args.concurrent != 1:
        argv += ["--concurrent", str(args.concurrent)]
    argv += ["--blob", blob] if blob else ["--replay", plan, "--seed", str(seed)]
    return shlex.join(argv)


def flag_in_range(flag: str, value: int, low: int, high: int | None, what: str = "") -> None:
    """Refuse a number flag out of its range, naming the flag and the bounds:
    ``--max-examples 10**22`` is a typo to say at once, not a check that never ends."""
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{flag} must be an integer {allowed}{what}, not {value}")


def _writable(flag: str, path: str) -> None:
    """Refuse at once a file that could not be written at the end of a long check."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{flag} {path}: is a directory; name a file, like trace.json")
    if not os.path.isdir(folder):
        raise ValueError(f"{flag} {path}: the folder {folder} does not exist")
    from .._live._sqlite import is_sqlite_file

    if is_sqlite_file(path):
        raise ValueError(f"{flag} {path}: is an SQLite database (a dev-executor database?), "
                         f"which the trace would overwrite; name another file, like trace.json")


class Progress:
    """One overwritten line on a terminal: runs so far and the phase, or a campaign's seed."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0
        self.shown = False

    def __call__(self, runs: int, phase: str) -> None:
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        self.show(f"simdurable check: {runs} runs ({phase})")

    def show(self, text: str) -> None:
        """Put ``text`` in place of the line shown before (``simdurable soak`` too)."""
        self.shown = True
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def start_early(args: argparse.Namespace) -> None:
    """Start the hash-seed processes as the command begins, when the check will use them.

    Each is an interpreter importing simdurable and the target (about 0.3 s of
    CPU). Started before this process imports Hypothesis and the target, they
    use the core it leaves idle meanwhile, rather than taking it from the
    parts of ``-j 2`` later. A check with world events or replaying one case
    runs no hash-seed comparison: none is started for it.
    """
    if args.world or args.replay is not None or args.blob is not None:
        return
    from ._process import DEFAULT_HASH_SEEDS
    from ._workers import pool

    pool().start(list(DEFAULT_HASH_SEEDS))


def run(args: argparse.Namespace) -> int:
    from ._api import check
    from ._explore import MAX_CONCURRENT
    from ._parallel import MAX_EXAMPLES, jobs_from
    from ._replay import DidNotReproduce, replaying
    from ._world import parse as parse_world

    try:
        flag_in_range("--max-examples", args.max_examples, 0, MAX_EXAMPLES,
                      " (a longer campaign is simdurable soak over seeds)")
        flag_in_range("--seed", args.seed, 0, None)
        flag_in_range("--concurrent", args.concurrent, 1, MAX_CONCURRENT,
                      " (every order of them is run one at a time to judge them)")
        args.jobs = jobs_from("-j/--jobs", args.jobs)
        if args.chrome_trace is not None:
            _writable("--chrome-trace", args.chrome_trace)
    except ValueError as err:
        print(f"simdurable check: {err}", file=sys.stderr)
        return 2

    try:
        input_value = read_json(args.input, "--input")
    except ValueError as err:
        print(f"simdurable check: {err}", file=sys.stderr)
        return 2
    if args.blob is not None and (args.replay is not None or not args.blob.strip()):
        print("simdurable check: " + ("--blob is empty: pass the blob a report printed"
                                      if not args.blob.strip() else
                                      "give --replay or --blob, not both: the blob holds "
                                      "its own plan and seed"), file=sys.stderr)
        return 2
    progress = Progress(sys.stderr) if sys.stderr.isatty() and not args.json else None
    try:
        services, invoke, externals = resolve(args)
        refuse_bad_input(services, invoke, input_value)
        world = [parse_world(text, f"--world #{i + 1}") for i, text in enumerate(args.world)]
        refuse_bad_world_inputs(services, world)
        case = replaying(blob=args.blob) if args.blob else contextlib.nullcontext()
        with case:
            report = check(services=services, invoke=invoke, input=input_value,
                           externals=externals, max_examples=args.max_examples,
                           seed=args.seed, strict=not args.no_strict, replay=args.replay,
                           coverage=args.coverage, progress=progress, world=world,
                           concurrent=args.concurrent, jobs=args.jobs)
    except DidNotReproduce as err:
        print(f"did not reproduce: {err}")
        return 1
    except FaultPlanError as err:
        where = (f"--replay {args.replay!r}: " if args.replay is not None
                 else "--blob's plan: " if args.blob is not None else "")
        print(f"simdurable check: {where}{err}", file=sys.stderr)
        return 2
    except (LoadError, SimdurableError, TypeError, ValueError) as err:
        print(f"simdurable check: {err}", file=sys.stderr)
        return 2
    finally:
        if progress is not None:
            progress.clear()
    twins = twins_left_out(args.target, services)
    if twins is not None:
        report.notes.append(twins)
    for v in report.violations:
        v.pytest_line = ""  # no pytest item runs this check: the command line replays it
        if not v.hint:
            v.cli_line = replay_line(args, str(v.fault_plan), v.seed,
                                     v.blob if v.schedule is not None or v.moments is not None
                                     else None)
    if args.json:
        print(report.to_json())
    else:
        print(report.render())
    if args.chrome_trace and report.violations:
        from ._chrome import write_chrome_trace

        v = report.violations[0]
        try:
            write_chrome_trace(v.events, args.chrome_trace, f"{v.kind}: {v.message}")
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err
            print(f"simdurable check: --chrome-trace {args.chrome_trace}: cannot write it: "
                  f"{reason}", file=sys.stderr)
            return 2
        if not args.json:
            print(f"\nchrome trace of the failing run written to {args.chrome_trace} "
                  f"(open it in https://ui.perfetto.dev)")
    return 0 if report.ok else 1
