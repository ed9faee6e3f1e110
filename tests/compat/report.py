"""Measures the compatibility suite and writes docs/compatibility.md.

    python -m tests.compat.report                 # measure, rewrite the document
    python -m tests.compat.report --update-known  # also record today's failures in known.py

A handler "runs unchanged" in a mode when every case that exercises it
passes there. The real-objects mode needs restate-sdk installed; without it
that mode is reported as not measured.
"""

from __future__ import annotations

import argparse
import pprint
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.compat.harness import MODES, Outcome, all_cases, programs, restate_installed, run_case
from tests.compat.inventory import handlers_of

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compatibility.md"
KNOWN_FILE = Path(__file__).parent / "known.py"


@dataclass
class Measure:
    mode: str
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    handlers: dict[tuple[str, str], bool] = field(default_factory=dict)
    # why a handler fails: the first failing case exercising it
    blame: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    @property
    def passing(self) -> int:
        return sum(self.handlers.values())


def measure(mode: str) -> Measure:
    m = Measure(mode)
    for program in programs():
        for h in handlers_of(program):
            m.handlers[(program, h)] = True
    for program, case in all_cases():
        out = run_case(program, case, mode)
        m.outcomes[(program, case.name)] = out
        for h in case.handlers():
            if (program, h) in m.handlers and not out.ok:
                m.handlers[(program, h)] = False
                m.blame.setdefault((program, h), (case.name, out.problems[0]))
    return m


def failing_cases(m: Measure) -> set[tuple[str, str]]:
    return {k for k, out in m.outcomes.items() if not out.ok}


def render(measures: dict[str, Measure | None]) -> str:
    from tests.compat.known import KNOWN
    from tests.compat.sources import SOURCES

    any_m = next(m for m in measures.values() if m is not None)
    total = len(any_m.handlers)
    lines = [
        "# Compatibility with restate-sdk programs",
        "",
        "Public restate-sdk programs, rewritten under `tests/compat/programs/` with their",
        "restate API use kept as published, each handler invoked with a plausible input",
        "and its outcome (result or terminal error, and the objects' state) compared with",
        "what it does on a Restate server. Two modes:",
        "",
        "- **real objects**: restate-sdk 1.3.0 installed, the module imported as it is, its",
        "  `restate.Service`/`VirtualObject`/`Workflow` objects handed to `Simulation`;",
        "- **import swap**: the same module with its restate imports rewritten to simdurable",
        "  (`import simdurable as restate`, `from simdurable.exceptions import TerminalError`,",
        "  also inside functions), restate-sdk not used.",
        "",
        "This file is written by `python -m tests.compat.report`; `tests/compat/test_compat.py`",
        "runs the same cases in the test suite.",
        "",
        "## Figures",
        "",
    ]
    names = {"real": "real objects", "swap": "import swap"}
    for mode in MODES:
        m = measures.get(mode)
        if m is None:
            lines.append(f"- {names[mode]}: not measured (restate-sdk is not installed)")
            continue
        ok_cases = sum(o.ok for o in m.outcomes.values())
        lines.append(f"- {names[mode]}: **{m.passing} of {total} handlers run unchanged** "
                     f"({100 * m.passing / total:.0f} %; {ok_cases} of {len(m.outcomes)} cases pass)")
    lines += ["", f"{total} handlers in {len(programs())} programs: "
              + ", ".join(f"{src} ({n})" for src, n in _by_source(any_m).items()) + ".", ""]
    for mode in MODES:
        m = measures.get(mode)
        if m is None:
            continue
        bad = sorted(k for k, ok in m.handlers.items() if not ok)
        lines += [f"## Handlers that do not run unchanged: {names[mode]}", ""]
        if not bad:
            lines += ["None.", ""]
            continue
        reasons = KNOWN.get(mode, {})
        lines += ["| program | handler | why | first failing case: what happened |",
                  "| --- | --- | --- | --- |"]
        for program, handler in bad:
            case, problem = m.blame[(program, handler)]
            why = reasons.get((program, case), "not yet explained")
            lines.append(f"| {program} | `{handler}` | {_cell(why)} | {_cell(case)}: "
                         f"{_cell(problem)} |")
        lines.append("")
    from tests.compat.inventory import ADDED, EXCLUDED

    lines += ["## Not counted", "",
              "Published handlers that are not programs meant to run, and so have no",
              "expected outcome:", ""]
    for program, handlers in sorted(EXCLUDED.items()):
        for handler, why in sorted(handlers.items()):
            lines.append(f"- {program} `{handler}`: {why}.")
    lines += ["", "Handlers written here so that a published one has a target (not counted): "
              + ", ".join(f"`{h}` ({p})" for p, hs in sorted(ADDED.items()) for h in sorted(hs))
              + ".", ""]
    lines += ["## Sources", "",
              "All are published by Restate under the MIT licence.", "",
              "| program | rewritten from |", "| --- | --- |"]
    for program in programs():
        lines.append(f"| {program} | {SOURCES.get(program, '?')} |")
    return "\n".join(lines) + "\n"


