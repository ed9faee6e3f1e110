"""Reports: what ``check`` found, written to be read and to be pasted back.

A violation prints, in order: its kind and one sentence; where (handler,
step, journal index, source line); the minimal fault plan, also as a program
that replays it; the timeline of the failing run; the journal diff for
nondeterminism; and the lines that reproduce it exactly.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..runtime._errors import describe_location
from ..runtime._faults import CRASH, FAIL, FaultPlan

TIMELINE_LIMIT = 60


@dataclass
class Violation:
    """One property that failed, with the smallest fault plan found that breaks it.

    Attributes:
      kind: ``nondeterminism``, ``outcome-changed``, ``duplicate-effect``,
        ``nondeterministic-call``, ``not-awaited``, ``context-misuse``, ``invariant``,
        ``stuck`` (the README lists them all).
      message: one sentence saying what went wrong.
      fault_plan: the minimal fault plan (``str()`` gives the replayable string).
      seed: the seed that, with the plan, replays the run.
      handler, step, journal_index, source: where it happened, when known.
      timeline: the failing run's trace, one event a line.
      journal_diff: for ``nondeterminism``, the journal against what replay issued.
      step_runs: how many times each step's closure ran in the failing run.
      schedule: scheduler decisions the run needs beyond its seed (None: the
        seed alone gives them).
      hint: how to reproduce a finding that no single run shows (then there
        is no program and no replay line).
      moments: when each world event happened in the failing run, if not as in
        the reference run (None); ``world`` then lists the events with those
        moments pinned, as the reproducers give them.
    """

    kind: str
    message: str
    fault_plan: FaultPlan = field(default_factory=FaultPlan)
    seed: int = 0
    handler: str | None = None
    step: str | None = None
    journal_index: int | None = None
    source: str | None = None
    details: str | None = None
    journal_diff: str | None = None
    timeline: list[str] = field(default_factory=list)
    events: list[tuple[int, str, str, str]] = field(default_factory=list)
    step_runs: dict[str, int] = field(default_factory=dict)
    schedule: list[int] | None = None
    moments: list[str] | None = None
    world: list[Any] | None = None
    found_by: str = ""
    hint: str | None = None
    program: str = ""
    python_line: str = ""
    pytest_line: str = ""
    cli_line: str = ""
    blob: str = ""

    def where(self) -> str:
        return describe_location(self.handler, self.step, self.journal_index, self.source)

    def chrome_trace(self) -> dict[str, Any]:
        """The failing run as Chrome trace-event JSON (open it in Perfetto)."""
        from ._chrome import chrome_trace

        return chrome_trace(self.events, title=f"{self.kind}: {self.message}")

    def render(self) -> str:
        lines = [f"{self.kind}: {self.message}"]
        where = self.where()
        if where:
            lines.append(f"  where: {where}")
        if self.found_by:
            lines.append(f"  found by: {self.found_by}")
        lines.append(f"  minimal fault plan: {self.fault_plan}   (seed {self.seed})")
        if self.world is not None:
            lines.append("  the world in this run: "
                         + "; ".join(ev.describe() for ev in self.world))
        if self.details:
            lines.append("  details:")
            lines += [f"    {d}" for d in self.details.splitlines()]
        if self.step_runs:
            runs = ", ".join(f'"{k}" x{v}' for k, v in self.step_runs.items())
            lines.append(f"  step closures ran: {runs}")
        if self.journal_diff:
            lines.append("  journal diff (first difference):")
            lines += [f"  {d}" for d in self.journal_diff.splitlines()]
        if self.program:
            lines.append("  replay it as a program:")
            lines += [f"    {p}" for p in self.program.splitlines()]
        if self.timeline:
            lines.append("  timeline of the failing run:")
            shown = self.timeline[:TIMELINE_LIMIT]
            lines += [f"    {t}" for t in shown]
            if len(self.timeline) > len(shown):
                lines.append(f"    ... {len(self.timeline) - len(shown)} more events")
        if self.hint:
            lines.append(f"  reproduce it: {self.hint}")
        elif self.python_line or self.pytest_line or self.cli_line:
            lines.append("  reproduce it:")
            for line in (self.cli_line, self.python_line, self.pytest_line):
                if line:
                    lines.append(f"    {line}")
            if self.blob:
                lines.append(f'    @simdurable.reproduce("{_version()}", "{self.blob}")'
                             "   # as a decorator on the test")
            if self.schedule is not None:
                lines.append("    (this failure also needs a scheduling order the seed alone "
                             "does not give: use the replay line or the decorator)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def as_dict(self) -> dict[str, Any]:
        """The violation as plain JSON-ready data (what ``--json`` prints)."""
        return {
            "kind": self.kind, "message": self.message, "handler": self.handler,
            "step": self.step, "journal_index": self.journal_index, "source": self.source,
            "found_by": self.found_by, "fault_plan": str(self.fault_plan), "seed": self.seed,
            "schedule": self.schedule, "moments": self.moments, "details": self.details,
            "journal_diff": self.journal_diff, "step_runs": self.step_runs,
            "timeline": self.timeline, "hint": self.hint,
            "reproduce": {"cli": self.cli_line or None, "python": self.python_line or None,
                          "pytest": self.pytest_line or None, "blob": self.blob or None},
        }


@dataclass
class Report:
    """The result of ``check``: ``ok``, the ``violations``, and what was explored."""

    target: str
    input: Any
    seed: int
    violations: list[Violation] = field(default_factory=list)
    runs: int = 0
    examples: int = 0
    single_faults: int = 0
    fault_points: int = 0
    fault_points_exercised: int = 0
    faults_fired: dict[str, int] = field(default_factory=dict)
    step_runs: dict[str, int] = field(default_factory=dict)
    closure_runs: int = 0
    reruns_explained: int = 0
    coverage: Any = None
    replayed: bool = False
    notes: list[str] = field(default_factory=list)
    reference: str = ""
    paths: int = 0
    reached: list[str] = field(default_factory=list)
    world: list[str] = field(default_factory=list)
    concurrent: list[str] = field(default_factory=list)
    # Fault-free runs with the world's events at other moments (early, late).
    moment_runs: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def kinds(self) -> list[str]:
        return [v.kind for v in self.violations]

    def raise_if_failed(self) -> None:
        """Raise ``AssertionError`` with the readable report if anything failed."""
        if self.violations:
            raise AssertionError(self.render())

    def summary(self) -> str:
        inp = _short(self.input)
        head = f"simdurable check of {self.target}({inp}): "
        if self.ok:
            head += "no violations"
        else:
            n = len(self.violations)
            head += f"{n} violation{'s' if n > 1 else ''} ({', '.join(self.kinds)})"
        lines = [head]
        if self.replayed:
            lines.append(f"  replayed one case ({self.runs} runs)")
        else:
            # Hypothesis goes on from what it found: the examples it ran to shrink
            # it, and the rounds looking for other kinds, count too (more than asked).
            shrunk = any(v.found_by.startswith("Hypothesis, shrunk") for v in self.violations)
            after = (", counting those that shrank what was found and looked on for other "
                     "kinds" if shrunk else "")
            lines.append(
                f"  explored: the reference run, {self.single_faults} single faults, "
                f"{self.examples} generated examples{after}; {self.runs} runs, counting "
                f"those run again to check the harness's own determinism"
            )
        if self.concurrent:
            lines.append("  at once: " + ", ".join(self.concurrent)
                         + "; each run must end as some one-at-a-time order ends")
        if self.world:
            lines.append("  the world: " + "; ".join(self.world))
        if self.moment_runs:
            lines.append(f"  the world's moments: {self.moment_runs} fault-free runs with an "
                         f"event early (before the run waits on it) or late (every timer "
                         f"fired); generated examples draw each event's moment too")
        if self.reference:
            lines.append(f"  reference run (no faults): {self.reference}")
        if self.paths:
            lines.append(
                f"  paths: {self.paths} distinct journal{'s' if self.paths > 1 else ''} of "
                f"{self.target} across the runs; handlers reached: {', '.join(self.reached)}"
            )
        if self.fault_points:
            lines.append(f"  fault points exercised: {self.fault_points_exercised} of "
                         f"{self.fault_points} in the reference run")
        if self.faults_fired:
            fired = ", ".join(f"{k} x{v}" for k, v in sorted(self.faults_fired.items()))
            lines.append(f"  faults injected: {fired}")
        if self.closure_runs:
            most = ", ".join(f'"{k}" x{v}' for k, v in self.step_runs.items())
            # A step re-runs after a fault the check injected, or after it raised
            # and its retry policy ran it again; any other re-run is a violation.
            reruns = (f"{self.reruns_explained} re-runs, each after an injected fault "
                      "or a retried failure" if self.reruns_explained else "no re-runs")
            lines.append(
                f"  exactly-once self-check: {self.closure_runs} step closure runs, {reruns}; "
                f"most runs of each step in one run: {most}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        if self.coverage is not None:
            lines += ["  " + line for line in str(self.coverage).splitlines()]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (what ``simdurable check --json`` prints)."""
        out: dict[str, Any] = {
            "ok": self.ok, "target": self.target, "input": self.input, "seed": self.seed,
            "replayed": self.replayed, "reference": self.reference, "world": self.world,
            "concurrent": self.concurrent,
            "explored": {
                "runs": self.runs, "single_faults": self.single_faults,
                "examples": self.examples, "fault_points": self.fault_points,
                "fault_points_exercised": self.fault_points_exercised, "paths": self.paths,
                "moment_runs": self.moment_runs,
                "handlers_reached": self.reached,
            },
            "faults_fired": self.faults_fired, "step_runs": self.step_runs,
            "closure_runs": self.closure_runs, "reruns_explained": self.reruns_explained,
            "notes": self.notes,
            "violations": [v.as_dict() for v in self.violations],
        }
        if self.coverage is not None:
            out["coverage"] = [
                {"handler": h.handler, "file": h.file, "only_under_faults": h.only_under_faults,
                 "never_ran": h.never_ran} for h in self.coverage.handlers
            ]
        return out

    def to_json(self) -> str:
        """``as_dict()`` as JSON text (values JSON cannot hold are shown by ``repr``)."""
        return json.dumps(self.as_dict(), indent=2, default=repr)

    def render(self) -> str:
        parts = [self.summary()]
        for i, v in enumerate(self.violations, 1):
            parts.append(f"\n[{i}] " + v.render())
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _version() -> str:
    from .._version import __version__

    return __version__


