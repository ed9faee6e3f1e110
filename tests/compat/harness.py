"""Runs the compatibility programs in the simulation, in two modes.

``real``: restate-sdk is installed and a program module is imported as it is;
its ``restate.Service``/``VirtualObject``/``Workflow`` objects go to
``Simulation`` unchanged.

``swap``: the same module is imported with its restate imports rewritten
(``import simdurable as restate``, ``from simdurable.exceptions import ...``),
everywhere in its text; the program never touches the real restate-sdk.

A case is a list of operations (invocations, awakeable/promise completions,
cancellations) run in order, each followed by ``sim.run()``; afterwards every
invocation's outcome and the listed object states are compared with what the
program does on Restate, as written by hand from its text.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

PROGRAMS = "tests.compat.programs"
MODES = ("real", "swap")
# After the last operation, virtual time runs this long: retries back off and
# short timers fire; a day-long sleep stays asleep.
SETTLE = timedelta(hours=1)


class _Nothing:
    def __repr__(self) -> str:
        return "<no expectation>"


NOTHING: Any = _Nothing()


class _Present:
    """In an expected state: the key is there, whatever its value (a timestamp)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "<present>"


PRESENT: Any = _Present()


# -- the operations of a case ---------------------------------------------------
@dataclass
class Call:
    """Submit ``target`` ("Svc/handler", "Obj/key/handler") and expect an outcome.

    ``result``: the value returned, compared after JSON normalisation;
    ``error``: ``(status_code, message)`` of the terminal error it ends with;
    ``status``: the status it must have at the end instead ("paused" for an
    invocation that keeps failing, "waiting"/"suspended" for one still blocked);
    ``refused``: what Restate's ingress answers a request it refuses before any
    invocation exists (a 400), which the submission must raise.
    """

    target: str
    input: Any = None
    result: Any = NOTHING
    error: tuple[int, str] | None = None
    status: str | tuple[str, ...] | None = None
    send: bool = False
    delay: timedelta | None = None
    idempotency_key: str | None = None
    headers: dict[str, str] | None = None
    raw: bytes | Callable[[Now], bytes] | None = None
    check: Callable[[Any], bool] | None = None  # a predicate on the result
    refused: str | None = None


@dataclass
class Now:
    """What a ``Call`` whose input (or raw body) is a function is given."""

    ids: list[str]  # of the invocations submitted so far, in order
    awakeables: list[str]  # open awakeables
    program: types.ModuleType | None  # the program's module in this mode


@dataclass
class ResolveAwakeables:
    """Resolve (or reject, with ``reject`` as the message) every open awakeable."""

    value: Any = None
    reject: str | None = None


@dataclass
class ResolvePromise:
    workflow: str
    key: str
    name: str
    value: Any = None


@dataclass
class Cancel:
    """Cancel the invocation submitted by the ``call``-th ``Call`` of the case."""

    call: int


@dataclass
class Advance:
    """Let virtual time pass (timers fire as they fall due)."""

    by: timedelta


Op = Call | ResolveAwakeables | ResolvePromise | Cancel | Advance


@dataclass
class Case:
    """One scenario; ``covers`` are handlers it exercises besides its calls'
    targets (callees), ``state`` the objects' final state ("Obj/key": {...})."""

    name: str
    ops: list[Op]
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    covers: tuple[str, ...] = ()
    settle: timedelta | None = None  # instead of SETTLE (for programs that poll forever)

    def handlers(self) -> set[str]:
        found = {handler_of_target(op.target) for op in self.ops if isinstance(op, Call)}
        return found | set(self.covers)


def handler_of_target(target: str) -> str:
    parts = target.split("/")
    return f"{parts[0]}/{parts[-1]}"


# -- loading a program in a mode --------------------------------------------------
class _SwappedSource(importlib.machinery.SourceFileLoader):
    """Loads a program with its restate imports rewritten to simdurable, as a user
    would edit them: ``import restate`` -> ``import simdurable as restate``,
    ``from restate.x import y`` -> ``from simdurable.x import y`` (also inside
    functions). Never cached: the real-objects mode loads the same file as it is."""

    def get_code(self, fullname: str) -> types.CodeType:
        source = self.get_data(self.path)
        tree = _SwapImports().visit(ast.parse(source, self.path))
        return compile(ast.fix_missing_locations(tree), self.path, "exec", dont_inherit=True)


class _SwapImports(ast.NodeTransformer):
    def visit_Import(self, node: ast.Import) -> ast.AST:
        for alias in node.names:
            if alias.name == "restate":
                alias.name, alias.asname = "simdurable", alias.asname or "restate"
            elif alias.name.startswith("restate."):
                raise ImportError(f"'import {alias.name}' has no swapped form here")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        if node.level == 0 and node.module is not None and (
                node.module == "restate" or node.module.startswith("restate.")):
            node.module = "simdurable" + node.module[len("restate"):]
        return node


