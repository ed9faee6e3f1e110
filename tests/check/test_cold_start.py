"""A check from the shell starts light: what it imports, and its worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, extra_path: str = "") -> dict[str, object]:
    """Run ``code`` in a fresh interpreter in the project; the JSON it prints last."""
    env = dict(os.environ)
    env.pop("HYPOTHESIS_NO_PLUGINS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, str(ROOT)) if p)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_a_check_from_the_shell_imports_neither_the_dev_executor_nor_pytest() -> None:
    # The other subcommands' modules (the dev executor: trio, SQLite, HTTP) are not
    # imported for a check, nor pytest through trio's Hypothesis plugin.
    code = """
import contextlib, io, json, sys
from simdurable._cli import main
with contextlib.redirect_stdout(io.StringIO()):
    status = main(["check", "examples.payments:pay", "--input", '{"amount": 10}',
                   "--max-examples", "2"])
print(json.dumps({"status": status, "hypothesis": "hypothesis" in sys.modules,
                  "loaded": sorted(m for m in ("trio", "pytest", "sqlite3",
                                               "simdurable._live.cli") if m in sys.modules)}))
"""
    assert _python(code) == {"status": 0, "hypothesis": True, "loaded": []}


def test_hypothesis_runs_its_other_plugins_as_it_would(tmp_path: Path) -> None:
    # Only trio's plugin is left out (it makes trio's scheduler deterministic, in a
    # process that runs no trio); another installed plugin still runs.
    dist = tmp_path / "someplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: someplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hypothesis]\nsome = someplugin:setup\n")
    (tmp_path / "someplugin.py").write_text("RAN = []\ndef setup():\n    RAN.append(1)\n")
    code = """
import json, sys
from simdurable._check._workers import import_hypothesis
import_hypothesis()
import someplugin
print(json.dumps({"ran": someplugin.RAN, "trio": "trio" in sys.modules,
                  "pytest": "pytest" in sys.modules}))
"""
    assert _python(code, str(tmp_path)) == {
        "ran": [1], "trio": False, "pytest": False}


def test_a_check_from_the_shell_starts_its_hash_seed_processes_before_its_imports() -> None:
    # They then use the core this process leaves idle while it imports Hypothesis and
    # the target; a check that runs no hash-seed comparison starts none.
    code = """
import contextlib, io, json
from simdurable._check import _workers
from simdurable._cli import main

seen = []
imported = _workers.import_hypothesis

def spying():
    seen.append(sorted(hs for hs, w in _workers.pool()._workers.items() if w.alive()))
    imported()

_workers.import_hypothesis = spying
check = ["check", "examples.payments:pay", "--input", '{"amount": 10}', "--max-examples", "2"]
with contextlib.redirect_stdout(io.StringIO()):
    status = [main(check)]
    _workers.pool().close()
    status.append(main([*check, "--replay", "crash(step=charge, phase=effect-done)"]))
print(json.dumps({"status": status, "seen": seen}))
"""
    assert _python(code) == {"status": [0, 1], "seen": [[1, 2], []]}
