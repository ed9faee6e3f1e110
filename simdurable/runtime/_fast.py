"""The runtime's few speed tricks, in one place.

Every journaled step goes through a handful of calls; at a few microseconds a
step, one avoided Python-level call is a measurable share. The tricks here
are those that ``python -m benchmarks.run --only sim`` showed to pay
(``benchmarks/bench_sim.py``: "Journaled steps per second", fresh and replay
rows); everything else in the runtime is written plainly. Each is used only
where a step passes, and each builds exactly what the plain form would.
"""

from __future__ import annotations

from typing import Final

from ._journal import Entry

# ``new_tuple(Entry, (every field in order))`` builds a named tuple without its
# Python-level ``__new__`` (a call and keyword handling less): for the two
# entries every step makes (its command and its completion), its ``Value`` and
# its ``StepInfo``. Half the cost of calling ``Entry(...)`` (timeit).
new_tuple: Final = tuple.__new__


def stamped(entry: Entry, at_ms: int) -> Entry:
    """``entry._replace(at_ms=at_ms)`` without ``_replace``'s keyword machinery
    (a third of its cost, timeit)."""
    return new_tuple(Entry, (entry.kind, entry.name, entry.data, entry.result, entry.target,
                             at_ms, entry.wake_ms, entry.ref))


# Common step results, known not to be awaitable without asking ``inspect``
# (``inspect.isawaitable`` is a few calls deep): one type check a step instead, a
# fifth of the cost (timeit).
NOT_AWAITABLE: Final = (int, str, bytes, float, dict, list, tuple, type(None))