class SwapFinder(importlib.abc.MetaPathFinder):
    """Finds the program modules and loads them through ``_SwappedSource``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PROGRAMS + "."):
            return None
        file = Path(__file__).parent / "programs" / (fullname.rsplit(".", 1)[1] + ".py")
        if not file.exists():
            return None
        return importlib.util.spec_from_file_location(
            fullname, file, loader=_SwappedSource(fullname, str(file)))


def _ours(name: str) -> bool:
    return name == PROGRAMS or name.startswith(PROGRAMS + ".")


@contextmanager
def _isolated_imports(swap: bool) -> Iterator[None]:
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if _ours(k)}
    finder = SwapFinder()
    if swap:
        sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if swap:
            sys.meta_path.remove(finder)
        for k in [k for k in sys.modules if _ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


@dataclass
class Loaded:
    module: types.ModuleType | None
    services: list[Any]
    error: str | None = None
    # the modules the import brought (programs, and restate's aliases in the swap):
    # put back while the program runs, for imports inside handlers
    modules: dict[str, types.ModuleType] = field(default_factory=dict)


@contextmanager
def _modules_of(loaded: list[Loaded]) -> Iterator[None]:
    wanted: dict[str, types.ModuleType] = {}
    for one in loaded:
        wanted.update(one.modules)
    saved = {k: sys.modules[k] for k in wanted if k in sys.modules}
    sys.modules.update(wanted)
    try:
        yield
    finally:
        for k in wanted:
            del sys.modules[k]
        sys.modules.update(saved)


_cache: dict[tuple[str, str], Loaded] = {}


def service_classes(mode: str) -> tuple[type, ...]:
    if mode == "real":
        import restate

        return (restate.Service, restate.VirtualObject, restate.Workflow)
    import simdurable

    return (simdurable.Service, simdurable.VirtualObject, simdurable.Workflow)


def load(program: str, mode: str) -> Loaded:
    """Import ``tests.compat.programs.<program>`` in ``mode``, with the services
    defined by it and by the program modules it imports."""
    if (program, mode) in _cache:
        return _cache[(program, mode)]
    classes = service_classes(mode)
    with _isolated_imports(swap=mode == "swap"):
        try:
            module = importlib.import_module(f"{PROGRAMS}.{program}")
        except BaseException as err:  # noqa: B036 - the import is what is measured
            loaded = Loaded(None, [], f"import failed: {_one_line(err)}")
        else:
            services: list[Any] = []
            mods = [m for k, m in sorted(sys.modules.items()) if k.startswith(PROGRAMS + ".")]
            for m in [module, *[m for m in mods if m is not module]]:
                for value in vars(m).values():
                    if isinstance(value, classes) and not any(value is s for s in services):
                        services.append(value)
            loaded = Loaded(module, services, modules={
                k: m for k, m in sys.modules.items() if _ours(k)})
    _cache[(program, mode)] = loaded
    return loaded


def _one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".splitlines()
    return text[0] if text else type(err).__name__


# -- running a case ---------------------------------------------------------------
def normalise(value: Any) -> Any:
    """A handler's result as JSON-like data, whatever the model class."""
    if hasattr(value, "model_dump"):
        return normalise(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return normalise(dataclasses.asdict(value))
    if type(value).__module__.startswith("msgspec") or hasattr(value, "__struct_fields__"):
        import msgspec

        return normalise(msgspec.to_builtins(value))
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return value


@dataclass
class Outcome:
    ok: bool
    problems: list[str]
    # closure executions per "service/handler/step" (the conformance suite compares them)
    step_runs: dict[str, int] = dataclasses.field(default_factory=dict)
    # the journal of each call's invocation, in the order of the calls
    journals: list[list[Any]] = dataclasses.field(default_factory=list)
    # every invocation's journal by id, the callees' too (the conformance suite
    # follows calls and sends from the calls' journals: ``Entry.ref``)
    every_journal: dict[str, list[Any]] = dataclasses.field(default_factory=dict)


def _error_parts(err: BaseException) -> tuple[Any, str]:
    code = getattr(err, "status_code", None)
    message = getattr(err, "message", None)
    if message is None:
        message = str(err)
    return code, message


def run_case(program: str, case: Case, mode: str, seed: int = 0) -> Outcome:
    """Run ``case`` of ``program`` in ``mode``; never raises."""
    try:
        return _run_case(program, case, mode, seed)
    except Exception as err:  # noqa: BLE001 - any failure is an outcome here
        tb = traceback.extract_tb(err.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        return Outcome(False, [f"{_one_line(err)}{where}"])


def _run_case(program: str, case: Case, mode: str, seed: int) -> Outcome:
    from tests.compat.cases import HOSTS

    services: list[Any] = []
    all_loaded = []
    for name in (program, *HOSTS.get(program, ())):
        loaded = load(name, mode)
        if loaded.error is not None:
            return Outcome(False, [f"{name}: {loaded.error}"])
        all_loaded.append(loaded)
        services += [s for s in loaded.services if s.name not in {t.name for t in services}]
    with _modules_of(all_loaded):
        return _run_ops(program, case, services, all_loaded[0].module, seed)


def _run_ops(program: str, case: Case, services: list[Any], loaded_program: Any,
             seed: int) -> Outcome:
    import simdurable as sd

    sim = sd.Simulation(services=services, seed=seed)
    handles: list[tuple[Call, Any]] = []
    problems: list[str] = []
    for op in case.ops:
        if isinstance(op, Call):
            # an input built from what the run holds so far: ids, awakeables, the program
            now = Now([h.id for _, h in handles], sim.awakeables(), loaded_program)
            if callable(op.input):
                op = dataclasses.replace(op, input=op.input(now))
            if callable(op.raw):
                op = dataclasses.replace(op, raw=op.raw(now))
            try:
                if op.send or op.delay is not None:
                    h = sim.send(op.target, op.input, delay=op.delay, raw=op.raw,
                                 idempotency_key=op.idempotency_key, headers=op.headers)
                else:
                    h = sim.invoke(op.target, op.input, raw=op.raw,
                                   idempotency_key=op.idempotency_key, headers=op.headers)
            except (TypeError, ValueError) as err:
                if op.refused is None or op.refused not in str(err):
                    raise
                continue
            if op.refused is not None:
                problems.append(f"{op.target}: taken, where Restate's ingress refuses it "
                                f"({op.refused})")
            handles.append((op, h))
        elif isinstance(op, ResolveAwakeables):
            for awk in sim.awakeables():
                if op.reject is not None:
                    sim.reject_awakeable(awk, op.reject)
                else:
                    sim.resolve_awakeable(awk, op.value)
        elif isinstance(op, ResolvePromise):
            sim.resolve_promise(op.workflow, op.key, op.name, op.value)
        elif isinstance(op, Cancel):
            sim.cancel(handles[op.call][1])
        elif isinstance(op, Advance):
            sim.run(until=timedelta(seconds=sim.now()) + op.by)
            continue
        sim.run(until=timedelta(seconds=sim.now()))  # what is due now, no timer ahead
    sim.run(until=timedelta(seconds=sim.now()) + (case.settle or SETTLE))
    for i, (op, h) in enumerate(handles):
        problems += _check_call(i, op, h)
    for where, expected in case.state.items():
        service, key = where.split("/", 1)
        got = normalise(sim.state(service, key))
        if expected != got:  # expected first: PRESENT matches any value
            problems.append(f"state of {where}: expected {expected!r}, got {got!r}")
    return Outcome(not problems, problems, step_runs_of(sim),
                   [sim.journal(h) for _, h in handles],
                   {h.id: sim.journal(h) for h in sim.invocations()})


def step_runs_of(sim: Any) -> dict[str, int]:
    """How many times each step's closure ran, per ``service/handler/step``."""
    out: dict[str, int] = {}
    for h in sim.invocations():
        parts = h.target.split("/")
        for step, n in sim.step_runs(h).items():
            key = f"{parts[0]}/{parts[-1]}/{step}"
            out[key] = out.get(key, 0) + n
    return dict(sorted(out.items()))


def _check_call(i: int, op: Call, h: Any) -> list[str]:
    label = f"call #{i} {op.target}"
    status = h.status
    if op.status is not None:
        if status not in ((op.status,) if isinstance(op.status, str) else op.status):
            return [f"{label}: expected status {op.status}, got {status} ({_result_text(h)})"]
        return []
    if op.error is None and op.result is NOTHING and op.check is None:
        return [] if status in ("completed", "failed") else [
            f"{label}: did not finish: {status} ({_result_text(h)})"]
    try:
        value = h.result()
    except Exception as err:  # noqa: BLE001
        code, message = _error_parts(err)
        if op.error is not None and (code, message) == op.error:
            return []
        want = f"error {op.error}" if op.error is not None else f"result {op.result!r}"
        return [f"{label}: expected {want}, got {type(err).__name__}({message!r}, {code})"]
    if op.error is not None:
        return [f"{label}: expected error {op.error}, got result {value!r}"]
    got = normalise(value)
    if op.check is not None and not op.check(got):
        return [f"{label}: result {got!r} fails its check"]
    if op.result is not NOTHING and got != op.result:
        return [f"{label}: expected {op.result!r}, got {got!r}"]
    return []


def _result_text(h: Any) -> str:
    try:
        return repr(h.result())
    except Exception as err:  # noqa: BLE001
        return _one_line(err)


# -- the whole suite -------------------------------------------------------------
def programs() -> list[str]:
    """The program modules, by name."""
    import pkgutil

    from tests.compat import programs as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def cases_of(program: str) -> list[Case]:
    from tests.compat.cases import CASES

    return CASES.get(program, [])


def all_cases() -> list[tuple[str, Case]]:
    from tests.compat.cases import CASES

    return [(p, c) for p in sorted(CASES) for c in CASES[p]]


def restate_installed() -> bool:
    return importlib.util.find_spec("restate") is not None
