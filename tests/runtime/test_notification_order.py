"""A wait sees completions in journal order, one at a time, live as on replay.

Two steps raced with ``as_completed``: the handler sees the first to finish,
then waits for the other. Both completions are journaled before its next
command, so a replay that made every one visible at the first wait would see
both there, pick the other winner and diverge from its own journal.
(eventuate-tram/eventuate-tram-sagas#9 is the bug class; this is its fix.)
"""

from __future__ import annotations

import simdurable as sd
from tests.corpus.pairs.races import fastest_ok, seats


def _run(faults: str | None = None, **kw: object) -> tuple[sd.Simulation, sd.InvocationHandle]:
    seats.reset()
    sim = sd.Simulation([fastest_ok], seed=0, externals=[seats], faults=faults, **kw)
    h = sim.invoke("Fastest/book", "t1")
    sim.run()
    return sim, h


def test_the_first_to_finish_is_the_winner_on_replay_too():
    sim, h = _run()
    winner = h.result()
    loser = "a" if winner == "b" else "b"
    # The release of the loser ran, then the process died: the retry replays
    # the race from the journal and must name the same winner.
    sim, h = _run(f"crash(step=release-{loser}, phase=effect-done)")
    assert sim.problems == []
    assert h.result() == winner
    assert sim.step_runs(h) == {"hold-a": 1, "hold-b": 1, f"release-{loser}": 2}


def test_a_run_that_replays_at_every_wait_ends_as_one_that_never_does():
    _, h = _run()
    sim, again = _run(always_suspend=True)
    assert sim.problems == []
    assert again.result() == h.result()


def _plus_one(i: int) -> int:
    return i + 1


later = sd.Service("Later")


@later.handler()
async def two_then_one(ctx: sd.Context, x: int) -> int:
    first = ctx.run_typed("a", _plus_one, i=x)
    second = ctx.run_typed("b", _plus_one, i=x + 10)
    one = await first  # in a crowd, "b" is often journaled right after: not seen here
    three = await ctx.run_typed("c", _plus_one, i=one)  # ... but before this command
    return one + await second + three


def _later(seed: int, fused: bool, faults: str | None) -> tuple[list[int], str]:
    sim = sd.Simulation([later], seed=seed, faults=faults)
    if not fused:
        sim.engine.issue_step = None
        sim.engine.step_lane = None
    handles = [sim.invoke("Later/two_then_one", x) for x in range(3)]
    sim.run()
    return [h.result() for h in handles], sim.trace()


def test_a_completion_not_seen_at_a_wait_is_seen_before_the_next_command():
    # Both ways of issuing a step (fused and general), with and without a
    # fault armed at it, used to skip a completion journaled after the one
    # the wait took: the handler then waited on it for ever.
    for seed in range(8):
        for faults in (None, "crash(step=c, phase=before, attempt=2)"):
            fused = _later(seed, True, faults)
            assert fused[0] == [14, 17, 20]
            assert fused == _later(seed, False, faults)
