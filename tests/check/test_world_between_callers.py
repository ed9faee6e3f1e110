"""A world call between callers at once: submitted after the first K of them and
before the others (``after-K``), on their key queued between them.

Early, the world's call came after every caller was submitted, and waiting or
late once they had all run: on one key it never came between two callers, so a
bug that needs it there (a seat given back between two bookers, a refill between
the second and the third buyer) was never run.
"""

from __future__ import annotations

import pytest

import simdurable as sd
from simdurable import world

till = sd.FakeExternal("till")


def _shelf(fixed: bool) -> sd.VirtualObject:
    shelf = sd.VirtualObject("Shelf")

    @shelf.handler()
    async def buy(ctx: sd.ObjectContext) -> str:
        left = await ctx.get("left")
        left = 2 if left is None else int(left)
        if left == 0:
            return "sold out"
        sold = int(await ctx.get("sold") or 0) + 1
        ctx.set("left", left - 1)
        ctx.set("sold", sold)
        # The bug: the receipt's key names the shelf's count, which a refill
        # repeats (the fix: the sale's number, which it does not).
        key = f"sale-{sold}" if fixed else f"{ctx.key()}-left-{left}"

        def record() -> str:
            return str(till.apply("record", {"sale": sold}, idempotency_key=key)["id"])

        return str(await ctx.run_typed("record", record))

    @shelf.handler(kind="shared")
    async def peek(ctx: sd.ObjectSharedContext) -> int:
        left = await ctx.get("left")
        return 2 if left is None else int(left)

    @shelf.handler()
    async def refill(ctx: sd.ObjectContext) -> None:
        """Fills an empty shelf only: between the first two buys it does nothing."""
        if await ctx.get("left") == 0:
            ctx.set("left", 2)

    return shelf


def _check(fixed: bool, concurrent: int = 3) -> sd.Report:
    return sd.check(services=[_shelf(fixed)], invoke="Shelf/a/buy", input=None,
                    concurrent=concurrent, world=[world.call("Shelf/a/refill", None)],
                    externals=[till], max_examples=20, hash_seeds=())


def test_a_refill_between_the_second_and_third_buyer_repeats_a_key() -> None:
    report = _check(fixed=False)
    [v] = [v for v in report.violations if v.kind == "duplicate-effect"]
    assert "gave idempotency key 'a-left-2'" in v.message
    assert [ev.when for ev in v.world] == ["after-2"]
    program = v.program.splitlines()
    refill = program.index("sim.invoke('Shelf/a/refill', None)")
    assert [line.startswith("sim.invoke('Shelf/a/buy'") for line in program[refill - 2:refill + 2]
            if line.startswith("sim.invoke")] == [True, False, True], program
    assert "between callers" in report.render()
    # (its blob runs the case again: the call between the callers)
    again = sd.replay(services=[_shelf(False)], invoke="Shelf/a/buy", input=None,
                      externals=[till], world=[world.call("Shelf/a/refill", None)],
                      concurrent=3, blob=v.blob)
    assert again.kinds == ["duplicate-effect"]


def test_its_fixed_twin_passes_with_the_refill_between_them_too() -> None:
    # (one at a time, the refill comes once two buyers have ended: the run at
    # once is no lost update)
    report = _check(fixed=True)
    assert report.ok, report.render()


ledger = sd.FakeExternal("ledger")


def _show(fixed: bool) -> sd.VirtualObject:
    """A show with one seat left, and a booking's charge keyed by the seats left."""
    show = sd.VirtualObject("Show")

    @show.handler()
    async def book(ctx: sd.ObjectContext) -> str:
        free = await ctx.get("free")
        free = 1 if free is None else int(free)
        if free == 0:
            return "sold out"
        sold = int(await ctx.get("sold") or 0) + 1
        ctx.set("free", free - 1)
        ctx.set("sold", sold)
        # The bug: the charge's key names the seat count, which a returned
        # seat repeats (the fix: the ticket's number, which it does not).
        key = f"ticket-{sold}" if fixed else f"{ctx.key()}-seat-{free}"

        def charge() -> str:
            return str(ledger.apply("charge", {"ticket": sold}, idempotency_key=key)["id"])

        return str(await ctx.run_typed("charge", charge))

    @show.handler()
    async def give_back(ctx: sd.ObjectContext) -> None:
        """A cancelled booking elsewhere returns its seat to a sold-out show."""
        if await ctx.get("free") == 0:
            ctx.set("free", 1)

    return show


