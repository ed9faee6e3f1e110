"""Buggy/correct handler pairs written from real bug reports.

Each pair is a handler with a durable-execution bug, as users write it, and
its correct twin under the same service name. ``PAIRS`` lists them all; each
module's pairs cite the report they come from. ``check`` with its default
settings must flag every buggy handler with the expected kind and none of
the twins (see ``benchmarks/bug_corpus.py`` and docs/bug-corpus.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import simdurable as sd


@dataclass(frozen=True)
class Pair:
    """One bug and its fix, and how to check them."""

    name: str
    kind: str                    # the violation kind the bug must be reported as
    source: str                  # the report the bug comes from
    invoke: str
    input: Any
    buggy: Sequence[Any]         # the services, the buggy handler among them
    correct: Sequence[Any]       # the same services, fixed
    externals: Sequence[sd.FakeExternal] = ()
    setup: Callable[[], object] | None = None
    invariant: Callable[[sd.Outcome], object] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, fixed: bool, seed: int = 0, **overrides: Any) -> sd.Report:
        """``sd.check`` of the buggy (or fixed) handler with default settings."""
        return sd.check(services=list(self.correct if fixed else self.buggy),
                        invoke=self.invoke, input=self.input, externals=list(self.externals),
                        setup=self.setup, invariant=self.invariant, seed=seed,
                        **{**self.extra, **overrides})


def all_pairs() -> list[Pair]:
    from . import (
        awaits,
        cancellation,
        catching,
        combinators,
        concurrency,
        determinism,
        effects,
        journal,
        keyed,
        lifecycle,
        ordering,
        races,
        retries,
        sagas,
        schedules,
        signals,
        state,
        waiting,
    )

    out: list[Pair] = []
    for module in (effects, determinism, journal, races, sagas, state, awaits, concurrency,
                   signals, cancellation, retries, ordering, combinators,
                   catching, waiting, keyed, schedules, lifecycle):
        out.extend(module.PAIRS)
    names = [p.name for p in out]
    assert len(names) == len(set(names)), "pair names must be unique"
    return out
