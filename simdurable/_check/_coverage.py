"""Which handler lines ran only under faults, and which never ran (coverage.py).

Compensation code and ``except`` branches usually run only when something
fails; a line that never ran at all is a path the exploration did not reach.
coverage.py measures the handlers' files during ``check``, with one dynamic
context for the reference run and one for every faulty run.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._restate import native_services

REFERENCE = "reference"


@dataclass
class HandlerLines:
    handler: str
    file: str
    only_under_faults: list[int] = field(default_factory=list)
    never_ran: list[int] = field(default_factory=list)


@dataclass
class CoverageReport:
    """Per handler: lines run only under faults, and lines never run."""

    handlers: list[HandlerLines] = field(default_factory=list)

    def __str__(self) -> str:
        lines = ["handler lines (coverage.py):"]
        for h in self.handlers:
            short = os.path.basename(h.file)
            lines.append(f"  {h.handler}: ran only under faults: {_ranges(short, h.only_under_faults)};"
                         f" never ran: {_ranges(short, h.never_ran)}")
        return "\n".join(lines)


def _ranges(short: str, nums: list[int]) -> str:
    if not nums:
        return "none"
    parts, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [-1]:
        if n == prev + 1:
            prev = n
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = n
    return f"{short}:" + ",".join(parts)


class CoverageProbe:
    """Measures the handlers' source files while ``check`` runs them."""

    def __init__(self, services: Iterable[Any]) -> None:
        import coverage

        self.handlers: list[tuple[str, Any]] = []
        files = set()
        for svc in native_services(services):
            for h in getattr(svc, "handlers", {}).values():
                path = inspect.getsourcefile(h.fn)
                if path:
                    files.add(os.path.abspath(path))
                    self.handlers.append((f"{svc.name}/{h.name}", h.fn))
        self.files = sorted(files)
        self.cov = coverage.Coverage(data_file=None, include=self.files, config_file=False)
        self._on = False

    def begin(self) -> None:
        self.cov.start()
        self._on = True

    def start(self, label: str) -> None:
        if self._on:
            self.cov.switch_context(REFERENCE if label == REFERENCE else "faulty")

    def stop(self) -> None:
        if self._on:
            self.cov.switch_context("idle")

    def end(self, reached: set[str] | None = None) -> CoverageReport:
        """The lines of each handler in ``reached`` (default: every handler)."""
        if self._on:
            self.cov.stop()
            self._on = False
        data = self.cov.get_data()
        report = CoverageReport()
        for name, fn in self.handlers:
            if reached is not None and name not in reached:
                continue
            path = os.path.abspath(inspect.getsourcefile(fn) or "")
            try:
                src, first = inspect.getsourcelines(fn)
                statements = set(self.cov.analysis2(path)[1])
            except (OSError, TypeError, Exception):  # noqa: BLE001 - no source, no lines
                continue
            # The ``def`` line itself ran at import, not in a run: the body starts
            # after it (``co_firstlineno`` is the first decorator's line).
            def_line = next((first + i for i, text in enumerate(src)
                             if text.lstrip().startswith(("def ", "async def "))),
                            fn.__code__.co_firstlineno)
            body = {n for n in statements if def_line < n < first + len(src)}
            by_line = data.contexts_by_lineno(path) or {}
            ref = {n for n, ctx in by_line.items() if REFERENCE in ctx}
            faulty = {n for n, ctx in by_line.items() if "faulty" in ctx}
            report.handlers.append(HandlerLines(
                name, path,
                only_under_faults=sorted(n for n in body if n in faulty and n not in ref),
                never_ran=sorted(n for n in body if n not in faulty and n not in ref),
            ))
        return report
