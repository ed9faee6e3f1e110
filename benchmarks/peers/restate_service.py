"""The benchmark handler on the real Restate Python SDK, served by hypercorn (h2c).

Run by the peers' virtual environment (``benchmarks/.cache/peers-venv``), not
by simdurable's: ``python restate_service.py PORT CRASH_FLAG_FILE``. The
``crashy`` handler kills its own process inside step 3 while the flag file
exists (and removes it first, so the retry after the restart goes through).
"""

from __future__ import annotations

import os
import signal
import sys

import restate
from hosting import serve_h2c

CRASH_FLAG = sys.argv[2] if len(sys.argv) > 2 else ""

bench = restate.Service("Bench")


def work(i: int) -> int:
    return i + 1


def work_or_die(i: int) -> int:
    if CRASH_FLAG and os.path.exists(CRASH_FLAG):
        os.unlink(CRASH_FLAG)
        os.kill(os.getpid(), signal.SIGKILL)
    return i + 1


@bench.handler()
async def five(ctx: restate.Context, x: int) -> int:
    for i in range(1, 6):
        x = await ctx.run_typed(f"step-{i}", work, i=x)
    return x


@bench.handler()
async def crashy(ctx: restate.Context, x: int) -> int:
    for i in range(1, 6):
        fn = work_or_die if i == 3 else work
        x = await ctx.run_typed(f"step-{i}", fn, i=x)
    return x


def main() -> None:
    serve_h2c(restate.app([bench]), int(sys.argv[1]), h2_max_concurrent_streams=1000)


if __name__ == "__main__":
    main()
