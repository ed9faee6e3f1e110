"""``Simulation``: run handlers in-process on a virtual clock with a seeded RNG.

The simulation host is a plain loop around the engine: run ready tasks until
none is left, then jump the clock to the next timer; stop when neither
remains. Every decision comes from one chooser (seeded RNG by default), so
the same seed and fault plan reproduce the same run byte for byte; ``trace``
shows it and ``trace_digest`` fingerprints it.
"""

from __future__ import annotations

import gc
import hashlib
import inspect
import math
import os
from collections import Counter
from collections.abc import Callable, Collection, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from sys import getrefcount
from threading import get_ident
from time import monotonic
from types import FunctionType
from typing import Any, Final

from ._api.context import new_context
from ._api.external import FakeExternal
from ._api.serde import DefaultSerde, JsonSerde, ingress_bytes
from ._api.service import AnyService, Handler, _ServiceBase, collect_handlers
from ._asyncio_steps import StepLoop
from ._base_exceptions import not_an_exception
from ._codec import Checker, journal_codec_of, resolve_codec
from ._strict import new_guard
from ._watchdog import Spinning, _watchdog
from .runtime._engine import _DEFAULT_RETRY_POLICY, Engine, HandlerSpec
from .runtime._errors import (
    HandlerError,
    InvalidTargetError,
    NotFinishedError,
    SerializationError,
    StuckError,
)
from .runtime._faults import (
    _NO_FAULTS,
    AFTER_STORE,
    CRASH,
    EFFECT_DONE,
    FAIL,
    PHASES,
    RESTART,
    Fault,
    FaultPlan,
    Injector,
)
from .runtime._ids import awakeable_id
from .runtime._journal import (
    AWAKEABLE,
    COMPLETION,
    Entry,
    Failure,
    Value,
    as_entries,
    terminal_of,
)
from .runtime._registry import Registry
from .runtime._retry import InvocationRetryPolicy, to_ms
from .runtime._running import user_frames
from .runtime._scheduler import _NO_TIMERS, Chooser, Scheduler
from .runtime._store import COMPLETED, PAUSED, InvocationRecord, MemoryStore, Store
from .runtime._trace import EVENT_KINDS, Event, event_text, events, plain_events

DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_DEFAULT_EPOCH_MS: Final = round(DEFAULT_EPOCH.timestamp() * 1000)
# The longest journal an invocation may grow in a simulation (about 20 MB of entries).
DEFAULT_MAX_JOURNAL: Final = 50_000
# The most invocations a simulation may start (each a few KB with its journal).
DEFAULT_MAX_INVOCATIONS: Final = 20_000

# Seconds of wall-clock time one run() may take (a handler spinning in plain Python).
DEFAULT_WALL_BUDGET: Final = 60.0

# Targets already parsed (a test or a check submits the same few again and again).
_TARGETS: dict[str, tuple[str, str | None, str]] = {}
_TARGETS_MAX: Final = 1024


def parse_target(target: str) -> tuple[str, str | None, str]:
    """"Service/handler" or "Object/key/handler" -> (service, key, handler)."""
    if type(target) is str:
        found = _TARGETS.get(target)
        if found is None:
            found = _parse_target(target)
            if len(_TARGETS) >= _TARGETS_MAX:
                _TARGETS.clear()
            _TARGETS[target] = found
        return found
    return _parse_target(target)


def _parse_target(target: str) -> tuple[str, str | None, str]:
    if not isinstance(target, str) or target.count("/") < 1:
        raise InvalidTargetError(
            f"bad target {target!r}: expected \"Service/handler\" or \"Object/<key>/handler\""
        )
    service, _, rest = target.partition("/")
    key, sep, handler = rest.rpartition("/")
    if not service or not handler:
        raise InvalidTargetError(
            f"bad target {target!r}: expected \"Service/handler\" or \"Object/<key>/handler\""
        )
    return service, (key if sep else None), handler

# A run makes no reference cycles of its own (a finished simulation is freed
# by reference counting), yet it keeps its journals, trace and records: the
# collector, left on, scans that growing heap again and again (a tenth of the
# CPU of 10,000 concurrent invocations) and finds nothing. So it is off while a
# simulation runs, and whatever cycles a handler makes are collected between
# tasks every ``_RUN_COLLECT_EVERY`` tasks (``Scheduler.collect_every``): at
# the same tasks for the same seed, never in the middle of a handler's code.
_RUN_COLLECT_EVERY: Final = 1 << 17
# A run that leaves at least this many new objects the collector tracks (a
# crowd's journals and records: 10,000 invocations of 5 steps leave 180,000)
# hands them straight to the oldest generation when it ends (``gc.freeze`` then
# ``gc.unfreeze``, two list splices), instead of letting the first collection
# after it walk every one of them, a twelfth of such a run's CPU time. What a
# handler made into a cycle since the last collection in the run is found by
# the next full collection instead.
_RUN_PROMOTE_AT: Final = 1 << 15
_NEVER: Final = float("inf")  # (``float("inf")`` parses its string each time: 0.3 us)
# The wall-clock budgets' deadlines by thread (``_watchdog``; ``run`` writes its own).
_deadlines: Final = _watchdog._deadlines
# An object of a class made without its ``__init__`` (which ``type.__call__``
# reaches through an argument tuple, a lookup and a frame of its own), its
# fields then written by the caller: the handle and a finished run's summary.
_new_object: Final = object.__new__

# Whether a run turns the collector off (see above); the benchmarks' A/B sets it
# to False to time a run with the collector on.
_OFF_IN_RUNS = True


Handlers = dict[tuple[str, str], Handler]
Specs = dict[tuple[str, str], HandlerSpec]

# A target resolved over a list of services: (service, key, handler name, the
# handler, its spec).
Resolved = tuple[str, "str | None", str, Handler, HandlerSpec]
Targets = dict[str, Resolved]
_TARGETS_RESOLVED_MAX: Final = 1024

# The handlers and the registry of their specs (which never changes, so that
# every engine over them shares it) of the lists of services the last
# Simulations were built over, by the services' ids (each entry holds its
# services, so an id is not reused while it is here), with the targets resolved
# over them: ``check`` builds a Simulation for every run, a test often one per
# case, always over the same services, and submits the same targets to each.
_COLLECTED: dict[tuple[int, ...], tuple[tuple[tuple[Handler, ...], ...], Handlers, Registry,
                                        tuple[Any, ...], Targets]] = {}
_COLLECTED_MAX: Final = 8

# An engine made as new, with its trace list, by registry: left by a finished
# simulation built with the defaults, taken by the next one over the same
# services (``Simulation.__del__``; one each, for this many registries, all
# dropped when one more comes).
_SPARES: dict[Registry, tuple[Engine, list[Any]]] = {}
_SPARES_MAX: Final = 8
# ``Simulation._spare`` of a simulation given its store.
_GIVEN: Final = 2
# The references to a default simulation's store, scheduler, injector and trace
# list in its ``__del__`` when nothing else holds them: its own, its engine's
# parts' (the bound method of the trace list's ``extend`` for the list), the
# local name and ``getrefcount``'s argument; and one more for the store, the
# scheduler and the injector in each of the steps' parts the engine built
# (``Engine.command_parts``, ``lane_parts``); for the trace list, its run
# log's too, and one in ``command_parts`` (a compact trace, ``_trace.compact``).
# Any more: someone else holds it
# (``tests/runtime/test_spare_engine.py`` checks the counts).
_HELD_STORE: Final = 8
_HELD_SCHEDULER: Final = 10
_HELD_INJECTOR: Final = 5
_HELD_TRACE: Final = 5


