"""Durable futures and the combinators that wait on several of them.

A future stands for one journal command. Awaiting it yields a ``Wait`` to the
runtime when the command is not complete yet; the runtime resumes the handler
once it is. The combinators accept only these futures (restate-sdk's accept
only its own) and return what restate-sdk's return: the futures themselves,
in argument order. Which futures count as complete is what the journal says
the handler saw, so they replay identically.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from sys import setprofile
from typing import Any, Generic, TypeVar

from ..runtime._errors import HandlerError
from ..runtime._fast import LANE_PARKED, LANE_RESUMED, LANE_WAITS, LaneSignal, wait_on, waits
from ..runtime._invocation import LIVE, PARKED, Abort, Attempt, Wait
from ..runtime._journal import Failure, terminal_of
from ..runtime._steps import NOT_RUN, RAN_PARKED

T = TypeVar("T")


def raise_failure(completion: Failure) -> None:
    raise terminal_of(completion)


class DurableFuture(Generic[T]):
    """The result of a journaled operation, available once it completes."""

    __slots__ = ("_attempt", "_index", "_decode")

    def __init__(
        self, attempt: Attempt, index: int, decode: Callable[[bytes], T]
    ) -> None:
        self._attempt = attempt
        self._index = index
        self._decode = decode

    @property
    def journal_index(self) -> int:
        return self._index

    def done(self) -> bool:
        return self._index in self._attempt.done

    def _result(self) -> T:
        completion = self._attempt.done[self._index]
        if isinstance(completion, Failure):
            raise terminal_of(completion)
        return self._decode(completion[0])  # (a ``Value``, or its fields: ``RawCompletion``)

    def __await__(self) -> Generator[Any, Any, T]:
        # Five locals (``got`` holds the lane, then its answer or a step's
        # serde; ``handed`` what is sent back, then a completion): a crowd's
        # handler holds this generator while its step waits among the others,
        # read back cold at its resume and freed then, so each local is a
        # slot of it to copy, clear and read (240 bytes, not 304 with twelve)
        handed: Any  # (no code: an annotation alone)
        attempt = self._attempt
        got: Any = attempt.engine.step_lane
        if got is not None:  # the common cases in one call (``_fast.step_lane``)
            index = self._index
            if (
                # A crowd's step: the lane's answer without its call (its first
                # test, then other work ready: a fresh step issued lone, with
                # nothing journaled since, waits its turn as a task; issued,
                # its attempt is alive, as every end of an attempt lets go of
                # it: ``Attempt.die``)
                attempt.issued is self  # (a ``StepFuture``: ``_fast`` issues no other)
                and attempt.engine.scheduler.ready
                and len(attempt.journal) == index + 1
            ) or ((got := got(self)) is LANE_WAITS and type(self) is StepFuture):
                # Its step runs as a task, among the others. Its step task holds
                # it (and the handler, if it kept it): this generator lets go of
                # it, so that its step task, the last to hold it, keeps it for
                # a later step's future (``Running.spare_futures``) or frees it
                # while its lines are at hand, not at the resume, read back
                # cold among 10,000 invocations' objects
                got = self.serde
                del self
                try:  # (its wait, in the local its value then takes: no other)
                    handed = waits[index]
                except IndexError:
                    handed = wait_on(index)
                handed = yield handed
                if handed is not None:
                    return handed  # type: ignore[no-any-return]
                while index not in attempt.done and not attempt.replayed_next(index):
                    yield Wait((index,))
                handed = attempt.done[index]
                if isinstance(handed, Failure):
                    raise terminal_of(handed)
                return got.deserialize(handed[0])  # type: ignore[no-any-return]
            if got is LANE_WAITS:  # (another future's step runs as a task)
                try:
                    handed = waits[index]
                except IndexError:
                    handed = wait_on(index)
                handed = yield handed
                if handed is not None:
                    # the closure's value, which its serde reads back as it is,
                    # sent by the resume its step task queued (``_tasks``)
                    return handed  # type: ignore[no-any-return]
                while index not in attempt.done and not attempt.replayed_next(index):
                    yield Wait((index,))
                return self._result()
            if type(got) is not LaneSignal:
                return got  # type: ignore[no-any-return]
            if got is LANE_RESUMED:
                return (yield from self._after(NOT_RUN))
            if got is LANE_PARKED:
                return (yield from self._after(RAN_PARKED))
        # The general way, in the same five locals: ``got`` the strict mode's
        # guard it pauses (else None), ``handed`` what ``run_lone_step`` says
        index = self._index
        got = attempt.engine.segment_guard
        if got is not None:
            # In strict mode the profile hook watches the handler's code, not
            # this bookkeeping: paused in line (``StrictGuard.previous``), back
            # on before any yield and any exception.
            if got.active:
                got.active = False
                setprofile(got.previous)
            else:
                got = None
            attempt.awaited.add(index)  # (only strict mode names what a handler never awaited)
        try:
            if not attempt.alive:
                raise Abort()  # its attempt ended (a crash, or the run is over): no durable progress
            if index not in attempt.done and attempt.cursor < len(attempt.journal):
                attempt.replayed_next(index)  # the notifications before it, in journal order
            handed = NOT_RUN
            if index not in attempt.done:
                handed = attempt.engine.run_lone_step(attempt, index)
                if handed != RAN_PARKED:
                    attempt.replayed_next(index)
            if handed != RAN_PARKED and index in attempt.done:
                handed = attempt.done[index]  # (its completion, now)
                if not isinstance(handed, Failure):
                    return self._decode(handed[0])
                return self._result()
        finally:
            if got is not None:
                got.active = True
                setprofile(got.hook)
        # (the wait loop of ``_after``, here: a handler waiting holds one
        # generator, not two, which 10,000 handlers in flight feel)
        if handed == RAN_PARKED:
            yield PARKED
        while index not in attempt.done and not attempt.replayed_next(index):
            yield Wait((index,))
        return self._result()

    def _after(self, ran: int) -> Generator[Any, None, T]:
        """The rest of an await whose step ran in place (``RAN_PARKED``: its
        resume task is queued), or that waits as usual (``NOT_RUN``)."""
        attempt, index = self._attempt, self._index
        if ran == RAN_PARKED:
            yield PARKED
        while index not in attempt.done and not attempt.replayed_next(index):
            yield Wait((index,))
        return self._result()

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<{type(self).__name__} #{self._index} {state}>"


@types.coroutine
def after_in_place(future: DurableFuture[T], parked: bool) -> Generator[Any, Any, T]:
    """The rest of the await of a step ``_fast.step_command`` ran at its call
    (an express step) without handing back its value (it failed, or other
    work is ready): as ``__await__`` goes on after the step lane's
    ``LANE_PARKED`` (``parked``: its resume task is queued) or ``LANE_RESUMED``."""
    return (yield from future._after(RAN_PARKED if parked else NOT_RUN))


class StepFuture(DurableFuture[T]):
    """A plain step's future (``ctx.run_typed`` without options, out of strict
    mode), which is also the step's registration on its attempt: it has a
    ``StepSpec``'s fields, so a fresh step makes one object instead of two.
    ``_fast.step_command`` builds it without ``__init__``: a field added here
    is written there too."""

    # ``_kwargs``: its keyword arguments, or, when ``_keyword`` names the one
    # keyword its call site passes (``_fast.site_of``), that keyword's value
    # alone: the dict the call made is then let go at once, not kept until
    # its step task reads it back cold among 10,000 invocations' objects
    # (``_fast.keyword_run``'s function calls the action with it by that name).
    __slots__ = ("name", "fn", "args", "_kwargs", "serde", "scheduled", "_keyword")

    @property
    def _decode(self) -> Callable[[bytes], T]:  # type: ignore[override]  # (read-only here)
        """Its serde's ``deserialize``, made when a result is read back: a step
        whose value is handed back as it is never makes it."""
        return self.serde.deserialize  # type: ignore[no-any-return]

    @property
    def kwargs(self) -> dict[str, Any]:
        """Its step's keyword arguments (made from the one kept, if so: a new
        dict each read, as a call makes one)."""
        keyword = self._keyword
        if keyword is None:
            return self._kwargs
        return {keyword: self._kwargs}

    @kwargs.setter
    def kwargs(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs
        self._keyword = None

    backoff = None  # a plain step retries by the invocation's policy

    def __init__(self, attempt: Attempt, index: int, decode: Callable[[bytes], T], name: str,
                 fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 serde: Any) -> None:
        self._attempt = attempt
        self._index = index
        self.name = name
        self.fn = fn
        self.args = args
        self._kwargs = kwargs
        self._keyword = None
        self.serde = serde
        self.scheduled = False

    def __repr__(self) -> str:  # what restate-sdk's user knows it as
        return f"<DurableFuture #{self._index} {'done' if self.done() else 'pending'}>"


class ReplayedStepFuture(DurableFuture[T]):
    """A plain step replayed with its value: its command was matched at
    ``#index`` and the journal's next entry, ``#index + 1``, is its ``Value``
    (``_fast.step_command``, every replayed plain step). Awaited while the
    handler has taken nothing since (the cursor still at ``#index + 1``), it
    sees that completion and decodes it, as the step lane would, without the
    lane's call and checks; else, or with the lane off, the general way."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, T]:
        attempt = self._attempt
        index = self._index
        at = index + 1
        if (
            attempt.cursor == at
            and attempt.alive
            and not attempt.cancel_pending
            and attempt.engine.step_lane is not None
        ):
            # ``Attempt.see``: nothing took it yet (and its step, matched by
            # ``step_command``, was never registered: nothing to forget)
            journal = attempt.journal
            completion: Any = journal[at][3]  # its result (by position: a plain tuple index)
            attempt.completed()[index] = completion
            at += 1
            attempt.cursor = at
            if at >= len(journal):
                attempt.state = LIVE
                attempt.plain = (attempt.alive and not attempt.cancel_pending
                                 and attempt.failure is None)
            return self._decode(completion[0])  # its data
        return (yield from DurableFuture.__await__(self))

    def __repr__(self) -> str:  # what restate-sdk's user knows it as
        return f"<DurableFuture #{self._index} {'done' if self.done() else 'pending'}>"


class ReplayedPlainStepFuture(ReplayedStepFuture[T]):
    """A ``ReplayedStepFuture`` whose serde is the plain JSON one (a closure
    with no return hint, or one JSON gives back as it is): a natural number
    (ASCII digits, no leading zero) is read with ``int()``, which is exactly
    what that serde would answer, without its call; its decoder is its
    class's (``_fast.step_command`` writes none). Its ``__await__`` is its
    parent's with that read in place of the decoder's call (its own copy: no
    test of its type a step)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, T]:
        attempt = self._attempt
        index = self._index
        at = index + 1
        if (
            attempt.cursor == at
            and attempt.alive
            and not attempt.cancel_pending
            and attempt.engine.step_lane is not None
        ):
            journal = attempt.journal
            completion: Any = journal[at][3]  # as ``ReplayedStepFuture.__await__``
            attempt.completed()[index] = completion
            at += 1
            attempt.cursor = at
            if at >= len(journal):
                attempt.state = LIVE
                attempt.plain = (attempt.alive and not attempt.cancel_pending
                                 and attempt.failure is None)
            data = completion[0]
            if type(data) is bytes and data.isdigit() and (data >= b"1" or data == b"0"):
                # a JSON natural number, as ``DefaultSerde.deserialize`` reads it
                return int(data)  # type: ignore[return-value]
            return plain_decode[0](data)  # type: ignore[no-any-return]
        return (yield from DurableFuture.__await__(self))

    @property
    def _decode(self) -> Callable[[bytes], T]:  # type: ignore[override]  # (read-only here)
        return plain_decode[0]


# The plain serde's ``deserialize`` (put here by ``simdurable._api.context``).
plain_decode: list[Callable[[bytes], Any]] = []


class DurableSleepFuture(DurableFuture[None]):
    """``ctx.sleep``: resolves to None when the timer fires."""


class DurableCallFuture(DurableFuture[T]):
    """A call to another handler; knows the callee's invocation id at once."""

    __slots__ = ("_callee", "_cancel")

    def __init__(
        self,
        attempt: Attempt,
        index: int,
        decode: Callable[[bytes], T],
        callee: str,
        cancel: Callable[[str], None],
    ) -> None:
        super().__init__(attempt, index, decode)
        self._callee = callee
        self._cancel = cancel

    async def invocation_id(self) -> str:
        return self._callee

    async def cancel_invocation(self) -> None:
        self._cancel(self._callee)


class SendHandle:
    """A one-way send: the callee's invocation id, and a way to cancel it."""

    def __init__(self, callee: str, cancel: Callable[[str], None]) -> None:
        self._callee = callee
        self._cancel = cancel

    async def invocation_id(self) -> str:
        return self._callee

    async def cancel_invocation(self) -> None:
        self._cancel(self._callee)


class _WaitFor:
    """Awaitable that waits until ``wait`` is satisfied."""

    __slots__ = ("_attempt", "_wait")

    def __init__(self, attempt: Attempt, wait: Wait) -> None:
        self._attempt = attempt
        self._wait = wait

    def __await__(self) -> Generator[Any, None, None]:
        attempt, wait = self._attempt, self._wait
        if not attempt.alive:
            raise Abort()
        # In strict mode the profile hook watches the handler's code, not the
        # engine's bookkeeping of a wait (a tenth of a check's hook calls, in a
        # workflow that waits in a loop); it is back on before each yield.
        guard = attempt.engine.segment_guard
        if guard is None:  # (``_begin_wait`` inline: the common way, not strict)
            if attempt.issued is not None:
                attempt.register_issued()
            attempt.consume_for(wait)
            while not attempt.satisfied(wait):
                yield wait
            return
        done = guard.unwatched(_begin_wait, attempt, wait)
        while not done:
            yield wait
            done = guard.unwatched(attempt.satisfied, wait)


def _begin_wait(attempt: Attempt, wait: Wait) -> bool:
    """A wait's bookkeeping as it begins; whether it is satisfied at once."""
    if attempt.issued is not None:  # (its handler waits: see ``Attempt.issued``)
        attempt.register_issued()
    attempt.consume_for(wait)
    return attempt.satisfied(wait)


def _common_attempt(name: str, futures: Sequence[Any]) -> Attempt:
    if not futures:
        raise HandlerError(f"{name}() needs at least one future")
    attempt = None
    for f in futures:
        if not isinstance(f, DurableFuture):
            for other in futures:
                close = getattr(other, "close", None)
                if inspect.iscoroutine(other) and close is not None:
                    close()  # it will never run; say so without a "never awaited" warning
            raise HandlerError(
                f"{name}() accepts only simdurable futures (from ctx.run_typed, ctx.sleep, "
                f"calls, awakeables, promises), not {type(f).__name__}. "
                "asyncio/trio primitives cannot be journaled."
            )
        if attempt is None:
            attempt = f._attempt
        elif f._attempt is not attempt:
            raise HandlerError(f"{name}(): all futures must be created by the same context")
    assert attempt is not None
    attempt.awaited.update(f._index for f in futures)  # waited on, whichever completes
    return attempt


def _completed(futures: Sequence[DurableFuture[Any]]) -> list[DurableFuture[Any]]:
    return [f for f in futures if f.done()]


async def gather(*futures: DurableFuture[Any]) -> list[DurableFuture[Any]]:
    """Wait for all; return the futures given, in argument order.

    It raises nothing itself: awaiting a returned future gives its result or
    raises its ``TerminalError``. ``gather()`` returns ``[]``.
    """
    if not futures:
        return []
    attempt = _common_attempt("gather", futures)
    await _WaitFor(attempt, Wait(tuple(f._index for f in futures), all=True))
    return list(futures)


async def select(**futures: DurableFuture[Any]) -> list[Any]:
    """Wait for the first to complete; return ``[name, result]``.

    Raises the ``TerminalError`` of that future if it failed. When several are
    complete, the first in argument order wins.
    """
    if not futures:
        raise ValueError("At least one future must be passed.")
    items = list(futures.items())
    attempt = _common_attempt("select", [f for _, f in items])
    await _WaitFor(attempt, Wait(tuple(f._index for _, f in items)))
    name, first = next((k, f) for k, f in items if f.done())
    return [name, await first]


async def wait_completed(
    *futures: DurableFuture[Any],
) -> tuple[list[DurableFuture[Any]], list[DurableFuture[Any]]]:
    """Wait until at least one is complete; return ``(completed, pending)``,
    each in argument order. ``wait_completed()`` returns ``([], [])``."""
    if not futures:
        return [], []
    attempt = _common_attempt("wait_completed", futures)
    await _WaitFor(attempt, Wait(tuple(f._index for f in futures)))
    completed = _completed(futures)
    pending = [f for f in futures if not f.done()]
    return completed, pending


async def as_completed(*futures: DurableFuture[Any]) -> AsyncIterator[DurableFuture[Any]]:
    """Yield the futures as they complete; those that complete together, in
    argument order."""
    pending = list(futures)
    while pending:
        completed, pending = await wait_completed(*pending)
        for f in completed:
            yield f


# restate-sdk's names for the same types, for annotations.
RestateDurableFuture = DurableFuture
RestateDurableCallFuture = DurableCallFuture
RestateDurableSleepFuture = DurableSleepFuture
