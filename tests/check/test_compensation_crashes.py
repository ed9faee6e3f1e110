"""A crash inside a compensation, after a failure for good, among the single faults.

A refund without an idempotency key is applied twice only when a step failed
for good (the compensation runs) and the process then crashed after the
refund's effect, before its result was stored: two faults deep. The
generated examples combined them at some seeds only (seeds 0 and 1 of 0 to
5), so the same check passed or failed by its seed.
"""

from __future__ import annotations

import pytest

from tests.corpus.pairs.sagas import PAIRS

PAIR = next(p for p in PAIRS if p.name == "compensation-not-idempotent")


@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_a_refund_applied_twice_is_found_at_every_seed(seed: int) -> None:
    report = PAIR.check(fixed=False, seed=seed, max_examples=0)
    [v] = report.violations
    assert (v.kind, v.handler, v.step, v.journal_index) == (
        "duplicate-effect", "Dispatch/order", "refund", 4)
    assert str(v.fault_plan) == (
        'terminal(step=dispatch, index=2, attempt=1, message="injected terminal failure", '
        'status=500); crash(step=refund, index=4, phase=effect-done, attempt=1, '
        'target=Dispatch/order)')
    assert v.found_by.endswith("and 1 crash in a compensation after a failure for good)")


def test_a_keyed_refund_stays_quiet() -> None:
    assert PAIR.check(fixed=True, seed=2, max_examples=0).ok


def test_the_cases_are_the_same_with_jobs() -> None:
    one = PAIR.check(fixed=False, seed=3, max_examples=0)
    two = PAIR.check(fixed=False, seed=3, max_examples=0, jobs=2)
    assert str(one) == str(two)


def test_a_compensation_failing_every_attempt_is_crashed_once_not_per_attempt() -> None:
    # As Restate's microservices snippet: a plain class as the input's type
    # hint arrives as a dict, and the compensation reads an attribute of it.
    # Its 70 attempts each made one more "crash in a compensation" case, each
    # of which ran the 70 attempts again (150 single faults, a minute).
    import simdurable as sd

    booking = sd.Service("PlainBooking")

    class Request:
        def __init__(self, hotel_id: str) -> None:
            self.hotel_id = hotel_id

    def book_hotel(request: Request) -> None:
        pass

    def cancel_hotel(hotel_id: str) -> None:
        pass

    @booking.handler()
    async def reserve(ctx: sd.Context, request: Request) -> dict[str, bool]:
        compensations = []
        try:
            compensations.append(lambda: cancel_hotel(request.hotel_id))
            await ctx.run_typed("book_hotel", book_hotel, request=request)
            return {"success": True}
        except Exception:
            for i, compensation in enumerate(reversed(compensations)):
                await ctx.run_typed(f"compensation_{i}", compensation)
            raise

    report = sd.check(services=[booking], invoke="PlainBooking/reserve",
                      input={"hotel_id": "h"}, max_examples=0)
    assert "retry-loop" in report.kinds
    [loop] = [v for v in report.violations if v.kind == "retry-loop"]
    assert (loop.step, loop.journal_index) == ("compensation_0", 2)
    assert "has no attribute 'hotel_id'" in loop.message
    assert report.single_faults < 20, report.single_faults
