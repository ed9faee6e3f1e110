"""The runtime keeps journal entries as exact tuples (``RawEntry``) and makes an
``Entry`` of each only where a journal is read (``Store.journal``): what users
read is the same entries, field for field, whatever the commands, schedule and
faults; a store given ``Entry``s holds exact tuples and replays as one the
runtime wrote. A step's value is kept as ``(data,)`` (``RawCompletion``) and
read as a ``Value``."""

from __future__ import annotations

from datetime import timedelta

import pytest

import simdurable as sd
from simdurable.runtime._journal import (
    KIND,
    NAME,
    RESULT,
    TARGET,
    Entry,
    Failure,
    Value,
    as_entries,
    describe,
    is_command,
    same_command,
)
from simdurable.runtime._store import PENDING, MemoryStore, stored_journal

shop = sd.Service("RawShop")
counter = sd.VirtualObject("RawCounter")
wf = sd.Workflow("RawFlow")


@counter.handler()
async def add(ctx: sd.ObjectContext, delta: int) -> int:
    n = (await ctx.get("n")) or 0
    await ctx.sleep(timedelta(milliseconds=10 * delta))
    ctx.set("n", n + delta)
    ctx.clear("gone")
    return n + delta


@wf.main()
async def flow(ctx: sd.WorkflowContext, x: int) -> int:
    got = await ctx.promise("p").value()
    return int(got) + x


@wf.handler()
async def answer(ctx: sd.WorkflowSharedContext, v: int) -> None:
    await ctx.promise("p").resolve(v)


@shop.handler()
async def buy(ctx: sd.Context, amount: int) -> int:
    a = ctx.run_typed("price", lambda: amount * 2)
    b = ctx.run_typed("tax", lambda: amount // 10)
    await sd.gather(a, b)
    price, tax = await a, await b
    total = await ctx.object_call(add, "total", price)
    ctx.object_send(add, "other", tax, send_delay=timedelta(milliseconds=3))
    await ctx.workflow_call(answer, f"w{amount}", total)
    for i in range(3):
        total = await ctx.run_typed(f"s{i}", lambda t=total: t + 1)
    return total + tax


def run(seed: int, plan: str) -> sd.Simulation:
    sim = sd.Simulation([shop, counter, wf], seed=seed, faults=plan or None)
    for amount in (10, 20):
        sim.invoke(f"RawFlow/w{amount}/flow", 1)
        sim.invoke("RawShop/buy", amount)
    sim.run()
    return sim


@pytest.mark.parametrize("plan", ["", "crash(step=s1, phase=after-store, attempt=1); "
                                      "restart(at=300ms)"])
@pytest.mark.parametrize("seed", [0, 3, 11])
def test_users_read_entries_the_runtime_keeps_as_tuples(seed: int, plan: str) -> None:
    sim = run(seed, plan)
    kinds = set()
    values = 0
    for rec in sim.store.invocations():
        raw = sim.store.raw_journal(rec.id)
        read = sim.journal(rec.id)
        assert raw and len(read) == len(raw)
        for r, e in zip(raw, read, strict=True):
            assert type(r) is tuple and len(r) == 8
            assert type(e) is Entry and tuple(e) == r
            assert (e.kind, e.name, e.result, e.target) == (r[KIND], r[NAME], r[RESULT],
                                                            r[TARGET])
            assert describe(r) == e.describe() and is_command(r) == e.is_command
            assert same_command(r, e) and same_command(e, r)
            if e.result is not None:  # users read a ``Value`` or a ``Failure``
                assert type(e.result) in (Value, Failure)
                if r[KIND] == "completion" and raw[r[TARGET]][KIND] == "run":
                    values += type(r[RESULT]) is tuple  # a step's value, as kept
            kinds.add(e.kind)
        assert stored_journal(sim.store, rec.id) == raw
    assert {"run", "completion", "get", "set", "clear", "sleep", "call", "send",
            "promise", "promise_complete"} <= kinds
    assert values >= 10


def test_a_store_given_entries_keeps_exact_tuples_and_replays_alike() -> None:
    sim = sd.Simulation([shop, counter, wf], seed=2)
    h = sim.invoke("RawShop/buy", 30)
    sim.invoke("RawFlow/w30/flow", 1)
    sim.run()
    runs = []
    for given_as_entries in (True, False):
        store = MemoryStore()
        for rec in sim.store.invocations():
            entries = sim.journal(rec.id) if given_as_entries else sim.store.raw_journal(rec.id)
            for e in entries:
                store.append(rec.id, e)
            assert all(type(e) is tuple for e in store.raw_journal(rec.id))
            if given_as_entries:  # (its ``Value``s kept as their fields)
                assert not any(type(e[RESULT]) is Value for e in store.raw_journal(rec.id))
            if rec.id == h.id:
                rec.status, rec.result = PENDING, None
            store.put_invocation(rec)
        again = sd.Simulation([shop, counter, wf], seed=2, store=store)
        again.run()
        runs.append((again.trace(), again.journal(h.id), again.store.invocation(h.id)))
    assert runs[0] == runs[1]
    rec = runs[0][2]
    assert rec is not None and rec.status == "completed" and rec.result is not None


def test_as_entries_keeps_an_entry_and_makes_one_of_a_tuple() -> None:
    e = Entry("run", "x", at_ms=5)
    r = tuple(e)
    out = as_entries([e, r])  # type: ignore[list-item]
    assert out[0] is e and type(out[1]) is Entry and out[1] == e


def test_as_entries_names_a_value_kept_as_its_fields() -> None:
    r = ("completion", "", None, (b"7",), 0, 5, -1, "")
    failed = ("completion", "", None, Failure(500, "no"), 2, 5, -1, "")
    out = as_entries([r, failed])
    assert type(out[0]) is Entry and type(out[0].result) is Value
    assert out[0].result.data == b"7" and out[0] == r
    assert out[1].result is failed[RESULT] and describe(out[1]) == describe(failed)
    assert describe(r) == "completion of #0 (ok)" and "failed" in describe(failed)


class OwnStore(MemoryStore):
    """A store of one's own that names what ``append`` gave it, as
    ``Store.append``'s docstring says: ``Entry(*entry)``."""

    def journal(self, inv_id: str) -> list[Entry]:
        return [Entry(*e) for e in self.raw_journal(inv_id)]


def test_a_store_of_ones_own_is_read_with_values() -> None:
    own = sd.Simulation([shop, counter, wf], seed=4, store=OwnStore())
    ref = sd.Simulation([shop, counter, wf], seed=4)
    for sim in (own, ref):
        sim.invoke("RawFlow/w40/flow", 1)
        sim.invoke("RawShop/buy", 40)
        sim.run()
    assert own.trace() == ref.trace()
    for rec in ref.store.invocations():
        read = own.journal(rec.id)
        assert read == ref.journal(rec.id)
        assert all(type(e) is Entry for e in read)
        results = [e.result for e in read if e.result is not None]
        assert results and all(type(r) in (Value, Failure) for r in results)
    assert any(type(e[RESULT]) is tuple for rec in ref.store.invocations()
               for e in own.store.raw_journal(rec.id))  # (as ``append`` was given them)
