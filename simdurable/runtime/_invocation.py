"""One attempt of one invocation: the handler's coroutine over its journal.

The attempt is the SDK half of the runtime. Each context operation becomes a
command: while the attempt *replays*, the command must match the journal entry
at the cursor (else a ``JournalMismatchError``); once the journal is used up,
the attempt is *live* and new commands are stored through the engine.

Notifications (completions) become visible to the handler only when it waits
or issues a command, live as in replay: a wait takes them from the journal one
at a time until it is satisfied, a command takes every one before it. So
``select``/``wait_completed``/``as_completed`` see on replay exactly what they
saw the first time, even when more completions were journaled before the
handler's next command (as Restate's SDKs take notifications in journal order).

States of an attempt::

    REPLAYING --journal used up--> LIVE --handler returns/raises--> DONE
        |                           |
        +----------crash, suspend, failure, mismatch---------------> DEAD
"""

from __future__ import annotations

import contextvars
import hashlib
import random
import sys
from collections.abc import Callable, Coroutine
from contextvars import copy_context
from dataclasses import dataclass
from threading import get_ident
from types import CodeType, TracebackType
from typing import Any, Final, NamedTuple, Protocol

from ._errors import ContextMisuseError, InternalError, JournalMismatchError, TerminalError
from ._faults import Injector
from ._journal import (
    CANCELLED,
    COMMAND_KINDS,
    COMPLETION,
    KIND,
    NAME,
    RESULT,
    RUN,
    TARGET,
    RawCompletion,
    RawEntry,
    describe,
    same_command,
    same_header,
)
from ._registry import HandlerSpec
from ._scheduler import Scheduler
from ._store import InvocationRecord

REPLAYING: Final = "replaying"
LIVE: Final = "live"
DONE: Final = "done"
DEAD: Final = "dead"



def _correct_use(method: str, step: str) -> str:
    """The right way to write a context call that was made inside a step."""
    if method in ("set", "clear", "clear_all"):
        return (f'  x = await ctx.run_typed("{step}", fn); ctx.{method}(...)'
                f"  # correct!")
    wait = "" if method in _NOT_AWAITED else "await "
    return f'  x = {wait}ctx.{method}(...); await ctx.run_typed("{step}", fn, x=x)  # correct!'


# Context methods that return a value at once (everything else is awaited).
_NOT_AWAITED = frozenset({
    "set", "clear", "clear_all", "key", "uuid", "random", "request", "awakeable",
    "resolve_awakeable", "reject_awakeable", "service_send", "object_send", "workflow_send",
    "generic_send",
})


class StepInfo(NamedTuple):
    """Which step's closure is running; fake externals read it to label effects."""

    invocation: str
    handler: str
    step: str
    index: int  # type: ignore[assignment]  # a field named like tuple.index
    attempt: int
    engine: Any


class StepHolder:
    """Which step's closure runs, for the fused step paths of one thread: they
    write ``step`` around a closure (two attribute writes) instead of setting
    and resetting a context variable (a new mapping and a token each time) to
    a ``StepInfo`` made for it. ``step`` is None, a ``StepInfo``, a plain
    step's future, or the attempt whose express step runs (the ``StepInfo`` of
    either of the last two is made from it when someone asks: ``info_of``)."""

    __slots__ = ("step", "thread")

    def __init__(self, thread: int) -> None:
        self.step: Any = None
        self.thread = thread


def info_of(step: Any) -> StepInfo:
    """The ``StepInfo`` of a plain step's future (``_fast.step_lane``'s
    ``StepHolder.step``), or of the step an attempt's express step runs
    (``_fast.step_command``'s, which names the attempt, its index in
    ``running_index``): what the general way sets for it."""
    if type(step) is Attempt:
        index = step.running_index
        return StepInfo(step.rec.id, step.handler, step.journal[index][NAME], index, step.number,
                        step.engine)
    attempt = step._attempt
    return StepInfo(attempt.rec.id, attempt.handler, step.name, step._index, attempt.number,
                    attempt.engine)