def handlers_and_specs(services: Any) -> tuple[Handlers, Specs]:
    """``collect_handlers(services)`` and each handler's spec for the engine.

    Made once for a list of simdurable services and kept while each service
    holds the same handler objects (one added, removed or replaced makes them
    anew); restate-sdk services are converted every time.
    """
    handlers, registry, _ = collected(services)
    return handlers, registry.handlers


def collected(services: Any) -> tuple[Handlers, Registry, Targets]:
    """``handlers_and_specs``, the specs in a registry, and the targets resolved
    over them so far (kept with them: a target resolves the same while they are
    the same)."""
    if type(services) is list and len(services) == 1:  # (most tests and every check)
        svc = services[0]
        hit = _COLLECTED.get((id(svc),))
        # (an entry holds its services: the same id is the same service, one
        # that was a service when it was collected)
        if hit is not None and hit[0][0] == tuple(svc.handlers.values()):
            return hit[1], hit[2], hit[4]
    if not isinstance(services, (list, tuple)) or not all(
        isinstance(svc, _ServiceBase) for svc in services
    ):
        handlers = collect_handlers(services)
        registry = Registry({key: h.spec(None) for key, h in handlers.items()})
        registry.journal_codec = journal_codec_of(services)  # (only an app has one)
        return handlers, registry, {}
    items = tuple(services)
    key = tuple(map(id, items))
    snapshot = ((tuple(items[0].handlers.values()),) if len(items) == 1
                else tuple(tuple(svc.handlers.values()) for svc in items))
    hit = _COLLECTED.get(key)
    if hit is not None and hit[0] == snapshot:
        return hit[1], hit[2], hit[4]
    handlers = collect_handlers(items)
    registry = Registry({k: h.spec(None) for k, h in handlers.items()})
    if len(_COLLECTED) >= _COLLECTED_MAX:
        del _COLLECTED[next(iter(_COLLECTED))]
    targets: Targets = {}
    _COLLECTED[key] = (snapshot, handlers, registry, items, targets)
    return handlers, registry, targets


def coerce_plan(faults: FaultPlan | str | Iterable[Fault] | None) -> FaultPlan:
    if faults is None:
        return _NO_FAULTS
    if isinstance(faults, FaultPlan):
        return faults
    if isinstance(faults, str):
        return FaultPlan.parse(faults)
    if isinstance(faults, Fault):
        return FaultPlan((faults,))
    if not isinstance(faults, Iterable) or isinstance(faults, bytes):
        raise TypeError("faults must be a fault plan string like 'crash(step=charge)', a "
                        f"FaultPlan or a list of Faults, not {type(faults).__name__}")
    items = tuple(faults)
    for item in items:
        if not isinstance(item, Fault):
            raise TypeError(f"faults must be Fault objects (or a plan string), not "
                            f"{type(item).__name__}")
    return FaultPlan(items)


