"""The benchmark script still runs (tiny sizes, no peers); it is not a benchmark itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.check_ab import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(module: str, *args: str) -> str:
    """Run ``python -m benchmarks.<module> <args>`` from the project's root; its output."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_benchmark_script_runs_on_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    data = tmp_path / "report.json"
    run_benchmark("run", "--size", "tiny", "--only", "sim", "--markdown", str(out),
                  "--json", str(data))
    text = out.read_text()
    assert "Journaled steps per second" in text
    assert "Exhaustive single-fault exploration" in text
    assert "30 days" in text
    assert "python -m benchmarks.run --size tiny --only sim" in text
    assert data.read_text().startswith("{")


def test_without_a_peer_the_report_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import _peers, _util, bench_restate

    def unavailable() -> None:
        raise _peers.PeerUnavailable("npm is not installed")

    monkeypatch.setattr(bench_restate, "restate_server_binary", unavailable)
    calls, crash = bench_restate.run(_util.TINY)
    assert not calls.rows
    assert "Restate not measured in this run: npm is not installed" in calls.notes[0]
    assert crash.rows[0][0].startswith("simdurable Simulation")


def test_update_markdown_keeps_what_is_outside_the_markers(tmp_path: Path) -> None:
    from benchmarks import run

    md = tmp_path / "BENCHMARKS.md"
    md.write_text(f"# Title\n\nintro\n\n{run.BEGIN}\nold\n{run.END}\n\n## Theirs\nkept\n")
    run.update_markdown(md, f"{run.BEGIN}\nnew\n{run.END}\n")
    text = md.read_text()
    assert "new" in text and "old" not in text
    assert text.startswith("# Title\n\nintro\n") and text.endswith("## Theirs\nkept\n")


def test_updating_some_suites_keeps_the_tables_of_the_others(tmp_path: Path) -> None:
    from benchmarks import run
    from benchmarks._util import Table

    info = {"date": "D", "cores": 2, "cpu": "c", "implementation": "CPython", "python": "3",
            "os": "L", "size": "full", "repeats": 5, "seconds": 1.0}

    def table(key: str, value: str) -> Table:
        return Table(key, f"title {key}", ["a"], rows=[[value]])

    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Title\n\nintro\n")
    run.update_markdown(md, run.report([table("sim", "s1"), table("dbos", "d1")], info, "all"))
    run.update_markdown(md, run.report([table("sim", "s2"), table("new", "n1")], info,
                                       "--only sim"))
    text = md.read_text()
    assert "| s2 |" in text and "| s1 |" not in text
    assert "| d1 |" in text and "Reproduce with `all`" in text  # the other suite, as it was
    assert text.index("title sim") < text.index("title dbos") < text.index("title new")
    assert text.startswith("# Title\n\nintro\n") and text.count(run.BEGIN) == 1


def test_the_replay_benchmark_runs_on_a_tiny_size() -> None:
    from benchmarks import _util, bench_replay

    (table,) = bench_replay.run(_util.TINY)
    assert [row[1] for row in table.rows] == [
        "in memory", "JSON export, read + replay", "dev-executor database, read + replay",
        "in memory"]
    assert table.rows[0][5].startswith(("met", "NOT met"))


def test_hot_path_goals_script_runs_on_a_tiny_size() -> None:
    output = run_benchmark("hotpath", "--tiny")
    assert "fresh step overhead (100 steps)" in output
    assert "fused lone step (A), general (B)" in output
    assert "fused step command (A), general (B)" in output


def test_exploration_speed_script_runs_on_a_tiny_size() -> None:
    output = run_benchmark("explore_speed", "--tiny")
    assert "one `Simulation` per crash point" in output
    assert "`check(max_examples=0)`" in output
    assert "through `@given`, each draw through `ConjectureData.draw` (before)" in output


def test_check_goals_script_runs_on_a_tiny_size() -> None:
    output = run_benchmark("check_ab", "--one", str(ROOT), "--tiny")
    figures = json.loads(output.strip().splitlines()[-1])
    assert set(figures) == {"check_s", "single_faults_ms"}
    assert all(value > 0 for value in figures.values())


def test_the_phase_settings_script_times_four_settings_and_counts_their_runs() -> None:
    """``check_ab --settings``: strict mode and the self-check each on and off;
    the self-check's runs are the reference run again, more runs than without it."""
    output = run_benchmark("check_ab", "--settings", str(ROOT), "--tiny", "--reps", "1")
    rows = [line.split("|")[1:-1] for line in output.splitlines()
            if line.startswith("| ") and not line.startswith("| setting")]
    assert [r[0].strip() for r in rows] == [label for label, _, _ in SETTINGS]
    ms = [float(r[1]) for r in rows]
    runs = {r[0].strip(): int(r[2]) for r in rows}
    assert all(m > 0 for m in ms)
    assert runs[SETTINGS[0][0]] > runs[SETTINGS[1][0]] == runs[SETTINGS[3][0]]


def test_the_crowds_held_figure_counts_what_an_invocation_in_flight_holds() -> None:
    """``crowd_order --held``: the attempts alive at the run's middle step, and
    per invocation in flight its bytes and the objects it holds, by type."""
    out = run_benchmark("crowd_order", "--held", "--sizes", "400")
    assert "400 submitted:" in out and "attempts in flight" in out
    assert "bytes by the line that allocated them" in out
    per = {line.split()[-1]: float(line.split()[0]) for line in out.splitlines()
           if line.startswith("      ") and len(line.split()) == 2}
    for kind in ("Attempt", "coroutine", "Context"):  # (one each an invocation in flight)
        assert 0.9 <= per[kind] <= 1.1, (kind, out)
