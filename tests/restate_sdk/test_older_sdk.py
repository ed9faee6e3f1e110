"""The adapter against the older restate-sdk it also supports.

The dev environment holds the newest supported restate-sdk; this installs the
oldest one (without its dependencies, which it shares) into the ignored cache
and runs this folder's tests against it in a child interpreter, so that a
change relying on something only the newest version has fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from simdurable._restate import SUPPORTED_VERSIONS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve()
OLDEST = SUPPORTED_VERSIONS[0]
CACHED = ROOT / "benchmarks" / ".cache" / f"restate-sdk-{OLDEST}"


def _built_here(target: Path) -> bool:
    """Whether ``target``'s restate-sdk has its compiled part for this Python."""
    return any((target / "restate" / f"_internal{suffix}").exists()
               for suffix in EXTENSION_SUFFIXES)


# Its compiled part (``restate._internal``) is built for one Python: a cache
# made by another is left as it is, and this one's put beside it.
TARGET = (CACHED if not (CACHED / "restate").is_dir() or _built_here(CACHED)
          else CACHED.with_name(f"{CACHED.name}-{sys.implementation.cache_tag}"))


def _install_oldest() -> None:
    if (TARGET / "restate").is_dir():
        return
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(TARGET),
         f"restate-sdk=={OLDEST}"],
        capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        pytest.skip(f"restate-sdk=={OLDEST} cannot be installed here (no package registry?): {tail}")


def test_the_adapter_tests_pass_on_the_oldest_supported_restate_sdk() -> None:
    assert OLDEST != SUPPORTED_VERSIONS[-1], "only one supported version: nothing older to test"
    _install_oldest()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TARGET), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    version = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('restate-sdk'))"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True)
    assert version.stdout.strip() == OLDEST
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         str(HERE.parent), f"--ignore={HERE}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert run.returncode == 0, f"tests/restate_sdk on restate-sdk {OLDEST}:\n{run.stdout[-4000:]}"
