"""The runtime's few speed tricks, in one place.

Every journaled step goes through a handful of calls; at a few microseconds a
step, one avoided Python-level call is a measurable share. The tricks here
are those that ``python -m benchmarks.run --only sim`` showed to pay
(``benchmarks/bench_sim.py``: "Journaled steps per second", fresh and replay
rows); everything else in the runtime is written plainly. Each is used only
where a step passes, and each builds exactly what the plain form would.
"""

from __future__ import annotations

import dis
import inspect
import sys
import types
from collections.abc import Callable, Generator
from contextvars import copy_context
from keyword import iskeyword
from threading import get_ident
from typing import Any, Final, TypeVar, cast

from ._errors import InternalError, SerializationError, TerminalError
from ._invocation import (
    LIVE,
    NO_DONE,
    NO_STEPS,
    REPLAYING,
    Attempt,
    StepHolder,
    StepInfo,
    Wait,
    current_step,
)
from ._journal import COMPLETION, RUN, Failure, RawEntry
from ._store import PENDING, InvocationRecord, MemoryStore
from ._trace import ISSUED, RAN, RAN_STEP

# What ``Steps.run_lone_step`` returns (the same values as there).
RESUMED: Final = 1
RAN_PARKED: Final = 2

# ``new_tuple(StepInfo, (...))`` builds a named tuple without its Python-level
# ``__new__`` (a call and keyword handling less). Half the cost of calling
# ``StepInfo(...)`` (timeit). A step's two journal entries and its value's
# completion, ``(data,)``, are exact tuples (``RawEntry``, ``RawCompletion``):
# built by one bytecode, freed to the tuple free list.
new_tuple: Final = tuple.__new__

# The replay paths below read an entry's fields by position, as every reader of
# a ``RawEntry`` does (kind 0, name 1, data 2, result 3, target 4; a value: data
# 0), written as numbers here: each named constant would be a global load.


# Common step results, known not to be awaitable without asking ``inspect``
# (``inspect.isawaitable`` is a few calls deep): one type check a step instead, a
# fifth of the cost (timeit).
NOT_AWAITABLE: Final = (int, str, bytes, float, dict, list, tuple, type(None))


def closure_value(action: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                  steps: Any, name: str) -> Any:
    """A step's closure called, and what it returns awaited if awaitable
    (``Steps.run_async``). Every step path runs it as ``copy_context().run(
    closure_value, ...)``: in a copy of the handler's context, as Restate's SDK
    runs a closure (a sync one through ``run_in_executor`` in
    ``copy_context().run``, an async one in a task of its own), so a context
    variable the closure sets never reaches the handler or the next step, fresh
    as when replayed (docs/decisions.md, "A step's closure runs in a copy of the
    handler's context"). Positional arguments through ``Context.run`` and the
    unpacking here: about 970 instructions a step, against about 1,250 for
    ``copy_context().run(action, *args, **kwargs)`` (callgrind). An express
    step called with no keyword, or with its site's one keyword alone, runs
    the same through ``positional_value`` or ``keyword_run``'s function: on
    3.11 ``action(*args, **kwargs)`` copies ``kwargs`` into a new dict and
    unpacks it again (about 950 instructions a step of one keyword); one given
    no argument, or whose one keyword names its function's first parameter
    (``FIRST``), through ``Context.run`` itself, with no frame of ours between
    (about 660 instructions a step less: callgrind, a loop of 100,000)."""
    result = action(*args, **kwargs)
    if not isinstance(result, NOT_AWAITABLE) and inspect.isawaitable(result):
        return awaited_value(action, result, steps, name)
    return result


def awaited_value(action: Callable[..., Any], result: Any, steps: Any, name: str) -> Any:
    """What a step's closure returned awaited (``Steps.run_async``), or refused
    as an awaitable a step cannot run; called only for an awaitable result, so
    a plain step's path makes no call for it."""
    refused = plain_awaitable(action, result)
    if refused is not None:
        raise refused
    return steps.run_async(result, name)


def positional_value(action: Callable[..., Any], args: tuple[Any, ...], steps: Any,
                     name: str) -> Any:
    """``closure_value`` for a step called with no keyword argument (``ctx.run_typed(
    "name", lambda: ...)``): ``action(*args)``, no empty dict made and merged for
    ``**kwargs`` (``f(*args, **kwargs)`` builds one on 3.11). The express step runs
    its closure through it or through ``keyword_run``'s."""
    result = action(*args)
    if not isinstance(result, NOT_AWAITABLE) and inspect.isawaitable(result):
        return awaited_value(action, result, steps, name)
    return result


# For each keyword name a call site passes alone (``site_of``), ``closure_value``
# made for a call with that one keyword and nothing else: ``action(name=value)``,
# no dict copied and unpacked for the call (``f(**kwargs)`` copies its dict on 3.11),
# at most ``KEYWORD_CALLS`` of them. The express step and a crowd's step task
# (``_tasks``, for a future that keeps its one keyword's value alone,
# ``StepFuture._keyword``) run the closure through it.
keyword_runs: dict[str, Callable[[Any, Any, Any, str], Any]] = {}
KEYWORD_CALLS: Final = 256


# The line of ``closure_value``'s call of its action, the first of its body.
_CLOSURE_LINE: Final = min(line for _, _, line in closure_value.__code__.co_lines()
                           if line is not None and line > closure_value.__code__.co_firstlineno)


def keyword_run(keyword: str) -> Callable[[Any, Any, Any, str], Any] | None:
    """``keyword_runs[keyword]``, made if it is not there yet: ``closure_value``
    for a call whose one argument is ``keyword=value``; None for a name a call
    cannot spell as a keyword, or past ``KEYWORD_CALLS`` names."""
    run = keyword_runs.get(keyword)
    if (run is None and len(keyword_runs) < KEYWORD_CALLS and keyword.isidentifier()
            and not iskeyword(keyword)):
        # (a name that is an identifier and no keyword: nothing else in the source;
        # its lines are ``closure_value``'s, which a traceback then shows)
        source = ("\n" * (_CLOSURE_LINE - 2) + "def closure_value(action, value, steps, name):\n"
                  f"    result = action({keyword}=value)\n"
                  f"    if not isinstance(result, NOT_AWAITABLE) and inspect.isawaitable(result):\n"
                  f"        return awaited_value(action, result, steps, name)\n"
                  f"    return result\n")
        made: dict[str, Any] = {}
        exec(compile(source, __file__, "exec"), globals(), made)  # noqa: S102 - fixed source
        run = keyword_runs[keyword] = made["closure_value"]
    return run


def plain_awaitable(action: Callable[..., Any], result: Any) -> TypeError | None:
    """The failure of a step whose closure ``action`` returned the awaitable
    ``result``, unless ``action`` is an async function (what it returns is then
    awaited): every step path asks here, the simulation's (``closure_value``)
    and the live host's. (Off a plain step's path: asked only of an awaitable.)"""
    if inspect.iscoroutinefunction(getattr(action, "_simdurable_action", action)):
        return None
    return awaitable_from_plain(action, result)


def awaitable_from_plain(action: Callable[..., Any], result: Any) -> TypeError:
    """The failure of a step whose closure is a plain function that returned an
    awaitable (``lambda: send(order)`` over an ``async def send``).

    Restate's SDK awaits a closure only when ``inspect.iscoroutinefunction``
    says it is one; a plain function runs in a thread and what it returns is
    stored, and a coroutine cannot be: the step fails on every attempt and the
    async function's body never runs (restatedev/sdk-python#222). Simulation
    and the executor fail it alike, without running the coroutine."""
    close = getattr(result, "close", None)
    if inspect.iscoroutine(result) and close is not None:
        close()  # (not run: no "never awaited" warning at its collection)
    action = getattr(action, "_simdurable_action", action)  # (the user's, not a check's)
    what = getattr(action, "__qualname__", None) or f"an {type(action).__name__} object"
    if inspect.iscoroutinefunction(getattr(action, "__call__", None)):  # noqa: B004
        fix = ("an object whose __call__ is async is not one to restate-sdk: pass its bound "
               "method (obj.__call__) or an async def")
    else:
        fix = ("pass the async function itself: ctx.run_typed(name, fn, **kwargs), not a "
               "lambda that calls it")
    return TypeError(
        f"{what} is not an async function but returned {type(result).__name__} "
        f"{getattr(result, '__qualname__', '')}".rstrip() + ": Restate's SDK awaits a step's "
        "closure only if it is an async function (inspect.iscoroutinefunction), and stores "
        "what a plain one returns, which fails on every attempt; the awaitable never runs. "
        + fix[0].upper() + fix[1:])


def closure_in_step(step: Any, action: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any], steps: Any, name: str) -> Any:
    """``closure_value`` run by a step task, outside its handler's segment, as
    ``attempt.context.copy().run(closure_in_step, ...)``: a copy of its
    attempt's context (``Attempt.context``), which does not hold what the
    task's own context names as the running step, so ``step`` (a
    ``StepInfo`` or the task runner's ``StepHolder``) is named there too."""
    current_step.var.set(step)
    return closure_value(action, args, kwargs, steps, name)


def unstorable(attempt: Attempt, name: str, index: int, err: Exception) -> SerializationError:
    """The error of a step whose value its serde cannot store (every step path
    says it alike)."""
    return SerializationError(
        f"the step returned a value its serde cannot store: {err}",
        handler=attempt.handler,
        step=name,
        journal_index=index,
    )


def journal_too_long(scheduler: Any, rec: InvocationRecord) -> None:
    """Stop the run: ``rec``'s journal grew past ``max_journal`` (``store_command``
    and the fused step command say it alike)."""
    scheduler.stop(
        f"the journal of {rec.id} ({rec.target}) grew past "
        f"max_journal={scheduler.max_journal:.0f} entries: a handler that "
        "sleeps or runs steps in a loop without end? If it is meant to, raise the "
        "limit: Simulation(max_journal=...)"
    )


def memory_journals(store: Any) -> dict[str, list[RawEntry]] | None:
    """The simulation's store's journals, to append to without a call
    (``MemoryStore.append``): two calls less a step. None for any other store."""
    return store._journals if type(store) is MemoryStore else None


