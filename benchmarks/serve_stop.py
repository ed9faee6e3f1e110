"""How long ``simdurable serve`` takes to end after Ctrl-C (SIGINT).

Run from the repository root, for a tree (default: this one)::

    .venv/bin/python -m benchmarks.serve_stop [TREE] [--runs 6] [--step]

Each run starts ``simdurable serve tests.live.crash_app:services`` on a fresh
database in a temporary directory, waits for "listening", sends SIGINT (with
``--step``, first a one-way call whose 300 ms step is then in flight) and
times two moments: "simdurable: stopped" on stderr (the executor's own stop)
and the process's exit. A tree is run as ``PYTHONPATH=TREE`` from it, so two
trees compare from one virtual environment.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def one(tree: Path, step: bool) -> tuple[float, float]:
    """Seconds from SIGINT to "stopped" and to the exit of one server."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "simdurable", "serve", "tests.live.crash_app:services",
             "--db", str(Path(tmp) / "s.db"), "--port", "0"],
            cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        url: list[str] = []
        stopped: list[float] = []

        def read_out() -> None:
            assert proc.stdout is not None
            for line in iter(proc.stdout.readline, b""):
                text = line.decode()
                if "listening on " in text:
                    url.append(text.split("listening on ", 1)[1].split()[0])

        def read_err() -> None:
            assert proc.stderr is not None
            for line in iter(proc.stderr.readline, b""):
                if b"simdurable: stopped" in line:
                    stopped.append(time.monotonic())

        readers = [threading.Thread(target=read_out), threading.Thread(target=read_err)]
        for r in readers:
            r.start()
        deadline = time.monotonic() + 120
        while not url:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start in {tree}")
            time.sleep(0.005)
        if step:
            req = urllib.request.Request(url[0] + "/Sleeper/slow_then_next/send", data=b"300",
                                         method="POST",
                                         headers={"content-type": "application/json"})
            urllib.request.urlopen(req, timeout=60).read()
            time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        ended = time.monotonic()
        for r in readers:
            r.join()
        return (stopped[0] - sent if stopped else float("nan")), ended - sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tree", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--step", action="store_true", help="a step in flight at SIGINT")
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    runs = [one(tree, args.step) for _ in range(args.runs)]
    print(f"{tree}: {args.runs} runs, {'a step in flight' if args.step else 'idle'}")
    for what, i in (("SIGINT -> stopped", 0), ("SIGINT -> exit", 1)):
        values = sorted(r[i] for r in runs)
        print(f"  {what:17} median {statistics.median(values):.3f} s; "
              + " ".join(f"{v:.3f}" for v in values))


if __name__ == "__main__":
    main()
