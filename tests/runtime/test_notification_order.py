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
