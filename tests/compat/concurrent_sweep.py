"""Each compatibility program checked as an adopter would with invocations at once.

    python -m tests.compat.concurrent_sweep 2 [program ...] > sweep.jsonl

For each case, its first call is the checked target (``check(concurrent=N)``,
the restate-sdk objects as they are, 10 generated examples, no hash-seed
processes) and the case's later operations are the world: a call or send is a
world call or send, an awakeable's resolution one event for each of the N
callers, a promise's resolution, the first call's cancellation and an advance
of the clock as themselves. A case whose later operations have no world event
(a call whose input is made from ids, a cancellation of a later call) is
skipped, and so is a case already checked (same target, input and world).
One JSON line per case: its verdict (the report's kinds, "ok", "ERROR" for
a check that could not run, "TIMEOUT" past 240 s) and the first violation.
What the verdicts were, and why, is in docs/compat-concurrent.md.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

import simdurable as sd
from simdurable import world
from tests.compat.cases import CASES
from tests.compat.harness import (
    Advance,
    Call,
    Cancel,
    Op,
    ResolveAwakeables,
    ResolvePromise,
    _modules_of,
    load,
)

MAX_EXAMPLES = 10
TIMEOUT_S = 240


def world_of(ops: list[Op], n: int) -> list[Any] | None:
    """The world events of a case's operations after its first call; None if
    one of them has none."""
    out: list[Any] = []
    for op in ops:
        if isinstance(op, ResolveAwakeables):
            for _ in range(n):
                out.append(world.resolve_awakeable(op.value) if op.reject is None
                           else world.reject_awakeable(op.reject))
        elif isinstance(op, ResolvePromise):
            out.append(world.resolve_promise(op.name, op.value,
                                             workflow=f"{op.workflow}/{op.key}"))
        elif isinstance(op, Call):
            if callable(op.input) or op.raw is not None:
                return None
            out.append((world.send if op.send else world.call)(op.target, op.input))
        elif isinstance(op, Cancel):
            if op.call != 0:
                return None
            out.append(world.cancel())
        elif isinstance(op, Advance):
            out.append(world.advance(op.by))
    return out


class _Timeout(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise _Timeout()


def main(argv: list[str]) -> int:
    n, only = int(argv[0]), set(argv[1:])
    signal.signal(signal.SIGALRM, _alarm)
    seen: set[tuple[str, ...]] = set()
    for program, cases in CASES.items():
        if only and program not in only:
            continue
        loaded = load(program, "real")
        if loaded.error:
            print(json.dumps({"program": program, "error": loaded.error}), flush=True)
            continue
        for case in cases:
            calls = [i for i, op in enumerate(case.ops) if isinstance(op, Call)]
            if not calls:
                continue
            first = case.ops[calls[0]]
            assert isinstance(first, Call)
            if callable(first.input) or first.raw is not None:
                continue
            events = world_of(case.ops[calls[0] + 1:], n)
            if events is None:
                continue
            key = (program, first.target, json.dumps(first.input, default=repr), repr(events))
            if key in seen:
                continue
            seen.add(key)
            started = time.monotonic()
            signal.alarm(TIMEOUT_S)
            try:
                with _modules_of([loaded]):
                    report = sd.check(services=loaded.services, invoke=first.target,
                                      input=first.input, concurrent=n,
                                      max_examples=MAX_EXAMPLES, world=events, hash_seeds=())
                verdict = report.kinds or ["ok"]
                found = [[v.kind, v.message[:300], str(v.fault_plan)]
                         for v in report.violations[:1]]
            except _Timeout:
                verdict, found = ["TIMEOUT"], []
            except Exception as err:  # noqa: BLE001 - a check that could not run is a verdict
                verdict, found = ["ERROR"], [[type(err).__name__, str(err)[:300], ""]]
            finally:
                signal.alarm(0)
            print(json.dumps({"program": program, "case": case.name, "target": first.target,
                              "world": len(events), "verdict": verdict, "first": found,
                              "s": round(time.monotonic() - started, 1)}, default=repr),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