def check_seed(seed: object) -> int:
    """``seed`` if it is an integer >= 0; a clear ValueError/TypeError otherwise."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer >= 0, not {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be an integer >= 0, not {seed!r}")
    return seed


def check_externals(externals: object) -> list[FakeExternal]:
    """``externals`` as a list of fakes, or a TypeError saying what to pass."""
    if type(externals) is tuple and not externals:  # the default
        return []
    if isinstance(externals, FakeExternal):
        raise TypeError(f"externals must be a list of FakeExternal objects: pass "
                        f"[{externals.name}], not the fake itself")
    if isinstance(externals, (str, bytes)) or not isinstance(externals, Iterable):
        raise TypeError("externals must be a list of FakeExternal objects, "
                        f"not {type(externals).__name__}")
    out = list(externals)
    for ext in out:
        if not isinstance(ext, FakeExternal):
            raise TypeError(f"externals must be FakeExternal objects, not {type(ext).__name__}")
    return out


def check_retry_policy(policy: object) -> None:
    """An ``InvocationRetryPolicy`` or None, else a TypeError saying what to pass
    (before, a wrong one failed at the first retry, deep in the run)."""
    if policy is not None and not isinstance(policy, InvocationRetryPolicy):
        raise TypeError(f"retry_policy must be an InvocationRetryPolicy (or None for "
                        f"Restate's defaults), not {policy!r}")


def _epoch_ms(epoch: object) -> int:
    """A given ``epoch`` in milliseconds, or a clear error (before, a wrong one
    failed with an AttributeError, and a naive one was read in local time)."""
    if not isinstance(epoch, datetime):
        raise TypeError(f"epoch must be a datetime, not {epoch!r}")
    if epoch.tzinfo is None or epoch.utcoffset() is None:
        raise ValueError(f"epoch must be a timezone-aware datetime (tzinfo=timezone.utc), "
                         f"not {epoch!r}: a naive one is read in the machine's local time "
                         f"zone, and ctx.time() would differ between machines")
    return round(epoch.timestamp() * 1000)


def _check_limits(retry_policy: object, max_journal: object, max_invocations: object) -> None:
    """``Simulation``'s retry policy and limits, when one is not its default: a
    clear error here rather than one at the first retry or submit."""
    check_retry_policy(retry_policy)
    for name, value in (("max_journal", max_journal), ("max_invocations", max_invocations)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, not {value!r}")


def _check_parts(chooser: object, store: object) -> None:
    """A given chooser and store have what the engine calls on them (a
    chooser's methods with parameters it can call them with)."""
    if chooser is not None and type(chooser) not in _CHOOSERS:
        if not (callable(getattr(chooser, "choose", None))
                and callable(getattr(chooser, "chance", None))):
            raise TypeError(f"chooser must have choose(n, label) and chance(p, label) (a "
                            f"Chooser, like RandomChooser(seed)), not {chooser!r}")
        check_signature("chooser.choose", chooser.choose, "choose(n, label)", 2)  # type: ignore[attr-defined]
        check_signature("chooser.chance", chooser.chance, "chance(p, label)", 2)  # type: ignore[attr-defined]
        if not {"choose", "chance"} & set(getattr(chooser, "__dict__", ())):
            _CHOOSERS.add(type(chooser))  # (its class's methods: checked once)
    if store is not None and type(store) not in _STORES:
        if not all(callable(getattr(store, name, None)) for name in _STORE_METHODS):
            raise TypeError(f"store must be a Store (like MemoryStore()), not {store!r}")
        if not _STORE_METHODS & set(getattr(store, "__dict__", ())):
            _STORES.add(type(store))  # (its class's methods: checked once, as a chooser's)


# The chooser classes whose methods were checked (``check`` makes a chooser of
# its own for every run).
_CHOOSERS: set[type] = set()
# The store classes whose methods were checked (a replay makes a simulation
# over each store: the check was a twentieth of a 1-step replay's fixed cost).
_STORES: set[type] = set()
_STORE_METHODS: Final = frozenset({"invocations", "put_invocation", "journal", "append", "state"})


# restate-server 1.7.12's ingress refuses these with a 400, in these words,
# before any invocation exists (each request sent to it, with restate-sdk 1.3).
WORKFLOW_IDEMPOTENCY_KEY: Final = (
    "cannot use the idempotency key with workflow handlers. The handler invocation will "
    "already be idempotent by the workflow key itself.")
NO_INPUT_EXPECTED: Final = "Expected body and content-type to be empty"


def ingress_refusal(handler: Handler | None, target: str, input: object, raw: object,
                    headers: object, idempotency_key: object
                    ) -> tuple[str, type[Exception], str] | None:
    """What Restate's ingress refuses before any invocation exists, as ``(field,
    error type, message)``, or None: headers that are no dict of str, an
    idempotency key that is no str, one for a workflow's run handler, and an
    input for a handler that takes none. Taken, they made an invocation Restate
    never makes (one whose input the handler never saw, or a second run of a
    workflow under another key). An empty idempotency key is a key, as the
    ingress takes it."""
    if headers is not None and not (isinstance(headers, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
        return "headers", TypeError, f"headers must be a dict of str to str, not {headers!r:.80}"
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str):
            return ("idempotency_key", TypeError,
                    f"idempotency_key must be a str, not {idempotency_key!r:.80}")
        if handler is not None and handler.kind == "workflow":
            return ("idempotency_key", ValueError,
                    f"{target} is a workflow's run handler: it takes no idempotency_key "
                    f"(Restate's ingress: \"{WORKFLOW_IDEMPOTENCY_KEY}\")")
    if handler is None or handler.arity >= 2:
        return None
    body = bytes(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else b""
    if input is None and not body:
        return None
    given = f"raw={body!r:.80}" if body else f"{input!r:.80}"
    return ("raw" if body else "input", TypeError,
            f"{target} takes no input, but was given {given} (Restate's ingress refuses a body "
            f"for it: \"{NO_INPUT_EXPECTED}\")")


def refuse_as_ingress(handler: Handler | None, target: str, input: object, raw: object,
                      headers: object, idempotency_key: object) -> None:
    """``ingress_refusal``'s error raised: by a simulation and an executor alike,
    before an invocation is made."""
    refused = ingress_refusal(handler, target, input, raw, headers, idempotency_key)
    if refused is not None:
        _, error, message = refused
        raise error(message)


def check_signature(name: str, fn: Callable[..., object], expected: str, args: int) -> None:
    """A callable that can be called with ``args`` positional arguments, else a
    TypeError naming ``name``, the signature given and the one expected (before,
    a wrong one failed with Python's own TypeError from deep inside a run). A
    callable whose signature cannot be read (``dict``, ``bool``, ``max``) is
    refused too: whether it fits is known only at its first call."""
    code = getattr(fn, "__code__", None)
    if (type(fn) is FunctionType and code is not None and code.co_argcount == args
            and not code.co_kwonlyargcount):
        return  # the common case, without inspect's cost
    label = (getattr(fn, "__qualname__", None) or type(fn).__qualname__).rpartition(
        "<locals>.")[2]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        params = ", ".join(expected.partition("(")[2].rstrip(")").split(", ")[:args])
        raise TypeError(
            f"{name} must be a callable {expected}, and the parameters of {label} cannot be "
            f"read (a builtin), so whether it can be called so is known only when it is: "
            f"wrap it in a function, such as lambda{' ' if params else ''}{params}: "
            f"{label}(...)") from None
    try:
        sig.bind(*([None] * args))
    except TypeError as err:
        empty = inspect.Parameter.empty
        bare = sig.replace(parameters=[p.replace(annotation=empty)
                                       for p in sig.parameters.values()],
                           return_annotation=empty)
        raise TypeError(f"{name} must be a callable {expected}, not {label}{bare} "
                        f"({err})") from None


def check_duration(name: str, value: object) -> None:
    """A ``timedelta`` or a number of seconds, else a TypeError naming ``name``."""
    if value is None or isinstance(value, timedelta):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a timedelta or a number of seconds, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, not {value!r}")


@dataclass
class RunSummary:
    """What ``Simulation.run`` left behind: unfinished invocations and why."""

    now: float
    finished: bool
    waiting: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.finished:
            return f"all invocations finished at t={self.now:.3f}s"
        lines = [f"at t={self.now:.3f}s, {len(self.waiting)} invocation(s) cannot progress:"]
        lines += [f"  {w}" for w in self.waiting[:SHOWN_WAITING]]
        if rest := self.waiting[SHOWN_WAITING:]:
            # (a crowd: the rest as a count of each target and reason, most first)
            counts = Counter(w.split(" ", 1)[-1] for w in rest)
            lines.append(f"  ... and {len(rest)} more (its .waiting lists them all):")
            lines += [f"    {why} x{n}" for why, n in sorted(
                counts.items(), key=lambda item: (-item[1], item[0]))[:SHOWN_WAITING]]
            if len(counts) > SHOWN_WAITING:
                lines.append(f"    ... {len(counts) - SHOWN_WAITING} other targets and reasons")
        return "\n".join(lines)


# How many unfinished invocations (and then kinds of the rest) a summary shows.
SHOWN_WAITING: Final = 20

def completed_value(rec: InvocationRecord, handler: Handler) -> Any:
    """A completed invocation's return value; raises its ``TerminalError`` if it failed."""
    result = rec.result
    if isinstance(result, Failure):
        raise handler.caller_error(terminal_of(result))
    assert isinstance(result, Value)
    serde = handler.handler_io.output_serde
    data = result.data
    if (type(serde) is DefaultSerde and type(data) is bytes and data.isdigit()
            and (data >= b"1" or data == b"0")
            and (serde.type_hint is None or serde.type_hint is int)):
        return int(data)  # (``deserialize``'s first case, without its call)
    return serde.deserialize(data)

def paused_error(rec: InvocationRecord) -> NotFinishedError:
    """What ``result()`` raises for an invocation paused after its retries."""
    return NotFinishedError(
        f"{rec.target} ({rec.id}) is paused after {rec.failures} failed attempts; "
        f"last failure: {rec.last_failure}"
    )

class InvocationHandle:
    """A submitted invocation: its id, status and (eventually) result."""

    def __init__(self, sim: Simulation, inv_id: str, handler: Handler) -> None:
        self._sim = sim
        self.id = inv_id
        self._handler = handler

    def __repr__(self) -> str:
        return f"<InvocationHandle {self.id} {self.target} {self.status}>"

    @property
    def target(self) -> str:
        return self._sim._engine.record(self.id).target

    @property
    def status(self) -> str:
        """``ready``, ``running``, ``waiting``, ``queued``, ``scheduled``,
        ``backing-off``, ``suspended``, ``completed``, ``failed`` or ``paused``."""
        return self._sim._engine.status(self.id)

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def attempts(self) -> int:
        return self._sim._engine.record(self.id).attempts

    def result(self) -> Any:
        """The handler's return value; raises its ``TerminalError`` if it failed.

        Raises ``NotFinishedError`` while it is unfinished (or paused); a
        paused invocation stopped by a handler bug raises that bug's error.
        """
        # (The engine is not kept in a local: this frame may hold the last
        # reference to the simulation, which would then go before the local,
        # holding on to its engine, see ``Simulation.__del__``.)
        rec = self._sim._engine.invocations.by_id[self.id]  # (``engine.record``)
        if rec.status == COMPLETED:
            # (``completed_value``'s first case without its call: an int's
            # digits, read with the default serde)
            result = rec.result
            if type(result) is Value:
                data = result[0]
                serde = self._handler.handler_io.output_serde
                if (type(serde) is DefaultSerde and type(data) is bytes and data.isdigit()
                        and (data >= b"1" or data == b"0")
                        and (serde.type_hint is None or serde.type_hint is int)):
                    return int(data)
            return completed_value(rec, self._handler)
        if rec.status == PAUSED:
            err = self._sim._paused_error(self.id)
            if err is not None:
                raise err
            raise paused_error(rec)
        raise NotFinishedError(
            f"{rec.target} ({self.id}) has not finished: {self._sim._engine.waiting_on(self.id)}"
        )

class Simulation:
    """Handlers on a virtual clock, with a seeded RNG and injected faults.

    Args:
      services: the ``Service``/``VirtualObject``/``Workflow`` objects to host.
      seed: seeds every decision of the run.
      faults: a ``FaultPlan`` (or its string form) to inject.
      strict: record clock/RNG/uuid4 calls made outside steps.
      externals: fake externals whose effects belong to this run.
      retry_policy: the invocation retry policy (Restate 1.6+ defaults).
      always_suspend: suspend and replay at every wait, like Restate's
        ``always_replay``; finds nondeterminism on the first run.
      chooser: decides the schedule (default: ``RandomChooser(seed)``).
      max_steps: a run doing more tasks than this is reported stuck.
      max_journal: a run in which an invocation's journal grows longer than
        this is reported stuck (a handler looping on sleeps does few tasks,
        but its journal, and memory, grows without end).
      max_invocations: a run that starts more invocations than this is
        reported stuck (a handler that sends itself again without end).

      wall_budget: seconds of wall-clock time one ``run()`` may take before
        it stops with ``StuckError`` (a handler spinning in plain Python
        never gives the runtime a turn); None: no limit.
    """

    def __init__(
        self,
        services: Sequence[AnyService],
        seed: int = 0,
        faults: FaultPlan | str | Iterable[Fault] | None = None,
        strict: bool = False,
        externals: Sequence[FakeExternal] = (),
        *,
        retry_policy: InvocationRetryPolicy | None = None,
        always_suspend: bool = False,
        chooser: Chooser | None = None,
        epoch: datetime = DEFAULT_EPOCH,
        max_steps: int = 1_000_000,
        max_journal: int = DEFAULT_MAX_JOURNAL,
        max_invocations: int = DEFAULT_MAX_INVOCATIONS,
        store: Store | None = None,
        wall_budget: float | None = DEFAULT_WALL_BUDGET,
    ) -> None:
        if wall_budget is not DEFAULT_WALL_BUDGET and wall_budget is not None and (
                isinstance(wall_budget, bool) or not isinstance(wall_budget, (int, float))
                or not wall_budget > 0):
            raise ValueError(f"wall_budget must be a number of seconds > 0 or None, "
                             f"not {wall_budget!r}")
        self.wall_budget = wall_budget
        self.seed = seed if type(seed) is int and seed >= 0 else check_seed(seed)
        self.strict = strict
        self.externals = ([] if type(externals) is tuple and not externals  # (the default)
                          else check_externals(externals))
        if (type(max_steps) is not int and (
                not isinstance(max_steps, int) or isinstance(max_steps, bool))) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, not {max_steps!r}")
        self.max_steps = max_steps
        if strict is not False and strict is not True:
            raise TypeError(f"strict must be True or False, not {strict!r}")
        # (``collected``'s first case without its call: one service, its
        # handlers as they were when its specs were made)
        if (type(services) is list and len(services) == 1
                and (hit := _COLLECTED.get((id(services[0]),))) is not None
                and hit[0][0] == tuple(services[0].handlers.values())):
            self._handlers, registry, self._targets = hit[1], hit[2], hit[4]
        else:
            self._handlers, registry, self._targets = collected(services)
        if (retry_policy is not None or max_journal is not DEFAULT_MAX_JOURNAL
                or max_invocations is not DEFAULT_MAX_INVOCATIONS):
            _check_limits(retry_policy, max_journal, max_invocations)
        epoch_ms = _DEFAULT_EPOCH_MS if epoch is DEFAULT_EPOCH else _epoch_ms(epoch)
        # Built with the defaults, or with only a store given, it takes the
        # engine a finished one left over the same services, if any (see
        # ``__del__``), the given store attached to it (``Engine.attach``).
        plain = faults is None and chooser is None and not strict and not always_suspend
        if chooser is not None or store is not None:
            _check_parts(chooser, store)
        spare = _SPARES.pop(registry, None) if plain else None
        if spare is not None:
            engine, self._trace = spare
            engine.epoch_ms = epoch_ms
            engine.lifecycle.retry_policy = retry_policy or _DEFAULT_RETRY_POLICY
            self._guard = None
            self.injector = engine.injector
            self.scheduler = engine.scheduler
            self.scheduler.seed = self.seed  # (its chooser is made from it at first use)
            if store is None:
                self.store = engine.store
            else:
                self.store = store
                engine.attach(store)
            self._engine = engine
        else:
            # The events as the engine reports them, their texts deferred (see
            # event_text), one after the other in one flat list (see ``events``).
            self._trace = []
            self._guard = new_guard() if strict else None
            self.injector = Injector(_NO_FAULTS if faults is None else coerce_plan(faults))
            self.store = store if store is not None else MemoryStore()
            self.scheduler = Scheduler(chooser, 0, self.seed)  # (``RandomChooser(seed)`` if None)
            self._engine = Engine(  # (by position: see ``Engine.__init__``)
                registry,
                self.store,
                self.scheduler,
                new_context,  # (``InvocationContext``, made with its class at once)
                self.injector,
                retry_policy,
                epoch_ms,
                self._trace.extend,  # trace
                True,  # deferred_trace
                self._guard,  # segment_guard
                always_suspend,
                True,  # inline_steps
                StepLoop().run,  # run_async
            )
        self._spare = plain if store is None else plain and _GIVEN
        # (an app's codec: a list's is its registry's, found as it was made)
        codec = registry.journal_codec if type(services) is list else journal_codec_of(services)
        if codec is not None:
            self._with_codec(codec)
        self.scheduler.max_tasks = max_steps  # (``Engine.max_tasks``)
        self.scheduler.max_journal = max_journal
        self.scheduler.max_invocations = max_invocations

    # Whether the engine may go to the next simulation once this one is gone:
    # built with the defaults (above), and its engine never handed out; and
    # ``_GIVEN`` when its store was given (``store=``): the user's, never reset
    # nor kept for the next simulation (``__del__``). (One attribute, which
    # ``__del__`` reads anyway.)
    _spare: int = False
    # What the app's journal value codec did not give back, once a run found it.
    _codec_found: list[HandlerError] = []
    _trace: list[Any]
    injector: Injector
    store: Store
    scheduler: Scheduler

    def __del__(self) -> None:
        """Nothing holds this simulation any more: if nothing but it holds its
        engine either (no handle, context or attempt of the run, no caller of
        ``engine``), the engine, made as new (``Engine.renew``), is kept for
        the next simulation over the same services, which then builds none of
        its parts. Its store, scheduler, injector and trace list are reset in
        place when nothing but this simulation and the engine holds them
        (nobody kept ``sim.store`` or the like), else made anew. Nothing of
        this run reaches the next: its records, journals and trace are
        dropped, or stay with the parts someone else holds."""
        spare = self._spare
        if not (spare and getrefcount(self._engine) == 2  # (here and the argument)
                and self._engine.registry not in _SPARES):
            return
        engine = self._engine
        # (``Engine.renewable`` without its call; its running part's weak
        # reference read, then called: a method's lookup of an attribute that
        # holds a callable is never specialised)
        host = engine.running._host
        if (engine.lazily_built or engine.lifecycle.lazily_built or engine.steps.lazily_built
                or host() is not engine):
            return
        # (its step loop, unless an async closure made it a loop: only the
        # engine holds it, and one never used has nothing of the run)
        run_async = engine.steps.run_async
        loop = getattr(run_async, "__self__", None)
        if type(loop) is not StepLoop or loop._loop is not None or loop._helper is not None:
            run_async = StepLoop().run
        # The parts its steps read (``_fast.command_parts``, ``lane_parts``)
        # each hold the store (its ``append``), the scheduler and the injector
        # once: they are kept for the next run when those are reset in place
        # (``Engine.renew``), not built again by its first step.
        held = (engine.command_parts is not None) + (engine.lane_parts is not None)
        store, scheduler, injector = self.store, self.scheduler, self.injector
        if spare == _GIVEN:
            # (the user's: the engine gives it up, and everything it derived
            # from it, ``Engine.renew``; its scheduler and injector are its own)
            store = MemoryStore()
            if not (getrefcount(scheduler) == _HELD_SCHEDULER + held
                    and getrefcount(injector) == _HELD_INJECTOR + held
                    and injector.plan is _NO_FAULTS and not injector.fired
                    and injector._explore is None and injector._enabled
                    and not scheduler.lazily_built):
                scheduler, injector = Scheduler(None, 0, 0), Injector()
        elif (getrefcount(store) == _HELD_STORE + held
                and getrefcount(scheduler) == _HELD_SCHEDULER + held
                and getrefcount(injector) == _HELD_INJECTOR + held
                # (``Injector.untouched`` without its call)
                and injector.plan is _NO_FAULTS and not injector.fired
                and injector._explore is None and injector._enabled
                and type(store) is MemoryStore and not store.lazily_built
                and not scheduler.lazily_built):
            # (``MemoryStore.reset`` without its call: the same journals
            # dict, which the kept parts hold)
            store._invocations = {}
            store._journals.clear()
        else:
            store, scheduler, injector = MemoryStore(), Scheduler(None, 0, 0), Injector()
        trace = self._trace
        sink = engine.trace.event  # (the list's ``extend``, as ``sink``)
        # (its run log, read out of it, holds it, and so do the express steps'
        # parts, ``_fast.flat_trace_of``; a trace that is not compact, never
        # kept: ``_trace.COMPACT`` off, in tests)
        if getrefcount(trace) == _HELD_TRACE + (engine.command_parts is not None):
            trace.clear()
        else:
            trace = []
            sink = trace.extend
        engine.renew(store, scheduler, injector, sink, run_async)
        if len(_SPARES) >= _SPARES_MAX:
            _SPARES.clear()  # (services no longer used leave theirs)
        _SPARES[engine.registry] = (engine, trace)

    # -- trace --------------------------------------------------------------
    def trace(self) -> list[str]:
        """The run's events, one line each: time, kind, invocation, detail."""
        return [
            f"{ev[0] / 1000:>10.3f}s  {ev[1]:<8} {ev[2][:16]:<16} {event_text(ev)}"
            for ev in events(self._trace)
        ]

    def trace_events(
        self, kinds: Container[str] | None = None
    ) -> list[tuple[int, str, str, str]]:
        """The run's events as (time in ms, kind, invocation, text); only those
        of ``kinds`` if given (the others' texts are then never formatted)."""
        return [(ev[0], ev[1], ev[2], event_text(ev)) for ev in events(self._trace)
                if kinds is None or ev[1] in kinds]

    def event_records(self) -> list[Event]:
        """The run's events as recorded, ``(time in ms, kind, invocation, form,
        *args)``, none formatted: what ``trace_events`` reads, for a reader
        that filters them many times (``event_text`` formats one)."""
        return list(events(self._trace))

    def may_hold(self, kinds: Collection[str]) -> bool:
        """Whether the trace may hold an event of ``kinds``: one of a kind the
        runtime writes as a form (``_trace.EVENT_KINDS``), or one written as a
        text (``Tracer.kinds``). False: reading the events for them finds none."""
        return not (EVENT_KINDS.isdisjoint(kinds) and self._engine.trace.kinds.isdisjoint(kinds))

    def plain_event_records(self) -> list[Event]:
        """``event_records`` but for the "step" and "entry" events of the
        trace's compact records (``_trace.plain_events``): every event of any
        other kind, for a reader of those."""
        return plain_events(self._trace)

    def same_trace(self, other: Simulation) -> bool:
        """``self.trace() == other.trace()``, formatting neither when the events
        are equal (equal events always format to equal lines)."""
        return self._trace == other._trace or self.trace() == other.trace()

    def trace_digest(self) -> str:
        """A fingerprint of the trace: equal seeds and plans give equal digests."""
        h = hashlib.sha256()
        for line in self.trace():
            h.update(line.encode())
            h.update(b"\n")
        return h.hexdigest()

    # -- submitting ---------------------------------------------------------
    def _handler(self, service: str, handler: str, key: str | None
                 ) -> tuple[Handler, HandlerSpec]:
        spec = self._engine.resolve(service, handler, key)
        return self._handlers[(service, handler)], spec

    def _submit(
        self,
        target: str,
        input: Any,
        raw: bytes | None,
        delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
        send: bool,
    ) -> InvocationHandle:
        found = self._targets.get(target) if type(target) is str else None
        if found is None:
            service, key, handler_name = parse_target(target)
            handler, spec = self._handler(service, handler_name, key)
            if type(target) is str:
                if len(self._targets) >= _TARGETS_RESOLVED_MAX:
                    self._targets.clear()
                self._targets[target] = (service, key, handler_name, handler, spec)
        else:
            service, key, handler_name, handler, spec = found
        if headers is not None or idempotency_key is not None or (
                handler.arity < 2 and (input is not None or raw is not None)):
            refuse_as_ingress(handler, target, input, raw, headers, idempotency_key)
        if raw is not None:
            if not isinstance(raw, (bytes, bytearray, memoryview)):
                raise TypeError(f"raw must be the input's bytes, not {type(raw).__name__}")
            data = bytes(raw)
        elif type(input) is int and type(handler.handler_io.input_serde) is DefaultSerde:
            data = b"%d" % input  # (what ``ingress_bytes`` gives, without its three calls)
        else:
            try:
                data = ingress_bytes(handler.handler_io.input_serde, input)
            except (TypeError, ValueError, OverflowError) as err:
                raise SerializationError(
                    f"the input cannot be serialized for {target}: {err}", handler=target
                ) from None
        if delay is not None:
            check_duration("delay", delay)
        inv_id = self._engine.lifecycle.submit(  # (by position, as ``_submit`` is called)
            service, handler_name, key, data, 0 if delay is None else to_ms(delay, 0),
            idempotency_key, headers, None, send, spec,
        )
        # (``InvocationHandle(self, inv_id, handler)``, its fields written here:
        # no argument tuple, ``__init__`` lookup and frame)
        handle = _new_object(InvocationHandle)
        handle._sim = self
        handle.id = inv_id
        handle._handler = handler
        return handle

    def ingress_refusal(self, target: str, input: Any, headers: object = None,
                        idempotency_key: object = None
                        ) -> tuple[str, type[Exception], str] | None:
        """What Restate's ingress would refuse of a request to ``target``
        (``ingress_refusal``), asked before it is made, so that a caller can
        name where it was written; None for a target that names no handler
        (``invoke`` names that)."""
        try:
            service, _, name = parse_target(target)
        except InvalidTargetError:
            return None
        return ingress_refusal(self._handlers.get((service, name)), target, input, None,
                               headers, idempotency_key)

    def invoke(
        self,
        target: str,
        input: Any = None,
        *,
        raw: bytes | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> InvocationHandle:
        """Submit a call to ``target`` ("Greeter/greet", "Counter/<key>/add")."""
        # ``_submit``'s common case without its call: a target submitted to
        # before, a handler taking an input, an int (not a bool) as its input
        # through the plain serde, no bytes, key or headers given
        if (type(input) is int and type(target) is str and raw is None
                and idempotency_key is None and headers is None
                and (found := self._targets.get(target)) is not None
                and (handler := found[3]).arity >= 2
                and type(handler.handler_io.input_serde) is DefaultSerde):
            inv_id = self._engine.lifecycle.submit(  # (by position, as ``_submit`` calls it)
                found[0], found[2], found[1], b"%d" % input, 0, None, None, None, False,
                found[4])
            handle = _new_object(InvocationHandle)
            handle._sim = self
            handle.id = inv_id
            handle._handler = handler
            return handle
        # (by position: raw, delay, idempotency_key, headers, send; a call with
        # keywords matches each by name)
        return self._submit(target, input, raw, None, idempotency_key, headers, False)

    def send(
        self,
        target: str,
        input: Any = None,
        *,
        delay: timedelta | None = None,
        raw: bytes | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> InvocationHandle:
        """Submit a one-way message, delivered after ``delay`` of virtual time.

        Sent again to a workflow that already ran (its retention not over), the
        run is not repeated: the handle is the first run's, as Restate answers
        ``PreviouslyAccepted``.
        """
        return self._submit(target, input, raw, delay, idempotency_key, headers, True)

    # -- faults -------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        """Add a fault to the plan (before or during a run)."""
        self.injector.add(fault)
        if fault.at_ms is not None:
            index = len(self.injector.timed()) - 1
            self.scheduler.add_timer(fault.at_ms, ("fault", index))

    def crash(
        self,
        after: str | None = None,
        point: str = EFFECT_DONE,
        attempt: int | None = 1,
        *,
        index: int | None = None,
        target: str | None = None,
        at: timedelta | None = None,
    ) -> None:
        """Crash the service process at a fault point (or at a virtual time).

        ``sim.crash(after="charge", point="effect-done")`` crashes once the
        closure of step "charge" ran and before its result is stored.
        """
        if point not in PHASES:
            raise ValueError(f"point must be one of {', '.join(PHASES)}, not {point!r}")
        if after is not None and not isinstance(after, str):
            raise TypeError(f"after must be a step name (a string) or None, not {after!r}")
        check_duration("at", at)
        if at is not None:
            self.inject(Fault(CRASH, at_ms=to_ms(at, 0)))
        else:
            self.inject(Fault(CRASH, step=after, index=index, phase=point, attempt=attempt,
                              target=target))

    def fail(
        self,
        step: str,
        times: int = 1,
        exception: str = "ConnectionError",
        *,
        message: str | None = None,
        target: str | None = None,
    ) -> None:
        """Make step ``step`` fail ``times`` times with ``exception`` instead of running."""
        if not isinstance(step, str):
            raise TypeError(f"step must be a step name (a string), not {step!r}")
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"times must be an integer >= 1, not {times!r}")
        self.inject(Fault(FAIL, step=step, times=times, exception=exception, message=message,
                          target=target))

    def restart(self, at: timedelta | None = None, after: str | None = None,
                point: str = AFTER_STORE) -> None:
        """Restart the whole server from its store, at a time or a fault point."""
        if at is not None:
            self.inject(Fault(RESTART, at_ms=to_ms(at, 0)))
        else:
            self.inject(Fault(RESTART, step=after, phase=point, attempt=1))

    def fault_plan(self) -> FaultPlan:
        """The faults that actually fired in this run, pinned where they fired."""
        return self.injector.fired_plan()

    # -- running ------------------------------------------------------------
    def run(self, until: timedelta | None = None, *,
            stop: Callable[[], bool] | None = None) -> RunSummary:
        """Run until nothing can progress (or virtual time ``until``, or until
        ``stop()``, asked after every task, is true).

        Raises ``StuckError`` when the run exceeds ``max_steps`` tasks: an
        unbounded loop or a retry storm.
        """
        if until is not None:
            check_duration("until", until)
        if stop is not None:
            if not callable(stop):
                raise TypeError(f"stop must be a callable that says when to stop, not {stop!r}")
            check_signature("stop", stop, "stop() taking no arguments", 0)
        engine = self._engine
        scheduler = self.scheduler
        until_ms = None if until is None else to_ms(until, 0)
        # The collector off (unless it is off already: a benchmark, a caller's
        # own choice) and the wall-clock budget on while the run lasts, written
        # out rather than as two context managers: six Python calls less a run,
        # about 2 us of a short one.
        off = False
        budget = self.wall_budget
        ident, outer = 0, None
        if budget is not None:
            ident = get_ident()
            deadline = monotonic() + budget
        spinning: Spinning | None = None
        mine = False  # this run's own budget fired (not one around it)
        around: Spinning | None = None  # one around it fired as the run ended
        try:
            # The collector goes off inside the ``try`` (``off`` said first): a
            # budget around this run may fire at any call, and one that fired
            # between turning it off and the ``try`` left it off for good.
            if _OFF_IN_RUNS and gc.isenabled():
                off = True
                gc.disable()
                scheduler.collect_every = _RUN_COLLECT_EVERY
                scheduler.collect_at = scheduler.tasks_run + _RUN_COLLECT_EVERY
            # The budget begins inside the ``try``: once its deadline is written
            # the watcher may fire (a thread that waits its turn in ``enter``
            # longer than a short budget), and this run must take that, not let
            # ``Spinning`` out of ``run()`` with the fired budget left behind.
            if budget is not None:
                # ``_watchdog.enter``'s common case without its call: no budget
                # around this one, the watcher running and waking before it is due
                # (two calls a run were a third of a 0-step invocation's run phase)
                if (ident in _deadlines or deadline < _watchdog.wake_at
                        or _watchdog._thread is None):
                    outer = _deadlines.get(ident)  # (for ``leave`` if it fires in ``enter``)
                    ident, outer = _watchdog.enter(deadline)
                else:
                    _deadlines[ident] = deadline
            while True:
                while scheduler.ready:  # (``engine.has_ready()``)
                    if scheduler.tasks_run >= scheduler.max_tasks:
                        why = scheduler.stop_reason or (
                            f"{self.max_steps} tasks ran (an unbounded loop or a retry "
                            "storm? Simulation(max_steps=...) raises the limit)")
                        summary = self._summary()
                        raise StuckError(
                            f"no end in sight by t={self.now():.3f}s: {why}\n{summary}",
                            summary.waiting,
                        )
                    if stop is None:
                        # every ready task up to ``max_tasks`` in one call (the
                        # fused runner's loop: no Python call a task)
                        engine.run_task(True)
                    else:
                        engine.run_task()
                        if stop():
                            return self._summary()
                if until_ms is None and scheduler._timers is _NO_TIMERS:
                    break  # (``advance_time``'s answer without its calls: no timer ever)
                if not engine.advance_time(until_ms):
                    break
        except Spinning as err:
            spinning = err
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as err:
            stopped = None if isinstance(err, Exception) else not_an_exception(err)
            if stopped is None:
                raise
            raise stopped from err
        finally:
            # (Not held by this frame past here: a caller's ``Simulation(...).run()``
            # may hold the simulation only through ``self``, which goes first of
            # the frame's locals, and ``__del__`` then finds the engine and the
            # scheduler held by no one else, see ``__del__``.)
            del engine, scheduler
            # (the budget first, then the collector, as the blocks nested; the
            # collector on again whatever a budget around this run raises meanwhile)
            try:
                if budget is not None:
                    # A budget that fires just as the run ends raises at the next
                    # call or loop jump, wherever that is: here, inside this try
                    # (a helper's call would take it at the helper's start, outside
                    # any try of its own, and the run would end in ``Spinning``).
                    # A budget around the run that fires meanwhile is not taken:
                    # its ``Spinning`` is raised again once the run has cleaned up.
                    try:
                        if outer is None:  # (``_watchdog.leave``'s common case, as above)
                            _deadlines.pop(ident, None)
                            mine = ((_watchdog._busy or ident in _watchdog._fired)
                                    and _watchdog.leave(ident, outer, deadline))
                        else:
                            mine = _watchdog.leave(ident, outer, deadline)
                        if mine and spinning is None:
                            for _ in range(10_000):  # (taken at a jump of this loop)
                                pass
                    except Spinning as err:
                        if _watchdog.fired_around(ident, deadline):
                            around = err
                        # (raised as ``leave`` began: again)
                        mine = _watchdog.leave(ident, outer, deadline) or mine
                if off:
                    # The collector on again; a crowd's new objects handed to the
                    # oldest generation (``_RUN_PROMOTE_AT``). Its young objects are
                    # counted with those from before the run (fewer than its first
                    # threshold: it was on until the run). ``gc.unfreeze`` would
                    # thaw what the caller froze: not then.
                    self.scheduler.collect_at = self.scheduler.collect_every = _NEVER
                    if gc.get_count()[0] >= _RUN_PROMOTE_AT and not gc.get_freeze_count():
                        gc.freeze()
                        gc.unfreeze()
            finally:
                if off:
                    gc.enable()
            if around is not None:
                # (the budget around the run ran out: its block's to take, over a
                # ``stop()``'s return or an error of the run's own)
                raise around
        if spinning is not None:
            if not mine:
                # A budget around the run fired (at any point of it, even before
                # the run's own deadline was written): it stops its own block,
                # and ``Spinning`` goes on to it rather than naming this run's.
                raise spinning
            raise StuckError(
                f"stopped after {self.wall_budget:g} s of wall-clock time"
                f"{_spinning_where(spinning)} (Simulation(wall_budget=...) sets the budget)",
                [f"{w} (running when stopped)" for w in self._summary().waiting],
                wall_clock=True,
            ) from None
        # (``_summary``'s common answer, without its call: every invocation completed)
        for rec in self._engine.invocations.by_id.values():
            if rec.status != COMPLETED:
                return self._summary()
        # (``RunSummary(now, True, [])``, its fields written here, as the handle's)
        summary = _new_object(RunSummary)
        summary.now = self.scheduler.now_ms / 1000
        summary.finished = True
        summary.waiting = []
        return summary

    def _with_codec(self, codec: Any) -> None:
        """The app has a journal value codec: replays match commands without
        their payloads, as restate-sdk's VM does then, and each ``run()`` ends
        by checking the stored values through it (``simdurable._codec``)."""
        checker = Checker(resolve_codec(codec))
        self._engine.payload_checks = False
        self._spare = False
        plain_run = self.run

        def run(until: timedelta | None = None, *,
                stop: Callable[[], bool] | None = None) -> RunSummary:
            summary = plain_run(until, stop=stop)
            found = checker.check(self.store)
            if found is not None:
                self._codec_found = [found]  # (one of the run's ``problems``)
                raise found
            return summary

        run.__doc__ = plain_run.__doc__
        self.run = run  # type: ignore[method-assign]

    def _turn_strict(self) -> None:
        """Strict mode from now on, for a simulation made without it
        (``Engine.turn_strict``, which says when a caller may ask): what it
        finds from here is among ``problems``."""
        guard = new_guard()
        self._guard = guard
        self.strict = True
        self._engine.turn_strict(guard)

    def close(self) -> None:
        """Abandon the invocations still running: close their handlers now.

        Their ``finally:`` blocks run here, with the context refusing durable
        operations, instead of later under the garbage collector (in the middle
        of whatever runs then). The journals and records stay readable; call it
        when done with a simulation that may not have finished.
        """
        self._engine.abandon()

    def _summary(self) -> RunSummary:
        engine = self._engine
        for rec in engine.invocations.by_id.values():
            if rec.status != COMPLETED:
                break
        else:  # all finished (no need to sort them)
            return RunSummary(self.scheduler.now_ms / 1000, True, [])
        waiting = []
        for rec in engine.records():
            if rec.status == COMPLETED:
                continue
            waiting.append(f"{rec.id} {rec.target}: {engine.waiting_on(rec.id)}")
        return RunSummary(self.now(), not waiting, waiting)

    def now(self) -> float:
        """Virtual seconds since the simulation started."""
        return self.scheduler.now_ms / 1000

    # -- looking in ----------------------------------------------------------
    def _id(self, handle: InvocationHandle | str) -> str:
        if isinstance(handle, InvocationHandle):
            return handle.id
        if not isinstance(handle, str):
            raise TypeError(f"pass an InvocationHandle or an invocation id (str), "
                            f"not {type(handle).__name__}")
        return handle

    def journal(self, handle: InvocationHandle | str) -> list[Entry]:
        """The invocation's journal: commands and completions, in order."""
        journal = self.store.journal(self._id(handle))
        # A store of one's own gives back what ``append`` gave it, a step's value
        # as ``(data,)`` among them: named here as the simulation's own are
        return journal if type(self.store) is MemoryStore else as_entries(journal)

    def state(self, service: str, key: str) -> dict[str, Any]:
        """An object's (or workflow's) state, decoded as JSON where it is JSON.

        Values a custom serde wrote in another format come back as bytes.
        """
        if not isinstance(service, str) or not isinstance(key, str):
            raise TypeError(f"state(service, key) takes two strings, like "
                            f"state(\"Counter\", \"a\"), not {service!r}, {key!r}")
        serde: DefaultSerde[Any] = DefaultSerde()
        out: dict[str, Any] = {}
        for name, raw in sorted(self.store.state(service, key).items()):
            try:
                out[name] = serde.deserialize(raw)
            except ValueError:
                out[name] = raw
        return out

    def invocations(self) -> list[InvocationHandle]:
        out = []
        for rec in self._engine.records():
            out.append(InvocationHandle(self, rec.id, self._handlers[(rec.service, rec.handler)]))
        return out

    def step_runs(self, handle: InvocationHandle | str) -> dict[str, int]:
        """How many times each step's closure ran, by step name."""
        inv = self._id(handle)
        counts: dict[str, int] = {}
        for inv_id, _, name, _, _ in self._engine.step_run_log:
            if inv_id == inv:
                counts[name] = counts.get(name, 0) + 1
        return counts

    @property
    def problems(self) -> list[HandlerError]:
        """Handler bugs seen in this run: misuse, mismatches, nondeterministic calls."""
        found: list[HandlerError] = list(self._engine.misuse)
        if self._guard is not None:
            found += self._guard.found
        return found + self._codec_found

    def _paused_error(self, inv_id: str) -> HandlerError | None:
        return self._engine.paused_errors.get(inv_id)

    def awakeables(self) -> list[str]:
        """Ids of awakeables created and not completed yet."""
        ids = []
        for rec in self._engine.records():
            if rec.status == COMPLETED:
                continue
            journal = self.store.journal(rec.id)
            done = {e.target for e in journal if e.kind == COMPLETION}
            ids += [awakeable_id(rec.id, i) for i, e in enumerate(journal)
                    if e.kind == AWAKEABLE and i not in done]
        return ids

    def resolve_awakeable(self, awakeable: str, value: Any = None) -> None:
        self._engine.complete_awakeable(awakeable, Value(JsonSerde().serialize(value)))

    def reject_awakeable(self, awakeable: str, message: str, code: int = 500) -> None:
        self._engine.complete_awakeable(awakeable, Failure(code, message))

    def signal(self, handle: InvocationHandle | str, name: str, value: Any = None) -> None:
        """Send signal ``name`` with ``value`` to an invocation (its ``ctx.signal(name)``)."""
        self._engine.signal(self._id(handle), name, Value(JsonSerde().serialize(value)))

    def reject_signal(self, handle: InvocationHandle | str, name: str, message: str,
                      code: int = 500) -> None:
        """Send signal ``name`` as a failure: awaiting it raises ``TerminalError``."""
        self._engine.signal(self._id(handle), name, Failure(code, message))

    def resolve_promise(self, workflow: str, key: str, name: str, value: Any = None) -> bool:
        """Resolve a workflow's durable promise from the test; False if already done."""
        return self._engine.complete_promise(
            workflow, key, name, Value(JsonSerde().serialize(value))
        )

    def reject_promise(self, workflow: str, key: str, name: str, message: str,
                       code: int = 500) -> bool:
        return self._engine.complete_promise(workflow, key, name, Failure(code, message))

    def cancel(self, handle: InvocationHandle | str) -> None:
        """Cancel an invocation: its next wait raises TerminalError("cancelled", 409)."""
        self._engine.cancel(self._id(handle))

    def kill(self, handle: InvocationHandle | str) -> bool:
        """Kill an invocation, as Restate's kill: it ends at once with
        ``TerminalError("killed", 409)``, none of its code runs any more (no
        compensation), and the calls it made are killed too. False if it had
        already ended."""
        return self._engine.kill(self._id(handle))

    def resume(self, handle: InvocationHandle | str) -> bool:
        """Resume a paused invocation once what paused it is fixed (say, the
        handler's code): it replays its journal and goes on at the next
        ``run()``, its stored steps not run again. False if it was not paused."""
        return self._engine.resume(self._id(handle))

    @property
    def engine(self) -> Engine:
        """The engine (whoever reads it may change it: it then goes with this
        simulation instead of to the next, see ``__del__``)."""
        self._spare = False
        return self._engine

    def describe_journal(self, handle: InvocationHandle | str) -> str:
        """The journal as text, one entry per line."""
        lines = []
        for i, e in enumerate(self.journal(handle)):
            lines.append(f"#{i:<3} {e.at_ms / 1000:>9.3f}s  {e.describe()}")
        return "\n".join(lines)

__all__ = ["Simulation", "InvocationHandle", "RunSummary", "parse_target"]


def _spinning_where(spinning: BaseException) -> str:
    """Where a run over its wall-clock budget was stopped, and why it took the
    runtime's turn: at the innermost line of the user's own code, in plain
    Python; or, with none on the stack, at the line where an async step's
    coroutine waits (it never ends, and its event loop waits in ``select``)."""
    from ._strict import user_code

    frames = user_frames(spinning)
    if not frames or not user_code(frames[-1].filename):
        waiting = _async_step_line(spinning)
        if waiting is not None:
            return (f" at {waiting}, where an async step's coroutine waits: a step that "
                    f"never ends gives the runtime no turn")
    mine = [f for f in frames if user_code(f.filename)]
    if mine:
        at = mine[-1]
        return (f" in plain Python at {os.path.basename(at.filename)}:{at.lineno} "
                f"(in {at.name}): a loop that never awaits gives the runtime no turn")
    where = (f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno} "
             f"(in {frames[-1].name})" if frames else "")
    return f" in plain Python{where}: a loop that never awaits gives the runtime no turn"


def _async_step_line(spinning: BaseException) -> str | None:
    """``file.py:line (in fn)`` where the coroutine of an async step, running on
    the event loop that was stopped, waits in the user's own code, if one does."""
    import asyncio

    from ._strict import user_code

    tb = spinning.__traceback__
    while tb is not None:
        loop = tb.tb_frame.f_locals.get("self")
        if isinstance(loop, asyncio.AbstractEventLoop):
            break
        tb = tb.tb_next
    else:
        return None
    found = None
    # (in the order the tasks were made, not the set's order of their addresses)
    for task in sorted(asyncio.all_tasks(loop), key=_made_order):
        coro: Any = task.get_coro()
        while coro is not None and getattr(coro, "cr_frame", None) is not None:
            frame = coro.cr_frame
            if user_code(frame.f_code.co_filename):
                found = (f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} "
                         f"(in {frame.f_code.co_name})")
            coro = coro.cr_await
    return found


def _made_order(task: Any) -> tuple[int, str]:
    """A task's place in the order tasks were made: asyncio names them
    ``Task-<n>`` from one counter (a task named otherwise, by its name)."""
    name: str = task.get_name()
    number = name.removeprefix("Task-")
    return (int(number), "") if number.isdigit() else (-1, name)
