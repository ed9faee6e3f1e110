"""The ``sim`` fixture, and re-running ``@pytest.mark.simdurable`` tests under faults.

``SimFactory`` makes ``Simulation`` objects for a test. Under ``--simdurable``
a marked test runs first without faults, with an explorer that only records
the fault points its simulations pass; then once per point with a crash
there, then with random pairs and triples of crashes on other seeds. The
first failing plan is shrunk by dropping faults one at a time. Everything is
decided by the seed, so a serial run and an ``-n auto`` run explore the same
plans, and the reported plan, pasted back with ``--simdurable-replay``, fails
the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._api.external import FakeExternal
from .._loader import load_externals, load_object
from .._sim import Simulation
from ..runtime._faults import CRASH, PHASES, Fault, FaultPlan, FaultPoint


class SimFactory:
    """Call it to get a ``Simulation``: ``s = sim([greeter], externals=[bank])``.

    With no services, it uses the ``services`` configured in
    ``[tool.simdurable]``. Externals passed in are reset the first time a
    test example uses them, so every example starts with clean fakes.
    Under ``--simdurable`` the simulations it makes carry the fault plan and
    seed of the example being explored.
    """

    def __init__(self, services: Sequence[str] = (), externals: Sequence[str] = (),
                 seed: int = 0) -> None:
        self._service_names = list(services)
        self._external_names = list(externals)
        self.seed = seed
        self.plan = FaultPlan()
        self.sims: list[Simulation] = []
        self.points: list[FaultPoint] | None = None
        self._seen: set[int] = set()

    def start_example(self, plan: FaultPlan, seed: int, *, record: bool = False) -> None:
        """Forget the previous example's simulations; use ``plan`` and ``seed`` next."""
        self.plan = plan
        self.seed = seed
        self.sims = []
        self._seen = set()
        self.points = [] if record else None

    def __call__(
        self,
        services: Sequence[Any] | None = None,
        *,
        seed: int | None = None,
        externals: Sequence[FakeExternal] | None = None,
        faults: FaultPlan | str | Iterable[Fault] | None = None,
        strict: bool = True,
        **kwargs: Any,
    ) -> Simulation:
        if services is None:
            if not self._service_names:
                raise ValueError(
                    "sim() was called without services and none are configured; pass them, "
                    "sim([greeter]), or set services in [tool.simdurable]"
                )
            services = _load_all(self._service_names)
        if externals is None:
            externals = load_externals(list(self._external_names),
                                       "[tool.simdurable] externals")
        for ext in externals:
            if id(ext) not in self._seen:
                self._seen.add(id(ext))
                ext.reset()
        plan = self.plan
        if faults is not None:
            from .._sim import coerce_plan

            plan = coerce_plan(faults) + plan
        sim = Simulation(services, seed=self.seed if seed is None else seed, faults=plan,
                         strict=strict, externals=externals, **kwargs)
        if self.points is not None:
            points = self.points

            def record(point: FaultPoint) -> Fault | None:
                if point.phase in PHASES:
                    points.append(point)
                return None

            sim.injector.explore = record
        self.sims.append(sim)
        return sim


def _load_all(names: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    for name in names:
        obj = load_object(name)
        out += list(obj) if isinstance(obj, (list, tuple)) else [obj]
    return out


def crash_at(point: FaultPoint) -> Fault:
    """A crash pinned to exactly this point."""
    return Fault(CRASH, step=point.name or None, index=point.index, phase=point.phase,
                 attempt=point.attempt, target=point.target)


@dataclass
class Finding:
    """A failing example: its plan and seed, and what the test raised."""

    plan: FaultPlan
    seed: int
    error: BaseException
    timeline: list[str] = field(default_factory=list)


@dataclass
class Exploration:
    """What exploring one marked test did."""

    examples: int = 0
    fault_points: int = 0
    finding: Finding | None = None


Body = Callable[[], object]


def _attempt(factory: SimFactory, body: Body, plan: FaultPlan, seed: int) -> BaseException | None:
    factory.start_example(plan, seed)
    try:
        body()
    except Exception as err:  # noqa: BLE001 - a failing example is data here
        return err
    return None


def explore(factory: SimFactory, body: Body, *, seed: int, max_examples: int) -> Exploration:
    """Run ``body`` under crash plans derived from its own fault points; see the module doc."""
    out = Exploration()
    factory.start_example(FaultPlan(), seed, record=True)
    body()  # the fault-free run: a failure here is the test's own, raised as is
    out.examples = 1
    seen: set[tuple[str, int, str, str, int]] = set()
    candidates: list[Fault] = []
    for p in factory.points or []:
        key = (p.target, p.index, p.name, p.phase, p.attempt)
        if key not in seen:
            seen.add(key)
            candidates.append(crash_at(p))
    out.fault_points = len(candidates)
    plans: list[tuple[FaultPlan, int]] = [(FaultPlan((c,)), seed) for c in candidates]
    rng = random.Random(seed)
    budget = max(0, max_examples - 1)
    while len(plans) < budget and len(candidates) >= 2:
        # The i-th crash of a combination fires on attempt i: a crash, then another
        # during the replay that follows, and so on.
        k = min(len(candidates), rng.choice((2, 2, 3)))
        picked = rng.sample(range(len(candidates)), k)
        faults = tuple(replace(candidates[i], attempt=n + 1) for n, i in enumerate(picked))
        plans.append((FaultPlan(faults), rng.randrange(1 << 16)))
    for plan, plan_seed in plans[:budget]:
        out.examples += 1
        err = _attempt(factory, body, plan, plan_seed)
        if err is not None:
            out.finding = _shrink(factory, body, plan, plan_seed, err)
            break
    return out


def _shrink(factory: SimFactory, body: Body, plan: FaultPlan, seed: int,
            err: BaseException) -> Finding:
    """Drop faults while the test still fails; then replay the minimal plan once more."""
    faults = list(plan.faults)
    changed = True
    while changed and len(faults) > 1:
        changed = False
        for i in range(len(faults)):
            smaller = faults[:i] + faults[i + 1:]
            again = _attempt(factory, body, FaultPlan(tuple(smaller)), seed)
            if again is not None:
                faults, err, changed = smaller, again, True
                break
    final = FaultPlan(tuple(faults))
    again = _attempt(factory, body, final, seed)
    timeline = factory.sims[-1].trace() if factory.sims else []
    return Finding(final, seed, again or err, timeline)


def replay(factory: SimFactory, body: Body, plan: FaultPlan, seed: int) -> None:
    """Run ``body`` once under ``plan`` (the ``--simdurable-replay`` mode)."""
    factory.start_example(plan, seed)
    body()
