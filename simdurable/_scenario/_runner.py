"""Run a scenario: build a Simulation from it, play it, and compare with its expectations.

A scenario runs twice. The reference run (same seed, no faults) tells which
step and operation names exist, so a fault naming a step that never happens
is reported as a typo rather than silently never firing. The real run applies
the faults and events; its result, state, effects, step counts, problems and
final virtual time are then checked against ``expect``. Nothing passes by
testing nothing: a fault that never fired, an event naming a promise no run
created, and an invocation left unfinished are reported unless the scenario
says it expects them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._api.external import FakeExternal
from .._api.service import App, handlers_attr
from .._check._properties import key_reuses_found
from .._check._world import FromEffect, WorldEvent, answered
from .._codec import journal_codec_of, listed
from .._loader import LoadError, load_object
from .._restate import native_services
from .._sim import InvocationHandle, Simulation, parse_target
from ..runtime._errors import (
    HandlerError,
    InvalidTargetError,
    NotFinishedError,
    SimdurableError,
    TerminalError,
)
from ..runtime._faults import FaultPlan, FaultPlanError
from ..runtime._ids import parse_awakeable_id
from ..runtime._journal import (
    COMPLETION,
    PROMISE_COMPLETE,
    PROMISE_GET,
    PROMISE_PEEK,
    RUN,
    Value,
)
from ..runtime._store import COMPLETED
from ._model import Event, Invocation, Scenario, Where
from ._schema import did_you_mean, json_difference, show
from ._yaml import Problem, ScenarioError

TIMELINE_LINES = 80


@dataclass
class ScenarioResult:
    """What a scenario run found: ``ok``, or the expectations that failed and why."""

    scenario: Scenario
    failures: list[Problem] = field(default_factory=list)
    seed: int = 0
    fired: FaultPlan = field(default_factory=FaultPlan)
    timeline: list[str] = field(default_factory=list)
    journals: list[str] = field(default_factory=list)
    now: float = 0.0
    explored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def render(self, reproduce: str | None = None) -> str:
        """The failure report: what differed, the faults that fired, the timeline."""
        sc = self.scenario
        if self.ok:
            return f"scenario {sc.name}: ok ({sc.path})"
        lines = [f"scenario {sc.name!r} failed: {len(self.failures)} expectation(s) not met"]
        lines += [f"  {p.render(sc.path)}" for p in self.failures]
        lines.append(f"seed: {self.seed}")
        lines.append(f"fault plan (as fired): {self.fired}")
        lines.append(f"virtual time at the end: {self.now:.3f}s")
        if self.timeline:
            lines.append("timeline:")
            shown = self.timeline
            if len(shown) > TIMELINE_LINES:
                lines.append(f"  ... {len(shown) - TIMELINE_LINES} earlier lines")
                shown = shown[-TIMELINE_LINES:]
            lines += [f"  {t}" for t in shown]
        if self.journals:
            lines.append("journals:")
            lines += [f"  {j}".replace("\n", "\n  ") for j in self.journals]
        lines.append(f"reproduce: {reproduce or 'simdurable scenario ' + sc.path}")
        return "\n".join(lines)


def _norm(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _where_differs(got: Any, want: Any) -> str:
    """``; differs at .a.b: got 1, expected 2`` for values that are containers."""
    if not isinstance(want, (dict, list)) or not isinstance(got, (dict, list, tuple)):
        return ""
    where = json_difference(got, want)
    return "" if where is None else f"; first difference at {where}"


def _load_many(items: list[tuple[str, Where]], what: str, problems: list[Problem]) -> list[Any]:
    out: list[Any] = []
    codec = None
    for name, where in items:
        try:
            obj = load_object(name)
        except LoadError as err:
            problems.append(where.problem(str(err)))
            continue
        except Exception as err:  # noqa: BLE001 - the user's module failed while importing
            problems.append(where.problem(
                f"importing {name!r} raised {type(err).__name__}: {err}"
            ))
            continue
        objs = list(obj) if isinstance(obj, (list, tuple, App)) else [obj]
        if what == "services":
            codec = codec or journal_codec_of([obj])
            try:
                objs = native_services(objs)
            except (ImportError, ValueError) as err:  # an unsupported restate-sdk, say
                problems.append(where.problem(f"{name!r}: {err}"))
                continue
        for o in objs:
            if what == "services" and not isinstance(handlers_attr(o), dict):
                problems.append(where.problem(
                    f"{name!r} is {type(o).__name__}, not a Service/VirtualObject/Workflow "
                    "(or a list of them, or a restate.app(...))"
                ))
            elif what == "externals" and not isinstance(o, FakeExternal):
                problems.append(where.problem(
                    f"{name!r} is {type(o).__name__}, not a FakeExternal (or a list of them)"
                ))
            else:
                out.append(o)
    return listed(out, codec)  # (an app's journal value codec kept)


def target_problems(sc: Scenario) -> list[Problem]:
    """Services that do not load and invocation targets that name no handler:
    found without running, to be shown with the file's other mistakes."""
    problems: list[Problem] = []
    services = _load_many(sc.services, "services", problems)
    if problems:
        return problems
    try:
        run = _Run(sc, services, [], FaultPlan(), 0, False)
    except (TypeError, ValueError):
        return []  # the run says it better, once the rest is fixed
    for inv in sc.invocations:
        run._submit(inv)
    return run.problems


