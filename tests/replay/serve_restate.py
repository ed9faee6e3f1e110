"""Serves ``restate_app`` on the real restate-sdk (hypercorn, h2c), for the server test.

Run by the peers' interpreter: ``python serve_restate.py PORT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import restate  # noqa: E402
from restate_app import services  # noqa: E402

from benchmarks.peers.hosting import serve_h2c  # noqa: E402


def main() -> None:
    serve_h2c(restate.app(services), int(sys.argv[1]))


if __name__ == "__main__":
    main()
