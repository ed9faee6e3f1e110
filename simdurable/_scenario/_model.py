"""Scenarios as typed objects, built once from a validated document.

After ``load_scenario`` the runner sees only these classes; every field keeps
the position it was written at, so problems found later (an unknown step, a
failed expectation) still point at the right line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Final

from ..runtime._faults import (
    AFTER_STORE,
    CRASH,
    DELAY,
    FAIL,
    LOSE_RESPONSE,
    MAX_DURATION_MS,
    RESTART,
    SUSPEND,
    TERMINAL,
    Fault,
    FaultPlan,
    FaultPlanError,
    exception_type,
    parse_duration_ms,
)
from ._schema import did_you_mean, validate
from ._yaml import Document, Mark, Path, Problem, ScenarioError, load_document

# Which fault fields mean something for which kinds (the rest are refused).
_COMMON: Final = {"kind", "step", "index", "attempt", "target", "times", "optional"}
FAULT_FIELDS: Final[dict[str, set[str]]] = {
    CRASH: _COMMON | {"phase", "at"},
    SUSPEND: _COMMON | {"phase"},
    RESTART: _COMMON | {"phase", "at"},
    FAIL: _COMMON | {"exception", "message"},
    TERMINAL: _COMMON | {"message", "status"},
    DELAY: _COMMON | {"by", "phase"},
    LOSE_RESPONSE: _COMMON | {"external", "operation"},
}
# Point faults fire on the first attempt unless told otherwise: a crash that
# fired on every attempt would never let the invocation finish.
_FIRST_ATTEMPT: Final = {CRASH, SUSPEND, RESTART, LOSE_RESPONSE}
EVENT_KINDS: Final = (
    "resolve_promise", "reject_promise", "resolve_awakeable", "reject_awakeable", "cancel",
)


def duration_ms(value: int | float | str) -> int:
    """A schema-valid duration (string with unit, or seconds) in milliseconds.

    Raises ``FaultPlanError`` for one beyond ``MAX_DURATION_MS``.
    """
    if isinstance(value, str):
        return parse_duration_ms(value)
    if not 0 <= value <= MAX_DURATION_MS // 1000:
        raise FaultPlanError(
            f"a duration of {value} seconds is out of range; it must be between 0 and "
            f"{MAX_DURATION_MS // 1000} seconds (100000d)"
        )
    return round(value * 1000)


def _durations(doc: Document, problems: list[Problem]) -> Any:
    """``ms(path, value)``: a duration in ms, or None with a problem at ``path``."""
    def ms(path: Path, value: int | float | str) -> int | None:
        try:
            return duration_ms(value)
        except FaultPlanError as err:
            problems.append(doc.problem(path, err.message))
            return None
    return ms


@dataclass
class Where:
    """A field's path and position, for messages."""

    path: Path
    mark: Mark | None

    def problem(self, message: str) -> Problem:
        return Problem(message, self.path, self.mark)


@dataclass
class InvocationExpect:
    has_result: bool = False
    result: Any = None
    error: dict[str, Any] | None = None
    status: str | None = None
    executed: dict[str, int] | None = None
    stored: dict[str, int] | None = None


@dataclass
class Invocation:
    name: str
    target: str
    input: Any
    send: bool
    delay_ms: int | None
    idempotency_key: str | None
    expect: InvocationExpect
    where: Where
    headers: dict[str, str] | None = None


@dataclass
class Event:
    at_ms: int | None
    kind: str
    args: dict[str, Any]
    where: Where


@dataclass
class Expect:
    state: dict[str, dict[str, Any]] | None = None
    effects: dict[str, Any] | None = None
    executed: dict[str, int] | None = None
    stored: dict[str, int] | None = None
    problems: list[str] = field(default_factory=list)
    finished: bool | None = None
    at_least_ms: int | None = None
    at_most_ms: int | None = None


@dataclass
class Scenario:
    """One scenario file, validated."""

    path: str
    name: str
    description: str
    services: list[tuple[str, Where]]
    externals: list[tuple[str, Where]]
    seed: int
    strict: bool
    always_suspend: bool
    faults: list[tuple[Fault, Where]]
    invocations: list[Invocation]
    # Indices into ``faults`` marked ``optional: true``: they may never fire.
    optional_faults: frozenset[int]
    events: list[Event]
    expect: Expect
    explore_examples: int | None
    explore_expect: str
    doc: Document

    @property
    def plan(self) -> FaultPlan:
        return FaultPlan(tuple(f for f, _ in self.faults))

    def where(self, path: Path, *, key: bool = False) -> Where:
        return Where(path, self.doc.mark(path, key=key))

    def error(self, problems: list[Problem]) -> ScenarioError:
        return ScenarioError(self.path, problems)