def _check_input(sc: Scenario, run: _Run, inv: Invocation) -> None:
    """An invocation's ``input:`` that is not a valid input for its handler is a
    mistake at its line: the handler would fail on it in every run (unless
    the invocation expects an error or a status: the failure may be what it tests)."""
    from .._inputs import value_problem

    path = inv.where.path + ("input",)
    if path not in sc.doc.marks or inv.expect.error is not None or inv.expect.status:
        return
    service, _, name = parse_target(inv.target)
    wrong = value_problem(run.sim._handlers[(service, name)], inv.input)
    if wrong is not None:
        run.problems.append(Problem(f"not a valid input for {service}/{name}: {wrong}", path,
                                    sc.doc.mark(path)))


class _Run:
    """One play of the scenario on a fresh Simulation."""

    def __init__(self, sc: Scenario, services: list[Any], externals: list[FakeExternal],
                 plan: FaultPlan, seed: int, strict: bool) -> None:
        self.sc = sc
        for ext in externals:
            ext.reset()
        self.sim = Simulation(services, seed=seed, faults=plan, strict=strict,
                              externals=externals, always_suspend=sc.always_suspend)
        self.handles: dict[str, InvocationHandle] = {}
        self.problems: list[Problem] = []

    def play(self) -> None:
        sim = self.sim
        for inv in self.sc.invocations:
            handle = self._submit(inv)
            if handle is not None:
                self.handles[inv.name] = handle
        if self.problems:
            return
        try:
            for ev in self.sc.events:
                if ev.at_ms is not None:
                    sim.run(until=_td(ev.at_ms))
                else:
                    sim.run()
                self._apply(ev)
            sim.run()
        except SimdurableError as err:
            self.problems.append(Problem(f"the run stopped: {type(err).__name__}: {err}", (),
                                         self.sc.doc.mark(())))
        except FaultPlanError as err:
            self.problems.append(Problem(f"a fault could not fire: {err}", ("faults",),
                                         self.sc.doc.mark(("faults",))))

    def _submit(self, inv: Invocation) -> InvocationHandle | None:
        sim = self.sim
        if self._refused(inv):
            return None
        try:
            if inv.send:
                delay = None if inv.delay_ms is None else _td(inv.delay_ms)
                handle = sim.send(inv.target, inv.input, delay=delay,
                                  idempotency_key=inv.idempotency_key, headers=inv.headers)
            else:
                handle = sim.invoke(inv.target, inv.input, idempotency_key=inv.idempotency_key,
                                    headers=inv.headers)
            _check_input(self.sc, self, inv)
            return handle
        except InvalidTargetError as err:
            known = sorted(f"{s}/{h}" for s, h in sim._handlers)
            base = "/".join(inv.target.split("/")[::2]) if inv.target.count("/") == 2 \
                else inv.target
            # (the error names the known handlers already, unless it is of another kind)
            listed = "" if "known handlers: " in str(err) else f" (handlers: {', '.join(known)})"
            self.problems.append(Problem(
                f"{err}{did_you_mean(base, known)}{listed}",
                inv.where.path + ("target",), self.sc.doc.mark(inv.where.path + ("target",)),
            ))
        except SimdurableError as err:
            self.problems.append(inv.where.problem(str(err)))
        return None

    def _refused(self, inv: Invocation) -> bool:
        """A problem at the field Restate's ingress would refuse (a workflow run's
        ``idempotency_key``, an ``input:`` for a handler that takes none), before
        the invocation is made: raised by the simulation, it was a traceback."""
        refused = self.sim.ingress_refusal(inv.target, inv.input, inv.headers,
                                           inv.idempotency_key)
        if refused is None:
            return False
        field, _, message = refused
        path = inv.where.path + (field,)
        if path not in self.sc.doc.marks:
            path = inv.where.path
        self.problems.append(Problem(message, path, self.sc.doc.mark(path)))
        return True

    def _apply(self, ev: Event) -> None:
        sim, a = self.sim, ev.args
        if "from_effect" in a:
            # Read from what the invocations the event answers sent out.
            target = f"{a['workflow']}/{a['key']}" if "workflow" in a else a.get("target")
            scopes = answered(sim, self.handles.get(a.get("invocation", "")),
                              WorldEvent(ev.kind, name=a.get("name"), target=target))
            value, problem = _from_effect(a).value(sim.externals, scopes)
            if problem is not None:
                self.problems.append(ev.where.problem(
                    f"from_effect: {problem} (t={sim.now():.3f}s)"))
                return
            a = {**a, "value": value}
        if ev.kind == "resolve_promise":
            if not sim.resolve_promise(a["workflow"], a["key"], a["name"], a.get("value")):
                self.problems.append(ev.where.problem(
                    f"promise {a['name']!r} of {a['workflow']}/{a['key']} was already completed"
                ))
        elif ev.kind == "reject_promise":
            if not sim.reject_promise(a["workflow"], a["key"], a["name"], a["message"],
                                      a.get("code", 500)):
                self.problems.append(ev.where.problem(
                    f"promise {a['name']!r} of {a['workflow']}/{a['key']} was already completed"
                ))
        elif ev.kind in ("resolve_awakeable", "reject_awakeable"):
            h = self.handles[a["invocation"]]  # names are checked when loading
            pending = [x for x in sim.awakeables() if (parse_awakeable_id(x) or ("",))[0] == h.id]
            if not pending:
                self.problems.append(ev.where.problem(
                    f"invocation {a['invocation']!r} has no pending awakeable at "
                    f"t={sim.now():.3f}s (status: {h.status})"
                ))
            elif ev.kind == "resolve_awakeable":
                sim.resolve_awakeable(pending[0], a.get("value"))
            else:
                sim.reject_awakeable(pending[0], a["message"], a.get("code", 500))
        elif ev.kind == "cancel":
            sim.cancel(self.handles[a["invocation"]])

    def operation_names(self) -> set[str]:
        names: set[str] = set()
        for h in self.sim.invocations():
            names |= {e.name for e in self.sim.journal(h) if e.is_command and e.name}
        return names

    def promises_used(self) -> set[tuple[str, str, str]]:
        """(workflow, key, promise name) of every promise a run of this play touched."""
        used: set[tuple[str, str, str]] = set()
        for rec in self.sim.engine.records():
            if rec.key is None:
                continue
            for e in self.sim.journal(rec.id):
                if e.kind in (PROMISE_GET, PROMISE_PEEK, PROMISE_COMPLETE):
                    used.add((rec.service, rec.key, e.name))
        return used

    def unfired_faults(self) -> list[Problem]:
        """The scenario's faults that never fired in this play (optional ones aside).

        A fault that never fires tests nothing: a crash at attempt 1 of a step
        first reached in attempt 3 would otherwise pass in silence.
        """
        fired = self.sim.injector.fired
        out = []
        for i, (fault, where) in enumerate(self.sc.faults):
            if i in self.sc.optional_faults or any(f is fault for _, f in fired):
                continue
            hint = ("mark it `optional: true` if it may not fire"
                    if where.path != ("faults",) else
                    "write the faults as a list to mark one `optional: true`")
            out.append(where.problem(
                f"the fault {fault} never fired (faults that fired: "
                f"{self.sim.fault_plan() or 'none'}); {hint}"
            ))
        return out

    def unfinished(self) -> list[Problem]:
        """Invocations left unfinished that the scenario does not expect to be.

        An invocation may stay unfinished when the scenario says so: ``expect:
        finished: false``, or its own ``expect: status`` (``paused``, say). One
        paused by a handler problem is left to ``expect: problems``, which
        reports it when not expected.
        """
        if self.sc.expect.finished is not None:
            return []  # checked against what it says
        expected = {self.handles[inv.name].id for inv in self.sc.invocations
                    if inv.expect.status is not None and inv.name in self.handles}
        expected |= set(self.sim.engine.paused_errors)
        by_id = {h.id: inv for inv in self.sc.invocations
                 if (h := self.handles.get(inv.name)) is not None}
        out = []
        for rec in self.sim.engine.records():
            if rec.status == COMPLETED or rec.id in expected:
                continue
            inv = by_id.get(rec.id)
            where = inv.where if inv is not None else self.sc.where(("invoke",))
            out.append(where.problem(
                f"{rec.target} ({rec.id}) did not finish: "
                f"{self.sim.engine.waiting_on(rec.id)} at t={self.sim.now():.3f}s; "
                "say `finished: false` under `expect` (or the invocation's expected "
                "`status`) if that is what should happen"
            ))
        return out

    def step_names(self) -> set[str]:
        names: set[str] = set()
        for h in self.sim.invocations():
            names |= {e.name for e in self.sim.journal(h) if e.kind == RUN}
            names |= set(self.sim.step_runs(h))
        return names