def _check_two(fixed: bool) -> sd.Report:
    return sd.check(services=[_show(fixed)], invoke="Show/a/book", input=None, concurrent=2,
                    world=[world.call("Show/a/give_back", None)], externals=[ledger],
                    max_examples=20, hash_seeds=())


def test_a_seat_given_back_between_two_bookers_repeats_a_key() -> None:
    # Early, the returned seat came after both bookers were submitted: on their
    # key it ran after both, and the second booker saw "sold out" in every run.
    report = _check_two(fixed=False)
    [v] = [v for v in report.violations if v.kind == "duplicate-effect"]
    assert "gave idempotency key 'a-seat-1'" in v.message
    assert [ev.when for ev in v.world] == ["after-1"]
    assert "submitted after the first of the callers at once" in v.render()
    program = [line.removeprefix("h = ") for line in v.program.splitlines()
               if "sim.invoke(" in line]
    assert program == ["sim.invoke('Show/a/book', None)", "sim.invoke('Show/a/give_back', None)",
                       "sim.invoke('Show/a/book', None)"]
    assert report.moment_runs == 3  # (early, late, and between the two)


def test_its_fixed_twin_passes_with_the_seat_given_back_between_them() -> None:
    report = _check_two(fixed=True)
    assert report.ok, report.render()


@pytest.mark.parametrize("when", ["after-1", "after-12"])
def test_after_k_is_a_moment_a_world_event_takes(when: str) -> None:
    assert world.call("Shelf/a/refill", None, when=when).when == when
    assert world.from_dict({"call": {"target": "Shelf/a/refill"}, "when": when}).when == when


@pytest.mark.parametrize("when", ["after-0", "after-", "after-x", "after-01"])
def test_other_moments_are_refused(when: str) -> None:
    with pytest.raises(ValueError, match="after-K"):
        world.call("Shelf/a/refill", None, when=when)


@pytest.mark.parametrize("target", ["Shelf/a/peek", "Shelf/b/refill"])
def test_a_call_that_does_not_queue_behind_the_callers_is_not_tried_between_them(
        target: str) -> None:
    # A shared handler, or another key, runs as soon as it is submitted: at once,
    # submitted after the first caller, the peek read the full shelf before any
    # buyer ran, and one at a time, once a buyer had ended, it never did: every
    # such check was reported not-serializable (restate-sdk's counter example,
    # "increment and count", at concurrent=3). Such a call is early already.
    report = sd.check(services=[_shelf(fixed=True)], invoke="Shelf/a/buy", input=None,
                      concurrent=3, world=[world.call(target, None)], externals=[till],
                      max_examples=20, hash_seeds=())
    assert report.ok, report.render()
    assert report.moment_runs == 2  # (early and late only)


def test_a_call_after_other_world_events_keeps_its_place_after_them() -> None:
    # The world's events keep their order: a refill given after a peek is not
    # submitted between the callers, before the peek (restate-sdk's counter with
    # a reset after its reads, at concurrent=3, was reported not-serializable).
    report = sd.check(services=[_shelf(fixed=True)], invoke="Shelf/a/buy", input=None,
                      concurrent=3, externals=[till], max_examples=20, hash_seeds=(),
                      world=[world.call("Shelf/a/peek", None), world.call("Shelf/a/refill", None)])
    assert report.ok, report.render()
    assert report.moment_runs == 4  # (each early and late only)


def test_three_callers_without_a_world_explore_as_before() -> None:
    report = sd.check(services=[_shelf(fixed=True)], invoke="Shelf/a/buy", input=None,
                      concurrent=3, externals=[till], max_examples=5, hash_seeds=())
    assert report.ok, report.render()
    assert report.moment_runs == 0
