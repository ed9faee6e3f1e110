"""Helpers: write a scenario to a temporary file and load or run it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from simdurable._scenario import (
    ScenarioError,
    ScenarioResult,
    load_scenario,
    run_scenario,
)

PAY = """\
services: examples.payments:services
externals: [examples.payments:bank]
seed: 7
invoke:
  - target: Payments/pay
    input: {amount: 10}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(tmp_path: Path, text: str) -> ScenarioResult:
    return run_scenario(load_scenario(write(tmp_path, text)))


def errors(tmp_path: Path, text: str | bytes, *, run_it: bool = False) -> list[str]:
    """The rendered problems of a scenario that must not load (or run)."""
    path = tmp_path / "bad.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text))
    try:
        sc = load_scenario(path)
        if run_it:
            run_scenario(sc)
    except ScenarioError as err:
        return str(err).splitlines()
    raise AssertionError("the scenario loaded and ran without a ScenarioError")