def _td(ms: int) -> Any:
    from datetime import timedelta

    return timedelta(milliseconds=ms)


def _stored(sim: Simulation, handles: Sequence[InvocationHandle]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for h in handles:
        journal = sim.journal(h)
        done = {e.target for e in journal if e.kind == COMPLETION}
        for i, e in enumerate(journal):
            if e.kind == RUN and i in done:
                counts[e.name] = counts.get(e.name, 0) + 1
    return counts


def _executed(sim: Simulation, handles: Sequence[InvocationHandle]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for h in handles:
        for name, n in sim.step_runs(h).items():
            counts[name] = counts.get(name, 0) + n
    return counts


class _Checker:
    def __init__(self, sc: Scenario, run: _Run, externals: list[FakeExternal],
                 known_steps: set[str]) -> None:
        self.sc = sc
        self.run = run
        self.sim = run.sim
        self.externals = {e.name: e for e in externals}
        self.known_steps = known_steps
        self.failures: list[Problem] = []
        self.mistakes: list[Problem] = []

    def fail(self, path: tuple[str | int, ...], message: str, *, key: bool = False) -> None:
        self.failures.append(Problem(message, path, self.sc.doc.mark(path, key=key)))

    def mistake(self, path: tuple[str | int, ...], message: str, *, key: bool = False) -> None:
        self.mistakes.append(Problem(message, path, self.sc.doc.mark(path, key=key)))

    def counts(self, path: tuple[str | int, ...], what: str, want: dict[str, int] | None,
               got: dict[str, int]) -> None:
        for name, n in (want or {}).items():
            if name not in self.known_steps:
                self.mistake(path + (name,), f"no step is named {name!r}"
                             f"{did_you_mean(name, sorted(self.known_steps))} "
                             f"(steps: {', '.join(sorted(self.known_steps)) or 'none'})",
                             key=True)
            elif got.get(name, 0) != n:
                self.fail(path + (name,), f"step {name!r} {what} {got.get(name, 0)} time(s), "
                                          f"expected {n}")

    def invocation(self, i: int, inv: Invocation) -> None:
        ex, h, base = inv.expect, self.run.handles.get(inv.name), ("invoke", i, "expect")
        if h is None:
            return
        if ex.status is not None and h.status != ex.status:
            self.fail(base + ("status",), f"status is {h.status!r}, expected {ex.status!r}")
        if ex.has_result or ex.error is not None:
            try:
                value = h.result()
            except TerminalError as err:
                if ex.error is None:
                    self.fail(base + ("result",), f"expected the result {show(ex.result)}, "
                              f"got terminal error {err.status_code}: {err.message!r}")
                else:
                    self.terminal(base + ("error",), ex.error, err)
            except NotFinishedError as err:
                self.fail(base, f"the invocation did not finish: {err}")
            except HandlerError as err:
                self.fail(base, f"the invocation was stopped by a handler bug: {err}")
            else:
                if ex.error is not None:
                    self.fail(base + ("error",), f"expected a terminal error, got the result "
                                                 f"{show(value, 200)}")
                else:
                    value = self.as_sent(h, value)
                    if _norm(value) != _norm(ex.result):
                        self.fail(base + ("result",), f"got {show(value, 200)}, expected "
                                                      f"{show(ex.result, 200)}"
                                                      + _where_differs(value, ex.result))
        self.counts(base + ("steps", "executed"), "ran", ex.executed, self.sim.step_runs(h))
        self.counts(base + ("steps", "stored"), "was stored", ex.stored, _stored(self.sim, [h]))

    def as_sent(self, h: InvocationHandle, value: Any) -> Any:
        """A result as its caller receives it: the JSON its handler's serde wrote, as
        ``expect: result`` spells it (a pydantic model, a dataclass, a msgspec
        struct compared as their JSON), or the value where that is not JSON."""
        result = self.sim.engine.record(h.id).result
        if isinstance(result, Value) and result.data:
            try:
                return json.loads(result.data)
            except ValueError:
                pass
        return value

    def terminal(self, path: tuple[str | int, ...], want: dict[str, Any],
                 err: TerminalError) -> None:
        got = f"{err.status_code}: {err.message!r}"
        if "status" in want and err.status_code != want["status"]:
            self.fail(path + ("status",), f"terminal error {got}, expected status {want['status']}")
        if "message" in want and err.message != want["message"]:
            self.fail(path + ("message",), f"terminal error {got}, expected message "
                                           f"{want['message']!r}")
        if "message_contains" in want and want["message_contains"] not in err.message:
            self.fail(path + ("message_contains",), f"terminal error {got} does not contain "
                                                    f"{want['message_contains']!r}")

    def _path_of(self, handler: str | None) -> tuple[str | int, ...]:
        """The invoke item that called ``handler`` ("Service/handler"), else ``expect``."""
        for i, inv in enumerate(self.sc.invocations):
            parts = inv.target.split("/")
            if handler == f"{parts[0]}/{parts[-1]}":
                return ("invoke", i)
        return ("expect", "problems") if "problems" in (self.sc.doc.data.get("expect") or {}) \
            else ("invoke",)

    def effects(self) -> None:
        for name, want in (self.sc.expect.effects or {}).items():
            path: tuple[str | int, ...] = ("expect", "effects", name)
            ext = self.externals.get(name)
            if ext is None:
                known = sorted(self.externals)
                self.mistake(path, f"no fake external is named {name!r}"
                             f"{did_you_mean(name, known)} (externals: "
                             f"{', '.join(known) or 'none; list them under `externals`'})",
                             key=True)
                continue
            got = ext.effects
            if isinstance(want, int):
                if len(got) != want:
                    self.fail(path, f"{name} saw {len(got)} effect(s), expected {want}: "
                                    f"{_effects(got)}")
            elif isinstance(want, list):
                ok = len(got) == len(want) and all(
                    e.op == w["op"]
                    and ("payload" not in w or _norm(e.payload) == _norm(w["payload"]))
                    and ("idempotency_key" not in w or e.idempotency_key == w["idempotency_key"])
                    for e, w in zip(got, want, strict=False)
                )
                if not ok:
                    self.fail(path, f"{name} saw {_effects(got)}, expected {show(want, 300)}")
            else:
                for op, n in want.items():
                    have = len(ext.ops(op))
                    if have != n:
                        self.fail(path + (op,), f"{name}.{op} applied {have} time(s), "
                                                f"expected {n}: {_effects(got)}")

    def overall(self) -> None:
        ex, sim = self.sc.expect, self.sim
        for key, want in (ex.state or {}).items():
            obj, _, k = key.partition("/")
            got = sim.state(obj, k)
            if _norm(got) != _norm(want):
                self.fail(("expect", "state", key), f"state of {key} is {show(got, 200)}, "
                                                    f"expected {show(want, 200)}"
                                                    + _where_differs(got, want))
        self.effects()
        handles = sim.invocations()
        self.counts(("expect", "steps", "executed"), "ran", ex.executed,
                    _executed(sim, handles))
        self.counts(("expect", "steps", "stored"), "was stored", ex.stored,
                    _stored(sim, handles))
        found = sim.problems
        # A key given again for another payload: the fake applied nothing for it,
        # which no count of effects may have been written to notice.
        reused = key_reuses_found({x.name: list(x.key_reuses) for x in sim.externals
                                   if x.key_reuses})
        kinds = {p.kind for p in found} | {v.kind for v in reused}
        for kind in sorted(set(ex.problems) - kinds):
            self.fail(("expect", "problems"), f"expected a {kind} problem; the run had "
                      f"{', '.join(sorted(kinds)) or 'none'}")
        for p in found:
            if p.kind not in ex.problems:
                self.fail(self._path_of(p.handler), f"{p.kind}: {p}")
        for v in reused:
            if v.kind not in ex.problems:
                parts = (v.handler or "").split("/")  # (a keyed target names its key)
                self.fail(self._path_of(f"{parts[0]}/{parts[-1]}"), f"{v.kind}: {v.message}")
        summary = sim._summary()
        if ex.finished is not None and summary.finished != ex.finished:
            self.fail(("expect", "finished"),
                      "every invocation finished" if summary.finished else str(summary))
        now_ms = round(sim.now() * 1000)
        if ex.at_least_ms is not None and now_ms < ex.at_least_ms:
            self.fail(("expect", "time", "at_least"), f"the run ended at t={sim.now():.3f}s, "
                      f"before {ex.at_least_ms / 1000:.3f}s")
        if ex.at_most_ms is not None and now_ms > ex.at_most_ms:
            self.fail(("expect", "time", "at_most"), f"the run ended at t={sim.now():.3f}s, "
                      f"after {ex.at_most_ms / 1000:.3f}s")


def _effects(effects: Sequence[Any]) -> str:
    if not effects:
        return "none"
    parts = [f"{e.op}({show(e.payload, 40)}"
             + (f", key={e.idempotency_key}" if e.idempotency_key else "") + ")"
             for e in effects[:10]]
    more = f" and {len(effects) - 10} more" if len(effects) > 10 else ""
    return ", ".join(parts) + more


def _validate_faults(sc: Scenario, names: set[str], targets: set[str],
                     externals: set[str]) -> list[Problem]:
    problems = []
    # field, what it must name, the names known, and how the list of them is called
    checks = (
        ("step", "no step or operation is named {!r} in this scenario's runs", names,
         "names seen"),
        ("target", "no handler is named {!r}", targets, "handlers"),
        ("external", "no fake external is named {!r}", externals, "externals"),
    )
    for fault, where in sc.faults:
        for name, message, known, label in checks:
            value = getattr(fault, name)
            if value is None or value in known:
                continue
            path = where.path + (name,)
            problems.append(Problem(
                message.format(value) + did_you_mean(value, sorted(known))
                + f" ({label}: {', '.join(sorted(known)) or 'none'})",
                path if where.path != ("faults",) else where.path,
                sc.doc.mark(path),
            ))
    return problems


def _unknown_promises(sc: Scenario, used: set[tuple[str, str, str]]) -> list[Problem]:
    """Events naming a promise no run of the scenario ever created: a typo in
    its name, workflow or key would otherwise resolve nothing, in silence."""
    out = []
    for i, ev in enumerate(sc.events):
        if ev.kind not in ("resolve_promise", "reject_promise"):
            continue
        a = ev.args
        if (a["workflow"], a["key"], a["name"]) in used:
            continue
        path: tuple[str | int, ...] = ("events", i, ev.kind)
        same = sorted(n for w, k, n in used if (w, k) == (a["workflow"], a["key"]))
        if same:
            problem = (f"no run created the promise {a['name']!r} of {a['workflow']}/{a['key']}"
                       f"{did_you_mean(a['name'], same)} (its promises: {', '.join(same)})")
            path += ("name",)
        else:
            known = sorted({f"{w}/{k}" for w, k, _ in used})
            problem = (f"no run of {a['workflow']}/{a['key']} used a promise (workflows with "
                       f"promises: {', '.join(known) or 'none'})")
        out.append(Problem(problem, path, sc.doc.mark(path)))
    return out


def _unknown_objects(sc: Scenario, services: list[Any]) -> list[Problem]:
    """``expect: state`` keys naming no object or workflow of the services: a typo
    in the name would otherwise compare the expectation with no state at all."""
    keyed = sorted({s.name for s in services
                    if getattr(getattr(s, "service_tag", None), "kind", "service") != "service"})
    out = []
    for key in sc.expect.state or {}:
        name = key.partition("/")[0]  # the schema requires "Object/key"
        if name in keyed:
            continue
        path = ("expect", "state", key)
        out.append(Problem(f"no object or workflow is named {name!r}"
                           f"{did_you_mean(name, keyed)} (objects and workflows: "
                           f"{', '.join(keyed) or 'none'})", path, sc.doc.mark(path, key=True)))
    return out


def run_scenario(sc: Scenario, *, seed: int | None = None, strict: bool | None = None,
                 max_examples: int | None = None, jobs: int = 1) -> ScenarioResult:
    """Play ``sc`` and check its expectations.

    ``jobs``: worker processes each ``explore`` check is shared among
    (``check(jobs=...)``); the result is the same whatever the number.

    Returns a ``ScenarioResult`` (``ok`` or the failed expectations). Raises
    ``ScenarioError`` when the scenario itself is wrong: an import that fails,
    an unknown handler, a fault or expectation naming a step that never runs.
    """
    problems: list[Problem] = []
    services = _load_many(sc.services, "services", problems)
    externals = _load_many(sc.externals, "externals", problems)
    if problems:
        raise sc.error(problems)
    seed = sc.seed if seed is None else seed
    strict = sc.strict if strict is None else strict
    try:
        reference = _Run(sc, services, externals, FaultPlan(), seed, strict)
    except (TypeError, ValueError) as err:
        raise sc.error([sc.where(("services",)).problem(str(err))]) from None
    reference.play()
    if reference.problems:
        raise sc.error(reference.problems)
    run = _Run(sc, services, externals, sc.plan, seed, strict)
    run.play()
    names = reference.operation_names() | run.operation_names()
    steps = reference.step_names() | run.step_names()
    targets = {f"{s}/{h}" for s, h in run.sim._handlers}
    mistakes = _validate_faults(sc, names, targets, {e.name for e in externals})
    mistakes += _unknown_promises(sc, reference.promises_used() | run.promises_used())
    mistakes += _unknown_objects(sc, services)
    result = ScenarioResult(sc, seed=seed, fired=run.sim.fault_plan(),
                            timeline=run.sim.trace(), now=run.sim.now())
    result.failures += run.problems
    if not mistakes:
        result.failures += run.unfired_faults()
        result.failures += run.unfinished()
    checker = _Checker(sc, run, externals, steps)
    for i, inv in enumerate(sc.invocations):
        checker.invocation(i, inv)
    checker.overall()
    mistakes += checker.mistakes
    if mistakes:
        raise sc.error(mistakes)
    result.failures += checker.failures
    if sc.explore_examples is not None:
        result.failures += _explore(sc, services, externals, seed, strict,
                                    max_examples or sc.explore_examples, result, jobs)
    if result.failures:
        for h in run.sim.invocations():
            result.journals.append(f"{h.target} ({h.id}, {h.status}):\n"
                                   + run.sim.describe_journal(h))
    return result


def _explore(sc: Scenario, services: list[Any], externals: list[FakeExternal], seed: int,
             strict: bool, max_examples: int, result: ScenarioResult,
             jobs: int = 1) -> list[Problem]:
    """Run ``simdurable.check`` around each invocation of the scenario."""
    from .._check import check
    from .._check._workers import import_hypothesis

    import_hypothesis()  # without trio's plugin (and pytest with it), unless trio is in use

    where = sc.where(("explore",))
    failures = []
    seen: set[tuple[str, str, str]] = set()
    for inv in sc.invocations:
        world = _world_of(sc, inv)
        # Exploring the same target with the same input again finds nothing new.
        distinct = (inv.target, _norm(inv.input), _norm([e.as_dict() for e in world]))
        if distinct in seen:
            continue
        seen.add(distinct)
        if inv.headers:
            # check has no headers to give: its runs would not be this invocation's
            failures.append(inv.where.problem(
                f"explore: cannot explore {inv.target} with its headers (check gives an "
                "invocation none); leave explore: out, or the headers, of this scenario"))
            continue
        try:
            report = check(services=services, invoke=inv.target, input=inv.input,
                           externals=externals, max_examples=max_examples, seed=seed,
                           strict=strict, world=world, jobs=jobs)
        except (SimdurableError, TypeError, ValueError) as err:
            failures.append(where.problem(
                f"exploring {inv.target} stopped: {type(err).__name__}: {err}"))
            continue
        kinds = sorted({v.kind for v in report.violations})
        result.explored.append(f"{inv.target}: {'ok' if report.ok else ', '.join(kinds)}")
        if sc.explore_expect == "ok":
            if not report.ok:
                failures.append(where.problem(
                    f"exploring {inv.target} found {', '.join(kinds)}:\n" + _report_text(report)
                ))
        elif sc.explore_expect not in kinds:
            failures.append(where.problem(
                f"exploring {inv.target} ({max_examples} examples) did not find a "
                f"{sc.explore_expect} violation (found: {', '.join(kinds) or 'nothing'})"
            ))
    return failures


def _world_of(sc: Scenario, inv: Invocation) -> list[WorldEvent]:
    """The scenario's events that concern ``inv``, as the world of a check around it.

    Without them a workflow waiting on its promise, or a handler on its
    awakeable, would be explored as ``stuck``. A promise event goes with the
    invocations of its workflow and key; an awakeable event and a cancellation
    with the invocation they name (each invocation is explored, so every event
    goes to some check).
    """
    from .._sim import parse_target

    service, key, _ = parse_target(inv.target)
    out = []
    for ev in sc.events:
        a = ev.args
        if ev.kind in ("resolve_promise", "reject_promise"):
            if (a["workflow"], a["key"]) != (service, key):
                continue
            out.append(WorldEvent(ev.kind, name=a["name"], target=f"{service}/{key}",
                                  value=_event_value(a), message=a.get("message", ""),
                                  code=a.get("code", 500), at_ms=ev.at_ms))
        elif ev.kind in ("resolve_awakeable", "reject_awakeable") and a["invocation"] == inv.name:
            out.append(WorldEvent(ev.kind, value=_event_value(a), message=a.get("message", ""),
                                  code=a.get("code", 500), at_ms=ev.at_ms))
        elif ev.kind == "cancel" and a["invocation"] == inv.name:
            # Not at its time but at the explored moments (once the invocation
            # waits, early, late): a fault that slows a step must not turn "cancel
            # while it waits" into "cancel before it charged", which ends otherwise.
            out.append(WorldEvent("cancel"))
    return out


def _report_text(report: Any) -> str:
    try:
        report.raise_if_failed()
    except AssertionError as err:
        return str(err)
    return str(report)


__all__ = ["ScenarioError", "ScenarioResult", "run_scenario"]


def _from_effect(args: dict[str, Any]) -> FromEffect:
    """An event's ``from_effect`` (schema-checked: ``external``, ``op``, ``field``)."""
    spec = args["from_effect"]
    return FromEffect(spec["external"], spec.get("op"), spec.get("field"))


def _event_value(args: dict[str, Any]) -> Any:
    """An event's value as a world event takes it: read at the event when it
    comes from a fake external's effect."""
    return _from_effect(args) if "from_effect" in args else args.get("value")
