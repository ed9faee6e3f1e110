"""``replay_journals``: journals recorded by one version of the code, replayed by another.

Each changed version (``apps.py``) is flagged at the first journal index it
changes, with the recorded entry, the new one and the line of the new code;
the unchanged version replays every journal; no step closure ever runs.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

import simdurable as restate
from simdurable._cli import main

from . import apps


def record(services: list) -> restate.Simulation:  # type: ignore[type-arg]
    """Two orders that ended and two in flight (in their hour-long sleep)."""
    sim = restate.Simulation(services, seed=3)
    sim.invoke("Shop/order", "book")
    sim.invoke("Shop/order", "pen")
    sim.run()
    sim.invoke("Shop/order", "lamp")
    sim.invoke("Shop/order", "ink")
    sim.run(until=timedelta(seconds=sim.now()) + timedelta(minutes=5))
    apps.RAN.clear()
    return sim


@pytest.fixture(scope="module")
def recorded() -> restate.Simulation:
    return record(apps.v1)


def test_unchanged_code_replays_every_journal(recorded: restate.Simulation) -> None:
    report = restate.replay_journals(apps.same, recorded)
    assert [r.verdict for r in report.results] == ["replays"] * 4
    assert [r.ended for r in report.results] == [True, True, False, False]
    assert report.ok and report.exit_code == 0
    assert apps.RAN == []  # no step closure ran
    assert report.summary() == "4 invocation(s): 4 replay, 0 diverge, 0 cannot be judged"


def test_a_renamed_step_diverges_where_it_is_issued(recorded: restate.Simulation) -> None:
    report = restate.replay_journals(apps.renamed, recorded)
    assert not report.ok and report.exit_code == 1
    assert len(report.diverging) == 4
    r = report.diverging[0]
    assert (r.index, r.recorded, r.new) == (2, 'run "charge"', 'run "payment"')
    assert r.source is not None and r.source.startswith("apps.py:")
    line = int(r.source.split(":")[1])
    assert "RENAMED" in Path(apps.__file__).read_text().splitlines()[line - 1]
    assert "diverges at journal index #2" in str(report)
    assert apps.RAN == []


def test_reordered_steps_diverge_at_the_first(recorded: restate.Simulation) -> None:
    report = restate.replay_journals(apps.reordered, recorded)
    r = report.results[2]
    assert (r.verdict, r.index, r.recorded, r.new) == (
        "diverges", 0, 'run "reserve"', 'run "charge"')
    assert "REORDERED" in _line(r.source)
    assert apps.RAN == []


def test_an_added_call_diverges_with_its_payload(recorded: restate.Simulation) -> None:
    report = restate.replay_journals(apps.added, recorded)
    r = report.results[3]
    assert r.verdict == "diverges" and r.index == 2
    assert r.recorded == 'run "charge"' and r.new == 'call "Stock/ink/take" 1'
    assert "ADDED" in _line(r.source)
    assert apps.RAN == []


def test_a_step_added_at_the_end_breaks_only_what_had_ended(
        recorded: restate.Simulation) -> None:
    report = restate.replay_journals(apps.tail, recorded)
    assert [r.verdict for r in report.results] == ["diverges", "diverges", "replays", "replays"]
    r = report.results[0]
    assert r.index == r.entries == 8  # past the end of the ended journal
    assert r.recorded == "the invocation's end: returned" and r.new == 'run "audit"'
    assert "ADDED AT THE END" in _line(r.source)
    assert apps.RAN == []


def test_a_step_removed_diverges_where_the_code_now_ends(recorded: restate.Simulation) -> None:
    shop = restate.Service("Shop")

    @shop.handler(name="order")
    async def order(ctx: restate.Context, item: str) -> str:
        return await ctx.run_typed("reserve", apps.reserve, item=item)

    report = restate.replay_journals([shop], recorded)
    r = report.results[0]
    assert (r.verdict, r.index, r.recorded) == ("diverges", 2, 'run "charge"')
    assert r.new == "the handler returned"


def test_the_same_path_ending_another_way_diverges(recorded: restate.Simulation) -> None:
    shop = restate.Service("Shop")

    @shop.handler(name="order")
    async def order(ctx: restate.Context, item: str) -> str:
        await ctx.run_typed("reserve", apps.reserve, item=item)
        await ctx.run_typed("charge", apps.charge, amount=len(item))
        await ctx.sleep(timedelta(hours=1))
        await ctx.run_typed("ship", apps.ship, item=item)
        raise restate.TerminalError("out of stock", 409)

    report = restate.replay_journals([shop], recorded)
    assert [r.verdict for r in report.results] == ["diverges", "diverges", "replays", "replays"]
    assert report.results[0].new == "the handler failed 409: out of stock"


def test_a_missing_handler_cannot_be_judged(recorded: restate.Simulation) -> None:
    report = restate.replay_journals(apps.gone, recorded)
    assert {r.verdict for r in report.results} == {"cannot-judge"}
    assert "no handler 'order' in service 'Shop' (it has: purchase)" in report.results[0].reason
    assert report.exit_code == 3
    other = restate.replay_journals(apps.gone[1:], recorded)
    assert "no service 'Shop' (services given: Stock)" in other.results[0].reason


def test_concurrent_steps_replay_in_the_order_they_completed() -> None:
    svc = restate.Service("Fan")

    @svc.handler()
    async def fan(ctx: restate.Context) -> list[int]:
        futures = [ctx.run_typed(f"s{i}", lambda i=i: i) for i in range(4)]
        first = await restate.select(**{f"f{i}": f for i, f in enumerate(futures)})
        await restate.gather(*futures)
        return [first[0] == "f0", *[await f for f in futures]]  # type: ignore[list-item]

    sim = restate.Simulation([svc], seed=11)
    sim.invoke("Fan/fan")
    sim.run()
    assert restate.replay_journals([svc], sim).ok


def test_a_cancelled_invocation_replays() -> None:
    svc = restate.Service("Waits")

    @svc.handler()
    async def wait(ctx: restate.Context) -> str:
        try:
            await ctx.sleep(timedelta(days=1))
        except restate.TerminalError:
            await ctx.run_typed("undo", lambda: "undone")
            raise
        return "slept"

    sim = restate.Simulation([svc])
    h = sim.invoke("Waits/wait")
    sim.run(until=timedelta(seconds=1))
    sim.cancel(h)
    sim.run()
    report = restate.replay_journals([svc], sim)
    assert report.ok, str(report)


def test_the_cli_exit_codes(recorded: restate.Simulation, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "journals.json"
    assert restate.export_journals(recorded, export) == 4
    app = "tests.replay.apps"
    assert main(["replay-journals", str(export), f"{app}:same"]) == 0
    assert capsys.readouterr().out.endswith(
        f"4 invocation(s): 4 replay, 0 diverge, 0 cannot be judged ({export})\n")
    assert main(["replay-journals", str(export), f"{app}:renamed"]) == 1
    out = capsys.readouterr().out
    assert 'recorded: run "charge"' in out and 'new code: run "payment"  (apps.py:' in out
    assert main(["replay-journals", str(export), f"{app}:gone"]) == 3
    assert main(["replay-journals", str(tmp_path / "none.json"), f"{app}:same"]) == 2
    assert "none.json: no such file" in capsys.readouterr().err
    assert main(["replay-journals", str(export), f"{app}:nothing"]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err
    assert apps.RAN == []


def _line(source: str | None) -> str:
    assert source is not None and source.startswith("apps.py:"), source
    return Path(apps.__file__).read_text().splitlines()[int(source.split(":")[1]) - 1]


def test_the_json_report_is_the_same_every_time(recorded: restate.Simulation, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "journals.json"
    restate.export_journals(recorded, export)
    outputs = []
    for _ in range(2):
        assert main(["replay-journals", str(export), "tests.replay.apps:added", "--json"]) == 1
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    lines = [json.loads(line) for line in outputs[0].splitlines()]
    assert [line.get("verdict") for line in lines[:4]] == ["diverges"] * 4
    assert lines[3]["new"] == 'call "Stock/ink/take" 1' and lines[3]["index"] == 2
    assert lines[4] == {"summary": "4 invocation(s): 0 replay, 4 diverge, 0 cannot be judged",
                        "exit_code": 1}
