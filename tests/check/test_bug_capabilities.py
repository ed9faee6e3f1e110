"""The capabilities the bug corpus relies on, each shown on its own."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import simdurable as restate
import simdurable as sd
from simdurable._check._workers import pool
from tests.corpus.pairs import all_pairs

PAIRS = {p.name: p for p in all_pairs()}


def test_hash_seeds_are_varied_by_default_in_workers_started_once():
    pair = PAIRS["set-iteration"]
    first = pair.check(fixed=False, max_examples=0)
    assert first.kinds == ["nondeterminism"]
    assert "PYTHONHASHSEED=1 and 2" in first.violations[0].message
    pids = {hs: w.proc.pid for hs, w in pool()._workers.items()}
    assert sorted(pids) == [1, 2]
    assert pair.check(fixed=True, max_examples=0).ok
    assert {hs: w.proc.pid for hs, w in pool()._workers.items()} == pids  # reused
    # Without other processes, no replay in this one shows the bug.
    assert pair.check(fixed=False, max_examples=0, hash_seeds=()).ok


svc = restate.Service("Ambient")


@svc.handler()
async def reads(ctx: restate.Context, folder: str) -> str:
    os.environ.get("HOME")
    os.listdir(folder)
    os.path.exists(folder)
    time.strftime("%H")
    os.getpid()
    sorted([object(), object()], key=lambda o: id(o))
    return "ok"


@svc.handler()
async def pure(ctx: restate.Context, folder: str) -> str:
    time.strftime("%H", time.gmtime(0))
    time.localtime(0)
    ctx.random().choice(["a", "b"])
    await ctx.run_typed("inside", lambda: (os.listdir(folder), os.getenv("HOME"))[1])
    return "ok"


def test_every_ambient_read_outside_a_step_is_reported_with_its_line():
    sim = sd.Simulation([svc], seed=0, strict=True)
    sim.invoke("Ambient/reads", ".")
    sim.run()
    found = {p.detail.split(" was called")[0]: p.source for p in sim.problems}
    assert set(found) == {"os.environ[...]", "os.listdir()", "os.path.exists()",
                          "time.strftime() without a time", "os.getpid()", "id()"}
    assert all(src and src.startswith("test_bug_capabilities.py:") for src in found.values())


def test_pure_calls_reads_inside_steps_and_ctx_random_are_not_reported():
    sim = sd.Simulation([svc], seed=0, strict=True)
    h = sim.invoke("Ambient/pure", ".")
    sim.run()
    assert h.result() == "ok" and sim.problems == []


def test_a_lossy_step_result_is_reported_at_the_step_and_its_line():
    report = PAIRS["int-keys-result"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "serialization")
    assert 'step "levels" returned a dict with int keys' in v.message
    assert "{'101': 3" in v.message and v.step == "levels"
    assert v.source and v.source.startswith("journal.py:")


def test_a_key_minted_inside_the_step_is_a_duplicate_effect():
    report = PAIRS["fresh-uuid-key-per-attempt"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "duplicate-effect")
    assert "bank.refund" in v.message and "each attempt used a new idempotency key" in v.message


def test_a_step_is_delayed_past_the_handlers_longest_timer():
    report = PAIRS["timeout-race-15min"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "invariant")
    assert "delay(step=capture" in str(v.fault_plan) and "by=901s" in str(v.fault_plan)


race = restate.Service("Deadline")


@race.handler()
async def stamp(ctx: restate.Context, x: int) -> str:
    now = await ctx.time()
    await ctx.sleep(timedelta(seconds=1))
    return f"{x}@{int(now)}"


def test_an_outcome_a_slow_machine_reaches_is_not_blamed_on_the_faults():
    report = sd.check(services=[race], invoke="Deadline/stamp", input=1, max_examples=30)
    assert report.ok, report.render()
