"""Serves ``restate_app`` on the real restate-sdk (hypercorn, h2c), for the server test.

Run by the peers' interpreter: ``python serve_restate.py PORT``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import restate  # noqa: E402
from hypercorn.asyncio import serve  # noqa: E402
from hypercorn.config import Config  # noqa: E402
from restate_app import services  # noqa: E402


def main() -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{int(sys.argv[1])}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    asyncio.run(serve(restate.app(services), config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