def _names(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _faults(doc: Document, raw: Any, problems: list[Problem]) -> list[tuple[Fault, Where]]:
    if raw is None:
        return []
    if isinstance(raw, str):
        where = Where(("faults",), doc.mark(("faults",)))
        try:
            plan = FaultPlan.parse(raw)
        except FaultPlanError as err:
            mark = where.mark
            if mark is not None and err.column is not None and ("faults",) in doc.verbatim:
                mark = Mark(mark.line, mark.col + err.column - 1)
                problems.append(Problem(f"cannot read the fault plan: {err.message}",
                                        ("faults",), mark))
            else:
                problems.append(where.problem(f"cannot read the fault plan: {err}"))
            return []
        return [(f, where) for f in plan.faults]
    out = []
    ms = _durations(doc, problems)
    for i, item in enumerate(raw):
        path: Path = ("faults", i)
        where = Where(path, doc.mark(path))
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind not in FAULT_FIELDS:
            continue  # the schema said so
        allowed = FAULT_FIELDS[kind]
        bad = sorted(set(item) - allowed)
        for name in bad:
            applies = sorted(k for k, fs in FAULT_FIELDS.items() if name in fs)
            problems.append(doc.problem(
                path + (name,),
                f"{name!r} does not apply to {kind} faults (it applies to: {', '.join(applies)})",
                key=True,
            ))
        if bad:
            continue
        kwargs: dict[str, Any] = {k: v for k, v in item.items()
                                  if k not in ("at", "by", "optional")}
        if "at" in item:
            kwargs["at_ms"] = ms(path + ("at",), item["at"])
        if "by" in item:
            kwargs["by_ms"] = ms(path + ("by",), item["by"])
        if None in (kwargs.get("at_ms", 0), kwargs.get("by_ms", 0)):
            continue
        point_based = "at_ms" not in kwargs
        if kind in _FIRST_ATTEMPT and point_based and "attempt" not in item:
            kwargs["attempt"] = 1
        if kind == RESTART and point_based and "phase" not in item:
            kwargs["phase"] = AFTER_STORE
        if kind in (CRASH, RESTART) and not point_based and (
                set(item) - {"kind", "at", "optional"}):
            extra = sorted(set(item) - {"kind", "at", "optional"})
            problems.append(where.problem(
                f"a {kind} at a virtual time takes no other fields, got {', '.join(extra)}"
            ))
            continue
        if kind == DELAY and "by" not in item:
            problems.append(where.problem("a delay fault needs `by` (how long, like 2s)"))
            continue
        if "exception" in item:
            try:
                exception_type(item["exception"])
            except FaultPlanError as err:
                problems.append(doc.problem(path + ("exception",), err.message))
                continue
        try:
            out.append((Fault(**kwargs), where))
        except FaultPlanError as err:
            problems.append(where.problem(str(err)))
    return out


def _inv_expect(raw: dict[str, Any] | None) -> InvocationExpect:
    if not raw:
        return InvocationExpect()
    steps = raw.get("steps") or {}
    return InvocationExpect(
        has_result="result" in raw,
        result=raw.get("result"),
        error=raw.get("error"),
        status=raw.get("status"),
        executed=steps.get("executed"),
        stored=steps.get("stored"),
    )


def build(path: str, doc: Document) -> Scenario:
    """A ``Scenario`` from a schema-valid document; raises ``ScenarioError``."""
    sc, problems = build_with_problems(path, doc)
    if problems:
        raise ScenarioError(path, problems)
    return sc


def build_with_problems(path: str, doc: Document) -> tuple[Scenario, list[Problem]]:
    """The ``Scenario`` of a schema-valid document, and what is wrong in it (the
    scenario is then only good for finding more mistakes, not for running)."""
    data = doc.data
    problems: list[Problem] = []
    ms = _durations(doc, problems)

    def where(p: Path) -> Where:
        return Where(p, doc.mark(p))

    services = [(n, where(("services", i) if isinstance(data["services"], list) else ("services",)))
                for i, n in enumerate(_names(data["services"]))]
    externals = [
        (n, where(("externals", i) if isinstance(data.get("externals"), list) else ("externals",)))
        for i, n in enumerate(_names(data.get("externals")))
    ]
    invocations: list[Invocation] = []
    names: dict[str, int] = {}
    for i, item in enumerate(data["invoke"]):
        p: Path = ("invoke", i)
        name = item.get("name") or (f"{item['target']}" if len(data["invoke"]) == 1 else f"#{i}")
        if name in names:
            problems.append(doc.problem(p + ("name",), f"the name {name!r} is used twice"))
        names[name] = i
        invocations.append(Invocation(
            name=name,
            target=item["target"],
            input=item.get("input"),
            send=bool(item.get("send", False)) or "delay" in item,
            delay_ms=ms(p + ("delay",), item["delay"]) if "delay" in item else None,
            idempotency_key=item.get("idempotency_key"),
            expect=_inv_expect(item.get("expect")),
            where=where(p),
            headers=item.get("headers"),
        ))
    events: list[Event] = []
    for i, item in enumerate(data.get("events") or []):
        p = ("events", i)
        kinds = [k for k in EVENT_KINDS if k in item]
        if len(kinds) != 1:
            got = ", ".join(kinds) or "none"
            problems.append(doc.problem(
                p, f"an event does exactly one of: {', '.join(EVENT_KINDS)} (got {got})"
            ))
            continue
        args = item[kinds[0]]
        ref = args.get("invocation") if isinstance(args, dict) else None
        if ref is not None and ref not in names:
            problems.append(doc.problem(
                p + (kinds[0], "invocation"),
                f"no invocation is named {ref!r}{did_you_mean(ref, list(names))} "
                f"(names: {', '.join(names)}; give an invoke item a `name`)",
            ))
        if isinstance(args, dict) and "from_effect" in args and "value" in args:
            problems.append(doc.problem(
                p + (kinds[0], "from_effect"),
                "give value or from_effect, not both (from_effect reads the value from "
                "what the app last handed a fake external)",
            ))
            continue
        at = item.get("at")
        events.append(Event(None if at is None else ms(p + ("at",), at), kinds[0], args,
                            where(p)))
    faults = _faults(doc, data.get("faults"), problems)
    ex = data.get("expect") or {}
    steps = ex.get("steps") or {}
    time = ex.get("time") or {}
    expect = Expect(
        state=ex.get("state"),
        effects=ex.get("effects"),
        executed=steps.get("executed"),
        stored=steps.get("stored"),
        problems=list(ex.get("problems") or []),
        finished=ex.get("finished"),
        at_least_ms=ms(("expect", "time", "at_least"), time["at_least"])
        if "at_least" in time else None,
        at_most_ms=ms(("expect", "time", "at_most"), time["at_most"])
        if "at_most" in time else None,
    )
    for key in expect.state or {}:
        if key.count("/") != 1 or key.startswith("/") or key.endswith("/"):
            problems.append(doc.problem(("expect", "state", key),
                                        f"expected \"Object/key\", got {key!r}", key=True))
    explore = data.get("explore")
    stem = os.path.splitext(os.path.basename(path))[0]
    return Scenario(
        path=path,
        name=data.get("name") or stem,
        description=data.get("description", ""),
        services=services,
        externals=externals,
        seed=int(data.get("seed", 0)),
        strict=data.get("strict", True),  # (a bool: the schema refuses anything else)
        always_suspend=bool(data.get("always_suspend", False)),
        faults=faults,
        invocations=invocations,
        optional_faults=frozenset(
            i for i, item in enumerate(data.get("faults") or [])
            if isinstance(item, dict) and item.get("optional")
        ),
        events=events,
        expect=expect,
        explore_examples=None if explore is None else int(explore.get("max_examples", 100)),
        explore_expect=str((explore or {}).get("expect", "ok")),
        doc=doc,
    ), problems


def _by_position(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.mark.line, p.mark.col) if p.mark else (0, 0))