def encode_blob(case: dict[str, Any]) -> str:
    """A case (plan, seed, schedule, ...) as a short string tagged with the version."""
    payload = json.dumps({"v": _version(), **case}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(zlib.compress(payload.encode(), 9)).decode()


def decode_blob(blob: str) -> dict[str, Any]:
    """The case in a blob; raises ``ValueError`` for a blob that is not one."""
    try:
        data = json.loads(zlib.decompress(base64.urlsafe_b64decode(blob.encode())))
    except (ValueError, zlib.error) as err:
        raise ValueError(f"not a simdurable reproduction blob: {blob[:30]!r}... ({err})") from None
    except RecursionError:
        raise ValueError(f"not a simdurable reproduction blob: {blob[:30]!r}... (nested too "
                         f"deep)") from None
    if not isinstance(data, dict) or "v" not in data:
        raise ValueError(f"not a simdurable reproduction blob: {blob[:30]!r}...")
    return data


def program(plan: FaultPlan, seed: int, services: str, externals: str, invoke: str,
            input: Any, strict: bool, imports: list[str], world: Sequence[Any] = (),
            others: Sequence[tuple[str, Any]] = ()) -> str:
    """The plan as a Python program against ``Simulation``."""
    lines = ["import simdurable as sd"] + [f"import {m}" for m in imports]
    ext = f", externals={externals}" if externals != "[]" else ""
    lines.append(f"sim = sd.Simulation(services={services}, seed={seed}{ext}, strict={strict})")
    for f in plan.faults:
        if f.kind == CRASH and f.at_ms is None:
            args = [f"after={f.step!r}"] if f.step else []
            if f.index is not None:
                args.append(f"index={f.index}")
            args.append(f"point={f.phase or 'before'!r}")
            args.append(f"attempt={f.attempt!r}")
            if f.target:
                args.append(f"target={f.target!r}")
            lines.append(f"sim.crash({', '.join(args)})")
        elif f.kind == FAIL and f.step and f.index is None:
            args = [repr(f.step)]
            if f.times != 1:
                args.append(f"times={f.times}")
            args.append(f"exception={f.exception or 'ConnectionError'!r}")
            lines.append(f"sim.fail({', '.join(args)})")
        else:
            lines.append(f"sim.inject(sd.FaultPlan.parse({str(f)!r}).faults[0])")
    # (a world call submitted between the callers at once, ``after-K``: after the K-th)
    between = [_after(ev) or 0 for ev in world]
    events = [line for ev, k in zip(world, between, strict=True) if not 0 < k <= len(others)
              for line in _world_lines(ev)]
    lines.append(f"h = sim.invoke({invoke!r}, {input!r})")
    shown = list(events)
    for n, (target, value) in enumerate(others, 1):
        now = [line for ev, k in zip(world, between, strict=True) if k == n
               for line in _world_lines(ev)]
        lines += now
        shown += now
        lines.append(f"sim.invoke({target!r}, {value!r})")
    # Only the imports the events' lines use: the program is pasted as it is printed.
    lines[1:1] = [line for line, used in (("from datetime import timedelta", "timedelta("),
                                          ("from simdurable import world", "world."))
                  if any(used in event for event in shown)]
    lines += events
    lines.append("sim.run()")
    return "\n".join(lines)


def _after(ev: Any) -> int | None:
    """K of a world event submitted after the first K callers at once (``after-K``)."""
    when = ev.when if ev.at_ms is None else None
    k = when[len("after-"):] if isinstance(when, str) and when.startswith("after-") else ""
    return int(k) if k.isdigit() else None


def _world_lines(ev: Any) -> list[str]:
    """A world event as ``Simulation`` calls: wait for its moment, then do it."""
    if ev.at_ms is not None:
        wait = f"sim.run(until=timedelta(milliseconds={ev.at_ms}))"
    elif ev.when == "late":
        wait = "sim.run()"
    else:  # its moment: once the run waits on it, or early
        wait = f"world.reach(sim, h, {ev!r})".replace("simdurable.world.", "world.")
    action = ev.action
    if type(ev.value).__name__ == "FromEffect":
        # Read from what the run sent out, when the event happens.
        return [wait, f"world.apply(sim, h, {ev!r})".replace("simdurable.world.", "world.")]
    if action in ("resolve_promise", "reject_promise"):
        workflow, _, key = ev.target.partition("/")
        tail = (repr(ev.value) if action == "resolve_promise"
                else f"{ev.message!r}, {ev.code}")
        do = f"sim.{action}({workflow!r}, {key!r}, {ev.name!r}, {tail})"
    elif action in ("resolve_awakeable", "reject_awakeable"):
        tail = repr(ev.value) if action == "resolve_awakeable" else f"{ev.message!r}, {ev.code}"
        do = f"sim.{action}(sim.awakeables()[0], {tail})"
    elif action in ("call", "send"):
        do = f"sim.{'invoke' if action == 'call' else 'send'}({ev.target!r}, {ev.value!r})"
    elif action == "cancel":
        do = "sim.cancel(h)"
    else:
        do = f"sim.run(until=timedelta(milliseconds=sim.engine.now_ms + {ev.by_ms}))"
    return [wait, do]
