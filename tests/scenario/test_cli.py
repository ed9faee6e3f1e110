"""``simdurable scenario FILE...``: exit 0 when all pass, 1 otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from simdurable._cli import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "scenarios" / "payment-idempotent-crash.yaml"


def test_passing_scenarios_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", str(GOOD), str(ROOT / "scenarios" / "counter-crashes.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok    " in out and "2 passed, 0 failed" in out


def test_a_failing_or_broken_scenario_exits_one(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.read_text().replace("effects:", "effcts:"))
    failing = tmp_path / "failing.yaml"
    failing.write_text(GOOD.read_text().replace("executed: {charge: 2}", "executed: {charge: 1}"))
    assert main(["scenario", str(GOOD), str(bad), str(failing)]) == 1
    out = capsys.readouterr().out
    assert "unknown key 'effcts'; did you mean 'effects'?" in out
    assert "step 'charge' ran 2 time(s), expected 1" in out
    assert "reproduce: simdurable scenario" in out
    assert "1 passed, 2 failed" in out


def test_folders_are_searched_and_seed_can_be_overridden(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text(GOOD.read_text())
    (tmp_path / "notes.txt").write_text("not a scenario")
    assert main(["scenario", "--seed", "99", str(tmp_path)]) == 0
    assert "1 passed" in capsys.readouterr().out


def test_schema_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "--schema"]) == 0
    assert Path(capsys.readouterr().out.strip()).name == "scenario.schema.json"


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    # ``simdurable scenario ... | head -1``: the pipe closes before the report is written.
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "simdurable", "scenario", "scenarios/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
