"""``simdurable state``, awakeable ids in ``journal``, and ``invocations`` filters."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import simdurable as restate
from simdurable._cli import main

counter = restate.VirtualObject("Counter")
waiter = restate.Service("Waiter")


@counter.handler()
async def add(ctx: restate.ObjectContext, n: int) -> int:
    total = (await ctx.get("total") or 0) + n
    ctx.set("total", total)
    ctx.set("last", {"added": n})
    return int(total)


handed_out: list[str] = []


@waiter.handler()
async def wait(ctx: restate.Context) -> str:
    awk_id, promise = ctx.awakeable()
    handed_out.append(awk_id)  # what a handler would give the outside world
    return str(await promise)


SERVICES = [counter, waiter]


def test_state_awakeable_ids_and_filters(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "dev.db")
    handed_out.clear()
    with restate.Executor(SERVICES, db=db) as ex:
        assert ex.invoke("Counter/a/add", 2).result(timeout=5) == 2
        assert ex.invoke("Counter/a/add", 3).result(timeout=5) == 5
        assert ex.invoke("Counter/b/add", 1).result(timeout=5) == 1
        waiting = ex.send("Waiter/wait")
        deadline = time.monotonic() + 5
        while not any(e.kind == "awakeable" for e in ex.journal(waiting)):
            assert time.monotonic() < deadline
            time.sleep(0.01)

    assert main(["state", "Counter/a", "--db", db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ['last   {"added": 3}', "total  5"]
    assert main(["state", "Counter/a", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"last": {"added": 3}, "total": 5}
    assert main(["state", "Counter/zz", "--db", db]) == 1
    assert "keys of Counter with state: a, b" in capsys.readouterr().err
    assert main(["state", "Counter", "--db", db]) == 2
    assert "like Counter/a" in capsys.readouterr().err

    assert main(["journal", waiting.id, "--db", db]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "awakeable" in x)
    awk_id = line.rsplit(" id ", 1)[1]
    assert awk_id == handed_out[-1]
    assert main(["journal", waiting.id, "--db", db, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [e["awakeable_id"] for e in entries if e["kind"] == "awakeable"] == [awk_id]

    def listed(*args: str) -> list[str]:
        assert main(["invocations", "--db", db, "--json", *args]) == 0
        return sorted(r["target"] for r in json.loads(capsys.readouterr().out))

    assert listed("--target", "Counter/a") == ["Counter/a/add", "Counter/a/add"]
    assert listed("--target", "Counter/add") == ["Counter/a/add", "Counter/a/add",
                                                 "Counter/b/add"]
    assert listed("--status", "completed", "--target", "Waiter") == []
    assert listed("--status", "completed") == ["Counter/a/add", "Counter/a/add",
                                               "Counter/b/add"]
    assert listed("--target", "Waiter/wait") == ["Waiter/wait"]
