"""Acceptance: the example project passes ``pytest --simdurable``; breaking a handler
fails readably, and each printed reproducer, pasted, fails the same way."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments-project"


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PYTHONPATH", "COV_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:hypothesispytest", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=240,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "payments-project"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def test_the_example_project_passes_and_breaking_it_fails_reproducibly(project: Path) -> None:
    ok = pytest_in(project, "--simdurable")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"Payments/pay: \d+ examples, fault points covered (\d+)/\1, "
                     r"0 violation\(s\)", ok.stdout), ok.stdout
    assert "scenarios: 1 passed, 0 failed" in ok.stdout

    handlers = project / "payments_app" / "handlers.py"
    text = handlers.read_text()
    assert "idempotency_key=key)" in text
    handlers.write_text(text.replace("idempotency_key=key)", "idempotency_key=None)"))

    broken = pytest_in(project, "--simdurable", "-p", "no:randomly")
    out = broken.stdout
    assert broken.returncode == 1, out
    failed = sorted(re.findall(r"^FAILED (\S+)", out, re.M))
    assert failed == [
        "scenarios/pay-crash.yaml::pay-crash",
        "simdurable::Payments/pay",
        "tests/test_handlers.py::test_a_crash_after_the_charge_does_not_charge_twice",
        "tests/test_handlers.py::test_pay_charges_once_under_any_crash",
    ], out
    assert "duplicate-effect: bank.charge(" in out
    assert "minimal fault plan: crash(step=charge, index=0, phase=effect-done, attempt=1)" in out
    assert "simdurable: this test fails under the fault plan: crash(step=charge" in out
    assert "expect.effects.bank: bank saw 2 effect(s), expected 1" in out
    assert "site-packages" not in out and "simdurable/_" not in out, out

    lines = [x.strip() for x in out.splitlines()
             if re.match(r"^\s*(E\s+)?pytest .*--simdurable-replay=", x)]
    # Under CI=true pytest repeats each failure's full message in its short
    # summary, so a reproducer may be printed twice: count distinct ones.
    lines = sorted({re.sub(r"^E\s+", "", x) for x in lines})
    assert len(lines) == 2, lines
    for line in lines:
        again = pytest_in(project, *shlex.split(line)[1:])
        assert again.returncode == 1, line + "\n" + again.stdout
        assert "1 failed" in again.stdout
        if "simdurable::" in line:
            assert "replayed one case" in again.stdout
            assert "duplicate-effect: bank.charge(" in again.stdout
        else:
            assert "AssertionError: assert ['charge', 'charge'] == ['charge']" in again.stdout
