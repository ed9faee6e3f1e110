"""The deterministic event loop: a ready set, a timer queue, a virtual clock.

Nothing here reads the real clock. When no task is ready, time jumps to the
earliest timer (trio's MockClock with autojump at zero). Which ready task runs
next is a decision of the ``Chooser``: a seeded RNG in plain simulations, the
Hypothesis test's data under ``check`` (so schedules shrink with faults).
"""

from __future__ import annotations

import gc
import random
from heapq import heappop, heappush
from typing import Any, Final, Protocol

from ._lazy import BuiltOnUse, own_keys


class Chooser(Protocol):
    """The one place where a run makes a decision."""

    def choose(self, n: int, label: str) -> int:
        """An index in ``range(n)``; ``n`` is at least 2."""
        ...

    def chance(self, p: float, label: str) -> bool:
        """True with probability ``p``."""
        ...


class RandomChooser:
    """Decisions from ``random.Random(seed)``: one seed, one run.

    The generator is seeded at the first decision: seeding costs more than
    a whole small run, and many runs never have a choice to make.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def choose(self, n: int, label: str) -> int:
        # ``self.rng.randrange(n)``, inlined: the same draws from the same
        # generator (``Random._randbelow_with_getrandbits``), without its two
        # Python-level calls, once for every task taken among several.
        getrandbits = self.rng.getrandbits
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    def chance(self, p: float, label: str) -> bool:
        if p <= 0:
            return False
        return self.rng.random() < p


class FirstChooser:
    """Always the first ready task: submission order, no randomness."""

    def choose(self, n: int, label: str) -> int:
        return 0

    def chance(self, p: float, label: str) -> bool:
        return False


# Never added to (``add_timer`` makes a scheduler its own list first).
_NO_TIMERS: list[tuple[int, int, Any]] = []


# No limit: one float for every scheduler (``float("inf")`` parses its string at each
# call, about 0.3 us by timeit: five of them were a tenth of building a Simulation).
_INF: Final = float("inf")


class Scheduler:
    """Ready tasks and timers on a virtual clock measured in milliseconds."""

    # The length past which a run splits ``ready`` (and by which ``ready``
    # may outgrow ``held`` before its older part moves there).
    hold_at = 1024

    def __init__(self, chooser: Chooser | None, start_ms: int = 0, seed: int = 0) -> None:
        # (``Engine.renew`` writes these fields again for a spare engine's
        # scheduler: a field added here goes there too)
        if chooser is not None:
            self.chooser = chooser
        self.seed = seed
        self.lazily_built = False  # (its own as well as the class's: see ``_lazy``)
        self.now_ms = start_ms
        # Tasks ready to run, in the order they became ready (read directly on
        # the hot path: see ``Steps.run_lone_step``).
        self.ready: list[Any] = []
        # The older ready tasks, held out of ``ready`` while a run has many
        # (``_tasks``): the ready tasks in order are ``held``'s, then ``ready``'s,
        # and ``ready`` is never empty while a task is held. The empty tuple
        # while none is. Taking a task from the middle of a list moves the
        # tasks after it: from one of two lists, a quarter of them on average.
        # (An instance attribute: the runner reads it at every task.)
        self.held: list[Any] | tuple[()] = ()
        # The timers, ``(due_ms, seq, payload)``, a heap (``heapq``) in their
        # order: ``seq`` is new for each, so two never compare their payloads.
        # The shared empty list until the first is added (many runs have none).
        self._timers: list[tuple[int, int, Any]] = _NO_TIMERS
        self._timer_seq = 0
        self.decisions = 0
        # Tasks taken so far (``pop`` and steps run in place); a host stops its
        # run at ``max_tasks``, so that a runaway handler ends.
        self.tasks_run = 0
        self.max_tasks: float = _INF
        # The longest journal an invocation may grow; past it the run is stopped
        # as at ``max_tasks``, ``stop_reason`` saying why (a handler that loops
        # on sleeps runs few tasks, but its journal grows without end).
        self.max_journal: float = _INF
        # The most invocations a run may start (a handler that sends itself
        # again without end starts one a task, each with its own journal).
        self.max_invocations: float = _INF
        self.stop_reason: str | None = None
        # With the cyclic collector off for a run (``Simulation.run``), the
        # task at which the cycles a handler made are collected next: between
        # tasks, at the same ones for the same seed.
        self.collect_at: float = _INF
        self.collect_every: float = _INF
        # The task at which the fused runner (``_tasks``) next checks
        # ``max_tasks`` and ``collect_at``, which it tests alone at the others;
        # ``stop`` sets it to 0 (the next task checks), as a runner's call does
        # at its start (its first task checks)
        self.check_at = 0

    # Without a chooser given, ``RandomChooser(seed)``: made at the first decision
    # (``_lazy``), as most runs never have one to make.
    chooser: BuiltOnUse[Chooser] = BuiltOnUse(lambda s: RandomChooser(s.seed))
    # True once the chooser above is built (then not made as new by
    # ``Engine.renew``: the next run makes its own from its seed).
    lazily_built = False

    def stop(self, reason: str) -> None:
        """Stop the run at the next task, for ``reason`` (see ``max_journal``,
        ``max_invocations``): the first one given, which the others followed."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.max_tasks = self.tasks_run
        self.check_at = 0

    # -- ready set -----------------------------------------------------------
    def push(self, task: Any) -> None:
        self.ready.append(task)

    def has_ready(self) -> bool:
        return bool(self.ready)

    def pop(self) -> Any:
        """Take the next ready task; the chooser picks when several are ready."""
        self.tasks_run += 1
        if self.tasks_run >= self.collect_at:
            self.collect_at = self.tasks_run + self.collect_every
            gc.collect(0)
        if self.held:
            self.unhold()
        n = len(self.ready)
        if n == 1:
            return self.ready.pop()
        i = self.chooser.choose(n, "schedule")
        self.decisions += 1
        return self.ready.pop(i)

    def unhold(self) -> None:
        """Put the held tasks back in front of ``ready``, in order."""
        held = self.held
        self.held = ()
        self.ready[:0] = held

    def clear_ready(self) -> None:
        self.held = ()
        self.ready.clear()

    def discard(self, predicate: Any) -> None:
        """Drop every ready task for which ``predicate(task)`` is true."""
        if self.held:
            self.unhold()
        self.ready = [t for t in self.ready if not predicate(t)]

    def add_timer(self, due_ms: int, payload: Any) -> None:
        # (a heap, not a sorted list: a crash's retry, the one timer of most
        # runs that have one, made, added and taken in C, not through a sorted
        # list's Python calls)
        if self._timers is _NO_TIMERS:
            self._timers = []
        self._timer_seq += 1
        heappush(self._timers, (max(due_ms, self.now_ms), self._timer_seq, payload))

    def peek_timer(self) -> tuple[int, Any] | None:
        if not self._timers:
            return None
        due, _, payload = self._timers[0]
        return due, payload

    def drop_first_timer(self) -> None:
        heappop(self._timers)

    def next_deadline(self) -> int | None:
        timers = self._timers
        return timers[0][0] if timers else None

    def timers(self) -> list[tuple[int, Any]]:
        return [(due, payload) for due, _, payload in sorted(self._timers)]

    def clear_timers(self) -> None:
        if self._timers:  # (never the shared empty list's)
            self._timers.clear()

    def jump_to(self, t_ms: int) -> None:
        """Move the clock forward; going backwards is a bug."""
        if t_ms < self.now_ms:
            raise ValueError(f"time cannot go backwards: {t_ms} ms < now {self.now_ms} ms")
        self.now_ms = t_ms

    def pop_due(self) -> list[Any]:
        """Remove and return the payloads of every timer due now, in order."""
        due = []
        timers = self._timers
        while timers and timers[0][0] <= self.now_ms:
            due.append(heappop(timers)[2])
        return due


own_keys(Scheduler)  # (its parts built on use: see ``own_keys``)
