"""Replaying recorded journals (``simdurable.replay_journals``): journals per second.

The goal (issue 16): at least 10,000 recorded 10-step journals replayed per
second on one core. A replay runs no step closure, so the figure is the
runtime's replay path alone: one ``Attempt`` per journal over a stand-in for
the engine. Measured as CPU time of this process (the replay is one thread),
the median of ``repeats`` runs, for journals already in memory, and with the
reading of a JSON export and of a dev-executor database included.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import simdurable as sd
from simdurable._live._sqlite import SqliteStore
from simdurable._replay._core import RecordedInvocation, Replayer
from simdurable._replay._export import read_export, write_export
from simdurable._replay._sources import load, read_database

from ._util import Sizes, Table

GOAL: float = 10_000.0


def work(i: int) -> int:
    return i + 1


def steps_service(n: int) -> sd.Service:
    svc = sd.Service(f"Replay{n}")
    names = [f"step-{i}" for i in range(n)]

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        for name in names:
            x = await ctx.run_typed(name, work, i=x)
        return x

    return svc


def recorded(svc: sd.Service, count: int) -> list[RecordedInvocation]:
    """``count`` ended invocations of ``svc``, as a simulation recorded one of them."""
    sim = sd.Simulation([svc])
    sim.invoke(f"{svc.name}/run", 0)
    sim.run()
    (one,), _ = load(sim)
    return [RecordedInvocation(dataclasses.replace(one.record, id=f"inv_{k:020d}", seq=k),
                               one.journal) for k in range(count)]


def cpu(fn: Callable[[], Any], repeats: int) -> float:
    """Median CPU seconds of ``fn()`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def run(sizes: Sizes) -> list[Table]:
    count = 100 if sizes.name == "tiny" else 10_000
    table = Table(
        "replay",
        "Recorded journals replayed per second (replay_journals, no step closure runs)",
        ["handler", "source", "journals", "CPU s (median)", "journals/s", "goal"])
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        for steps in (10, 100):
            svc = steps_service(steps)
            invs = recorded(svc, count if steps == 10 else count // 10)
            replayer = Replayer([svc])

            def replay_all(items: list[RecordedInvocation] = invs,
                           r: Replayer = replayer) -> None:
                results = [r.replay(inv) for inv in items]
                assert all(res.ok for res in results), results[0]

            label = f"{steps} steps ({2 * steps} entries)"
            rows: list[tuple[str, Callable[[], Any]]] = [("in memory", replay_all)]
            if steps == 10:
                export = os.path.join(tmp, "journals.json")
                write_export(invs, export, "bench")
                db = os.path.join(tmp, "dev.db")
                store = SqliteStore(db, durability="normal")
                with store.atomic():
                    for inv in invs:
                        store.put_invocation(inv.record)
                        for entry in inv.journal:
                            store.append(inv.id, entry)
                store.close()
                rows += [("JSON export, read + replay",
                          lambda e=export, r=replayer: [r.replay(i) for i in read_export(e)]),
                         ("dev-executor database, read + replay",
                          lambda d=db, r=replayer: [r.replay(i) for i in read_database(d)])]
            for source, fn in rows:
                n = len(invs)
                seconds = cpu(fn, sizes.repeats)
                rate = n / seconds if seconds else float("inf")
                goal = (("met" if rate >= GOAL else "NOT met") + f" (>= {GOAL:,.0f}/s)"
                        if steps == 10 and source == "in memory" else "")
                table.rows.append([label, source, n, round(seconds, 3), round(rate), goal])
    table.notes.append(
        "CPU time of the one thread that replays (time.process_time), median of the runs; "
        "each journal is an ended invocation of a handler of N steps in a row, checked to "
        "replay. The goal is issue 16's: 10,000 recorded 10-step journals per second on "
        "one core.")
    return [table]
