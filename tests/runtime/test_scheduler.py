"""The scheduler: virtual time only moves forward; choices come from the chooser."""

from __future__ import annotations

import pytest

from simdurable.runtime import FirstChooser, RandomChooser, Scheduler


def test_time_never_goes_backwards():
    s = Scheduler(FirstChooser())
    s.jump_to(100)
    with pytest.raises(ValueError, match="time cannot go backwards"):
        s.jump_to(99)
    assert s.now_ms == 100


def test_timers_fire_in_due_then_insertion_order():
    s = Scheduler(FirstChooser())
    for due, name in [(30, "c"), (10, "a"), (30, "d"), (10, "b")]:
        s.add_timer(due, name)
    s.jump_to(10)
    assert s.pop_due() == ["a", "b"]
    s.jump_to(s.next_deadline())
    assert s.pop_due() == ["c", "d"]
    assert s.next_deadline() is None


def test_ready_choice_is_seeded():
    def order(seed):
        s = Scheduler(RandomChooser(seed))
        for i in range(10):
            s.push(i)
        return [s.pop() for _ in range(10)]

    assert order(1) == order(1)
    assert len({tuple(order(seed)) for seed in range(5)}) > 1
    assert sorted(order(3)) == list(range(10))


def test_random_choices_are_those_of_randrange():
    # The chooser draws as ``random.Random(seed).randrange(n)`` would (it inlines
    # it): the schedules of every seed stay what they were.
    import random

    for seed in (0, 1, 7, 12345):
        chooser, rng = RandomChooser(seed), random.Random(seed)
        for n in list(range(2, 70)) + [100, 1000, 4097, 10_000, 65_536, 10**6]:
            for _ in range(5):
                assert chooser.choose(n, "schedule") == rng.randrange(n)
        assert chooser.chance(0.5, "x") == (rng.random() < 0.5)


def test_without_a_chooser_the_seeds_random_one_is_made_at_the_first_decision():
    def order(s: Scheduler) -> list[int]:
        for i in range(10):
            s.push(i)
        return [s.pop() for _ in range(10)]

    for seed in range(5):
        lazy = Scheduler(None, seed=seed)
        lazy.push("alone")
        assert lazy.pop() == "alone" and "chooser" not in vars(lazy)  # no decision
        assert order(lazy) == order(Scheduler(RandomChooser(seed)))
        assert type(lazy.chooser) is RandomChooser and lazy.chooser.seed == seed


def test_a_simulation_makes_its_chooser_at_its_first_decision_only():
    import simdurable as sd
    from simdurable.runtime._scheduler import FirstChooser as First

    svc = sd.Service("Chosen")

    @svc.handler()
    async def hello(ctx: sd.Context, who: str) -> str:
        return await ctx.run_typed("greet", lambda: f"hello {who}")

    def run(chooser: object, names: list[str]) -> tuple[list[str], bool]:
        sim = sd.Simulation([svc], seed=4, chooser=chooser)  # type: ignore[arg-type]
        handles = [sim.invoke("Chosen/hello", name) for name in names]
        sim.run()
        assert [h.result() for h in handles] == [f"hello {name}" for name in names]
        return sim.trace(), "chooser" in vars(sim.scheduler)

    assert run(None, ["ann"]) == (run(RandomChooser(4), ["ann"])[0], False)
    assert run(None, ["ann", "bob", "cy"]) == (run(RandomChooser(4), ["ann", "bob", "cy"])[0],
                                               True)
    first = sd.Simulation([svc], chooser=First())
    assert type(first.scheduler.chooser) is First
