"""What a crowd's step and resume tasks read, each drawn among thousands of
invocations in flight: as few cache lines as the same work allows.

Not timed (BENCHMARKS.md, "The crowd's cold reads, twenty-sixth pass"): the
layout and the calls that decide the lines read are checked here.
"""

from __future__ import annotations

import ctypes
from typing import Any

from simdurable.runtime._store import PENDING, InvocationRecord


def first_slots(obj: Any, n: int) -> set[int]:
    """The ids of the objects in ``obj``'s first ``n`` slots, as laid out in memory."""
    header = object.__basicsize__
    return {ctypes.c_void_p.from_address(id(obj) + header + 8 * i).value or 0
            for i in range(n)}


def test_a_records_fields_an_attempt_takes_at_its_start_are_first_in_its_memory() -> None:
    # (an attempt takes ``done_bits`` and ``retry_index`` from its record as it
    # starts, and its step tasks read them there: with the header, 32 bytes, in
    # one line wherever the record starts; a class's slots are laid out in their
    # names' order, which spread them over two or three cache lines of the object)
    rec = InvocationRecord("inv-1", "Svc", "run", None, b"", 1, "".join(("pend", "ing")))
    rec.done_bits = 1 << 70
    rec.retry_index = 1 << 71  # (int objects of their own, told by identity)
    assert first_slots(rec, 2) == {id(rec.done_bits), id(rec.retry_index)}


def test_a_records_fields_a_start_and_a_return_read_are_in_its_first_128_bytes() -> None:
    # (a crowd's start task reads these, its handler's return writes some:
    # in names' order they spread over four of the record's lines)
    names = ("done_bits", "retry_index", "status", "service", "handler", "key", "id",
             "attempts", "input", "run_at_ms", "result", "finished_ms")
    rec = InvocationRecord("inv-1", "Svc", "run", None, b"", 1)
    values = {name: object() for name in names}
    for name, value in values.items():
        setattr(rec, name, value)
    assert {id(v) for v in values.values()} <= first_slots(rec, 14)


def test_a_records_fields_and_constructor_keep_their_order() -> None:
    rec = InvocationRecord("inv-1", "Svc", "run", "k", b"in", 3, PENDING, 5, 6)
    assert (rec.id, rec.service, rec.handler, rec.key, rec.input, rec.seq, rec.status,
            rec.run_at_ms, rec.created_ms) == ("inv-1", "Svc", "run", "k", b"in", 3, PENDING,
                                               5, 6)
    assert repr(rec).startswith("InvocationRecord(id='inv-1', service='Svc', handler='run', ")
    assert InvocationRecord.__match_args__[:7] == (
        "id", "service", "handler", "key", "input", "seq", "status")


def test_an_attempts_fields_a_crowds_tasks_read_are_first_in_its_memory() -> None:
    # (each step and resume task of a crowd reads these of its attempt, cold;
    # in their names' order they spread over four of its five cache lines)
    from simdurable.runtime._invocation import Attempt, _AttemptHead, _AttemptResumed

    resumed = set(_AttemptResumed.__slots__)
    stepped = resumed | set(_AttemptHead.__slots__)
    assert {"context", "coro", "journal", "waiting", "handed", "inv_id", "engine",
            "issued"} <= resumed
    assert {"alive", "done", "done_bits", "retry_index", "steps"} <= stepped - resumed
    attempt = object.__new__(Attempt)
    names = Attempt.__slots__ + _AttemptHead.__slots__ + _AttemptResumed.__slots__
    values = {name: object() for name in names}
    for name, value in values.items():
        setattr(attempt, name, value)
    # a resume's in the header's line and the next (14 slots), a step's in three
    assert len(resumed) == 14
    assert first_slots(attempt, len(resumed)) == {id(values[name]) for name in resumed}
    assert len(stepped) <= 22
    assert first_slots(attempt, len(stepped)) == {id(values[name]) for name in stepped}


def test_an_attempt_with_the_collectors_header_is_whole_cache_lines() -> None:
    # (so that the allocator's blocks of its size, after a pool's header of
    # 48 bytes, put every attempt at the start of a line: with 304 bytes,
    # three in four started within one, and its first fields crossed a line)
    from simdurable.runtime._invocation import Attempt

    gc_header = 2 * ctypes.sizeof(ctypes.c_void_p)
    block = -(-(Attempt.__basicsize__ + gc_header) // 16) * 16  # (its size class)
    assert block % 64 == 0
