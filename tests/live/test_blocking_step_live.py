"""An ``async def`` step that awaits nothing but blocks (a sync call inside it) runs
in a worker thread, as a plain function's step does. It ran on trio's thread:
until it returned, ``simdurable serve`` answered no HTTP request and ignored
Ctrl-C, even twice (30 s for a 30 s call, whatever ``--grace``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .test_crash_recovery import ROOT


def test_a_blocking_async_step_holds_up_neither_the_ingress_nor_ctrl_c(tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    out = tmp_path / "out.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT), SIMDURABLE_TEST_SIDEFILE=str(side))
    with open(out, "wb") as stdout, open(tmp_path / "err.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "simdurable", "serve", "tests.live.block_app:blocker",
             "--db", str(tmp_path / "b.db"), "--port", "0", "--grace", "1"],
            cwd=ROOT, env=env, stdout=stdout, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "listening on " not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "err.txt").read_text()
            time.sleep(0.02)
        url = out.read_text().split("listening on ", 1)[1].split()[0]
        req = urllib.request.Request(url + "/Blocker/block/send", data=json.dumps(120).encode(),
                                     method="POST", headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 202
        while not side.exists():  # the step is running (and will for two minutes)
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # The ingress answers meanwhile (a liveness bound, generous for a loaded machine).
        with urllib.request.urlopen(url + "/restate/health", timeout=30) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0  # --grace 1: the step is abandoned, stored nowhere
        assert "stopping at a step boundary (1 step(s) in flight)" in \
            (tmp_path / "err.txt").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
