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


def test_a_records_fields_a_step_task_reads_are_first_in_its_memory() -> None:
    # (a step task reads ``id``, ``status``, ``done_bits`` and ``retry_index``;
    # a class's slots are laid out in their names' order, which spread them
    # over four cache lines of the object)
    rec = InvocationRecord("inv-1", "Svc", "run", None, b"", 1, "".join(("pend", "ing")))
    rec.done_bits = 1 << 70
    rec.retry_index = 1 << 71  # (int objects of their own, told by identity)
    assert first_slots(rec, 4) == {id(rec.id), id(rec.status), id(rec.done_bits),
                                   id(rec.retry_index)}


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
    # in their names' order they spread over all five of its cache lines)
    from simdurable.runtime._invocation import Attempt, _AttemptHead

    read = set(_AttemptHead.__slots__)
    assert {"rec", "context", "coro", "journal", "waiting", "handed", "queued"} <= read
    attempt = object.__new__(Attempt)
    values = {name: object() for name in Attempt.__slots__ + _AttemptHead.__slots__}
    for name, value in values.items():
        setattr(attempt, name, value)
    assert first_slots(attempt, len(read)) == {id(values[name]) for name in read}