def parse_scenario(text: str | bytes, path: str = "<scenario>", *,
                   check_targets: bool = False) -> Scenario:
    """Parse and validate scenario text; raises ``ScenarioError`` naming ``path``
    with every mistake found in one pass. ``check_targets``: also import the
    services to check the invocations' targets when something else is wrong
    (otherwise the run checks them)."""
    try:
        doc = load_document(text)
    except ScenarioError as err:
        raise ScenarioError(path, err.problems) from None
    if not isinstance(doc.data, dict):
        raise ScenarioError(path, [doc.problem(
            (), "a scenario is a mapping with `services`, `invoke`, and optionally `faults`, "
                "`events`, `expect`, `explore`; got " + type(doc.data).__name__
        )])
    problems = validate(doc)
    if problems:
        # The parts the schema accepted are still checked, so that one pass
        # shows every mistake of the file, not the schema's and then the rest.
        try:
            sc, more = build_with_problems(path, doc)
            if check_targets:
                from ._runner import target_problems

                more += target_problems(sc)
        except Exception:  # noqa: BLE001 - a part the schema refused cannot be built
            more = []
        # (one report a field: none of a part the schema found wrong, nor of
        # a whole item when the schema found a field of it wrong)
        problems += [p for p in more
                     if not any(p.path[:len(q.path)] == q.path
                                or (p.path and q.path[:len(p.path)] == p.path)
                                for q in problems)]
        raise ScenarioError(path, _by_position(problems))
    sc, problems = build_with_problems(path, doc)
    if problems:
        if check_targets:
            from ._runner import target_problems

            problems += target_problems(sc)
        raise ScenarioError(path, _by_position(problems))
    return sc


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read, parse and validate a scenario file; raises ``ScenarioError``."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            text = f.read(_read_limit())
    except OSError as err:
        raise ScenarioError(name, [Problem(f"cannot read the file: {err.strerror or err}")]) \
            from None
    return parse_scenario(text, name, check_targets=True)


def _read_limit() -> int:
    from ._yaml import MAX_BYTES

    return MAX_BYTES + 1