def step_parts(steps: Any) -> tuple[Any, ...]:
    """What every fused step path binds once per engine, from its ``Steps``:
    ``finish_step``, the running, scheduler, injector, trace, the run log's
    ``append`` (None when each run goes with its "step" event into a compact
    flat trace: ``_trace.compact``), completions and invocations parts, the store's append, its journals
    (``memory_journals``) and the current step's set and reset. (``done``,
    ``by_id`` and ``attempts`` are read at each call: a recovery replaces them.)"""
    completions = steps.completions
    return (steps.finish_step, steps.running, steps.scheduler, steps.injector, steps.trace,
            log_run_of(steps), completions, completions.invocations, completions.store.append,
            memory_journals(completions.store), current_step.var.set, current_step.var.reset)


def resume_in_place(running: Any, scheduler: Any, attempt: Attempt, wait: Wait) -> int:
    """After a step run in place: resume the handler at once, as ``run_task``
    would take its resume task from the ready list, or queue that task where
    the completion would have queued it when other work is ready too (or the
    run is out of tasks). Shared by the fused and the general in-place step."""
    if not (attempt.alive and attempt.resume_scheduled):
        return RAN_PARKED
    if scheduler.ready or scheduler.tasks_run >= scheduler.max_tasks:
        running.count_work(attempt)
        attempt.handed = None
        scheduler.ready.insert(running.resume_at, attempt)  # (its "resume" task)
        return RAN_PARKED
    scheduler.tasks_run += 1
    attempt.waiting = None
    attempt.resume_scheduled = False
    if attempt.cancel_pending:  # set by the step's closure, then
        throw = attempt.take_cancel(wait)
        if throw is not None:
            raise throw
    return RESUMED


def lone_step(steps: Any) -> Callable[[Attempt, int], int]:
    """``steps.run_lone_step`` for its common case, in one call instead of eight.

    A fresh step awaited alone with no fault that could fire at it (every step
    of a plain run, every step of a crash run but the one it crashes at, of
    ``check``'s generated examples and of the concurrency benchmark's handlers
    between their tasks) used to go through ``run_lone_step``,
    ``execute_step``, ``note_step_ran``, ``finish_step``, ``Completions.deliver``,
    ``Running.notify``, ``Attempt.observe`` and ``Attempt.see``. Here the same
    writes happen in the same order in one function whose parts are bound once
    per engine; whatever is not that common case (a fault that may fire, a
    replay, a cancellation, a step that fails, returns an awaitable or cannot
    be serialized, other ready work) goes the general way, from before any
    change or, for an outcome, from the same point ``finish_step`` would take.
    ``steps`` is the engine's ``Steps`` (not imported: ``_steps`` imports this
    module). Buys about a sixth of a fresh step's time (A/B in one process, a 100-step
    handler: 728 against 844 us an invocation; BENCHMARKS.md has the figures).
    ``tests/runtime/test_steps_in_place.py`` compares runs with it, with the
    general form and with no in-place steps.
    """
    general: Callable[[Attempt, int], int] = steps.run_lone_step
    (finish, running, scheduler, injector, trace, log_run, completions, invocations,
     store_append, journals, set_step, reset_step) = step_parts(steps)

    def run(attempt: Attempt, index: int) -> int:
        if attempt.issued is not None:
            attempt.register_issued()
        unscheduled = attempt._unscheduled
        if (
            scheduler.ready
            or not steps.in_place
            or attempt.state is not LIVE
            or attempt.cancel_pending
            or attempt.failure is not None
            or scheduler.tasks_run >= scheduler.max_tasks
            or len(unscheduled) != 1
            or unscheduled[0] != index
            or (injector.armed and not injector.spares(attempt.steps[index].name))
        ):
            return general(attempt, index)
        inv_id = attempt.inv_id
        # (its invocation's done bits, kept on the live attempt: ``Attempt.done_bits``)
        if attempt.done_bits >> index & 1:
            return general(attempt, index)  # raises: a stored step about to run again
        guard = running.segment_guard
        paused = guard is not None and guard.active
        if paused:
            guard.exit()
        try:
            spec = attempt.steps[index]
            wait = new_tuple(Wait, ((index,), False))
            attempt.waiting = wait
            attempt._unscheduled = []
            spec.scheduled = True
            scheduler.tasks_run += 1
            number = attempt.number
            running.in_place = attempt
            try:
                # ``execute_step`` with no fault injected
                info = new_tuple(
                    StepInfo, (inv_id, attempt.handler, spec.name, index, number, attempt.engine)
                )
                token = set_step(info)
                # (its closure's context holds ``info``, not the drive's holder:
                # ``express``'s misuse check reads the variable there)
                running.step_holder = None
                try:
                    result = attempt.context.copy().run(closure_in_step, info, spec.fn,
                                                        spec.args, spec.kwargs, steps, spec.name)
                    outcome: tuple[str, Any] = ("ok", result)
                except TerminalError as err:
                    outcome = ("terminal", err)
                except Exception as err:  # noqa: BLE001 - step failures are data
                    outcome = ("error", err)
                finally:
                    reset_step(token)
                if log_run is None:  # (the run with its "step" event)
                    trace.event((scheduler.now_ms, "step", inv_id, RAN_STEP, spec.name, index,
                                 number, attempt.handler))
                else:
                    log_run((inv_id, index, spec.name, number, attempt.handler))
                    if trace.sink is not None:
                        trace.event((scheduler.now_ms, "step", inv_id, "step", spec.name, index))
                # ``finish_step`` for a value stored at once, else the general way
                stored = False
                inv_rec = invocations.by_id.get(inv_id)
                if (
                    outcome[0] == "ok"
                    and attempt.alive
                    and attempt.failure is None
                    and attempt.waiting is wait
                    and running.attempts.get(inv_id) is attempt
                    and (not injector.armed or injector.spares(spec.name))
                    and inv_rec is not None
                    and inv_rec.status == PENDING
                    and inv_rec.retry_index != index
                    and not attempt.done_bits >> index & 1
                ):
                    try:
                        data = spec.serde.serialize(result)
                        stored = True
                    except (TypeError, ValueError, OverflowError) as err:
                        outcome = ("error", unstorable(attempt, spec.name, index, err))
                if not stored:
                    finish(attempt, index, spec, outcome)
                else:
                    # ``Completions.deliver`` and ``Running.notify``/``Attempt.observe``
                    completion = (data,)  # a value as the runtime keeps it (``RawCompletion``)
                    entry = (COMPLETION, "", None, completion, index, scheduler.now_ms, -1, "")
                    journal = attempt.journal
                    if attempt.own_journal:
                        if journals is not None:
                            journals[inv_id].append(entry)  # its command is there already
                        else:
                            store_append(inv_id, entry)
                        journal.append(entry)
                    else:
                        journal.append(entry)  # (the store's list: ``Attempt.own_journal``)
                    try:
                        attempt.done_bits |= bits_at[index]
                    except IndexError:
                        attempt.done_bits |= 1 << index
                    if not attempt.resume_scheduled:
                        # Every earlier notification was taken (none satisfied
                        # the wait): the handler sees this one now.
                        attempt.cursor = len(journal)
                        attempt.see(index, completion)
                        attempt.resume_scheduled = True
                        running.resume_at = len(scheduler.ready)
                    # (else a cancellation journaled during the closure woke
                    # it first: it sees this completion after that, in order)
            finally:
                running.in_place = None
            return resume_in_place(running, scheduler, attempt, wait)
        finally:
            if paused:
                guard.enter(attempt)

    return run


# What the API layer hands the fused step command (``plain_steps``): the
# future class that is a plain step's registration, the plain future, and
# ``_step_serde`` with its cache (the runtime does not import the API layer).
_step_api: list[Any] = []


def plain_steps(step_future: type, future: type, replayed_future: type,
                replayed_plain_future: type, serde_of: Callable[[Any], Any],
                serdes: dict[Any, tuple[Any, Any]], no_hint: object,
                general: Callable[..., Any], after_in_place: Callable[[Any, bool], Any],
                context_class: Callable[[Callable[..., Any]], type]) -> None:
    """Called once by ``simdurable._api.context``: what ``step_command`` makes
    a plain step's future of (fresh, replayed with a value right after its
    command, the same through the plain serde (``returns_as_is``),
    otherwise), how it finds a closure's serde (``serde_of``, whose cache
    of ``(return annotation, serde)`` by closure is ``serdes``), and the
    handler context's class whose ``run_typed`` is a given step command
    (``context_class``: ``step_command`` makes one of each of its forms)."""
    _step_api[:] = [step_future, future, replayed_future, replayed_plain_future, serde_of,
                    serdes, no_hint, general, after_in_place, context_class]
    _fused.clear()  # (built again from these)


T = TypeVar("T")


@types.coroutine
def ready(value: T) -> Generator[Any, Any, T]:
    """The cheapest awaitable of ``value``: what an express step (``step_command``)
    hands the handler, whose ``await`` takes it at once. (A generator made a
    coroutine, not an ``async def``: one that is never awaited, if an
    exception comes between the call and its ``await``, warns nothing.)"""
    return value
    yield  # (a generator function: ``types.coroutine`` makes its generators awaitable)


# ``awaited_at``'s answers by (code, offset), emptied past ``SITES`` answers
# (with ``_sites``, which holds codes too).
_analysed: dict[tuple[Any, int], bool] = {}
SITES: Final = 4096
# The calls whose result the caller may be awaiting at once: a call of ``ctx.run_typed``
# itself (3.13 has a call with keywords of its own). Not ``CALL_FUNCTION_EX``: in
# ``await gather(*map(ctx.run_typed, ...))`` the step's call is made inside it.
_CALLS: Final = frozenset({"CALL", "CALL_KW"})


def awaited_at(code: types.CodeType, at: int) -> bool:
    """Whether the call at offset ``at`` of ``code`` (a caller's ``f_lasti``
    while the call runs: the ``CALL`` or, for a call the interpreter
    specialised, its last inline cache) is awaited at once: its next
    instruction is ``GET_AWAITABLE``, so nothing of the caller's runs between
    the call and its ``await`` (``x = await ctx.run_typed(...)``). Read with
    ``dis`` once per site; the step command asks its site first (``site_of``)."""
    key = (code, at)
    answer = _analysed.get(key)
    if answer is None:
        if len(_analysed) >= SITES:
            _analysed.clear()
            clear_sites()
        answer = False
        instructions = list(dis.get_instructions(code))
        for this, after in zip(instructions, instructions[1:], strict=False):
            if this.offset <= at < after.offset:
                answer = this.opname in _CALLS and after.opname == "GET_AWAITABLE"
                break
        _analysed[key] = answer
    return answer


