"""The loop's tasks in their common case, fused: what a crowd of invocations runs.

With other work ready no step runs in place (``_fast.lone_step``): every step
is a "step" task (its closure runs and its value is stored) then a "resume"
task (the handler goes on), each taken by the scheduler among the others,
after the "start" task that opened the attempt and drove it to its first wait.
``Engine.run_task`` used to send them through the parts' general methods:
``Scheduler.pop``, ``Running.unqueue``, ``Steps.step_task``, ``execute_step``,
``note_step_ran``, ``finish_step``, ``Completions.deliver``, ``Running.notify``,
``Attempt.observe``, ``consume_for``, ``see``, ``Running.push_work``; then
``Lifecycle.resume``, ``advance`` and ``Running.run_segment``; a start through
``Lifecycle.start``, ``Running.drive``, ``waits``, ``Attempt.on_wait`` and
``Running._block``. ``task_runner`` makes the same writes in the same order in
one function whose parts are bound once per engine (the loop, the choice and
the tasks in one body: no Python call a task, and a run's ready tasks in one
call), for a step with no fault that could fire at it, an ok outcome that its
serde stores, and a handler that waits on it alone; anything else (a fault, a
failed step, a cancellation, a replaying attempt, strict mode's guard, a live
host's steps) goes the general way, from before any change or, for an
outcome, from the point ``finish_step`` would take. A value that the plain
serde reads back unchanged (an int, a str, a bool) rides on the resume task
to the awaiting future, which returns it without decoding what was just
encoded.

A crowd's tasks are its own objects, not tuples made for them: a plain step's
task is the step's future (which is its registration too: no lookup in
``Attempt.steps``), a resume task the attempt itself (with the value it hands
in ``Attempt.handed``), a "start" task the invocation's record (read by
the start anyway: no lookup by id); ``Engine.general_task`` takes them as well
(``_running.task_attempt``). A tuple a task was an allocation, a free and, at
10,000 invocations in flight, a cold object to read at each task.

An attempt counts its tasks in the ready lists (``Attempt.queued``, which
``Running.kill`` reads to know whether to drop any). A task taken here leaves
its count on its attempt while it runs, and the one task it queues next for
that attempt in the common case (a step's resume, a resume's or a start's next
step) takes it over: no decrement and increment a task. Every other way out
takes it off, after ``kill`` (which zeroes the count) only if it is still
there. ``tests/runtime/test_crowded_tasks.py`` checks the counts between tasks.

Which task runs next, and so the trace, is the scheduler's choice alone, made
as ``Scheduler.pop`` makes it. ``tests/runtime/test_crowded_tasks.py`` compares
runs with this runner and with ``Engine.general_run_task`` on random workloads
with faults.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from inspect import isawaitable
from math import ceil, floor
from sys import getrefcount
from threading import get_ident
from types import CoroutineType, FunctionType
from typing import Any, Final

from ._errors import InternalError, TerminalError
from ._fast import (
    AS_IS_TYPES,
    NOT_AWAITABLE,
    _as_is_serdes,
    _step_api,
    awaited_value,
    bits_at,
    closure_in_step,
    closure_value,
    first_parameter,
    keyword_runs,
    new_tuple,
    step_parts,
    waits as made_waits,
)
from ._invocation import (
    DEAD,
    LIVE,
    NO_DONE,
    Abort,
    Attempt,
    StepHolder,
    StepInfo,
    Wait,
    current_step,
)
from ._journal import COMPLETION, Value
from ._scheduler import RandomChooser
from ._store import COMPLETED, InvocationRecord, MemoryStore
from ._trace import RAN_TASK

# The references to a crowd's step future in its step task when nothing else
# holds it (the handler's await let go of it, ``DurableFuture.__await__``):
# ``task``, ``spec`` and ``getrefcount``'s own argument. With more, someone
# may ask ``Attempt.done`` for its step: its completion is recorded there.
UNHELD: Final = 3
# The most step futures ``Running.spare_futures`` keeps (the newest is taken
# first, its lines still at hand; a crowd's last steps leave more than its
# steps' calls take, as its invocations end)
SPARE_FUTURES: Final = 64

def mark_holder(attempt: Any, holder: StepHolder) -> bool:
    """Note that ``attempt``'s context holds ``holder`` (a step task read it
    there: ``Attempt.context_holder``); False, for the test it is part of."""
    attempt.context_holder = holder
    return False


# A coroutine's ``send``, called with the coroutine: ``coro.send(value)``
# without the bound method made and freed at each resume
coroutine_send: Final = CoroutineType.send


# The draws a call counts in a small int before it carries them (see
# ``draws_left`` below): at most 256, the interpreter's cached ints
DRAW_BLOCK: Final = 256

# The most tasks a call takes between two of its checks of ``max_tasks`` and
# ``collect_at`` (``check_at``): ``Scheduler.check_at`` stays an int of one
# digit (2**30 and past is two), which the interpreter compares specialised
CHECK_SPAN: Final = 1 << 20


def check_at(scheduler: Any, taken: int) -> int:
    """The task (as ``Scheduler.tasks_run`` counts them) at which a call next
    checks its limits after taking task ``taken``: the first past ``max_tasks``
    or at ``collect_at``, at most ``CHECK_SPAN`` tasks on (both are floats
    while infinite, and an int's comparison with a float is a generic one)."""
    at = taken + CHECK_SPAN
    most = scheduler.max_tasks
    if most < at:
        at = floor(most) + 1
    collect = scheduler.collect_at
    if collect < at:
        at = ceil(collect)
    return at


# A step's function (a ``FunctionType``, hashed by its identity) -> the name of
# its first parameter when a value passed alone by position binds to it as by
# that name (``_fast.first_parameter``), else "" (``first_name``); at most
# ``FIRST_NAMES`` functions, then made anew.
first_names: dict[Any, str] = {}
FIRST_NAMES: Final = 256


def first_name(fn: FunctionType) -> str:
    """``first_names[fn]``, found and kept: a crowd's step task calls a step
    whose one keyword names its function's first parameter with the value by
    position, through ``Context.run`` itself, as ``_fast.express`` does at a
    ``FIRST`` site, and not through ``_fast.keyword_run``'s function: a frame
    less a step. (Keyed by the function, not its code: a function's
    ``__code__`` is a read the interpreter does not specialise.)"""
    code = fn.__code__
    name = code.co_varnames[0] if code.co_varnames else ""
    if not first_parameter(code, name):
        name = ""
    if len(first_names) >= FIRST_NAMES:
        first_names.clear()
    first_names[fn] = name
    return name


def task_runner(engine: Any) -> Callable[..., Any]:
    """``engine.run_task`` for the common case of each task; see the module
    docstring. ``engine`` is the ``Engine`` (not imported: it imports this)."""
    steps = engine.steps
    (finish, running, scheduler, injector, trace, log_run, _, _,
     store_append, journals, _, _) = step_parts(steps)
    # The tracer's ``event``, read once: through the tracer at each event it
    # is a method load the interpreter never specialises (an instance
    # attribute), and it changes only when an engine is renewed, which an
    # engine whose runner this is never is (``Engine.run_task``)
    event = trace.event
    # The current step is named in this thread's holder, as ``_fast.step_lane``
    # names it: two attribute writes around a closure, not a context
    # variable's new mapping and token and a ``StepInfo`` each time.
    running_step = current_step.var.get
    holder_here = current_step.holder
    step_var = current_step.var
    step_future = _step_api[0] if _step_api else None
    # The plain serde's class (``returns_as_is``): whatever its type hint, it
    # writes an int as its decimal digits (``serde.dumps``), as the step lane
    # writes the plain serde's ints without its two calls.
    plain_serde = _as_is_serdes[0] if len(_as_is_serdes) == 1 else None
    plain_serdes = type(plain_serde) if plain_serde is not None else None
    chooser = scheduler.chooser
    hold_at = scheduler.hold_at
    # ``RandomChooser.choose``, inlined below for the same draws (its generator
    # is seeded at the first draw, so it is read then)
    random_chooser = chooser if type(chooser) is RandomChooser else None
    getrandbits: Callable[[int], int] | None = None
    # The draws made since a call began (``Scheduler.decisions``), added to the
    # scheduler's count when it ends: nothing reads that count while a call
    # takes tasks. Counted down from ``DRAW_BLOCK`` in ``draws_left`` (a small
    # int, which the interpreter never allocates) and carried here by the
    # block: ``draws += 1`` at each draw made and freed an int past 256
    draws = 0
    draws_left = DRAW_BLOCK
    lifecycle = engine.lifecycle
    general_step = steps.step_task
    inline = steps.inline_steps
    general_resume = lifecycle.resume
    open_attempt = lifecycle.open_attempt
    start_alone = lifecycle.start_alone
    segment_ended = lifecycle.segment_ended
    complete = lifecycle.complete
    kill = running.kill
    # Strict mode's guard and ``always_suspend``: a ``Running``'s own (each a
    # test a resume, read once here); the guard is set once more only where a
    # run turns strict part-way (``Engine.turn_strict``, which calls
    # ``reguard``: a cell of this closure, read as before)
    guarded = running.segment_guard is not None
    always_suspend = running.always_suspend
    # The indices whose wait ``_fast.waits`` holds, for the step task's and the
    # resume's common case (none under ``always_suspend``, which every wait goes
    # the general way for)
    express_waits = 0 if always_suspend else len(made_waits)
    ended = running.ended
    spare_futures = running.spare_futures
    waits = running.waits
    drive = running.drive

    def run_task(until_idle: bool = False) -> Any:
        """``Engine.general_run_task``: one ready task, the chooser picking it;
        with ``until_idle``, one after the other while any is ready and the run
        has tasks left (``Simulation.run``'s loop without a call a task). A step
        request (a live host's step, ``inline_steps=False``) ends the call, to
        be handed out. Each task's early ends are ``continue``: the next task.
        The tasks a run held are back in ``ready`` when it returns or raises."""
        nonlocal draws, draws_left
        try:
            return tasks(until_idle)
        finally:
            scheduler.decisions += draws + DRAW_BLOCK - draws_left
            draws = 0
            draws_left = DRAW_BLOCK
            if scheduler.held:  # (outside a run's call no task is held)
                scheduler.unhold()
            if spare_futures:  # (nor any future kept: ``Running.spare_futures``)
                spare_futures.clear()

    def tasks(until_idle: bool) -> Any:
        """``run_task``'s loop (see there); with ``until_idle``, a long ready
        list's older half is held in a second list (``Scheduler.held``)."""
        nonlocal getrandbits, draws, draws_left
        first = True
        holder: StepHolder | None = None
        # What ``holder`` names at a task's start: read where it is found (the
        # call's first step task; each thing that writes it puts it back)
        before: Any = None
        # The bits a draw among ``width_of`` tasks takes (``k``), kept while
        # the count of ready tasks holds
        width_of = k = 0
        # The last keyword step's function, and its first parameter's name
        # when a value by position binds to it (``first_name``)
        last_fn: Any = None
        last_first: str | None = ""
        # A call's first task takes the checks below (``Scheduler.check_at``)
        scheduler.check_at = 0
        while True:
            # The ready list and the task count read once a task: they are
            # both the loop's test and ``Scheduler.pop``'s (``ready`` is never
            # empty while a task is held, so ``n`` says whether any is ready)
            ready = scheduler.ready
            n = len(ready)
            taken = scheduler.tasks_run + 1
            if taken >= scheduler.check_at:
                # The checks a task needs only now and then, one int's test
                # the others: a call's first task, one task a call, the run's
                # last task (``max_tasks``, which ``Scheduler.stop`` lowers
                # in a task) and the collector's next (``collect_at``)
                if first:
                    first = False
                elif not until_idle or not n or taken > scheduler.max_tasks:
                    return None
                # ``Scheduler.pop``
                scheduler.tasks_run = taken
                if taken >= scheduler.collect_at:
                    scheduler.collect_at = taken + scheduler.collect_every
                    gc.collect(0)
                    ready = scheduler.ready  # (as a finalizer left it)
                    n = len(ready)
                scheduler.check_at = check_at(scheduler, taken) if until_idle else 0
            elif not n:
                return None
            else:
                scheduler.tasks_run = taken
            held = scheduler.held
            if held or (n > hold_at and until_idle):  # (else one list, as before)
                if held:
                    # (whether ``ready`` outgrew ``held`` is asked at every
                    # ``DRAW_BLOCK`` draws, below: how the tasks are split
                    # changes no draw's task, only what a pop moves)
                    h = len(held)
                    n += h
                else:
                    # Hold the older half (the order kept: ``held``, then
                    # ``ready``), so that taking a task moves a quarter of the
                    # list on average, not half of it
                    h = n >> 1
                    held = scheduler.held = ready[:h]
                    del ready[:h]
            if n == 1:
                task = ready.pop()
            else:
                if n == width_of:
                    # A random chooser's draw among as many tasks as its last (a
                    # crowd's task mostly queues one: the count holds), its
                    # generator and bits bound then (``width_of`` is 0 until a
                    # random chooser's first draw)
                    i = getrandbits(k)  # type: ignore[misc]
                    while i >= n:
                        i = getrandbits(k)  # type: ignore[misc]
                elif getrandbits is not None:  # (a random chooser's, bound at its first draw)
                    width_of = n
                    k = n.bit_length()
                    i = getrandbits(k)
                    while i >= n:
                        i = getrandbits(k)
                elif random_chooser is not None:
                    getrandbits = random_chooser.rng.getrandbits
                    width_of = n
                    k = n.bit_length()
                    i = getrandbits(k)
                    while i >= n:
                        i = getrandbits(k)
                else:
                    i = chooser.choose(n, "schedule")
                draws_left -= 1
                if not draws_left:
                    draws += DRAW_BLOCK
                    draws_left = DRAW_BLOCK
                    if held and len(ready) > h + hold_at:
                        # (``ready`` outgrew ``held``: its older part moves there)
                        m = (len(ready) - h) >> 1
                        held.extend(ready[:m])
                        del ready[:m]
                        h += m
                if not held:
                    task = ready.pop(i)
                elif i < h:
                    task = held.pop(i)
                else:
                    task = ready.pop(i - h)
                    if not ready and held:
                        # (never empty while a task is held: the lane and the
                        # loop test it for "any task ready")
                        ready.append(held.pop())
            kind = type(task)
            if kind is step_future or (kind is tuple and task[0] == "step"):
                # A "step" task (``Steps.step_task``, ``execute_step``,
                # ``finish_step``, ``Completions.deliver`` and ``Running.notify``):
                # a plain step's future (queued below: a registered step while
                # its attempt is alive and the step not done), or a tuple
                if kind is step_future:
                    spec = task
                    attempt = spec._attempt
                    index = spec._index
                    # (``NO_DONE`` told by its identity: a dict's subclass that
                    # overrides a slot answers ``in`` through a Python-level lookup)
                    if not attempt.alive or (
                            (done := attempt.done) is not NO_DONE and index in done):
                        attempt.queued -= 1  # ``Running.unqueue``
                        continue
                    inv_id = attempt.inv_id  # (its ``rec.id``, with the attempt's fields)
                else:
                    _, inv_id, attempt, index = task
                    if attempt is None:
                        continue
                    if not attempt.alive:  # (alive: its invocation's current one)
                        attempt.queued -= 1  # ``Running.unqueue``
                        continue
                    spec = attempt.steps.get(index)
                    if spec is None or index in attempt.done:
                        attempt.queued -= 1
                        continue
                name = spec.name
                # (its invocation's, kept on the attempt while it is alive: no
                # record read, ``Attempt.done_bits``)
                bits = attempt.done_bits
                try:
                    # (a step's bit read from ``_fast.bits_at``, not shifted into
                    # a new int at each test and write: the shift and the mask are
                    # generic operations the interpreter does not specialise. An
                    # index is never negative: no test of it before the read)
                    bit = bits_at[index]
                except IndexError:
                    bit = 1 << index
                if (
                    not inline
                    or (injector.armed and not injector.spares(name))
                    # (its bit clear when no bit is set at or above it, a
                    # specialised comparison, as a crowd's steps mostly run in
                    # the order issued; else tested by the generic ``&``. The
                    # bits kept: after the closure, the same object says nothing
                    # wrote them, and the step's bit is still clear)
                    or (bits >= bit and bits & bit)
                ):
                    attempt.queued -= 1
                    if kind is step_future:  # (queued unregistered: see the resume below)
                        attempt.registered().setdefault(index, spec)
                    request = general_step(inv_id, attempt.number, index)
                    if request is not None:
                        return request
                    continue
                # ``execute_step`` with no fault injected (a plain step's future is its
                # own ``StepInfo``, made if someone asks: ``info_of``)
                if holder is None:  # (found once a call: one thread runs its tasks)
                    holder = running_step()
                    if type(holder) is not StepHolder or holder.thread != get_ident():
                        holder = holder_here()
                    before = holder.step
                holder.step = spec if kind is step_future else new_tuple(
                    StepInfo, (inv_id, attempt.handler, name, index, attempt.number,
                               attempt.engine))
                # (the holder the closure's context holds, whichever way below:
                # what ``_fast.express``'s misuse check reads there)
                running.step_holder = holder
                try:
                    context = attempt.context
                    if attempt.context_holder is not holder and (
                            context.get(step_var) is not holder
                            or mark_holder(attempt, holder)):
                        result = context.copy().run(closure_in_step, holder, spec.fn,
                                                    spec.args, spec.kwargs, steps, name)
                    # (else its attempt's context, copied from this one once the
                    # holder was set there, names the step already: known so
                    # since its start, ``Attempt.context_holder``, or read once)
                    elif kind is not step_future or (keyword := spec._keyword) is None:
                        result = context.copy().run(closure_value, spec.fn, spec.args,
                                                    spec.kwargs if kind is not step_future
                                                    else spec._kwargs, steps, name)
                    else:
                        # (its one keyword's value, kept alone, ``StepFuture._keyword``)
                        fn = spec.fn
                        if fn is not last_fn:  # (the last step's function's: kept)
                            last_fn = fn
                            last_first = (first_names.get(fn) if type(fn) is FunctionType
                                          else "")
                            if last_first is None:
                                last_first = first_name(fn)
                        if last_first is keyword:
                            # (naming its function's first parameter: passed by
                            # position, as ``_fast.express`` passes it at a
                            # ``FIRST`` site, with no frame of ours between)
                            copied = context.copy()
                            result = copied.run(fn, spec._kwargs)
                            if (type(result) is not int
                                    and not isinstance(result, NOT_AWAITABLE)
                                    and isawaitable(result)):
                                result = copied.run(awaited_value, fn, result, steps, name)
                        else:
                            # (passed by that name through ``_fast.keyword_run``'s
                            # function, made when its call site kept the keyword)
                            result = context.copy().run(keyword_runs[keyword], fn,
                                                        spec._kwargs, steps, name)
                    failed: tuple[str, Any] | None = None  # (an ok outcome: no tuple)
                except TerminalError as err:
                    failed = ("terminal", err)
                except Exception as err:  # noqa: BLE001 - step failures are data
                    failed = ("error", err)
                finally:
                    holder.step = before
                if log_run is None:  # (the run with its "step" event: a compact trace)
                    # (its attempt's number and target left out: the
                    # invocation's "attempt" event, written before any of its
                    # steps, holds them, ``_trace.runs``)
                    event((scheduler.now_ms, inv_id, name, RAN_TASK, index))
                else:
                    log_run((inv_id, index, name, attempt.number, attempt.handler))
                    if trace.sink is not None:
                        event((scheduler.now_ms, "step", inv_id, "step", name, index))
                # ``finish_step`` for a value stored at once, else the general way
                # (a restart in the closure kills the attempt: not ``plain``,
                # and the way is general).
                # Its done bits are the object read before the closure (any
                # write since, even of an equal int, goes the general way): its
                # bit is clear, tested then, with no generic ``&`` again.
                if (
                    failed is not None
                    or attempt.done_bits is not bits
                    # (alive, so still its invocation's current one; live, not
                    # replaying; no cancellation pending; no failure recorded:
                    # ``Attempt.plain``, kept by each of their writes, one test.
                    # Its record is then PENDING: whatever moves a record off
                    # PENDING ends its live attempt first, ``Lifecycle.complete``'s
                    # callers, ``pause``, ``retry_later`` and a handler's return here)
                    or not attempt.plain
                    or (injector.armed and not injector.spares(name))
                    # (its record's retry index as it started, or less: see
                    # ``Attempt.retry_index``)
                    or attempt.retry_index == index
                    or running.in_place is not None
                ):
                    if attempt.queued:  # (zero if the closure killed the attempt)
                        attempt.queued -= 1
                    if kind is step_future and attempt.alive and index not in attempt.done:
                        attempt.registered().setdefault(index, spec)
                    finish(attempt, index, spec, failed or ("ok", result))
                    continue
                try:
                    serde = spec.serde
                    if type(result) is int and type(serde) is plain_serdes:
                        data = b"%d" % result  # what ``serialize`` writes for an int
                        handed = result if serde is plain_serde else None
                    else:
                        data = serde.serialize(result)
                        handed = (result if serde is plain_serde and type(result) in AS_IS_TYPES
                                  else None)
                except (TypeError, ValueError, OverflowError):
                    if attempt.queued:
                        attempt.queued -= 1
                    if kind is step_future:
                        attempt.registered().setdefault(index, spec)
                    finish(attempt, index, spec, ("ok", result))  # says it cannot be stored
                    continue
                # ``Completions.deliver``
                completion = (data,)  # a value as the runtime keeps it (``RawCompletion``)
                entry = (COMPLETION, "", None, completion, index, scheduler.now_ms, -1, "")
                journal = attempt.journal
                if not attempt.own_journal:
                    journal.append(entry)  # (the store's list: ``Attempt.own_journal``)
                    attempt.done_bits = bits + bit  # (``bits | bit``: its bit is clear, and ``+`` is specialised)
                else:
                    if journals is not None:
                        journals[inv_id].append(entry)
                    else:
                        store_append(inv_id, entry)
                    attempt.done_bits = bits + bit
                    # ``Running.notify`` and ``Attempt.observe`` for a live
                    # attempt with no cancellation pending (``plain``, tested
                    # above: only its serde ran since)
                    journal.append(entry)
                waiting = attempt.waiting
                if waiting is None or attempt.resume_scheduled:
                    if attempt.queued:
                        attempt.queued -= 1
                    continue  # it sees the entry at its next wait or command
                if (
                    attempt.cursor == len(journal) - 1
                    # (``Wait.indices`` is ``(index,)``: told by the wait itself when
                    # it is ``_fast.waits``' for the index, as a crowd's mostly is)
                    and ((index < express_waits and waiting is made_waits[index])
                         or waiting[0] == (index,))
                ):
                    # ``consume_for``: the one notification it has not seen satisfies its wait
                    attempt.cursor += 1
                    if handed is None or kind is not step_future or getrefcount(spec) > UNHELD:
                        attempt.completed()[index] = completion  # ``Attempt.see``
                    elif len(spare_futures) < SPARE_FUTURES:
                        # (nothing will read it again: kept for a later step's
                        # future, ``Running.spare_futures``, not freed)
                        spare_futures.append(spec)
                    # (else its resume hands the handler the value, and nothing
                    # but this task holds the step's future, which alone would
                    # ask ``done`` for it: left out, a dict an attempt less;
                    # recorded after all if the resume goes the general way,
                    # ``Attempt.unhand``)
                    registered = attempt.steps
                    if registered:  # (a step queued from ``Attempt.issued`` never was)
                        registered.pop(index, None)
                elif not attempt.consume_for(waiting):
                    if attempt.queued:
                        attempt.queued -= 1
                    continue
                attempt.resume_scheduled = True
                # ``Running.push_resume``: the step task's count on its attempt
                # (see ``queued`` in the module docstring) is the resume's
                # (its resume hands the awaiting future the closure's value, when its
                # serde would read the data back equal to it: no decode)
                attempt.handed = handed
                scheduler.ready.append(attempt)
                continue
            elif kind is Attempt or kind is InvocationRecord or task[0] == "start":
                if kind is Attempt:
                    # A "resume" task, the attempt itself (``Lifecycle.resume``,
                    # ``advance``, ``Running.run_segment`` and, when the handler
                    # then waits on one fresh step, ``Running.waits``). It hands
                    # the handler ``attempt.handed``: None, or the value of the one
                    # step it waits on (the step task's), which the future's
                    # ``__await__`` returns as it is.
                    attempt = task
                    handed = attempt.handed
                    # (alive, live, no cancellation pending, no failure recorded:
                    # ``Attempt.plain``, one test; else a dead attempt's resume is
                    # dropped and any other goes the general way)
                    if not attempt.plain or guarded:
                        if not attempt.alive:
                            attempt.handed = None
                            attempt.queued -= 1  # ``Running.unqueue``
                            continue
                        attempt.unhand()
                        attempt.queued -= 1
                        general_resume(attempt.rec.id, attempt.number)
                        continue
                    attempt.handed = None
                else:
                    # A "start" task (``Lifecycle.start``): a new attempt, whose
                    # first segment goes as a resumed one's (``Running.drive``
                    # with nothing to throw, outside strict mode), opened in one
                    # call in its common case (``Lifecycle.start_alone``). The
                    # step holder is set in this context first, so that the
                    # attempt's context, copied from it, holds it: its step
                    # tasks then name their step without setting it in each
                    # copy (``closure_in_step``)
                    if holder is None:
                        holder = running_step()
                        if type(holder) is not StepHolder or holder.thread != get_ident():
                            holder = holder_here()
                    # (the task the record itself, or a tuple: ``start_alone``)
                    if kind is InvocationRecord:
                        inv_id = task.id
                        attempt = start_alone(inv_id, True, task)
                    else:
                        inv_id = task[1]
                        attempt = start_alone(inv_id, True)
                    if attempt is None:
                        attempt = open_attempt(inv_id)
                        if attempt is None:
                            continue
                    attempt.context_holder = holder  # (copied from this context: above)
                    if guarded:
                        coro = attempt.coro
                        segment_ended(attempt, coro, *drive(attempt, None))
                        continue
                    handed = None
                    attempt.queued += 1  # (counted as a resume's task is: see below)
                # (never None: a plain attempt's, or one just started; not
                # asserted, a test a resume)
                coro = attempt.coro
                attempt.waiting = None
                attempt.resume_scheduled = False
                # The drive's holder (``Running.step_holder``): this call's, which
                # the attempt's context holds when it is known to, else found
                # there when asked
                running.step_holder = holder if attempt.context_holder is holder else None
                try:
                    # (in its own context: ``Attempt.context``; a coroutine's
                    # ``send`` unbound, called with it: no bound method made)
                    if type(coro) is CoroutineType:
                        yielded = attempt.context.run(coroutine_send, coro, handed)
                    else:
                        yielded = attempt.context.run(coro.send, handed)
                except StopIteration as returned:
                    if attempt.alive:
                        attempt.queued -= 1
                        # The handler returned: ``Running.ended``'s and
                        # ``Lifecycle.finish``'s way outside strict mode (which
                        # has no unawaited operations to name here), its value
                        # (written by ``Attempt.output`` when its function ran
                        # without ``start``) the invocation's result
                        value = returned.value
                        if attempt.output is not None:
                            if type(value) is int:
                                value = b"%d" % value
                            else:
                                try:
                                    value = attempt.output(value)
                                except Exception as err:  # noqa: BLE001 - as ``start``'s
                                    segment_ended(attempt, coro, *ended(attempt, err))
                                    continue
                        # (its data kept for the trace: a named tuple's field read
                        # is not specialised)
                        data = b"" if value is None else value
                        completion = new_tuple(Value, (data,))
                        attempt.coro = None  # (ended: nothing for ``kill`` to close)
                        rec = attempt.rec
                        inv_id = rec.id
                        # ``Running.kill`` (``Attempt.die``, written out where no
                        # random stream holds the attempt, and its registrations:
                        # a crowd's attempt mostly registered none) ...
                        attempt.state = DEAD
                        attempt.alive = False
                        attempt.plain = False
                        attempt.issued = None
                        if attempt._rng is not None:
                            attempt.die()
                        if attempt.steps:
                            attempt.steps.clear()
                        # (one lookup: an attempt enters ``Running.attempts``
                        # only where its invocation has none there, and leaves
                        # it ended, so while it is alive its entry is its own
                        # or gone, and ``pop`` takes nothing else)
                        running.attempts.pop(inv_id, None)
                        if attempt.queued:
                            kill(attempt)
                        store = lifecycle.store
                        if type(store) is not MemoryStore or attempt.service_kind != "service":
                            complete(rec, completion)  # (a keyed handler may hold its key)
                            continue
                        # ... and ``Lifecycle.complete`` with its value, on the
                        # simulation's store, for a service's handler (no key held)
                        rec.status = COMPLETED
                        rec.result = completion
                        rec.finished_ms = now = scheduler.now_ms
                        # (``Invocations.put``: its ``by_id`` and the store
                        # hold ``rec`` while the attempt was alive, a restart's
                        # copies too: ``MemoryStore``)
                        rec.done_bits = 0  # (its completions are of no more use)
                        event((now, "done", inv_id, "done", rec.service, rec.key,
                               rec.handler, data))
                        completions = lifecycle.completions
                        if inv_id in completions.callers:
                            completions.wake_callers(rec, completion)
                        hooks = lifecycle.finished_hooks
                        if hooks:
                            for hook in hooks:
                                hook(rec)
                    elif attempt.queued:  # (an attempt ended under it: ``GONE``)
                        attempt.queued -= 1
                    continue
                except (Exception, Abort) as err:
                    if attempt.queued:
                        attempt.queued -= 1
                    # (not kept in a variable: see ``Lifecycle.segment_ended``)
                    segment_ended(attempt, coro, *ended(attempt, err))
                    continue
                issued = attempt.issued
                if (
                    issued is not None
                    and (at := issued._index) < express_waits
                    and yielded is made_waits[at]
                    and attempt.plain  # (no cancellation pending, no failure recorded)
                ):
                    # The common case below first, told by the wait itself: the
                    # handler waits on the one step it issued alone, with the
                    # wait ``DurableFuture.__await__`` yields for it (``_fast.waits``,
                    # made once for each index below 1,024), so it is a ``Wait``
                    # on that index alone (read so, its tuple's item is a generic
                    # subscript: ``Wait`` is a tuple's subclass). Its tests repeat
                    # the general block's: folded into that block, with the index
                    # told there by the wait, a crowd's run counted about 3,500
                    # instructions more an invocation (``cg_invocation crowdrun``).
                    # But for the cursor at the journal's end, which that wait
                    # says: ``__await__`` yields it for an issued step only where
                    # nothing was journaled since its command (the step lane's
                    # ``LANE_WAITS`` and its own crowd test), whose call left the
                    # cursor past it, and nothing ran between the yield and here;
                    # and for ``alive``, ``state is LIVE`` and its step not in
                    # ``done``, which an issued step says: it is issued only by a
                    # live attempt that is not replaying (``_fast``'s ``issue``
                    # and ``express``), at the journal's end (no completion
                    # there is its), and every end of an attempt (``Attempt.die``,
                    # and its writes spelt out in ``Lifecycle`` and here) lets go
                    # of it; an attempt never goes back to replaying; and nothing
                    # runs the step while it is issued (whatever queues or runs
                    # it takes it out of ``issued`` first: here, ``register_issued``,
                    # the step lane)
                    attempt.waiting = yielded
                    attempt.issued = None
                    issued.scheduled = True
                    scheduler.ready.append(issued)
                    continue
                if (
                    type(yielded) is Wait
                    and attempt.alive
                    and attempt.state is LIVE
                    and attempt.cursor >= len(attempt.journal)
                    and not attempt.cancel_pending
                    and attempt.failure is None
                    and not always_suspend
                ):
                    indices = yielded[0]  # (``Wait.indices``: a tuple's item, not its named field)
                    done = attempt.done
                    if len(indices) == 1 and indices[0] not in done:
                        # ``Attempt.on_wait``: nothing left to see, so it waits ...
                        attempt.waiting = yielded
                        issued = attempt.issued
                        if issued is not None and issued._index == indices[0]:
                            # ... and queues the one step it issued, the one it
                            # waits on, left unregistered by the step lane
                            # (``Attempt.issued``): queued at once, as
                            # ``Running._block`` would, with no ``_unscheduled``
                            # list to fill and go through, and not registered
                            # in ``Attempt.steps``: its task is the future
                            # itself, and the handler waits on it alone until
                            # it is done. A task of it that goes the general
                            # way (``Steps.step_task``, ``finish_step``,
                            # ``Engine.general_task``) registers it first.
                            attempt.issued = None
                            issued.scheduled = True
                            # (``Running.push_work``: the count its task left
                            # on the attempt is the step's)
                            scheduler.ready.append(issued)
                            continue
                        if not attempt.cancel_raised:  # (else ``Running._block`` picks what starts)
                            attempt.queued -= 1
                            if issued is not None:
                                attempt.register_issued()
                            # ... and ``Running._block`` queues the steps it issued
                            # (``Attempt.pending_steps``: not done, not started yet),
                            # then forgets them all (started and done are final). A
                            # plain step's task is its future (no tuple to make)
                            unscheduled = attempt._unscheduled
                            steps_of = attempt.steps
                            for i in unscheduled:
                                if i not in done:
                                    spec = steps_of[i]
                                    if not spec.scheduled:
                                        spec.scheduled = True
                                        attempt.queued += 1  # ``Running.push_work``
                                        scheduler.ready.append(
                                            spec if type(spec) is step_future
                                            else ("step", attempt.rec.id, attempt, i))
                            unscheduled.clear()
                            continue
                if attempt.queued:
                    attempt.queued -= 1
                segment = waits(attempt, yielded)
                if segment is None:
                    segment = drive(attempt, attempt.take_cancel(yielded))
                segment_ended(attempt, coro, *segment)
                segment = None  # (let go: see ``Lifecycle.segment_ended``)
            else:  # pragma: no cover - tasks are built here
                raise InternalError(f"unknown task {task!r}")

    def reguard() -> None:
        """Strict mode turned on for the rest of the run (``Engine.turn_strict``)."""
        nonlocal guarded
        guarded = running.segment_guard is not None

    run_task.reguard = reguard  # type: ignore[attr-defined]
    return run_task
