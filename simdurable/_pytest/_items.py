"""Test items for ``pytest --simdurable``: one per handler, one per scenario file.

Failures are ``SimdurableFailure``: their text is the whole report (the
violation, the minimal fault plan, the timeline, the reproducer), shown
instead of a traceback through simdurable; ``-v`` adds the traceback.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from .._api.service import App, handlers_attr
from .._codec import journal_codec_of, listed
from .._loader import LoadError, load_externals, load_object
from .._restate import native_services
from ._settings import Settings, unknown_name

PROPERTY = "simdurable"


class SimdurableFailure(Exception):
    """A failure whose message is the full, readable report."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _repr_failure(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    err = excinfo.value
    if isinstance(err, SimdurableFailure) and item.config.get_verbosity() <= 0:
        return err.text
    return None


def write_trace(settings: Settings, nodeid: str, text: str) -> str | None:
    """Write a failure's report to ``--simdurable-trace-dir``; return the line that
    says where it went, or why it could not be written (the failure's report is
    shown either way: a directory that cannot be made must not replace it)."""
    if not settings.trace_dir:
        return None
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_") + ".txt"
    path = os.path.join(settings.trace_dir, name)
    try:
        os.makedirs(settings.trace_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError as err:
        return (f"trace not written: --simdurable-trace-dir {settings.trace_dir}: "
                f"{err.strerror or err}" + (f" ({err.filename})" if err.filename else ""))
    return f"trace written to {path}"


def quote(arg: str) -> str:
    return shlex.quote(arg)


def callers_wanted(services: Sequence[Any], kind: str, invoke: str, value: Any,
                   configured: int) -> int:
    """How many invocations at once a handler is checked with before the world
    is looked at: ``configured`` for an object handler; for a service handler
    too when its fault-free run calls or sends to an object (a read through one
    call and a write through another loses an update only with two callers;
    two producers' messages to a key may be handled interleaved) or waits on
    an awakeable (a permit or a turn that a second caller contends for); one
    otherwise, and for a workflow, which runs once per id."""
    if configured <= 1 or kind == "workflow":
        return 1
    if kind == "object":
        return configured
    from .._sim import Simulation
    from ..runtime._journal import AWAKEABLE, CALL, SEND

    try:
        sim = Simulation(list(services), seed=0, strict=False)
        try:
            handle = sim.invoke(invoke, value)
            sim.run()
            engine = sim.engine
            contends = any(
                e.kind == AWAKEABLE or (e.kind in (CALL, SEND) and e.ref in engine.invocations.by_id
                                        and engine.record(e.ref).key is not None)
                for e in sim.journal(handle))
        finally:
            sim.close()
    except Exception:  # noqa: BLE001 - the check itself reports what fails here
        return 1
    return configured if contends else 1


def callers_at_once(services: Sequence[Any], invoke: str, value: Any, externals: Sequence[Any],
                    world: Sequence[Any], wanted: int, strict: bool) -> tuple[int, str | None]:
    """How many invocations at once an object handler is checked with, and why
    fewer than ``wanted`` when so.

    Two writers at once are what finds a lost update. But a world written for
    one caller (one awakeable resolved) leaves the second waiting for ever: a
    stuck run of the world's making. So with a world, the fault-free run of
    ``wanted`` callers is tried first; if one of them never finishes, the
    handler is checked one caller at a time, and the reason is said (never a
    silent pass). ``simdurable soak`` asks the same, so that the failures it
    saves are those the plugin replays.
    """
    if wanted <= 1 or not world:
        return wanted, None
    from .._check import check

    try:
        probe = check(services=services, invoke=invoke, input=value, externals=externals,
                      world=list(world), concurrent=wanted, strict=strict, max_examples=0,
                      single_faults=False, hash_seeds=(), self_check=False)
    except Exception as err:  # noqa: BLE001 - the check of one caller reports its own errors
        why = f"the world does not fit {wanted} callers: {str(err).splitlines()[0]}"
    else:
        stuck = next((v for v in probe.violations if v.kind == "stuck"), None)
        if stuck is None:
            return wanted, None
        why = (f"with {wanted} callers at once and the same world, one never finishes "
               f"({stuck.message.partition(': ')[2]})")
    return 1, (f"{invoke}: checked one caller at a time, not {wanted} at once: {why}; give "
               f"the world an event for each caller to check them at once, or set "
               f"[tool.simdurable] concurrent = 1")


class ScenarioFile(pytest.File):
    """A ``*.yaml``/``*.yml`` file in a scenario folder: one scenario, one item.

    Nothing is read while collecting, so a broken file never stops the
    session: it becomes a failing item.
    """

    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    """Runs one scenario file and checks its expectations."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.add_marker("simdurable")

    def runtest(self) -> None:
        from .._scenario import ScenarioError, load_scenario, run_scenario

        settings: Settings = self.config.stash[SETTINGS_KEY]
        opts = self.config.option
        path = os.path.relpath(self.path, self.config.invocation_params.dir)
        try:
            sc = load_scenario(path)
            result = run_scenario(
                sc,
                seed=opts.simdurable_seed,
                strict=False if opts.simdurable_no_strict else None,
                max_examples=opts.simdurable_examples,
                jobs=settings.jobs,
            )
        except ScenarioError as err:
            self.user_properties.append((PROPERTY, {"kind": "scenario", "ok": False}))
            raise SimdurableFailure(f"scenario {path} cannot run as written:\n{err}") from None
        self.user_properties.append((PROPERTY, {"kind": "scenario", "ok": result.ok}))
        if not result.ok:
            text = result.render(reproduce=f"pytest --simdurable {quote(self.nodeid)}  "
                                           f"(or: simdurable scenario {quote(path)})")
            written = write_trace(settings, self.nodeid, text)
            if written:
                text += f"\n{written}"
            raise SimdurableFailure(text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        return _repr_failure(self, excinfo) or super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.path.name}"


class ConfigErrorItem(pytest.Item):
    """Stands for configured services that cannot be loaded: fails with the reason."""

    def __init__(self, *, message: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.message = message

    def runtest(self) -> None:
        raise SimdurableFailure(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        return _repr_failure(self, excinfo) or super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.config.rootpath / "pyproject.toml", None, self.name


class HandlerItem(pytest.Item):
    """Runs ``simdurable.check`` on one handler, once per example input."""

    def __init__(self, *, target: str, invoke: str, services: list[Any],
                 externals: list[Any], inputs: list[Any], handler: Any, selected: bool,
                 world: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.add_marker("simdurable")
        self.target = target
        self.invoke = invoke
        self.services = services
        self.externals = externals
        self.inputs = inputs
        self.handler = handler
        self.selected = selected
        self.world = world

    def runtest(self) -> None:
        from .._check import DidNotReproduce

        settings: Settings = self.config.stash[SETTINGS_KEY]
        stats: dict[str, Any] = {"kind": "handler", "target": self.target, "examples": 0,
                                 "fault_points": 0, "exercised": 0, "violations": 0}
        self.user_properties.append((PROPERTY, stats))
        for value in self.inputs:
            generated = value is _GENERATE
            if generated:
                value = _generated_input(self.handler)
            worlds: list[list[Any]] = [self.world] if self.world is not None else []
            inferred: list[Any] = []
            if self.world is None:
                from ._infer import infer_worlds

                inferred = infer_worlds(self.services, self.invoke, value, self.handler,
                                        self.externals)
                worlds = [w for w, _ in inferred] or [[]]
                if inferred:
                    stats["world"] = "; ".join(said for _, said in inferred)
            missed: list[DidNotReproduce] = []
            ends: list[str | None] = []
            for world in worlds:
                try:
                    ends.append(self._check_once(settings, stats, value, generated, world,
                                                 bool(inferred)))
                except DidNotReproduce as err:
                    missed.append(err)  # a replayed case may fail in another of the worlds
            if inferred and ends and all(ends):
                # The inferred driver gives the simplest value of its type: a promise
                # that needs a secret (a code, a token) gets it wrong, and every run
                # takes the path kept for a wrong answer. (With a yes/no driver, the
                # "no" world failing is the point of trying both.)
                given = (f" with the input built from the type hint, {value!r},"
                         if generated else "")
                inputs = (f" (or an input in [tool.simdurable.inputs] \"{self.target}\")"
                          if generated else "")
                stats["input"] = (
                    f"in the inferred world the fault-free run{given} {ends[0]}, so only the "
                    f"path it takes then was checked; say what the world does in "
                    f"[tool.simdurable.world] \"{self.target}\"{inputs}")
            if len(missed) == len(worlds):
                missed_err = missed[0]
                if self.selected:
                    raise SimdurableFailure(
                        f"simdurable::{self.target}: {missed_err}") from missed_err
                self.user_properties.remove((PROPERTY, stats))
                raise pytest.skip.Exception(
                    f"--simdurable-replay does not fail this handler: {missed_err}",
                    _use_item_location=True,
                ) from None

    def _check_once(self, settings: Settings, stats: dict[str, Any], value: Any,
                    generated: bool, world: list[Any], inferred: bool = False) -> str | None:
        """Check the handler with one input in one world; fail the item if it breaks
        (``DidNotReproduce`` passes through: a replayed case that did not fail).
        Returns how the fault-free run failed, if it did."""
        from .._check import check
        from ..runtime._errors import SimdurableError

        concurrent = self._concurrent(settings, value, world, stats)
        self._replay_saved(settings, value, world, concurrent)
        try:
            report = check(
                services=self.services, invoke=self.invoke, input=value,
                externals=self.externals, seed=settings.seed, strict=settings.strict,
                max_examples=settings.max_examples, replay=settings.replay, world=world,
                concurrent=concurrent, jobs=settings.jobs,
            )
        except (SimdurableError, TypeError, ValueError) as err:
            from .._check import DidNotReproduce

            if isinstance(err, DidNotReproduce):
                raise
            raise SimdurableFailure(
                f"simdurable::{self.target} with input {value!r} could not be checked: "
                f"{type(err).__name__}: {err}"
            ) from err
        stats["examples"] += report.examples + report.single_faults
        stats["fault_points"] += report.fault_points
        stats["exercised"] += report.fault_points_exercised
        stats["violations"] += len(report.violations)
        ended = report.reference.split(' at ')[0] if report.reference.startswith("failed") \
            else None
        if generated and ended and not inferred:
            if self.handler.arity < 2:
                # no input to give: what it lacks is state or calls made before it
                stats["input"] = (f"{self.target} takes no input and {ended} in its fault-free "
                                  f"run, so only that path was checked; check it from a "
                                  f"scenario or a @pytest.mark.simdurable test that prepares "
                                  f"what it needs, and leave it out with [tool.simdurable] "
                                  f"exclude = [\"{self.target}\"]")
            else:
                # the simplest input from the type hint may not get far: say so, with the fix
                stats["input"] = (f"the input built from the type hint, {value!r}, {ended}; "
                                  f"give one in [tool.simdurable.inputs] \"{self.target}\"")
        if not report.ok:
            self._fail(report, value, settings)
        return ended

    def _replay_saved(self, settings: Settings, value: Any, world: list[Any],
                      concurrent: int) -> None:
        """Replay the failures saved for this check (by ``simdurable soak``) first; forget
        those that no longer fail."""
        from .._check import replay
        from .._check._database import DEFAULT_DATABASE, forget, open_database, saved

        name = settings.database
        if name is None:
            name = os.path.join(settings.rootdir, DEFAULT_DATABASE)
            if not os.path.isdir(name):
                return
        if settings.replay is not None:
            return
        try:
            db = open_database(name)
        except ValueError as err:
            raise SimdurableFailure(f"simdurable::{self.target}: {err}") from None
        for blob in saved(db, self.invoke, value, concurrent):
            try:
                report = replay(blob=blob, services=self.services, invoke=self.invoke,
                                input=value, externals=self.externals, strict=settings.strict,
                                world=world, concurrent=concurrent)
            except Exception:  # noqa: BLE001 - a case of an older version: drop it
                forget(db, self.invoke, value, concurrent, blob)
                continue
            if report.ok:
                forget(db, self.invoke, value, concurrent, blob)
                continue
            lines = [f"simdurable::{self.target} with input {value!r}: a failure saved in the "
                     f"example database {name} (by simdurable soak) replayed first, and it "
                     f"still fails:", report.render()]
            full = "\n".join(lines)
            written = write_trace(settings, self.nodeid, full)
            if written:
                full += f"\n{written}"
            raise SimdurableFailure(full)

    def _concurrent(self, settings: Settings, value: Any, world: list[Any],
                    stats: dict[str, Any]) -> int:
        """Object handlers (and service handlers that reach an object) run twice
        at once by default: a lost update needs two writers (see
        ``callers_wanted``, and ``callers_at_once`` for a world)."""
        wanted = callers_wanted(self.services, self.handler.service_tag.kind, self.invoke,
                                value, settings.concurrent)
        if wanted <= 1:
            return 1
        n, why = callers_at_once(self.services, self.invoke, value, self.externals, world,
                                 wanted, settings.strict)
        if why is not None:
            stats.setdefault("concurrency", []).append(why)
        return n

    def _fail(self, report: Any, value: Any, settings: Settings) -> None:
        lines = [f"simdurable::{self.target} with input {value!r}:", report.render()]
        said = next((s.get("world") for n, s in self.user_properties
                     if n == PROPERTY and isinstance(s, dict)), None)
        if said:
            lines.insert(1, f"(world inferred: {said}; set [tool.simdurable.world] to choose)")
        v = report.violations[0]
        if "--simdurable-replay" not in getattr(v, "pytest_line", ""):
            lines.append("reproduce this exact case:")
            lines.append(
                f"  pytest {quote(self.nodeid)} --simdurable --simdurable-seed={v.seed} "
                f"--simdurable-replay={quote(str(v.fault_plan))}"
            )
        full = "\n".join(lines)
        written = write_trace(settings, self.nodeid, full)
        if written:
            full += f"\n{written}"
        raise SimdurableFailure(full)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        return _repr_failure(self, excinfo) or super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # Line 0 of the config file that named the handler (skips need a line).
        return self.config.rootpath / "pyproject.toml", 0, f"simdurable::{self.target}"


SETTINGS_KEY = pytest.StashKey[Settings]()
# Stands for "no input configured": one is built from the type hint when the item runs.
_GENERATE: Any = object()


# The simplest filled values of the plain types (what ``_generated_input``
# finds for them, without a search).
_SIMPLEST: dict[Any, Any] = {int: 1, float: 1.0, str: "0", bool: False}


def refuse_bad_inputs(handler: Any, target: str, values: list[Any]) -> None:
    """A ``LoadError`` naming the first of ``[tool.simdurable.inputs]``'s examples for
    ``target`` that is not a valid input for its handler: checked as given, it
    would fail in every run and the check explore nothing else."""
    from .._inputs import value_problem

    for i, value in enumerate(values):
        wrong = value_problem(handler, value)
        if wrong is not None:
            raise LoadError(f"[tool.simdurable] inputs.\"{target}\"[{i}] is not a valid input "
                            f"for {target}: {wrong}")


def _generated_input(handler: Any) -> Any:
    """The simplest filled input Hypothesis builds from the handler's type hint
    (None if none): no empty string, list or dict and no zero, in it or in its
    fields. It is the one input a handler is checked with unless one is
    configured, and the empty or zero one is what a handler refuses or has
    nothing to do with (``if not email: raise ...``, a loop over no items), so
    its check would explore that path alone. The simplest input, empties and
    all, when no filled one is found."""
    if handler.arity < 2:
        return None
    hint = handler.handler_io.input_type.annotation if handler.handler_io.input_type else None
    if hint is None:
        return None
    if hint in _SIMPLEST:
        return _SIMPLEST[hint]
    from hypothesis import HealthCheck, find, settings, strategies

    quiet = settings(database=None, suppress_health_check=list(HealthCheck))
    for wanted in (_filled, lambda _: True):
        try:
            return find(strategies.from_type(hint), wanted, settings=quiet)
        except Exception:  # noqa: BLE001 - none found, or an unbuildable hint: try less, or none
            continue
    return None


def _filled(value: Any) -> bool:
    """Whether ``value`` has no empty string, list, dict or set, no zero and no
    None, in it or in its items and fields (a dataclass's, a pydantic model's)."""
    if value is None:
        return False
    if isinstance(value, (bool, Enum)):
        return True
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (str, bytes)):
        return len(value) > 0
    if isinstance(value, dict):
        return len(value) > 0 and all(_filled(k) and _filled(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return len(value) > 0 and all(_filled(v) for v in value)
    if dataclasses.is_dataclass(value):
        return all(_filled(getattr(value, f.name)) for f in dataclasses.fields(value))
    fields = getattr(type(value), "model_fields", None)  # a pydantic model
    if isinstance(fields, dict):
        return all(_filled(getattr(value, name)) for name in fields)
    return True


def handler_targets(services: Sequence[Any], handlers: Sequence[str] | None,
                    ) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """Every handler as ``(service, handler)`` by ``Service/handler``, and the ones
    to check: ``handlers`` as configured, or by default all but a workflow's
    shared handlers (its run handler is checked with them as the world that
    drives it; named in ``handlers``, they are checked themselves)."""
    available: dict[str, tuple[Any, Any]] = {}
    shared: set[str] = set()
    for svc in services:
        for h in svc.handlers.values():
            available[f"{svc.name}/{h.name}"] = (svc, h)
            if svc.service_tag.kind == "workflow" and h.kind != "workflow":
                shared.add(f"{svc.name}/{h.name}")
    wanted = [t for t in available if t not in shared] if handlers is None else list(handlers)
    return available, wanted

def handler_items(session: pytest.Session, settings: Settings,
                  only: set[str] | None) -> list[pytest.Item]:
    """One item per configured handler (or a failing item per broken setting)."""
    items: list[pytest.Item] = []

    def error(name: str, message: str) -> None:
        items.append(ConfigErrorItem.from_parent(
            session, name=name, nodeid=f"simdurable::{name}", message=message))

    services: list[Any] = []
    codec = None
    for name in settings.services:
        try:
            obj = load_object(name)
        except LoadError as err:
            error(name, f"[tool.simdurable] services: {err}")
            continue
        except Exception as err:  # noqa: BLE001 - the user's module failed to import
            error(name, f"[tool.simdurable] services: importing {name!r} raised "
                        f"{type(err).__name__}: {err}")
            continue
        try:
            objs = native_services(obj if isinstance(obj, (list, tuple, App)) else [obj])
        except (ImportError, ValueError) as err:  # an unsupported restate-sdk, say
            error(name, f"[tool.simdurable] services: {name!r}: {err}")
            continue
        for o in objs:
            if not isinstance(handlers_attr(o), dict):
                error(name, f"[tool.simdurable] services: {name!r} is {type(o).__name__}, not a "
                            "Service/VirtualObject/Workflow (or a list of them, or a "
                            "restate.app(...))")
            else:
                services.append(o)
        codec = codec or journal_codec_of([obj])
    services = listed(services, codec)  # (an app's journal value codec kept)
    externals: list[Any] = []
    for name in settings.externals:
        try:
            externals += load_externals([name], "[tool.simdurable] externals")
        except LoadError as err:
            error(name, str(err))
        except Exception as err:  # noqa: BLE001 - the user's module failed to import
            error(name, f"[tool.simdurable] externals: {err}")
    available, wanted = handler_targets(services, settings.handlers)
    import difflib

    for target in settings.exclude:
        if target not in available:
            error(f"exclude:{target}", unknown_name("exclude", target, list(available)))
    wanted = [t for t in wanted if t not in settings.exclude]

    for target in sorted((only or set()) - set(wanted)):
        close = difflib.get_close_matches(target, wanted, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise pytest.UsageError(
            f"simdurable: no configured handler named {target!r}{hint} "
            f"(handlers: {', '.join(wanted) or 'none'})"
        )

    for target in wanted:
        if target not in available:
            error(target, unknown_name("handlers", target, list(available)))
            continue
        if only is not None and target not in only:
            continue
        svc, h = available[target]
        invoke = target
        if svc.service_tag.kind != "service":
            key = settings.keys.get(svc.name, "key-1")
            invoke = f"{svc.name}/{key}/{h.name}"
        try:
            refuse_bad_inputs(h, target, settings.inputs.get(target) or [])
        except LoadError as err:
            error(f"inputs:{target}", str(err))
            continue
        inputs = settings.inputs.get(target) or [_GENERATE]
        items.append(HandlerItem.from_parent(
            session, name=target, nodeid=f"simdurable::{target}", target=target,
            invoke=invoke, services=services, externals=externals, inputs=inputs, handler=h,
            selected=only is not None, world=settings.world.get(target),
        ))
    for target in settings.world:
        if target not in available:
            error(f"world:{target}", unknown_name("world", target, list(available)))
    keyed = [svc.name for svc in services if svc.service_tag.kind != "service"]
    for name in settings.keys:
        if name not in keyed:
            error(f"keys:{name}", unknown_name("keys", name, keyed))
    for target in settings.inputs:
        if target not in available and (settings.handlers is None or target not in wanted):
            error(f"inputs:{target}", unknown_name("inputs", target, list(available)))
    return items