# The step command's call sites (``site_of``), by the caller's offset
# (``f_lasti``): (the caller's code, whether the call there is awaited at once,
# the action last called there when it is kept, else what tells a function
# made by the same code with the same serde, that serde, and the one keyword
# of the call that made the entry, else None: a call with that one keyword
# has its value checked by it, without an iterator over its keywords). A site
# of another code at the same offset takes the entry over. A call awaited at
# once with a keyword kept has that keyword's closure caller (``keyword_run``)
# for its "awaited at once", true as a function is: what ``express`` calls
# its closure with, read in the same unpacking (``replay`` and ``express``
# read the field only as true or false otherwise).
_sites: dict[int, tuple[Any, Any, Any, Any, str | None]] = {}
# A crowd's step's (serde, one keyword) as its call site's entry has them, by its
# action where the entry keeps it, else (its return hint, them) by its code
# (``crowd_site``): ``express`` reads them there with other tasks ready, where a
# step never runs at its call, so whether it is awaited at once is not asked,
# and ``sys._getframe`` makes no frame object for the handler's coroutine.
# Emptied with ``_sites``, or past ``SITES`` entries.
_crowd_sites: dict[Any, tuple[Any, str | None]] = {}
_crowd_codes: dict[types.CodeType, tuple[Any, tuple[Any, str | None]]] = {}
# (what stands for a lambda's return hint: it has none, never read again)
LAMBDA: Final = object()


def site_of(code: types.CodeType, at: int, action: Any,
            kwargs: dict[str, Any]) -> tuple[Any, Any, Any, Any, str | None] | None:
    """What the step command works out once per call site (the call at offset
    ``at`` of ``code``, its caller's) and keeps in ``_sites``: whether the
    call is awaited at once (``awaited_at``), and ``action``'s serde
    (``_step_serde``: with no return hint, the plain serde; with one, its
    cache's while the hint is the same object). A later call at the site
    with the same action reads the entry in the command itself (the caller's
    code and the action checked by identity); this is asked otherwise. None
    for an action that is not callable.

    The action is kept only if it holds nothing of a run: a function with no
    closure cells and no defaults (a module's function). A closure may hold a
    context, and so an engine, which a finished simulation hands to the next
    only when nothing else holds it; and a closure made in a handler is a new
    function at every call of the handler. For one, the entry keeps its code
    and return hint instead: a closure of the same code with the same hint
    (a lambda's is never read: it has none) has the same serde, without its
    ``_step_serde`` (docs/decisions.md, "The step call's head per call site")."""
    site = _sites.get(at)
    if site is not None and site[0] is code:
        made = site[2]
        if (type(made) is tuple and type(action) is function_type
                and action.__code__ is made[0]
                and (made[1] is LAMBDA
                     or action.__annotations__.get("return", no_hint) is made[1])):
            return site
        at_once = site[1] is not False
    else:
        at_once = awaited_at(code, at)
    made = None
    if type(action) is function_type:
        hint = action.__annotations__.get("return", no_hint)
        if hint is no_hint and plain_serde is not None:
            serde = plain_serde
        else:
            cached = serdes.get(action)
            serde = cached[1] if cached is not None and cached[0] is hint else serde_of(action)
        if (action.__closure__ is None and action.__defaults__ is None
                and action.__kwdefaults__ is None):
            made = action
        else:
            made = action.__code__
            made = (made, LAMBDA if made.co_name == "<lambda>" and hint is no_hint else hint)
    elif callable(action):
        serde = serde_of(action)
    else:
        return None
    if len(_sites) >= SITES:
        clear_sites()
    keyword = next(iter(kwargs)) if len(kwargs) == 1 else None
    run: Any = None if keyword is None else keyword_run(keyword)
    if run is None:
        keyword = None  # (not a name a call can spell: its values each checked)
    elif type(action) is function_type and first_parameter(action.__code__, cast(str, keyword)):
        run = FIRST  # (``express`` calls it with the value alone)
    site = _sites[at] = (code, run if at_once and run is not None else at_once, made, serde,
                         keyword)
    return site


def clear_sites() -> None:
    """``_sites`` emptied, and the crowd's entries made from it."""
    _sites.clear()
    _crowd_sites.clear()
    _crowd_codes.clear()


def crowd_site(action: Any, kwargs: dict[str, Any]) -> tuple[Any, str | None] | None:
    """A crowd's step's (serde, one keyword) (``express``) where ``_crowd_sites``
    has none for its action: a closure's by its code and return hint
    (``_crowd_codes``, as ``site_of`` tells a closure of a site's code), else its
    call site's entry (``site_of``, for the caller of ``express``: a frame object
    made for it, once a site and action), whose serde and keyword are then kept
    by its action or code. None for an action that is not callable."""
    if type(action) is function_type:
        made = _crowd_codes.get(action.__code__)
        if made is not None and (made[0] is LAMBDA
                                 or action.__annotations__.get("return", no_hint) is made[0]):
            return made[1]
    caller = get_frame(2)
    site = site_of(caller.f_code, caller.f_lasti, action, kwargs)
    if site is None:
        return None
    found = (site[3], site[4])
    made = site[2]
    if made is action:
        if len(_crowd_sites) >= SITES:
            _crowd_sites.clear()
        _crowd_sites[action] = found
    elif type(made) is tuple:
        if len(_crowd_codes) >= SITES:
            _crowd_codes.clear()
        _crowd_codes[made[0]] = (made[1], found)
    return found


# What a call site's entry (``site_of``) has for "awaited at once" where its one
# keyword names its function's first parameter: ``express`` calls that function
# with the value alone, by position, and no closure caller's frame between them.
FIRST: Final = object()


def first_parameter(code: types.CodeType, keyword: str) -> bool:
    """Whether a function of ``code`` binds a value passed alone by position as it
    binds it passed as ``keyword=value``: ``keyword`` is its first parameter, and
    one that takes a position (not positional-only, nor keyword-only)."""
    return (code.co_argcount > 0 and code.co_posonlyargcount == 0
            and code.co_varnames[0] == keyword)


def _at_once() -> bool:
    """``awaited_at`` for the caller of the caller (``_probe``'s)."""
    caller = sys._getframe(2)
    return awaited_at(caller.f_code, caller.f_lasti)