class CurrentStep:
    """``current_step``: the ``StepInfo`` of the step whose closure runs here,
    or None. A context variable (``get``, ``set``, ``reset``), as the live
    host's worker threads and asyncio steps need; its value is either a
    ``StepInfo`` (set so) or a ``StepHolder`` (``holder``: one per context and
    thread, made at its first use) whose ``step`` the fused paths write. A
    context copied while a closure runs (an asyncio task, ``asyncio.to_thread``)
    shares the holder: it sees the step while that closure runs, and no longer
    once it returned."""

    __slots__ = ("var",)

    def __init__(self, name: str) -> None:
        self.var: contextvars.ContextVar[Any] = contextvars.ContextVar(name, default=None)

    def get(self, default: StepInfo | None = None) -> StepInfo | None:
        """The running step's ``StepInfo``, or ``default`` (as ``ContextVar.get``)."""
        value = self.var.get()
        if value is None:
            return default
        if type(value) is StepInfo:
            return value
        step = value.step
        if step is None:
            return default
        return step if type(step) is StepInfo else info_of(step)

    def set(self, info: StepInfo | None) -> contextvars.Token[Any]:
        return self.var.set(info)

    def reset(self, token: contextvars.Token[Any]) -> None:
        self.var.reset(token)

    def holder(self) -> StepHolder:
        """This context's holder for this thread, made and set at its first use."""
        value = self.var.get()
        thread = get_ident()
        if type(value) is StepHolder and value.thread == thread:
            return value
        holder = StepHolder(thread)
        if value is not None:  # a step runs (set so, or in another thread's holder)
            step = value if type(value) is StepInfo else value.step
            # (what it is now: an attempt's express step names the attempt)
            holder.step = step if step is None or type(step) is StepInfo else info_of(step)
        self.var.set(holder)
        return holder


# Which step's closure runs (copied into worker threads by the live host).
current_step: Final = CurrentStep("simdurable_current_step")


class StepSpec(Protocol):
    """A registered step: its closure and how to store its result.

    ``serde`` turns the closure's return value into journal bytes (the engine
    reports a value it cannot store as a ``SerializationError`` naming the
    step). ``backoff`` is the step's own retry policy, or None for the
    invocation policy. ``scheduled``: its closure was started in this attempt.
    A ``Step``, or (a plain step's) the step's future itself, which has these
    fields too: one object a step instead of two.
    """

    scheduled: bool

    @property
    def name(self) -> str: ...

    @property
    def fn(self) -> Callable[..., Any]: ...

    @property
    def args(self) -> tuple[Any, ...]: ...

    @property
    def kwargs(self) -> dict[str, Any]: ...

    @property
    def serde(self) -> Any: ...

    @property
    def backoff(self) -> Any: ...


@dataclass(slots=True)
class Step:
    """A ``StepSpec`` of its own (a step with options, or in strict mode)."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    serde: Any
    backoff: Any = None
    scheduled: bool = False


class Abort(BaseException):
    """Unwinds a handler whose attempt ended (crash, suspension, mismatch).

    A ``BaseException`` so that ``except Exception`` in user code cannot
    swallow it.
    """


class Wait(NamedTuple):
    """What a handler's coroutine yields: the command indices it waits on."""

    indices: tuple[int, ...]
    all: bool = False


# Yielded by a future whose step the engine already ran in place (see
# ``Engine.run_lone_step``) when other work became ready meanwhile: the
# handler stays where it is until its queued resume task runs.
PARKED: Final = Wait(())


_OUR_DIR = __file__.rsplit("/", 2)[0]


def user_source(depth: int = 1) -> str | None:
    """``file.py:line`` of the innermost frame outside simdurable itself.

    Asked at every step in strict mode: whose a code object is and the line of
    a call site (code object and instruction) are known from the first time,
    kept in ``_SITES``."""
    frame = sys._getframe(depth)
    sites = _SITES
    while frame is not None:
        code = frame.f_code
        site = sites.get(id(code))
        if site is None:
            site = (code, {} if _outside_us(code.co_filename) else None)
            if len(sites) >= _SITES_MAX:
                sites.clear()
            sites[id(code)] = site
        lines = site[1]
        if lines is not None:
            lasti = frame.f_lasti
            source = lines.get(lasti)
            if source is None:
                source = lines[lasti] = _short(frame)
            return source
        frame = frame.f_back  # type: ignore[assignment]
    return None


# By the id of a code object (a code object's own hash is computed anew each
# time, from its bytecode and constants), the code object (held, so that its id
# stays its own) and None for simdurable's own, else the user's lines by
# instruction offset. Bounded, as code made at run time (``exec``) would fill it.
_SITES: dict[int, tuple[CodeType, dict[int, str] | None]] = {}
_SITES_MAX: Final = 4096


def _outside_us(filename: str) -> bool:
    """A user's file: not simdurable's, Hypothesis's, or code generated at run
    time (``<string>``: a dataclass's ``__init__``, whose caller is the line)."""
    return (not filename.startswith(_OUR_DIR) and "/hypothesis/" not in filename
            and filename != "<string>")


def _short(frame: Any) -> str:
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"


