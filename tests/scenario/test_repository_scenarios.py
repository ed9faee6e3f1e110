"""The scenarios in the repository's scenarios/ folder all pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from simdurable._scenario import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_there_are_at_least_eight() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_passes(path: Path) -> None:
    sc = load_scenario(path)
    result = run_scenario(sc)
    assert result.ok, result.render()


def test_every_scenario_names_the_schema() -> None:
    for path in FILES:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