def _probe() -> bool:
    """Whether ``awaited_at`` tells, on this Python, an awaited call from a
    kept one, with and without keywords, called as ``ctx.run_typed`` is (a
    function bound to an instance attribute) and as a method, cold and
    specialised by the interpreter. Checked once, at import: where it does
    not, no step takes the express path."""
    seen: list[bool] = []

    def run_typed(owner: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(_at_once())
        return ready(None)

    class Probe:
        def method(self, *args: Any) -> Any:
            seen.append(_at_once())
            return ready(None)

    async def handler(ctx: Any, x: int) -> None:
        for _ in range(20):  # (the interpreter specialises a call after a few)
            await ctx.run_typed("step", x)
            x = await ctx.run_typed("step", x, i=x)
            await ctx.method(x)
            future = ctx.run_typed("step", x, i=x)
            await future
            await (ctx.run_typed("step", x), None)[0]
            future = ctx.method(x)
            await future

    ctx = Probe()
    ctx.run_typed = types.MethodType(run_typed, ctx)  # type: ignore[attr-defined]
    try:
        handler(ctx, 1).send(None)
    except StopIteration:
        pass
    except Exception:  # noqa: BLE001 - a Python this does not know
        return False
    finally:
        _analysed.clear()
        clear_sites()
    return seen == [True, True, True, False, False, False] * 20



def replay_command(issue: Any) -> Callable[..., Any] | None:
    """The replay's own form of the fused step command ``issue`` (``step_command``'s
    ``replay``, the ``run_typed`` of ``replay_context``, the class ``Context.__init__``
    gives a context whose attempt replays), or None for anything else there (a
    wrapper of it: every step of that attempt goes through it)."""
    return replay_issue if issue is fresh_issue and issue is not None else None


def replay_start(attempt: Attempt) -> None:
    """Ready ``attempt``, which replays, for ``replay`` (``replay_command``):
    its leading steps (``leading_steps``) read now if not yet, so that no
    replayed step asks."""
    if attempt.paired < 0:
        attempt.paired = leading_steps(attempt)


def fresh_context_of(attempt: Attempt) -> Any:
    """The context class of the live ``attempt`` when the engine's ``issue_step``
    is the fused command itself: ``express_context`` where a step may take the
    express way (``Steps.express`` and ``Steps.in_place`` on, a step lane), read
    once here for every step of the attempt; else ``fresh_context``
    (``step_command``'s ``issue``). ``Context.__init__`` writes this out."""
    engine: Any = attempt.engine
    steps = engine.steps
    if steps.express and steps.in_place and engine.step_lane is not None:
        return express_context
    return fresh_context


# Whether ``step_command`` may run a step awaited at once inside its call.
EXPRESS: Final = _probe()


# How many step names' command entries one engine keeps to share (``step_command``):
# a handler's steps have a few names; one that makes a name a step is bounded.
SHARED_COMMANDS: Final = 256


def leading_steps(attempt: Attempt) -> int:
    """How many leading journal entries ``attempt``'s replay matches as steps
    (``Completions.plain_steps``, which its first replayed step takes): a
    ``run`` command completed by the entry after it, matched by its name and
    result alone and taken as an express step when awaited at once. None where
    no step takes the express way (``Steps.express`` off, or no step lane):
    every step is matched the general way then."""
    engine: Any = attempt.engine
    steps: int = engine.completions.plain_steps.pop(attempt.rec.id, 0)
    return steps if engine.steps.express and engine.step_lane is not None else 0


# What ``step_command``'s ``issue`` reads besides its arguments: module globals,
# bound by ``step_command``, not cells of its closure (a closure's cells are
# copied into its frame at every call and released at its end: 19 a step).
new_future: Final = object.__new__
function_type: Final = types.FunctionType
running_step: Final = current_step.var.get
holder_here: Final = current_step.holder
set_step: Final = current_step.var.set
get_frame: Final = sys._getframe
step_future: Any = None
plain_future: Any = None
replayed_future: Any = None
replayed_plain_future: Any = None
serde_of: Any = None
serdes: Any = None
no_hint: Any = None
general_run_typed: Any = None
after_in_place: Any = None
# ``step_command``'s three forms (``replay_command``), read as globals by each other,
# and the context class whose ``run_typed`` each is (``plain_steps``' ``context_class``)
fresh_issue: Any = None
replay_issue: Any = None
express_issue: Any = None
fresh_context: Any = None
replay_context: Any = None
express_context: Any = None
plain_serde: Any = None
as_is_serde: Any = None


def future_of(attempt: Attempt, index: int, name: str, action: Callable[..., Any],
              args: tuple[Any, ...], kwargs: dict[str, Any], serde: Any) -> Any:
    """The future ``issue`` would have made, for an express step that does
    not end with its value (the lane's ``finish_step`` and ``_after`` take it)."""
    future = new_future(step_future)
    future._attempt = attempt
    future._index = index
    future.name = name
    future.fn = action
    future.args = args
    future._kwargs = kwargs
    future._keyword = None
    future.serde = serde
    future.scheduled = False
    return future


def attempt_holder(running: Any, found: Any) -> StepHolder:
    """The step holder of a drive whose context holds none of this thread's
    (``found``: what it holds): the one this engine made for this thread,
    idle, set in it (an attempt's context is a new copy of its caller's, so
    every attempt's first step would otherwise make one and set it), else
    one made and set (``CurrentStep.holder``), kept for the next attempt
    when the context held nothing."""
    if found is None:
        holder: StepHolder | None = running.thread_holder
        if holder is not None and holder.step is None and holder.thread == get_ident():
            set_step(holder)
            return holder
        holder = holder_here()
        running.thread_holder = holder
        return holder
    return holder_here()


def step_command() -> Callable[..., Any] | None:
    """``ctx.run_typed`` for a plain step, in one call: its checks, its serde,
    its command (``Commands.store_command``, or, replaying, ``Attempt.issue``),
    its future and its registration (``register_step``; for a step issued
    while no other is unstarted, ``Attempt.issued``, which the lane takes).

    ``issue(ctx, name, action, options=None, /, *args, **kwargs)`` is a
    context's ``run_typed`` itself: a class attribute of the context's class
    (``fresh_context``, made by the API layer's ``context_class``), which
    ``Context.__init__`` gives a context when the engine has the command (the
    call of ``run_typed`` and its frame less a step; about 870 instructions
    of 33,450 a fresh step, 730 of 20,490 a replayed one, by callgrind); not
    a method bound to each attempt, which a handler's every step read cold in
    a crowd. Given the attempt itself instead (``express``, ``replay``, or a
    wrapper of the engine's ``issue_step``), it takes that. It returns the step's future; when the
    step is not plain, having done nothing, it hands the call to
    ``run_typed``'s general way, which says what is wrong: options given,
    the attempt is over, the name is not a ``str``, the action not callable,
    an argument is not a plain value (a future passed by mistake), or a
    step's closure is running (a misuse; asked only of a live attempt: one
    replays in one task, before any closure runs). Strict mode has no fused
    command (the engine's ``issue_step`` is None).

    The command, fresh, is written as ``store_command`` would for a ``run``
    command (with a fault armed at it, through ``store_command``: its fault
    points), its entry shared with the steps of the same name before it at the
    same virtual time (an entry is immutable: a named tuple less a step, and
    one entry, not one an invocation, for a crowd's steps). Replaying, a ``run`` entry at the cursor with the same name,
    completed by the entry after it (every replayed step), is matched by
    kind and name, as ``same_command`` would; anything else goes through
    ``Attempt.issue``. The future is built without ``__init__`` (its slots
    written here: a call and a frame less a step). ``commands`` is the
    engine's ``Commands`` (not imported: ``_commands`` imports this module).
    None when the API layer is not loaded. The A/B is in
    ``benchmarks/hotpath.py`` ("fused step command");
    ``tests/runtime/test_steps_in_place.py`` compares runs with it and without.

    Express: a step whose call the handler awaits at once (``awaited_at``:
    nothing of the handler's runs between the call and its ``await``) is,
    fresh and lone with the lane's conditions holding, run in ``express`` as
    the lane would run it at that ``await``, in the same order, and its value handed
    back through ``ready``; replayed with its value, seen and decoded here as
    its future's ``__await__`` would. No future, no ``__await__`` generator,
    no lane call (callgrind, a fresh step at 100 steps: 29,527 -> 27,142
    instructions). ``Steps.express`` off, or without the lane, never. An
    express step whose value the handler gets at once leaves no entry in
    ``Attempt.done``: only a future, a task or a registered step asks ``done``
    for an index, and none of it exists (one that resumes later, from its
    future, has its entry). A dictionary entry a step less, and no dictionary
    an attempt of such steps.
    ``tests/runtime/test_express_steps.py`` compares runs with it and without.

    A context whose attempt replays has ``replay`` instead (``replay_command``):
    the same checks and serde and the replay's match, in a frame of 31 locals
    where ``issue`` has 53 (callgrind, a replayed step: 13,391 -> 13,185
    instructions); its context takes the fresh command's class when the replay
    ends (``__class__``: every form's class has the same slots).

    A context of a live attempt whose engine lets steps be express has
    ``express`` instead (``fresh_context_of``, also when a replay ends): ``issue``'s
    fresh way without its rare branches (options, a replay, a misuse, a fault
    that may fire, unseen completions, a journal past its limit), which it
    hands to ``issue`` as they came before writing anything, and without
    asking the engine's conditions of the express way at each step; a frame of
    43 locals (callgrind, a fresh step: 21,969 -> 21,552 instructions).
    ``issue`` itself makes every step's future: a step it takes is not awaited
    at once by the handler (its caller is ``express`` or ``replay``, whose
    next instruction is a return), or its context's engine has no express way.
    """
    global step_future, plain_future, replayed_future, replayed_plain_future, serde_of, serdes
    global no_hint, general_run_typed, after_in_place, plain_serde, as_is_serde
    global fresh_issue, replay_issue, express_issue, fresh_context, replay_context
    global express_context
    if not _step_api:
        return None
    (step_future, plain_future, replayed_future, replayed_plain_future, serde_of, serdes,
     no_hint, general_run_typed, after_in_place, context_class) = _step_api
    plain_serde = _as_is_serdes[0] if _as_is_serdes else None
    # (the serde whose values an express step hands back as they are: as ``step_lane``'s)
    as_is_serde = _as_is_serdes[0] if len(_as_is_serdes) == 1 else None
    clear_sites()  # (their serdes are those of the API layer's before)

    def issue(attempt: Any, name: str, action: Callable[..., Any],
              options: Any = None, /, *args: Any, **kwargs: Any) -> Any:
        # (``run_typed`` of ``fresh_context``, given the context; or, given the
        # attempt, what ``express`` and ``replay`` hand over, or what a wrapper
        # of the engine's ``issue_step`` calls)
        if type(attempt) is not Attempt:
            attempt = attempt._attempt
        if options is not None or not attempt.alive or type(name) is not str:
            return general_run_typed(attempt, name, action, options, args, kwargs)
        if attempt.state is not LIVE:
            # Replaying, with the fresh command (a context made by a wrapper
            # of it): the replay's own, as a step not awaited at once (its
            # caller's next instruction is this one's return), given a
            # context of its own, made as ``_general_run_typed`` makes one
            # (the class it takes when its replay ends is of no one's)
            replay_start(attempt)
            owner = object.__new__(replay_context)
            owner._attempt = attempt
            owner._set_values = None
            return replay_issue(owner, name, action, options, *args, **kwargs)
        # (each loop only when there is something to check, and over the
        # dict itself, not a view of its values: an iterator made is about a
        # hundred instructions, callgrind)
        if args:
            for value in args:
                if not isinstance(value, NOT_AWAITABLE):
                    return general_run_typed(attempt, name, action, options, args, kwargs)
        if kwargs:
            for key in kwargs:
                if not isinstance(kwargs[key], NOT_AWAITABLE):
                    return general_run_typed(attempt, name, action, options, args, kwargs)
        # ``_step_serde``, read here for a function (callable, hashable): with
        # no return hint, the plain serde; with one, its cache's if seen before.
        # (Not by its call site, as ``express`` and ``replay`` read it: they read
        # the caller's frame for the awaited-at-once answer anyway; here the frame
        # alone costs more than a lambda's annotations, BENCHMARKS.md "A step's
        # call, nineteenth pass".)
        if type(action) is function_type:
            hint = action.__annotations__.get("return", no_hint)
            if hint is no_hint and plain_serde is not None:
                serde = plain_serde
            else:
                cached = serdes.get(action)
                serde = cached[1] if cached is not None and cached[0] is hint else serde_of(action)
        elif callable(action):
            serde = serde_of(action)
        else:
            return general_run_typed(attempt, name, action, options, args, kwargs)
        # its engine's parts, each engine's own (``command_parts``: unpacked
        # where a path needs them)
        parts = attempt.engine.command_parts
        if parts is None:  # (its engine's first step)
            parts = cast(Any, attempt.engine).built_command_parts()
        index: int
        journal = attempt.journal
        if (holding := running_step()) is not None and holding.step is not None:
            # A step's closure runs (a misuse; ``Attempt.guard`` says so): what
            # ``current_step.get()`` tells, without its call (a ``StepInfo``'s
            # ``step`` is its name, a holder's None when no closure runs, as
            # ``Attempt.guard`` reads it). (Never while replaying: an attempt
            # replays in one task, before any closure.)
            return general_run_typed(attempt, name, action, options, args, kwargs)
        elif (injector := parts[0]).armed and not injector.spares(name):  # a fault may fire here
            entry: RawEntry = (RUN, name, None, None, -1, parts[1].now_ms, -1, "")
            index = attempt.issue(entry, "run_typed")  # (completions not seen yet first)
            lone = False
        else:
            injector, scheduler, store_append, journals, event, commands_made, *_ = parts
            now = scheduler.now_ms
            # One command entry for every step of this name at this time: an
            # entry is immutable, and a fresh one costs a tuple a step. (Its
            # time is its own field: kept alone, no pair made with it.)
            entry = commands_made.get(name)
            if entry is None or entry[5] != now:  # (its time)
                entry = (RUN, name, None, None, -1, now, -1, "")
                if len(commands_made) >= SHARED_COMMANDS:
                    commands_made.clear()
                commands_made[name] = entry
            rec = attempt.rec
            index = len(journal)
            if attempt.cursor != index:
                # Completions journaled since it last waited, which it has not
                # seen (one wait is satisfied by the first): seen before its
                # next command, as ``Attempt.issue`` does.
                attempt._consume_notifications()
            lone = attempt.issued is None and not attempt._unscheduled
            if not attempt.own_journal:
                journal.append(entry)  # the store's list (``Attempt.own_journal``)
            else:
                stored_journal = None if journals is None else journals.get(rec.id)
                if stored_journal is not None:
                    stored_journal.append(entry)
                    stored = len(stored_journal) - 1
                else:
                    stored = store_append(rec.id, entry)
                if stored != index:
                    raise InternalError(f"journal of {rec.id} out of step: stored at #{stored}, "
                                        f"attempt expected #{index}")
                journal.append(entry)
            attempt.cursor = index + 1
            if index >= scheduler.max_journal:
                journal_too_long(scheduler, rec)
            if event is not None:
                event((now, "entry", rec.id, "run", index, name))
        # The future is the step's registration (``register_step``) too.
        future = new_future(step_future)
        future._attempt = attempt
        future._index = index
        future.name = name
        future.fn = action
        future.args = args
        future._kwargs = kwargs
        future._keyword = None
        future.serde = serde
        future.scheduled = False
        if lone:
            # Its registration, until someone needs it (``Attempt.issued``):
            # the step lane runs it without (and need not check it again).
            attempt.issued = future
            return future
        if attempt.issued is not None:
            attempt.register_issued()  # (first: the steps in the order issued)
        registered = attempt.steps
        if registered is NO_STEPS:
            registered = attempt.registered()
        if index not in registered:
            attempt._unscheduled.append(index)
        registered[index] = future
        return future

    def replay(ctx: Any, name: str, action: Callable[..., Any],
               options: Any = None, /, *args: Any, **kwargs: Any) -> Any:
        """``issue`` for a context whose attempt replays (``replay_command``): the
        ``run_typed`` of ``replay_context``, the class of such a context
        (``replay_start`` has read the attempt's leading steps): the same checks
        and serde, then the replay's match against the journal, in a frame of its
        own locals only (a frame costs its locals to set up and clear, about 7.5
        instructions each, a step). Once its replay is over, its context's class
        is the fresh command's (``fresh_context_of``)."""
        attempt: Attempt = ctx._attempt
        if attempt.state is not REPLAYING:
            # its replay ended elsewhere (a future's await, ``Attempt.issue``):
            # the fresh command from now on, this step through it
            if attempt.state is LIVE:
                ctx.__class__ = fresh_context_of(attempt)
            return fresh_issue(attempt, name, action, options, *args, **kwargs)
        # (an attempt that replays is alive: only its start makes it replay,
        # and its end, ``Attempt.die``, makes it dead)
        if options is not None or type(name) is not str:
            return general_run_typed(attempt, name, action, options, args, kwargs)
        # (each loop only when there is something to check, and over the
        # dict itself, not a view of its values: an iterator made is about a
        # hundred instructions, callgrind)
        if args:
            for value in args:
                if not isinstance(value, NOT_AWAITABLE):
                    return general_run_typed(attempt, name, action, options, args, kwargs)
        # Its call site: awaited at once or not, and its action's serde
        # (``site_of``, as ``express`` reads it)
        caller: Any = get_frame(1)
        at = caller.f_lasti
        code = caller.f_code
        key: Any  # (None when the site kept none: ``kwargs[None]`` raises ``KeyError``)
        try:
            site_code, at_site, site_action, serde, key = _sites[at]
        except KeyError:  # (a site not seen: once)
            site_code = key = None
        if kwargs:
            # One keyword, the site's last one: its value read by it (no
            # iterator); else each value (``KeyError``: another name, or none kept)
            try:
                if len(kwargs) != 1 or not isinstance(kwargs[key], NOT_AWAITABLE):
                    raise KeyError
            except KeyError:
                for key in kwargs:
                    if not isinstance(kwargs[key], NOT_AWAITABLE):
                        return general_run_typed(attempt, name, action, options, args, kwargs)
        if (site_code is not code or site_action is not action) and not (
                # (a lambda made by the same code as the site's last one: ``site_of``)
                site_code is code and type(site_action) is tuple
                and site_action[1] is LAMBDA and type(action) is function_type
                and action.__code__ is site_action[0]):
            caller = site_of(code, at, action, kwargs)
            if caller is None:  # (not callable)
                return general_run_typed(attempt, name, action, options, args, kwargs)
            at_site = caller[1]
            serde = caller[3]
        journal = attempt.journal
        index = attempt.cursor
        # (the steps a reload found: read before its first step, ``replay_start``)
        paired = attempt.paired
        completed: Any  # (its completion's target, once matched; else None)
        completion: Any
        if index < paired:
            # One of the journal's leading steps (``Completions.plain_steps``):
            # a ``run`` command completed by the entry after it, their kinds
            # and target known; or that completion, whose result is never
            # None (the cursor past a command whose completion is unseen).
            # (Only where an express step may be: ``leading_steps``.)
            recorded = journal[index]
            if recorded[1] == name and recorded[3] is None:  # its name, result
                completion = journal[index + 1][3]  # the completion's result
                completed = index
                at_once = type(completion) is not Failure
            else:
                completed = None
        else:
            completed = None
            try:
                recorded = journal[index]
                after = journal[index + 1]
            except IndexError:
                pass  # (no command and notification left to match)
            else:
                if (
                    recorded[0] == RUN  # kind
                    and recorded[1] == name  # name
                    and recorded[3] is None  # result
                    and after[0] == COMPLETION  # kind
                ):
                    completed = after[4]  # target
                    completion = after[3]  # result (read once: an entry's field
                    # by position is a generic subscript, a tuple subclass's)
                    engine: Any = attempt.engine  # (read here: not a leading step's)
                    at_once = (completed == index and type(completion) is not Failure
                               and engine.steps.express
                               and engine.step_lane is not None)
        if completed is not None:
            # Replayed with its result, nothing left to run: a value
            # right after its command (its await takes it), else a
            # failure or a completion seen before. (The cursor past
            # its command and ``completed_next`` are written where a
            # future is made: an express step moves the cursor past
            # its completion too, and no one reads ``completed_next``
            # but after ``Attempt.issue``, which writes it.)
            if at_once and not attempt.cancel_pending:
                if at_site:  # (awaited at once: its call site, above)
                    # Awaited at once: what its future's await would
                    # do (``ReplayedStepFuture.__await__``), here; no
                    # future of it will ask for its completion (``done``)
                    at = index + 2
                    attempt.cursor = at
                    # (past the leading steps before its length is read:
                    # ``paired`` <= its length)
                    if at >= paired and at >= len(journal):
                        attempt.state = LIVE
                        attempt.plain = (attempt.alive and not attempt.cancel_pending
                                         and attempt.failure is None)
                        # its replay is over: the fresh command for its next step
                        ctx.__class__ = fresh_context_of(attempt)
                    data = completion[0]  # its data
                    if serde is not plain_serde:
                        return ready(serde.deserialize(data))
                    if (type(data) is bytes and data.isdigit()
                            and (data >= b"1" or data == b"0")):
                        # a JSON natural number, as the plain serde reads it (digits
                        # with no leading zero but "0" itself: a bytes compare, not
                        # the first byte read as an int and compared)
                        return ready(int(data))
                    return ready(plain_serde.deserialize(data))
            attempt.cursor = index + 1
            attempt.completed_next = completed
            if completed == index and type(completion) is not Failure:
                if serde is plain_serde:  # (its decoder is its class's)
                    replayed = new_future(replayed_plain_future)
                else:
                    replayed = new_future(replayed_future)
                    replayed._decode = serde.deserialize
                replayed._attempt = attempt
                replayed._index = index
                return replayed
            if completed == index or index in attempt.done:
                replayed = new_future(plain_future)
                replayed._decode = serde.deserialize
                replayed._attempt = attempt
                replayed._index = index
                return replayed
        else:
            entry = (RUN, name, None, None, -1, cast(Any, attempt.engine).scheduler.now_ms, -1,
                     "")
            index = attempt.issue(entry, "run_typed")
            state: Any = attempt.state  # (``issue`` may have ended the replay)
            if state is REPLAYING:
                if index in attempt.done or attempt.completed_next == index:
                    return plain_future(attempt, index, serde.deserialize)
            else:
                if state is LIVE:
                    # Its replay ended at this command, its completion never
                    # journaled (a crash after the step's effect, a failed
                    # step): its next step takes the fresh command's class at
                    # once, not this function (above) then ``fresh_issue``
                    ctx.__class__ = fresh_context_of(attempt)
                if index in attempt.done:
                    return plain_future(attempt, index, serde.deserialize)
        # Not replayed with its result: its future, registered as ``issue``
        # registers a step issued while others are outstanding (``register_step``)
        future = new_future(step_future)
        future._attempt = attempt
        future._index = index
        future.name = name
        future.fn = action
        future.args = args
        future._kwargs = kwargs
        future._keyword = None
        future.serde = serde
        future.scheduled = False
        if attempt.issued is not None:
            attempt.register_issued()  # (first: the steps in the order issued)
        registered = attempt.steps
        if registered is NO_STEPS:
            registered = attempt.registered()
        if index not in registered:
            attempt._unscheduled.append(index)
        registered[index] = future
        return future

    def express(attempt: Any, name: str, action: Callable[..., Any],
                options: Any = None, /, *args: Any, **kwargs: Any) -> Any:
        """``issue`` for a live attempt of an engine whose steps may be express
        (the ``run_typed`` of ``express_context``, given the context, its first
        argument, whose attempt it reads in the same local: ``fresh_context_of``): a fresh step with no fault that may fire
        at it, run here when awaited at once, else its future made. What is
        rare is handed, before anything is written, to ``issue`` as it came
        (options, a replay, an attempt over, before its serde is read as
        ``issue`` does; a misuse, a fault that may fire, completions not seen
        yet, a journal past its limit); the engine's own conditions of
        the express way (``Steps.express``, ``Steps.in_place``, a step lane)
        are read once, where its class is given. The same writes as ``issue``'s in
        the same order, with fewer branches and locals (a frame costs about
        7.5 instructions a local, a step)."""
        attempt = attempt._attempt
        # (alive, live, no cancellation pending, no failure recorded: one test,
        # ``Attempt.plain``; ``issue`` takes any other, as the at-once way
        # below, which needs all four, would have left it to a future it makes)
        if options is not None or not attempt.plain or type(name) is not str:
            return fresh_issue(attempt, name, action, options, *args, **kwargs)
        if args:
            for value in args:
                if not isinstance(value, NOT_AWAITABLE):
                    return general_run_typed(attempt, name, action, options, args, kwargs)
        parts = attempt.engine.command_parts
        if parts is None:  # (its engine's first step)
            parts = cast(Any, attempt.engine).built_command_parts()
        (injector, scheduler, store_append, journals, event, commands_made, running, flat,
         completions, invocations, steps, finish) = parts
        key: Any  # (None when the site kept none: ``kwargs[None]`` raises ``KeyError``)
        at_once: Any
        site: Any  # (here its (serde, keyword), else its site's entry: ``site_of``)
        if scheduler.ready:
            # A crowd's step: other tasks are ready, so it waits its turn as a
            # task, whether its caller awaits it at once or not; its serde and
            # keyword read by its action (``_crowd_sites``), with no frame object
            # made for the handler's coroutine, written at its first step and
            # read cold at every later one among 10,000 in flight
            try:  # (a kept function's: a subscript, not ``get``'s call)
                site = _crowd_sites[action] if type(action) is function_type else None
            except KeyError:
                site = None
            if site is None:
                site = crowd_site(action, kwargs)
                if site is None:  # (not callable)
                    return general_run_typed(attempt, name, action, options, args, kwargs)
            serde, key = site
            at_once = False
            if kwargs:
                try:  # (as below: its one keyword's value read by it, else each)
                    if (len(kwargs) != 1 or args
                            or not isinstance(kwargs[key], NOT_AWAITABLE)):
                        raise KeyError
                except KeyError:
                    for key in kwargs:
                        if not isinstance(kwargs[key], NOT_AWAITABLE):
                            return general_run_typed(attempt, name, action, options, args,
                                                     kwargs)
                    key = None
        else:
            # Its call site (``site_of``): whether its caller awaits it at once
            # (``awaited_at``), and its action's serde, kept for the action last
            # called there; else worked out, and kept for the next call.
            value = get_frame(1)
            at = value.f_lasti
            value = value.f_code
            try:
                site_code, at_once, site_action, serde, key = _sites[at]
            except KeyError:  # (a site not seen: once)
                site_code = key = None
            if kwargs:
                # One keyword, the site's last one: its value read by it (no
                # iterator); else each value (``KeyError``: another name, or none kept)
                # (``run``, the closure's caller: ``keyword_run``'s for that one
                # keyword alone, else ``closure_value``)
                try:
                    if (len(kwargs) != 1 or args
                            or not isinstance(one := kwargs[key], NOT_AWAITABLE)):
                        raise KeyError
                    # (when awaited at once, the keyword's closure caller: ``_sites``)
                    run = at_once
                except KeyError:
                    for key in kwargs:
                        if not isinstance(kwargs[key], NOT_AWAITABLE):
                            return general_run_typed(attempt, name, action, options, args,
                                                     kwargs)
                    key = run = None  # (its future keeps the dict: ``StepFuture._keyword``)
            else:
                run = positional_value
                one = args
            if (site_code is not value or site_action is not action) and not (
                    # (a lambda made by the same code as the site's last one: ``site_of``)
                    site_code is value and type(site_action) is tuple
                    and site_action[1] is LAMBDA and type(action) is function_type
                    and action.__code__ is site_action[0]):
                site = site_of(value, at, action, kwargs)
                if site is None:  # (not callable)
                    return general_run_typed(attempt, name, action, options, args, kwargs)
                at_once = site[1]
                serde = site[3]
                if run is not None and run is not positional_value:
                    run = at_once  # (its one keyword's caller for this function: ``FIRST``?)
        journal = attempt.journal
        index = len(journal)
        if (
            attempt.cursor != index
            or index >= scheduler.max_journal
            # (a step's closure runs: the drive's holder says so when it is
            # known, ``Running.step_holder``, else the context variable)
            or (((value := running.step_holder) is not None
                 or (value := running_step()) is not None) and value.step is not None)
            or (injector.armed and not injector.spares(name))
        ):
            return fresh_issue(attempt, name, action, options, *args, **kwargs)
        now = scheduler.now_ms
        # One command entry for every step of this name at this time (``issue``)
        entry = commands_made.get(name)
        if entry is None or entry[5] != now:  # (its time)
            entry = (RUN, name, None, None, -1, now, -1, "")
            if len(commands_made) >= SHARED_COMMANDS:
                commands_made.clear()
            commands_made[name] = entry
        # (its record's id kept on the attempt, read with its other fields: a
        # crowd's step issued here reads no record)
        inv_id = attempt.inv_id
        if not attempt.own_journal:
            journal.append(entry)  # the store's list (``Attempt.own_journal``)
        else:
            stored = None if journals is None else journals.get(inv_id)
            if stored is not None:
                stored.append(entry)
                stored = len(stored) - 1
            else:
                stored = store_append(inv_id, entry)
            if stored != index:
                raise InternalError(f"journal of {inv_id} out of step: stored at #{stored}, "
                                    f"attempt expected #{index}")
            journal.append(entry)
        attempt.cursor = index + 1
        lone = attempt.issued is None and not attempt._unscheduled
        if not (
            # (its caller awaits this call at once, and no other task was ready
            # at its head, which nothing since can make: a crowd's step waits its
            # turn as a task, its ``at_once`` false, above; no cancellation
            # pending and no failure recorded: ``plain``, tested at the head)
            at_once
            and lone
            and scheduler.tasks_run < scheduler.max_tasks
        ):
            if flat is not None:  # (its "entry" event in 5 values: ``_trace.ISSUED``)
                event((now, inv_id, name, ISSUED, index))
            elif event is not None:
                event((now, "entry", inv_id, "run", index, name))
            # Its future, which is its registration too (``issue``'s): a spare
            # one when a crowd's step task left one (``Running.spare_futures``)
            value = running.spare_futures
            value = value.pop() if value else new_future(step_future)
            value._attempt = attempt
            value._index = index
            value.name = name
            value.fn = action
            value.args = args
            if key is not None and kwargs:
                # (the site's one keyword, checked above with no positions: its
                # value kept alone)
                value._kwargs = kwargs[key]
                value._keyword = key
            else:
                value._kwargs = kwargs
                value._keyword = None
            value.serde = serde
            value.scheduled = False
            if lone:
                attempt.issued = value
                return value
            if attempt.issued is not None:
                attempt.register_issued()  # (first: the steps in the order issued)
            registered = attempt.steps
            if registered is NO_STEPS:
                registered = attempt.registered()
            if index not in registered:
                attempt._unscheduled.append(index)
            registered[index] = value
            return value
        # Express: ``issue``'s express way, the same writes in the same order.
        # Its command's "entry" event, its run and its "step" event: one
        # record in a compact flat trace (``_trace.RAN``) when its closure
        # traced nothing; else its "entry" event put where it was due (at
        # ``mark``, before whatever the closure traced), its run with its
        # "step" event (``_trace.RAN_STEP``).
        if flat is not None:
            mark = len(flat)
        elif event is not None:
            event((now, "entry", inv_id, "run", index, name))
        # (its record is the one ``Invocations.by_id`` holds: a live attempt's
        # always is, as a restart kills every attempt before it reloads them;
        # its done bits are kept on the attempt while it lives)
        rec = attempt.rec
        bits = attempt.done_bits
        try:
            wait = waits[index]
        except IndexError:
            wait = wait_on(index)
        attempt.waiting = wait
        scheduler.tasks_run += 1
        running.in_place = attempt
        try:
            holder = running.step_holder  # (as the lane finds it)
            if holder is None:
                holder = running_step()
                if type(holder) is not StepHolder or holder.thread != get_ident():
                    holder = attempt_holder(running, holder)
                    attempt.context_holder = None  # (``Attempt.context_holder``)
                running.step_holder = holder
            before = holder.step
            holder.step = attempt  # (its ``StepInfo`` made if someone asks: ``info_of``)
            attempt.running_index = index
            try:
                # (in a copy of the handler's context, as ``closure_value`` says)
                if run is FIRST:
                    # its one keyword names its function's first parameter: the
                    # value passed by position, with no caller's frame (``site_of``)
                    context = copy_context()
                    result = context.run(action, one)
                    if not isinstance(result, NOT_AWAITABLE) and inspect.isawaitable(result):
                        result = context.run(awaited_value, action, result, steps, name)
                elif run is positional_value and not one:  # (no argument: ``lambda: ...``)
                    # (the same call with no value: kept apart, one test a step
                    # less on the keyword's way; merged, about 130 instructions more)
                    context = copy_context()
                    result = context.run(action)
                    if not isinstance(result, NOT_AWAITABLE) and inspect.isawaitable(result):
                        result = context.run(awaited_value, action, result, steps, name)
                elif not run:  # (None, or False: the site's entry made for another code)
                    result = copy_context().run(closure_value, action, args, kwargs, steps,
                                                name)
                else:  # (positions, or the site's one keyword alone: above)
                    result = copy_context().run(run, action, one, steps, name)
                failed: tuple[str, Any] | None = None
            except TerminalError as err:
                failed = ("terminal", err)
            except Exception as err:  # noqa: BLE001 - step failures are data
                failed = ("error", err)
            except BaseException:
                # (past the step: a crash, a budget's stop) its "entry" event
                # alone, where it was due, as it stood before the closure
                if flat is not None:
                    flat[mark:mark] = (now, "entry", inv_id, "run", index, name)
                raise
            finally:
                holder.step = before
            if flat is None:
                steps.run_log.append((inv_id, index, name, attempt.number, attempt.handler))
                if event is not None:
                    event((scheduler.now_ms, "step", inv_id, "step", name, index))
            elif len(flat) == mark:
                event((now, "entry", inv_id, RAN, index, name, attempt.number, attempt.handler,
                       scheduler.now_ms))
            else:
                flat[mark:mark] = (now, "entry", inv_id, "run", index, name)
                event((scheduler.now_ms, "step", inv_id, RAN_STEP, name, index, attempt.number,
                       attempt.handler))
            if failed is not None:
                pass
            elif not (
                # What the closure may have changed (see ``step_lane``)
                attempt.alive
                and attempt.failure is None
                and len(journal) == index + 1
                and rec.status == PENDING
                and (not injector.armed or injector.spares(name))
            ):
                failed = ("ok", result)
            else:
                try:
                    if serde is not as_is_serde:
                        as_written = False
                        data = serde.serialize(result)
                    elif type(result) is int:
                        as_written = True
                        # what the plain serde writes for an int: a small one's
                        # digits made once (``INT_DIGITS``)
                        data = INT_DIGITS[result] if 0 <= result < SMALL_INTS else b"%d" % result
                    else:
                        as_written = type(result) in AS_IS_TYPES
                        data = serde.serialize(result)
                except (TypeError, ValueError, OverflowError) as err:
                    failed = ("error", unstorable(attempt, name, index, err))
            if failed is None:  # (its value stored)
                value = (data,)  # a value as the runtime keeps it (``RawCompletion``)
                entry = (COMPLETION, "", None, value, index, scheduler.now_ms, -1, "")
                if not attempt.own_journal:
                    journal.append(entry)  # the store's list (``Attempt.own_journal``)
                else:
                    if journals is not None:
                        journals[inv_id].append(entry)
                    else:
                        store_append(inv_id, entry)
                    journal.append(entry)
                try:
                    attempt.done_bits = bits | bits_at[index]
                except IndexError:
                    attempt.done_bits = bits | 1 << index
                # Nothing woke the handler during the closure: it sees this
                # completion now (``Attempt.see``) ...
                attempt.cursor = index + 2
                registered = attempt.steps
                if registered:  # (this step never was)
                    registered.pop(index, None)
            else:
                value = future_of(attempt, index, name, action, args, kwargs, serde)
                finish(attempt, index, value, failed)
        finally:
            running.in_place = None
        if failed is None:
            if not scheduler.ready and scheduler.tasks_run < scheduler.max_tasks:
                # ... and resumes at once, as its resume task would (``resume_in_place``)
                scheduler.tasks_run += 1
                attempt.waiting = None
                return ready(result if as_written else serde.deserialize(data))
            # its resume task waits its turn (``resume_in_place`` queues it),
            # and its future's await then reads the completion
            attempt.completed()[index] = value
            attempt.resume_scheduled = True
            running.resume_at = len(scheduler.ready)
            value = future_of(attempt, index, name, action, args, kwargs, serde)
        parked = resume_in_place(running, scheduler, attempt, wait) != RESUMED
        return after_in_place(value, parked)

    fresh_issue, replay_issue = issue, replay
    express_issue = express
    fresh_context = context_class(issue)
    replay_context = context_class(replay)
    express_context = context_class(express)
    return issue


# What ``step_lane`` returns when it did not give the awaited value itself:
# nothing was done (the general ``__await__`` takes over from its start), or
# the step ran in place and the handler resumed (``RESUMED``) or must wait for
# its queued resume task (``RAN_PARKED``), as ``run_lone_step`` would say.
# Each is a ``LaneSignal``: one type check tells them from any awaited value.


class LaneSignal:
    """The type of ``step_lane``'s answers other than a value."""

    __slots__ = ()


GENERAL: Final[Any] = LaneSignal()
LANE_RESUMED: Final[Any] = LaneSignal()
LANE_PARKED: Final[Any] = LaneSignal()
# Other work is ready, so the step waits its turn as a task (``_tasks``): the
# handler simply waits, as the general ``__await__`` would decide after asking
# ``run_lone_step`` and ``replayed_next`` (both no-ops then).
LANE_WAITS: Final[Any] = LaneSignal()

# ``Wait((index,))`` for the first journal indices, made once: a step awaited
# alone waits on this (equal to a new one; ``wait_on`` makes the others).
waits: Final[list[Wait]] = [new_tuple(Wait, ((i,), False)) for i in range(1024)]
# ``1 << index`` for the same indices, made once: a completed step's done bit
# (``InvocationRecord.done_bits``) read here, not shifted into a new int a step
# (past index 30 each is an int of more than one digit, made and freed).
bits_at: Final[list[int]] = [1 << i for i in range(1024)]


def wait_on(index: int) -> Wait:
    """What a handler awaiting step ``index`` alone waits on."""
    return new_tuple(Wait, ((index,), False))


# The results a serde marked ``as_is`` (``returns_as_is``) reads back as they
# were: ``deserialize(serialize(x)) == x`` for these exact types.
AS_IS_TYPES: Final = (int, str, bool, type(None))
# The digits of the ints 0 to ``SMALL_INTS - 1`` as the plain serde writes them
# (``b"%d" % i``), made once at import: an express step's small int result
# (a count, an index, a status) is written as one of these, shared, not
# formatted into new bytes (callgrind, a loop of 100,000: ``b"%d" % 57`` 874
# instructions, the range test and this subscript 315; an int outside it 1,111).
SMALL_INTS: Final = 1024
INT_DIGITS: Final = tuple(b"%d" % i for i in range(SMALL_INTS))
_as_is_serdes: list[Any] = []


def returns_as_is(serde: Any) -> None:
    """Name a serde (the plain JSON one) whose int, str, bool and None results
    read back equal to what the closure returned: a fresh step gives the
    handler its closure's value without decoding what it just encoded."""
    _as_is_serdes.append(serde)
    _fused.clear()  # (built again with it)


def step_lane() -> Callable[[Any], Any]:
    """An awaited future's common cases, in one call: the whole of a fresh
    step's await, or a replayed command's, with no other call into the runtime.

    ``lane(future)`` returns the value the ``await`` gives, or one of
    ``GENERAL``, ``LANE_RESUMED``, ``LANE_PARKED``, ``LANE_WAITS`` (see above).
    Two cases:

    * replaying: the next notification in the journal completes this command
      (every replayed step): it is seen, as ``Attempt.replayed_next`` would,
      and decoded;
    * fresh: the handler awaits its only unstarted step, nothing else is
      ready, no fault can fire at it: ``lone_step``'s writes, with the resume
      (``resume_in_place``) and the decode folded in, and the closure's value
      handed back as it is when the serde reads such values back unchanged.

    Whatever else (strict mode has no lane: the engine's ``step_lane`` is
    None; a cancellation, other work made ready by the closure, a failed
    step...) goes the general way from the same point. ``steps`` is the
    engine's ``Steps``. ``tests/runtime/test_steps_in_place.py`` compares runs
    with the lane and without.

    A step ``step_command`` issued fresh while no other step was unstarted
    (``Attempt.issued``) and awaited with nothing journaled since (its command
    still the journal's last entry) has passed most checks already: its
    index is new (not done, not completed, not retried), it is the only
    unstarted step, its attempt is live. Between the two only the handler's
    own code ran, and whatever of that reaches the invocation journals
    something (a command, a completion, a cancellation); what needs no
    journal (other work made ready, a fault armed, the attempt ended, a
    misuse) is read again. (In callgrind's instructions a fresh step at 100
    steps, with the next paragraph's change: 35,145 to 33,375.)

    What is decided before the closure stays decided: the record's retry of
    this step and the invocation's completed indices are read once, and after
    the closure only what a closure can change is read again (its attempt
    ended, a misuse, the invocation ended, a fault armed, and anything
    journaled for the invocation: a completion delivered to it, which may
    wake it, or a cancellation, told by the journal's length). Any of these
    sends the value to ``finish_step``, which stores it, drops it or retries
    as it would have. An ``int`` through the plain serde is written as that
    serde writes it, without its two calls. (Against the previous lane, in
    callgrind's instructions a fresh step at 100 steps: 45,520 to 42,020.)
    """
    # (one serde reads back as written: the plain one, ``returns_as_is``)
    plain_serde: Any = _as_is_serdes[0] if len(_as_is_serdes) == 1 else None
    running_step = current_step.var.get
    step_future = _step_api[0] if _step_api else None

    def lane(fut: Any) -> Any:
        attempt: Attempt = fut._attempt
        index: int = fut._index
        journal = attempt.journal
        done = attempt.done
        if attempt.issued is fut and len(journal) == index + 1 and attempt.alive:
            # Issued by ``step_command``'s fresh path while no other step was
            # unstarted, and nothing journaled since (a completion, a
            # cancellation, another command): its index is new, so neither
            # done nor completed nor retried, and it is the only unstarted
            # step, not registered (``Attempt.issued``): run here, it never
            # is. What the handler's own code may have changed is read again.
            (finish, running, scheduler, injector, event, log_run, completions, invocations,
             store_append, journals, steps) = (attempt.engine.lane_parts
                                               or cast(Any, attempt.engine).built_lane_parts())
            if scheduler.ready:
                # A crowd: no step runs in place. The handler yields its wait
                # with the step still unregistered: the fused runner queues it
                # from there (``_tasks``), the general way registers it first
                # (``Running._block``, ``pending_steps``).
                return LANE_WAITS
            inv_id = attempt.rec.id
            inv_rec = invocations.by_id.get(inv_id)
            if (
                attempt.cancel_pending
                or attempt.failure is not None
                or scheduler.tasks_run >= scheduler.max_tasks
                or not steps.in_place
                or (injector.armed and not injector.spares(fut.name))
                or inv_rec is None
            ):
                attempt.register_issued()
                return GENERAL
            attempt.issued = None
            spec = info = fut  # (a plain step's future is its own ``StepInfo``)
            bits = attempt.done_bits  # (kept on the live attempt: ``Attempt.done_bits``)
            end = index + 1
        else:
            if attempt.issued is not None:  # another step's: registered first
                attempt.register_issued()
            if index in done or not attempt.alive:
                return GENERAL
            cursor = attempt.cursor
            if cursor < len(journal):
                # Notifications the handler has not seen: the next one completes
                # this command (``replayed_next``, its common case)?
                entry = journal[cursor]
                if entry[4] != index or entry[0] != COMPLETION or attempt.cancel_pending:  # target, kind
                    return GENERAL
                seen: Any = entry[3]  # its result: a completion's is never None
                if done is NO_DONE:
                    done = attempt.done = {}
                done[index] = seen  # ``Attempt.see``
                registered = attempt.steps
                if registered:  # (a replayed plain step's future never was)
                    registered.pop(index, None)
                cursor += 1
                attempt.cursor = cursor
                if cursor >= len(journal):
                    attempt.state = LIVE
                    attempt.plain = (attempt.alive and not attempt.cancel_pending
                                     and attempt.failure is None)
                if type(seen) is not Failure:
                    return fut._decode(seen[0])  # its data
                return GENERAL  # a failure: the general way raises it
            # Fresh: its only unstarted step, nothing else ready, no fault that
            # may fire at it, a pending record with no retry of it under way. What
            # a closure can change (a crash, a misuse, a cancellation, the end of
            # the invocation) is read again after it.
            # (its engine's parts, ``lane_parts``)
            (finish, running, scheduler, injector, event, log_run, completions, invocations,
             store_append, journals, steps) = (attempt.engine.lane_parts
                                               or cast(Any, attempt.engine).built_lane_parts())
            if scheduler.ready:
                return LANE_WAITS  # a crowd: no step runs in place
            unscheduled = attempt._unscheduled
            if (
                attempt.state is not LIVE
                or attempt.cancel_pending
                or attempt.failure is not None
                or len(unscheduled) != 1
                or unscheduled[0] != index
                or scheduler.tasks_run >= scheduler.max_tasks
                or not steps.in_place
                or (injector.armed and not injector.spares(attempt.steps[index].name))
            ):
                return GENERAL
            inv_id = attempt.inv_id
            bits = attempt.done_bits  # (kept on the live attempt: ``Attempt.done_bits``)
            if bits >> index & 1:
                return GENERAL  # raises: a stored step about to run again
            inv_rec = invocations.by_id.get(inv_id)
            if inv_rec is None or inv_rec.retry_index == index:
                return GENERAL  # (a retried step: ``deliver`` ends its retries)
            # ``lone_step`` from here (no segment guard: strict mode has no lane)
            spec = attempt.steps[index]
            end = len(journal)
            unscheduled.clear()
            spec.scheduled = True  # (read of registered steps only)
            info = spec if type(spec) is step_future else new_tuple(
                StepInfo, (inv_id, attempt.handler, spec.name, index, attempt.number,
                           attempt.engine))
        try:
            wait = waits[index]
        except IndexError:
            wait = wait_on(index)
        attempt.waiting = wait
        scheduler.tasks_run += 1
        running.in_place = attempt
        try:
            # The current step: this thread's holder names it (a plain step's
            # future is its own ``StepInfo``, made if someone asks), and names
            # what it named before once the closure returns. It is found once
            # a drive of the handler (``Running.step_holder``).
            holder = running.step_holder
            if holder is None:
                holder = running_step()
                if type(holder) is not StepHolder or holder.thread != get_ident():
                    holder = attempt_holder(running, holder)
                    attempt.context_holder = None  # (``Attempt.context_holder``)
                running.step_holder = holder
            before = holder.step
            holder.step = info
            try:
                result = copy_context().run(closure_value, spec.fn, spec.args, spec.kwargs,
                                            steps, spec.name)
                failed: tuple[str, Any] | None = None
            except TerminalError as err:
                failed = ("terminal", err)
            except Exception as err:  # noqa: BLE001 - step failures are data
                failed = ("error", err)
            finally:
                holder.step = before
            if log_run is None:  # (the run with its "step" event: a compact trace)
                event((scheduler.now_ms, "step", inv_id, RAN_STEP, spec.name, index,
                       attempt.number, attempt.handler))
            else:
                log_run((inv_id, index, spec.name, attempt.number, attempt.handler))
                if event is not None:
                    event((scheduler.now_ms, "step", inv_id, "step", spec.name, index))
            stored = False
            if failed is not None:
                finish(attempt, index, spec, failed)
            elif not (
                # What the closure may have changed: the attempt ended, a misuse,
                # anything journaled for the invocation (a completion delivered
                # to it, which may wake it, or a cancellation), the invocation
                # ended, a fault armed (then asked whether it spares the step).
                # Else ``finish_step`` stores or drops the value.
                attempt.alive
                and attempt.failure is None
                and len(journal) == end
                and inv_rec.status == PENDING
                and (not injector.armed or injector.spares(spec.name))
            ):
                finish(attempt, index, spec, ("ok", result))
            else:
                serde = spec.serde
                try:
                    if serde is not plain_serde:
                        as_written = False
                        data = serde.serialize(result)
                    elif type(result) is int:
                        as_written = True
                        data = b"%d" % result  # what the plain serde writes for an int
                    else:
                        as_written = type(result) in AS_IS_TYPES
                        data = serde.serialize(result)
                    stored = True
                except (TypeError, ValueError, OverflowError) as err:
                    finish(attempt, index, spec, ("error", unstorable(attempt, spec.name, index,
                                                                       err)))
                if stored:
                    completion = (data,)  # a value as the runtime keeps it (``RawCompletion``)
                    entry = (COMPLETION, "", None, completion, index, scheduler.now_ms, -1, "")
                    if not attempt.own_journal:
                        journal.append(entry)  # the store's list (``Attempt.own_journal``)
                    else:
                        if journals is not None:
                            journals[inv_id].append(entry)
                        else:
                            store_append(inv_id, entry)
                        journal.append(entry)
                    try:
                        attempt.done_bits = bits | bits_at[index]
                    except IndexError:
                        attempt.done_bits = bits | 1 << index
                    # Nothing woke the handler during the closure: it sees this
                    # completion now (``Attempt.see``) ...
                    attempt.cursor = len(journal)
                    if done is NO_DONE:
                        done = attempt.done = {}
                    done[index] = completion
                    registered = attempt.steps
                    if registered:  # (a step run from ``Attempt.issued`` never was)
                        registered.pop(index, None)
        finally:
            running.in_place = None
        if stored:
            if not scheduler.ready and scheduler.tasks_run < scheduler.max_tasks:
                # ... and resumes at once, as its resume task would (``resume_in_place``)
                scheduler.tasks_run += 1
                attempt.waiting = None
                if as_written:
                    return result
                return fut._decode(data)
            # its resume task waits its turn (``resume_in_place`` queues it)
            attempt.resume_scheduled = True
            running.resume_at = len(scheduler.ready)
        ran = resume_in_place(running, scheduler, attempt, wait)
        return LANE_RESUMED if ran == RESUMED else LANE_PARKED

    return lane


# The fused step command and lane (``step_command``, ``step_lane``), built once
# a process, at the first engine's build once the API layer is loaded: every
# engine uses the same two functions, which read their engine's own parts at
# each call (``command_parts``, ``lane_parts``: one tuple each, bound once per
# engine). Built per engine, the two closures and their 34 cells were a third
# of a ``Simulation``'s build.
_fused: list[Any] = []


def fused() -> tuple[Callable[..., Any] | None, Callable[[Any], Any]]:
    """The process's fused step command (None without the API layer) and lane."""
    if not _fused:
        _fused[:] = [step_command(), step_lane()]
    return _fused[0], _fused[1]


def command_parts(steps: Any) -> tuple[Any, ...]:
    """What ``step_command``'s ``issue`` reads of its engine, from its ``Steps``:
    the injector, scheduler, store's append, its journals (``memory_journals``),
    the trace as ``trace_event`` gives it, the command entries it shares by
    step name (``SHARED_COMMANDS``),
    and for an express step the running part, the run log's append, the
    completions and invocations parts, ``steps`` itself and ``finish_step``."""
    made: dict[str, RawEntry] = {}  # by step name: its last command entry (its time in it)
    completions = steps.completions
    store = completions.store
    return (steps.injector, steps.scheduler, store.append, memory_journals(store),
            trace_event(steps.trace), made, steps.running, flat_trace_of(steps), completions,
            completions.invocations, steps, steps.finish_step)


def lane_parts(steps: Any) -> tuple[Any, ...]:
    """What ``step_lane``'s ``lane`` reads of its engine, from its ``Steps``:
    ``step_parts``'s first ten (the trace as ``trace_event`` gives it), then
    ``steps`` itself; of the run log, its
    ``append`` (the run log's list's own ``extend``, made once with it: read
    through the log, a lookup of about 160 instructions a step, callgrind)."""
    completions = steps.completions
    store = completions.store
    return (steps.finish_step, steps.running, steps.scheduler, steps.injector,
            trace_event(steps.trace), log_run_of(steps), completions, completions.invocations,
            store.append, memory_journals(store), steps)


def log_run_of(steps: Any) -> Callable[[Any], None] | None:
    """Where a step's run goes: the run log's ``append``, or None when the run
    log is read out of a compact flat trace (``_trace.compact``), the run then
    written with its "step" event (``RAN_STEP``): one write a step less."""
    log = steps.run_log
    return log.append if log.trace is None else None


def flat_trace_of(steps: Any) -> list[Any] | None:
    """The compact flat trace an express step writes its one record to
    (``_trace.RAN``), or None (each run to the run log, its events apart)."""
    trace: list[Any] | None = steps.run_log.trace
    return trace


def trace_event(trace: Any) -> Callable[[Any], None] | None:
    """Where ``command_parts`` and ``lane_parts`` write a step's trace events:
    the tracer's ``event`` (the simulation's flat list's ``extend``), or None
    when it has no sink. Read once with the parts, which an engine builds again
    when its tracer changes (``Engine.renew``): read through the tracer at each
    event, ``trace.event(...)`` is a method load the interpreter never
    specialises (an instance attribute, not a method), about 150 instructions
    an event, two a fresh step (callgrind)."""
    return trace.event if trace.sink is not None else None
