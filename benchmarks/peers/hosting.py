"""Serving a restate-sdk app on hypercorn (h2c) to the real Restate server, for the peers' scripts.

Run by the peers' interpreter. restate-sdk 1.3 takes SIGTERM over with a
loop signal handler of its own (a drain hook) that replaces hypercorn's, so a
deployment never stopped on SIGTERM: every stop waited for the caller's
timeout and a SIGKILL. A deployment holds nothing to flush (the server keeps
the journal), so here SIGTERM ends the process at once, through restate-sdk's
own registry of shutdown hooks where it has one.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config


def serve_h2c(app: Any, port: int, **settings: Any) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM or SIGINT; ``settings`` go to hypercorn's Config."""
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    for name, value in settings.items():
        setattr(config, name, value)

    async def until_stopped() -> None:
        loop = asyncio.get_running_loop()
        try:
            from restate.server import install_shutdown_hook
        except ImportError:  # restate-sdk before 1.3 installs no handler of its own
            loop.add_signal_handler(signal.SIGTERM, os._exit, 0)
        else:
            install_shutdown_hook(loop, lambda: os._exit(0))
        # a trigger of our own keeps hypercorn from installing its waiting SIGTERM handler
        await serve(app, config, shutdown_trigger=asyncio.Event().wait)

    asyncio.run(until_stopped())
