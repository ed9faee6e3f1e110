"""A crash inside a compensation, after a failure for good, among the single faults.

A refund without an idempotency key is applied twice only when a step failed
for good (the compensation runs) and the process then crashed after the
refund's effect, before its result was stored: two faults deep. The
generated examples combined them at some seeds only (seeds 0 and 1 of 0 to
5), so the same check passed or failed by its seed.
"""

from __future__ import annotations

from typing import Any

import pytest

import simdurable as sd
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


def _counted_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The labels of every run the check makes (``_explore.execute``); a single
    crash's run made again strict from its start, its switch refused
    (``StrictFromCrash``), once."""
    from simdurable._check import _explore

    labels: list[str] = []
    execute = _explore.execute

    def counted(*a: object, **kw: object) -> object:
        facts = execute(*a, **kw)  # type: ignore[arg-type]
        switch = kw.get("strict_from")
        if not (isinstance(switch, _explore.StrictFromCrash) and switch.refused):
            labels.append(str(kw.get("label", a[5] if len(a) > 5 else "faulty")))
        return facts

    monkeypatch.setattr(_explore, "execute", counted)
    return labels


def test_a_failure_for_good_is_run_once_not_again_to_find_its_compensation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Each failure for good of the single faults was run a second time,
    # recording, only to find its compensation: 20 runs the report did not
    # count for a 20-step handler. Its own judged run records it now.
    from benchmarks.bench_sim import named_steps_service

    twenty = named_steps_service(20, "Once")
    labels = _counted_runs(monkeypatch)
    report = sd.check([twenty], f"{twenty.name}/run", 0, max_examples=0,
                      hash_seeds=(), self_check=False, strict=False)
    assert report.ok and report.single_faults == 100
    assert "compensation" not in labels
    assert len(labels) == report.runs == 101


def test_the_compensation_is_found_by_the_failure_s_own_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    labels = _counted_runs(monkeypatch)
    report = PAIR.check(fixed=False, seed=2, max_examples=0)
    assert "compensation" not in labels
    assert not report.ok and report.single_faults == 12  # (10 single faults, 2 pairs)
    assert len(labels) == report.runs == 17


# A charge without a key (a crash after it charges twice: a single fault
# finds it) and a compensation (a refund, keyed) after a failed dispatch.
twice = sd.Service("TwiceCharged")
twice_pay = sd.FakeExternal("pay")


def _charge(order: str) -> None:
    twice_pay.apply("charge", {"order": order})


def _refund(order: str) -> None:
    twice_pay.apply("refund", {"order": order}, idempotency_key=f"refund-{order}")


@twice.handler()
async def order(ctx: sd.Context, oid: str) -> str:
    await ctx.run_typed("charge", _charge, order=oid)
    try:
        return await ctx.run_typed("dispatch", lambda: f"parcel-{oid}")
    except sd.TerminalError:
        await ctx.run_typed("refund", _refund, order=oid)
        raise


def test_a_single_fault_s_finding_names_the_whole_phase_with_its_compensation() -> None:
    # The crashes in a compensation are known once the failures for good have
    # run: what a single fault found before is named by the whole phase, as
    # the report said when the list was made first, in one process or two.
    kw: dict[str, Any] = {"services": [twice], "invoke": "TwiceCharged/order",
                          "input": "o1", "externals": [twice_pay], "max_examples": 0}
    one = sd.check(**kw)
    [v] = one.violations
    assert (v.kind, v.step) == ("duplicate-effect", "charge")
    assert v.found_by.endswith("single faults, each tried alone, and 1 crash in a "
                               "compensation after a failure for good)"), v.found_by
    two = sd.check(jobs=2, **kw)
    assert not two.notes or "jobs=2" not in " ".join(two.notes)
    assert str(one) == str(two)


def test_a_failure_for_good_s_run_asks_nothing_before_the_failure(
        terminal_error_asks: list[int]) -> None:
    # Until the failure fires its run is the reference run's: what the
    # reference run's questions decided there is taken, not asked again (an
    # explorer made each of the 20 runs stop at every point of every step
    # and look for a TerminalError in the handler's frames at each command).
    from benchmarks.bench_sim import named_steps_service

    asked = terminal_error_asks
    twenty = named_steps_service(20, "Asked")
    report = sd.check([twenty], f"{twenty.name}/run", 0, max_examples=0,
                      hash_seeds=(), self_check=False, strict=False)
    assert report.ok
    assert asked[0] == 20  # the reference run's, one a command


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.name)
def test_a_failure_s_recorder_finds_what_a_whole_recorded_run_finds(
        pair: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its points, what compensates among them and the crashes in a
    # compensation it finds, for every failure for good of the sagas, as a
    # second run recording from its start found them.
    from simdurable._check import _explore
    from simdurable._check._chooser import RecordingChooser, RecordingExplorer
    from simdurable.runtime._faults import FaultPlan

    found = _explore.Exploration.compensation_found
    compared = []

    def against_a_whole_run(ex: Any, terminal: Any, recorder: Any) -> Any:
        whole = RecordingExplorer()
        _explore.execute(ex.t, ex.seed, FaultPlan((terminal,)), RecordingChooser(ex.seed),
                         whole, "compensation")
        assert recorder.points == whole.points
        assert recorder.compensating_points == whole.compensating_points
        got = found(ex, terminal, recorder)
        assert got == found(ex, terminal, whole)
        compared.append(len(got))
        return got

    monkeypatch.setattr(_explore.Exploration, "compensation_found", against_a_whole_run)
    for fixed in (False, True):
        pair.check(fixed=fixed, seed=0, max_examples=0)
    assert compared


def test_with_world_events_a_failure_s_compensation_is_found_by_a_run_of_its_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A recorder turns the runtime's fused paths off, and a world event that
    # comes once the run reaches something may then come elsewhere in it: the
    # judged runs carry none, and the reference run's twin carries one as the
    # reference run did (a fixed handler reported nondeterminism otherwise).
    from simdurable import world
    from tests.test_world_from_effect import READ, bank, mailer, pay

    labels = _counted_runs(monkeypatch)
    report = sd.check(services=[pay], invoke="CodePay/p/run", input=True,
                      externals=[mailer, bank], max_examples=0,
                      world=[world.call("CodePay/p/confirm", READ, when="early")])
    assert report.ok, report
    assert labels.count("compensation") == 2  # (a failure for good of each step)