def awaiting_source(coro: Any) -> str | None:
    """``file.py:line`` where the innermost user coroutine of ``coro`` waits.

    Why: a handler that awaited something foreign is reported at its own
    ``await``, not at simdurable's driver around it."""
    found = None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        if _outside_us(frame.f_code.co_filename):
            found = _short(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return found


# What to use instead of an asyncio call inside a handler (Restate's Python
# SDK gives the same advice: its combinators, never asyncio's).
_ASYNCIO_INSTEAD: Final = {
    "create_task": "a context operation already runs concurrently: await it later, "
                   "or use gather/select over it",
    "ensure_future": "use gather/select over the context operation",
    "gather": "use gather (simdurable.gather or restate.gather)",
    "sleep": "use ctx.sleep",
    "wait_for": "use select over the operation and a ctx.sleep timer",
    "timeout": "use select over the operation and a ctx.sleep timer",
    "wait": "use wait_completed",
    "as_completed": "use as_completed (simdurable's or restate's)",
    "shield": "await the context operation itself",
    "Event.wait": "wait for a signal from outside with an awakeable or a workflow's "
                  "durable promise; within one invocation, await the operation itself",
    "Queue.get": "hand work over with calls and sends, or keep it in the object's state",
    "Condition.wait": "wait for a signal from outside with an awakeable or a durable promise",
    "Lock.acquire": "a virtual object's exclusive handlers already run one at a time per key",
    "Semaphore.acquire": "a virtual object's exclusive handlers already run one at a time "
                         "per key",
    "Barrier.wait": "use gather over the context operations",
}


def in_asyncio(filename: str) -> bool:
    """Whether ``filename`` is one of asyncio's own modules."""
    asyncio_module = sys.modules.get("asyncio")
    asyncio_dir = (getattr(asyncio_module, "__file__", None) or "/asyncio/").rsplit("/", 1)[0]
    return filename.startswith(asyncio_dir + "/")


def asyncio_call(tb: TracebackType | None) -> tuple[str | None, str | None]:
    """The asyncio function a handler called in ``tb`` and the user line that called it."""
    call = source = None
    while tb is not None:
        frame = tb.tb_frame
        filename = frame.f_code.co_filename
        if in_asyncio(filename):
            if call is None and source is not None:
                # (a method by its class: Event.wait is not asyncio.wait)
                call = frame.f_code.co_qualname
        elif _outside_us(filename):
            call, source = None, f"{filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        tb = tb.tb_next
    return call, source


# The asyncio call behind a foreign future a handler awaited, by its type's name.
_ASYNCIO_FUTURES: Final = {"_GatheringFuture": "gather", "Task": "create_task"}


def asyncio_future_call(awaited: object) -> str | None:
    """The asyncio call that made ``awaited``, if it is an asyncio future."""
    kind = type(awaited)
    if not kind.__module__.startswith("asyncio"):
        return None
    return _ASYNCIO_FUTURES.get(kind.__name__, "ensure_future")


def asyncio_advice(call: str | None) -> str:
    """What a handler uses instead of ``asyncio.<call>``, or "" when unknown."""
    if call is None:
        return ""
    instead = _ASYNCIO_INSTEAD.get(call, "use context operations and their combinators")
    return f" Instead of asyncio.{call}: {instead}."


class StepRandom(random.Random):
    """``ctx.random()``: seeded by the invocation id, unusable inside a step."""

    _attempt: Attempt

    def random(self) -> float:
        self._attempt.guard("random")
        return super().random()

    def getrandbits(self, k: int) -> int:
        self._attempt.guard("random")
        return super().getrandbits(k)


class _Ended:
    """What ``ctx.random()`` guards with once its attempt ended."""

    __slots__ = ()

    def guard(self, method: str) -> None:
        raise Abort()


_ENDED: Final[Any] = _Ended()


class _NothingSet(set[int]):
    """A set that stays empty: what an attempt waited on, outside strict mode."""

    def add(self, element: int) -> None:
        pass

    def update(self, *others: Any) -> None:
        pass


class _NothingDict(dict[int, str]):
    """A dict that stays empty: where steps started, outside strict mode."""

    def __setitem__(self, key: int, value: str) -> None:
        pass


_KEEPS_NOTHING: Final = _NothingSet()
_KEEPS_NO_SOURCE: Final = _NothingDict()


_UNREGISTERED: Final = "a step registered without Attempt.registered()"


class _Unowned(dict[int, Any]):
    """An empty dict shared by every attempt until it makes its own: its
    registered steps until its first (``NO_STEPS``, ``Attempt.registered``:
    most register none, a step awaited at once, a crowd's lone step) and its
    completions seen until its first (``NO_DONE``, ``Attempt.completed``: a
    crowd's records none, each of its steps' values handed to the handler by
    its resume task, ``_tasks``). It refuses a write that did not make the
    attempt its own first, saying which."""

    __slots__ = ("_refusal",)

    def __init__(self, refusal: str) -> None:
        super().__init__()
        self._refusal = refusal

    def __setitem__(self, key: int, value: Any) -> None:
        raise InternalError(self._refusal)

    def setdefault(self, key: int, default: Any = None) -> Any:
        raise InternalError(self._refusal)

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise InternalError(self._refusal)


class _NoIndices(list[int]):
    """``Attempt._unscheduled`` until its first registered step, shared as
    ``NO_STEPS``, refusing an index added without ``Attempt.registered``."""

    def append(self, index: int) -> None:
        raise InternalError(_UNREGISTERED)

    def extend(self, indices: Any) -> None:
        raise InternalError(_UNREGISTERED)

    def insert(self, at: Any, index: int) -> None:
        raise InternalError(_UNREGISTERED)


_UNRECORDED: Final = "a completion recorded without Attempt.completed()"
NO_STEPS: Final[dict[int, Any]] = _Unowned(_UNREGISTERED)
_NO_INDICES: Final[list[int]] = _NoIndices()
NO_DONE: Final[dict[int, Any]] = _Unowned(_UNRECORDED)


class EngineView(Protocol):
    """What an attempt, and the handler API over it, may ask of the engine.

    The engine (``_engine.Engine``) provides it; naming it here keeps the
    attempt below the engine, with no import of it.
    """

    segment_guard: Any
    scheduler: Scheduler
    injector: Injector
    # Whether a replayed command's payload must equal the journal's (off with
    # a journal value codec, as restate-sdk turns the VM's checks off then)
    payload_checks: bool
    # What ``ctx.time()`` reads instead of the clock (``Engine.clock_pins``)
    clock_pins: dict[tuple[str, int], float] | None
    # What steps return instead of their closures' values (``Engine.value_pins``)
    value_pins: dict[tuple[str, int], tuple[str, bytes]] | None

    @property
    def now_ms(self) -> int: ...

    @property
    def faulty(self) -> bool: ...

    def wall_ms(self) -> int: ...

    def trace(self, kind: str, inv: str, text: str) -> None: ...

    def resolve(self, service: str, handler: str, key: str | None) -> HandlerSpec: ...

    def store_command(self, attempt: Attempt, entry: RawEntry) -> int: ...

    def run_lone_step(self, attempt: Attempt, index: int) -> int: ...

    # ``_fast.step_command``, or None for the general way
    issue_step: Callable[..., Any] | None
    # ``_fast.step_lane``, or None for the general way
    step_lane: Callable[[Any], Any] | None
    # what those two read of the engine at each call (``_fast.command_parts``,
    # ``_fast.lane_parts``), None until the first step builds them (the
    # engine's ``built_command_parts``, ``built_lane_parts``)
    command_parts: tuple[Any, ...] | None
    lane_parts: tuple[Any, ...] | None

    def record_misuse(self, inv_id: str, err: Any) -> None: ...


class _AttemptResumed:
    """The fields of an ``Attempt`` that a crowd's resume task reads (with the
    handler's next step, ``_fast.express`` and ``DurableFuture.__await__``),
    most of them a step task's too: at 10,000 invocations in flight each task
    reads its invocation's cold, so these are its first two cache lines
    (header and 14 slots: 128 bytes), and a base's slots come first. A
    class's slots are laid out in their names' order (CPython sorts them),
    whatever the order they are written in."""

    __slots__ = (
        "handed", "plain", "waiting", "resume_scheduled", "context", "context_holder",
        "journal", "cursor", "own_journal", "inv_id", "coro", "engine", "issued",
        "_unscheduled",
    )


class _AttemptHead(_AttemptResumed):
    """The fields a crowd's step task reads besides the resume's (``alive``,
    ``done``, ``done_bits``, ``retry_index``, ``steps``; the others on its less
    common ways): the object's third cache line. So a resume reads two of its
    lines, a step task three, and not its record's (in names' order, each read
    four of five)."""

    __slots__ = ("alive", "done", "done_bits", "retry_index", "rec", "steps", "queued", "state")


class Attempt(_AttemptHead):
    """Runs one attempt of an invocation; see the module docstring."""

    # Its fields in the object itself: one allocation, not an object and its
    # values array, and read without a step through the latter (10,000 attempts
    # in flight, each touched at every task of its invocation, in random order).
    # Those a step or resume task reads in ``_AttemptResumed`` and
    # ``_AttemptHead``, the rest here. 35 slots: with the collector's header,
    # 320 bytes, five cache lines, so that every attempt starts on a line
    # (with 34, 304, and three in four started within one, their first fields
    # read over a line more; a slot more is 336)
    __slots__ = (
        "cancel_pending", "failure", "service_kind", "cancel_raised", "number", "handler",
        "completed_next", "_rng", "awaited", "started_at", "running_index", "paired",
        "output",
    )

    def __init__(
        self,
        engine: EngineView,
        rec: InvocationRecord,
        journal: list[RawEntry],
        number: int,
        service_kind: str,
        target: str | None = None,
    ) -> None:
        self.engine = engine
        self.rec = rec
        # Its invocation's done bits (``InvocationRecord.done_bits``), kept here
        # while it is alive, with the fields its step tasks read, so that a
        # step task reads no record (at 10,000 invocations in flight, a cold
        # line each): its record's are then stale, and whatever reads or writes
        # them while it lives (``Completions``, the step paths) does so here.
        # Written back to its record as it ends (``die``, and where its end is
        # written out, which then clears them).
        self.done_bits = rec.done_bits
        # Its record's ``retry_index`` as it started: while it lives, the
        # record's is only ever cleared (a stored completion of the retried
        # step, ``Completions.deliver``), or set as a failed step ends it
        # (``Steps._failed``), so a step at this index goes the general way,
        # which reads the record's; any other step has no retry under way.
        self.retry_index = rec.retry_index
        # Its record's id, which never changes: read by each step task and
        # resume with the attempt's own fields, not from the record's object
        self.inv_id = rec.id
        # The context its handler runs in, every resume of its coroutine inside
        # it: a copy of the one the attempt starts from, as Restate runs each
        # request in a task of its own (a retry, a new request, starts over
        # from a new copy). A context variable one invocation's handler sets
        # is then never seen by another's, nor by its next attempt.
        self.context = copy_context()
        # The current-step holder (``StepHolder``) ``context`` is known to hold,
        # else None: where it is known (the task runner's start of the attempt,
        # from its own context, which holds its holder; a step task's or the
        # lane's finding), a step task and a resume tell it by identity instead
        # of reading the context variable in ``context`` (``Context.get``, about
        # 360 instructions). Only the runtime writes the variable in an
        # attempt's context, and where it does it writes this too.
        self.context_holder: StepHolder | None = None
        # The target never changes for a record: formatted once (or, given, the
        # spec's ``plain_target`` every attempt of the handler shares), read at
        # every step.
        self.handler = target or rec.target
        self.number = number
        self.service_kind = service_kind
        self.journal = journal
        # False when ``journal`` is the store's own list (``Running.open`` on the
        # simulation's store): what the store appends is in it already. True:
        # a copy, to which every stored entry is appended too.
        self.own_journal = True
        # The plain step future ``_fast.step_command`` issued last, fresh, while
        # no other step was unstarted, or None. It is that step's registration
        # until it is needed: not in ``steps`` and ``_unscheduled`` yet, so
        # that a step the lane runs at once (``_fast.step_lane``, which trusts
        # the checks made at its issue while nothing was journaled since) is
        # never registered; whatever reads ``steps`` or ``_unscheduled``
        # otherwise calls ``register_issued`` first. A handler in a crowd
        # yields its wait on it still unregistered (the lane's ``LANE_WAITS``):
        # the fused runner queues it from here, still unregistered while it is
        # queued (a task of it that goes the general way registers it first),
        # ``pending_steps`` registers it.
        self.issued: Any = None
        # The journal index of the step whose closure an express step runs
        # (``_fast.step_command``): the current-step holder names the attempt
        # itself then, and ``info_of`` reads the step from here.
        self.running_index = -1
        # How many leading journal entries are steps known completed right after
        # their command (``Completions.plain_steps``), or -1 until the replay's
        # step command is bound to it (``_fast.replay_bound``).
        self.paired = -1
        self.cursor = 0
        self.state = REPLAYING if journal else LIVE
        # REPLAYING or LIVE; an attribute, as it is read several times a step.
        self.alive = True
        self.coro: Coroutine[Any, Any, Any] | None = None
        # None: ``coro`` returns the handler's output, serialized (its spec's
        # ``start``). Else the handler's function itself runs as ``coro``
        # (``HandlerSpec.direct``), and this writes the value it returns (an
        # int, its digits, is written without the call).
        self.output: Callable[[Any], bytes] | None = None
        # The completions seen, by index, for whatever may ask again: a future,
        # a task, a registered step (an express step handed its value at once
        # has none: ``_fast.step_command``; nor a crowd's step whose resume
        # hands it its value, its future held by nothing else: ``_tasks``).
        # Shared and empty until the first (``completed``).
        self.done: dict[int, RawCompletion] = NO_DONE
        # (both shared and empty until the first registration: ``registered``)
        self.steps: dict[int, StepSpec] = NO_STEPS
        # Registered steps that may still be unscheduled (pruned as they start).
        self._unscheduled: list[int] = _NO_INDICES
        self.waiting: Wait | None = None
        self.resume_scheduled = False
        self.queued = 0  # its "step" and "resume" tasks in the ready set (``Running``)
        # What its queued "resume" task (the attempt itself in the ready set)
        # hands the handler's awaiting future: None, or the value of the one
        # step it waits on, which the crowd's step task had (``_tasks``).
        self.handed: Any = None
        self.cancel_pending = False
        self.cancel_raised = False  # the handler has seen its cancellation, at a wait
        self.failure: BaseException | None = None  # mismatch or misuse, recorded here
        # ``alive and state is LIVE and not cancel_pending and failure is None``,
        # kept by every write of those four: the fused runner's one test for
        # its common case (``_tasks``), where it read each of them
        self.plain = self.state is LIVE
        # Set by issue() while replaying: the command it just matched, if the
        # journal completes it right after. Its step then has nothing left to
        # run (the handler sees the result at its next wait or command, as
        # always), so it need not be registered.
        self.completed_next = -1
        self._rng: StepRandom | None = None
        # Commands the handler waited on: awaited, or handed to a combinator.
        # A step or timer left out when the handler returns was never awaited.
        # Read in strict mode only: outside it, one shared set that keeps nothing
        # (an empty set and dict an attempt are 280 bytes, 2.7 MiB for 10,000
        # invocations in flight).
        strict = engine.segment_guard is not None
        self.awaited: set[int] = set() if strict else _KEEPS_NOTHING
        # Strict mode only: where each step and timer was started, "file.py:line".
        self.started_at: dict[int, str] = {} if strict else _KEEPS_NO_SOURCE

    @property
    def rng(self) -> StepRandom:
        """``ctx.random()``, seeded by the invocation id; made on first use."""
        if self._rng is None:
            seed = int.from_bytes(hashlib.sha256(self.rec.id.encode()).digest()[:8], "big")
            self._rng = StepRandom(seed)
            self._rng._attempt = self
        return self._rng

    def die(self) -> None:
        """The attempt ended (crash, suspension, mismatch, or its handler finished)."""
        if self.alive:
            self.rec.done_bits = self.done_bits  # (its record's again: ``done_bits``)
        self.state = DEAD
        self.alive = False
        self.plain = False
        # (an unregistered step's future holds the attempt: no cycle is left)
        self.issued = None
        if self._rng is not None:
            # ``ctx.random()`` kept past its attempt raises ``Abort``, as any use
            # of the context then; and it no longer holds the attempt, which
            # holds it: no cycle keeps the engine until a collection.
            self._rng._attempt = _ENDED

    # -- guards --------------------------------------------------------------
    def guard(self, method: str) -> None:
        """Raise if the context may not be used here and now."""
        # ``current_step.get()``'s test without its call: a ``StepInfo``'s ``step``
        # is its name, a holder's None when no closure runs
        running = current_step.var.get()
        step = None if running is None or running.step is None else current_step.get()
        if step is not None:
            err = ContextMisuseError(
                f"ctx.{method}() was called inside a step's closure. Steps must not use "
                f"the context: no state, calls, sleeps, nested steps, random or uuid.\n"
                f'  await ctx.run_typed("{step.step}", lambda: ctx.{method}(...))'
                f"      # incorrect!\n"
                + _correct_use(method, step.step),
                handler=step.handler,
                step=step.step,
                journal_index=step.index,
                source=user_source(2),
            )
            if self.failure is None and step.invocation == self.rec.id:
                self.failure = err
                self.plain = False
            elif step.engine is not None:
                step.engine.record_misuse(step.invocation, err)
            raise err
        if not self.alive:
            raise Abort()

    # -- commands ------------------------------------------------------------
    def issue(self, entry: RawEntry, method: str) -> int:
        """Issue a command; returns its journal index.

        While replaying, the command must match the journal; when live, the
        engine stores it (and applies its effects) at the fault points around.
        The caller has checked ``guard(method)``.
        """
        if self.state is REPLAYING:
            journal = self.journal
            index = self.cursor
            if index < len(journal) and journal[index][KIND] not in COMMAND_KINDS:
                self._consume_notifications()
                index = self.cursor
            if index < len(journal):
                recorded = journal[index]
                if not same_command(recorded, entry) and (
                        self.engine.payload_checks or not same_header(recorded, entry)):
                    self._mismatch(index, recorded, entry)
                self.cursor = index + 1
                if recorded[RESULT] is not None:
                    self.see(index, recorded[RESULT])
                if index + 1 >= len(journal):
                    self.state = LIVE
                    self.plain = self.alive and not self.cancel_pending and self.failure is None
                    self.completed_next = -1
                else:
                    after = journal[index + 1]
                    self.completed_next = after[TARGET] if after[KIND] == COMPLETION else -1
                return index
            self.state = LIVE
            self.plain = self.alive and not self.cancel_pending and self.failure is None
        elif self.cursor < len(self.journal):
            self._consume_notifications()  # completions journaled since its last wait
        index = self.engine.store_command(self, entry)
        return index

    def recorded(self, index: int) -> RawEntry:
        return self.journal[index]

    def _mismatch(self, index: int, recorded: RawEntry, issued: RawEntry) -> None:
        err = JournalMismatchError(
            "replay took a different path than the journal: the journal holds "
            f"{describe(recorded)} at #{index}, the handler now issued "
            f"{describe(issued)}. Either the handler's code changed since the journal "
            "was written (a new version deployed over invocations in flight), or "
            "something outside a step changed between runs (time, randomness, iteration "
            "order of a set, external data).",
            recorded=describe(recorded),
            issued=describe(issued),
            handler=self.handler,
            # Only a run is a step: a set names a state key, a call its target,
            # which the entries quoted above already show.
            step=(issued[NAME] or None) if issued[KIND] == RUN else None,
            journal_index=index,
            source=user_source(3),
        )
        self.failure = err
        self.die()  # (``plain`` False)
        raise Abort()


    def replayed_next(self, index: int) -> bool:
        """Whether waiting on ``index`` alone is satisfied at once.

        It takes the notifications at the cursor, as the engine's ``on_wait``
        would first do, so a future can go on without yielding to the engine
        only for it to resume the handler straight away.
        """
        if self.cursor >= len(self.journal):
            return index in self.done
        self.consume_for(Wait((index,)))
        return index in self.done

    def consume_for(self, wait: Wait) -> bool:
        """Take notifications at the cursor, one at a time, until ``wait`` is
        satisfied or a cancellation is pending (True), or none is left (False)."""
        journal = self.journal
        cursor, end = self.cursor, len(journal)
        while not (self.satisfied(wait) or self.cancel_pending):
            if cursor >= end:
                break
            entry = journal[cursor]
            if entry[KIND] == COMPLETION:
                assert entry[RESULT] is not None
                self.see(entry[TARGET], entry[RESULT])
            elif entry[KIND] == CANCELLED:
                self.cancel_pending = True
                self.plain = False
            else:
                break  # a command: the handler must issue it before it sees more
            cursor += 1
        self.cursor = cursor
        if cursor >= end:
            self.state = LIVE
            self.plain = self.alive and not self.cancel_pending and self.failure is None
        return self.satisfied(wait) or self.cancel_pending

    def register_issued(self) -> None:
        """Register the step held in ``issued`` as its issue would have (its
        index is new and no other step was unstarted then: the first of
        ``_unscheduled``, ahead of any registered after it)."""
        future = self.issued
        if future is not None:
            self.issued = None
            self.registered()[future._index] = future
            self._unscheduled.append(future._index)

    def registered(self) -> dict[int, StepSpec]:
        """``steps``, to write a registration to: its own dict (and its own
        ``_unscheduled`` list) made at the first, instead of two objects made
        and freed by every attempt (``NO_STEPS`` until then)."""
        steps = self.steps
        if steps is NO_STEPS:
            steps = self.steps = {}
            if self._unscheduled is _NO_INDICES:
                self._unscheduled = []
        return steps

    def completed(self) -> dict[int, RawCompletion]:
        """``done``, to write a completion to: its own dict made at the first,
        not one made and freed by every attempt (``NO_DONE`` until then)."""
        done = self.done
        if done is NO_DONE:
            done = self.done = {}
        return done

    def unhand(self) -> None:
        """Its queued resume will not hand the handler the value of the one
        step it waits on (``handed``): the general way resumes it, or nothing
        does. That step's completion, which its step task (``_tasks``) left
        out of ``done`` for the resume to hand instead, is recorded there now,
        for the general way to read, as if it had been then (it is the entry
        before the cursor: nothing is seen while a resume is queued)."""
        if self.handed is None:
            return
        self.handed = None
        waiting = self.waiting
        if waiting is None or len(waiting.indices) != 1:
            return
        index = waiting.indices[0]
        if index in self.done or self.cursor < 1:
            return
        entry = self.journal[self.cursor - 1]
        result = entry[RESULT]
        if entry[KIND] == COMPLETION and entry[TARGET] == index and result is not None:
            self.completed()[index] = result

    def register_step(self, index: int, spec: StepSpec) -> None:
        if self.issued is not None:
            self.register_issued()
        if index not in self.done:
            steps = self.registered()
            if index not in steps:
                self._unscheduled.append(index)
            steps[index] = spec

    # -- completions ---------------------------------------------------------
    def see(self, index: int, completion: RawCompletion) -> None:
        if index not in self.done:
            self.completed()[index] = completion
            # A completed step never runs again: its closure, arguments and serde
            # need not live as long as the attempt (10,000 concurrent 5-step
            # invocations peak at 6 MiB less).
            self.steps.pop(index, None)

    def _consume_notifications(self) -> None:
        journal = self.journal
        cursor, end = self.cursor, len(journal)
        while cursor < end:
            entry = journal[cursor]
            if entry[KIND] == COMPLETION:
                assert entry[RESULT] is not None
                self.see(entry[TARGET], entry[RESULT])
            elif entry[KIND] == CANCELLED:
                self.cancel_pending = True
                self.plain = False
            else:
                self.cursor = cursor
                return
            cursor += 1
        self.cursor = cursor
        self.state = LIVE
        self.plain = self.alive and not self.cancel_pending and self.failure is None

    def observe(self, entry: RawEntry) -> bool:
        """A live notification was stored; True if the attempt can now resume."""
        if self.own_journal:
            self.journal.append(entry)
        waiting = self.waiting
        if waiting is None or self.resume_scheduled:
            return False  # it sees the entry at its next wait or command
        return self.consume_for(waiting)

    def is_done(self, index: int) -> bool:
        return index in self.done

    def outcome(self, index: int) -> RawCompletion:
        return self.done[index]

    def satisfied(self, wait: Wait) -> bool:
        indices = wait.indices
        if len(indices) == 1:
            return indices[0] in self.done
        if wait.all:
            return all(i in self.done for i in wait.indices)
        return any(i in self.done for i in wait.indices)

    def on_wait(self, wait: Wait) -> bool:
        """The handler waits; True if it can continue right away."""
        if self.consume_for(wait):
            return True  # (a cancellation interrupts the wait, as it did the first time)
        if self.state == REPLAYING:
            if self.cursor < len(self.journal):
                recorded = self.journal[self.cursor]
                err = JournalMismatchError(
                    "replay took a different path than the journal: the handler now waits "
                    f"on #{', #'.join(map(str, wait.indices))}, which the journal never "
                    f"completed before it went on to {describe(recorded)} at #{self.cursor}.",
                    recorded=describe(recorded),
                    issued=f"wait on #{', #'.join(map(str, wait.indices))}",
                    handler=self.handler,
                    journal_index=self.cursor,
                )
                self.failure = err
                self.die()  # (``plain`` False)
                return False
        self.waiting = wait
        return False

    def take_cancel(self, wait: Wait | None) -> TerminalError | None:
        """The cancellation to raise at this wait, once: only if it is not satisfied."""
        if self.cancel_pending and (wait is None or not self.satisfied(wait)):
            self.cancel_pending = False
            self.plain = self.alive and self.state is LIVE and self.failure is None
            self.cancel_raised = True
            if self.issued is not None:
                self.register_issued()
            if self._unscheduled:
                # The steps it issued and did not start are set aside: as in
                # restate-sdk, one starts only if the handler awaits it again
                # (``Running._block``), never at its next wait on something else.
                self._unscheduled = []
            return TerminalError("cancelled", 409)
        return None

    def pending_steps(self) -> list[int]:
        """Steps issued but neither completed nor started in this attempt."""
        # Scheduled and done are final, so dropping those indices here keeps
        # this linear in the steps started since the last call.
        if self.issued is not None:
            self.register_issued()
        steps, done = self.steps, self.done
        pending = [i for i in self._unscheduled if i not in done and not steps[i].scheduled]
        self._unscheduled = pending
        return list(pending)