def _by_source(m: Measure) -> dict[str, int]:
    out: dict[str, int] = {}
    names = {"sdk": "restatedev/sdk-python", "ex": "restatedev/examples",
             "docs": "restatedev/docs-restate"}
    for program, _ in m.handlers:
        src = names[program.split("_", 1)[0]]
        out[src] = out.get(src, 0) + 1
    return out


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 220 else text[:217] + "..."


# What a failure's first problem says -> why it fails, for failures not yet explained.
PATTERNS: list[tuple[str, str]] = [
    ("has no attribute 'spec'",
     "Simulation does not accept restate-sdk's own service objects yet"),
    ("No module named 'simdurable.",
     "the import swap lacks a restate submodule the program imports"),
    ("cannot import name", "the import swap lacks a public name of restate"),
    ("has no attribute", "the import swap lacks a public name of restate"),
    ("signal() is not supported", "signals are not supported yet"),
]


def explain(problem: str) -> str:
    for needle, why in PATTERNS:
        if needle in problem:
            return why
    return "not yet explained"


def update_known(measures: dict[str, Measure | None]) -> None:
    from tests.compat.known import KNOWN

    new: dict[str, dict[tuple[str, str], str]] = {}
    for mode, m in measures.items():
        if m is None:
            new[mode] = KNOWN.get(mode, {})
            continue
        old = KNOWN.get(mode, {})
        new[mode] = {}
        for k in sorted(failing_cases(m)):
            why = old.get(k, "not yet explained")
            if why == "not yet explained" or why in {r for _, r in PATTERNS}:
                # a reason a pattern gave is given again; hand-written ones stay
                why = explain(m.outcomes[k].problems[0]) if explain(
                    m.outcomes[k].problems[0]) != "not yet explained" else why
            new[mode][k] = why
    KNOWN.clear()
    KNOWN.update(new)
    KNOWN_FILE.write_text(KNOWN_HEAD + "KNOWN: dict[str, dict[tuple[str, str], str]] = "
                          + pprint.pformat(new, width=100, sort_dicts=True) + "\n")


KNOWN_HEAD = '''"""The cases that fail today, per mode, and why (kept by ``report --update-known``).

``test_compat`` requires exactly these to fail: a case that starts to pass
must leave this list, and a case that starts to fail must be explained here.
"""

'''


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.compat.report")
    parser.add_argument("--update-known", action="store_true",
                        help="record the failing cases in tests/compat/known.py")
    args = parser.parse_args(argv)
    measures: dict[str, Measure | None] = {}
    for mode in MODES:
        measures[mode] = measure(mode) if mode != "real" or restate_installed() else None
    if args.update_known:
        update_known(measures)
    DOC.write_text(render(measures))
    for mode, m in measures.items():
        if m is None:
            print(f"{mode}: not measured (restate-sdk is not installed)")
        else:
            print(f"{mode}: {m.passing} of {len(m.handlers)} handlers run unchanged")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
