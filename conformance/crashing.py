"""A handler whose process is killed (``kill -9``) inside a chosen step.

On the real server, ``conformance/serve.py`` runs with ``CONFORMANCE_CRASH_FILE``
naming a file that holds a step's name: that step's closure removes the file
and kills its own process with SIGKILL, once; the driver starts the process
again on the same port and Restate retries the invocation. The simulation
injects the same crash with ``sim.crash(after=step, point="effect-done")``:
the closure ran, its result was never stored.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import restate

STEPS = 3
crashy = restate.VirtualObject("Crashy")


def maybe_crash(step: str) -> None:
    """Kill this process with SIGKILL if the crash file names ``step`` (once)."""
    marker = os.environ.get("CONFORMANCE_CRASH_FILE")
    if not marker:
        return
    path = Path(marker)
    try:
        chosen = path.read_text().strip()
    except FileNotFoundError:
        return
    if chosen == step:
        path.unlink()
        os.kill(os.getpid(), signal.SIGKILL)


@crashy.handler()
async def run(ctx: restate.ObjectContext, label: str) -> list[str]:
    """Three steps; each result is kept in state and returned."""
    done: list[str] = []
    for i in range(1, STEPS + 1):
        name = f"step-{i}"

        def work(name: str = name) -> str:
            maybe_crash(name)
            return f"{label}-{name}"

        done.append(await ctx.run_typed(name, work))
        ctx.set("done", done)
    return done
