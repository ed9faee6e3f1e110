"""Two places where a handler works in a plain test and not on Restate.

A step given a plain function that returns a coroutine (``lambda: send(x)``
over an ``async def send``): restate-sdk awaits a step's function only when
``inspect.iscoroutinefunction`` says it is one, and cannot store the
coroutine a plain one returns, so the step fails on every attempt and the
coroutine never runs (restatedev/sdk-python#222). And state written with
int dict keys: JSON gives them back as str, to every later read
(gensyn-ai/rl-swarm#461).
"""

from __future__ import annotations

import functools
import gc
import warnings
from datetime import timedelta
from typing import Any

import pytest

import simdurable as sd
from tests.corpus.pairs import all_pairs

PAIRS = {p.name: p for p in all_pairs()}
FEW = sd.InvocationRetryPolicy(initial_interval=timedelta(milliseconds=5), max_attempts=3)
ran: list[str] = []


async def stamp(tag: str) -> str:
    ran.append(tag)
    return f"{tag}!"


class AsyncCallable:
    async def __call__(self, tag: str) -> str:
        return await stamp(tag)


svc = sd.Service("Steps")


@svc.handler()
async def lam(ctx: sd.Context, tag: str) -> str:
    return await ctx.run_typed("s", lambda: stamp(tag))


@svc.handler()
async def direct(ctx: sd.Context, tag: str) -> str:
    return await ctx.run_typed("s", stamp, tag=tag)


@svc.handler()
async def partial(ctx: sd.Context, tag: str) -> str:
    return await ctx.run_typed("s", functools.partial(stamp, tag))


@svc.handler()
async def obj(ctx: sd.Context, tag: str) -> str:
    return await ctx.run_typed("s", AsyncCallable(), tag=tag)


def _run(target: str, strict: bool) -> sd.InvocationHandle:
    ran.clear()
    sim = sd.Simulation(services=[svc], seed=0, retry_policy=FEW, strict=strict)
    h = sim.invoke(target, "t")
    sim.run()
    return h


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(("target", "what", "fix"), [
    ("Steps/lam", "lam.<locals>.<lambda> is not an async function but returned coroutine stamp",
     "Pass the async function itself"),
    ("Steps/obj", "an AsyncCallable object is not an async function but returned coroutine "
     "AsyncCallable.__call__", "pass its bound method (obj.__call__)"),
])
def test_a_plain_function_returning_a_coroutine_fails_its_step_and_never_runs_it(
        target: str, what: str, fix: str, strict: bool) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = _run(target, strict)
        gc.collect()
    assert h.status == "paused"
    with pytest.raises(sd.NotFinishedError, match="paused after 3 failed attempts") as info:
        h.result()
    assert what in str(info.value) and fix in str(info.value)
    assert ran == []
    # closed unrun: no "coroutine ... was never awaited" at its collection
    assert not [w for w in caught if "never awaited" in str(w.message)]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("target", ["Steps/direct", "Steps/partial"])
def test_an_async_function_and_a_partial_of_one_are_awaited(target: str, strict: bool) -> None:
    assert _run(target, strict).result() == "t!"
    assert ran == ["t"]


def test_check_names_the_users_lambda_not_its_own_wrapper() -> None:
    report = PAIRS["async-function-in-plain-lambda"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "retry-loop")
    assert "receipts_send_bug.<locals>.<lambda> is not an async function" in v.message
    assert v.step == "mail"


objects = sd.VirtualObject("Keys")


@objects.handler()
async def write(ctx: sd.ObjectContext, value: Any) -> Any:
    ctx.set("v", value)
    return await ctx.get("v")


class Pickled(sd.Serde[Any]):
    """A serde that keeps int keys."""

    def serialize(self, obj: Any) -> bytes:
        import pickle

        return pickle.dumps(obj)

    def deserialize(self, buf: bytes) -> Any:
        import pickle

        return pickle.loads(buf)


@objects.handler()
async def write_pickled(ctx: sd.ObjectContext, _: None) -> str:
    ctx.set("v", {7: "a"}, serde=Pickled())
    value = await ctx.get("v", serde=Pickled())
    return str(value[7])


def test_the_state_pair_is_reported_at_its_set_with_what_comes_back() -> None:
    report = PAIRS["int-keys-in-state"].check(fixed=False, max_examples=0)
    v = next(v for v in report.violations if v.kind == "serialization")
    assert v.message.startswith("ctx.set('placed', ...) stored a dict with int keys (7)")
    assert "gives back {'7': 'bets-1'} instead of {7: 'bets-1'}" in v.message
    assert v.source is not None and v.source.startswith("state.py:")
    assert v.journal_index is not None


@objects.handler()
async def write_int_keys(ctx: sd.ObjectContext, _: None) -> Any:
    ctx.set("v", {"outer": [{1: "a"}]})
    return await ctx.get("v")


def test_a_nested_int_key_is_found_and_the_read_gives_back_str_keys() -> None:
    # The same invocation's read gets the stored form, as from restate-sdk.
    sim = sd.Simulation(services=[objects], seed=0, strict=True)
    h = sim.invoke("Keys/k/write_int_keys", None)
    sim.run()
    assert h.result() == {"outer": [{"1": "a"}]}
    [err] = sim.problems
    assert "stored a dict with int keys (1)" in str(err)


@pytest.mark.parametrize("value", [(1, 2), [[1, "a"]], {"a": {"b": (1,)}}, "x", 3])
def test_str_keys_and_tuples_are_let_be(value: Any) -> None:
    sim = sd.Simulation(services=[objects], seed=0, strict=True)
    sim.invoke("Keys/k/write", value)
    sim.run()
    assert sim.problems == []


def test_a_serde_given_to_set_is_trusted_with_int_keys() -> None:
    sim = sd.Simulation(services=[objects], seed=0, strict=True)
    h = sim.invoke("Keys/k/write_pickled", None)
    sim.run()
    assert h.result() == "a" and sim.problems == []


def test_without_strict_mode_nothing_is_reported() -> None:
    sim = sd.Simulation(services=[objects], seed=0)
    h = sim.invoke("Keys/k/write_int_keys", None)
    sim.run()
    assert h.result() == {"outer": [{"1": "a"}]} and sim.problems == []


# Restate's idempotency keys are scoped to the invocation target: a second
# call or send with the key and another argument is answered by the first.
ledger = sd.VirtualObject("Ledger")


@ledger.handler()
async def credit(ctx: sd.ObjectContext, entry: dict) -> int:
    total = int(await ctx.get("total") or 0) + int(entry["amount"])
    ctx.set("total", total)
    return total


senders = sd.Service("Senders")


@senders.handler()
async def resend(ctx: sd.Context, entries: list) -> str:
    for entry in entries:
        ctx.object_send(credit, key="a", arg=entry, idempotency_key="k1")
    return "sent"


@senders.handler()
async def resend_empty_key(ctx: sd.Context, entries: list) -> str:
    for entry in entries:
        ctx.object_send(credit, key="a", arg=entry, idempotency_key="")
    return "sent"


def _check(entries: list) -> sd.Report:
    return sd.check([senders, ledger], "Senders/resend", entries, max_examples=0)


def test_a_key_given_to_a_send_with_another_argument_is_a_lost_request() -> None:
    report = _check([{"amount": 2}, {"amount": 3}])
    v = next(v for v in report.violations if v.kind == "duplicate-effect")
    assert v.message.startswith(
        "the send #1 to Ledger/a/credit({\"amount\": 3}) gave idempotency key 'k1', which "
        "Ledger/a/credit({\"amount\": 2}) had been invoked with")
    assert v.handler == "Senders/resend" and v.journal_index == 1


@pytest.mark.parametrize("entries", [
    [{"amount": 2}, {"amount": 2}],                              # the same request again
    [{"amount": 2, "note": "x"}, {"note": "x", "amount": 2}],    # the same, keys reordered
    [{"amount": 2}],
])
def test_the_same_request_sent_again_with_its_key_is_not_reported(entries: list) -> None:
    report = _check(entries)
    assert report.ok, report.render()


def test_the_refund_pair_is_missed_without_comparing_the_arguments(monkeypatch) -> None:
    import simdurable._check._properties as properties

    pair = PAIRS["one-invocation-key-for-many-sends"]
    assert "duplicate-effect" in pair.check(fixed=False, max_examples=0).kinds
    monkeypatch.setattr(properties, "invocation_key_reuses", lambda run: [])
    assert pair.check(fixed=False, max_examples=0).ok


def test_the_state_pair_is_missed_without_the_check_at_the_set(monkeypatch) -> None:
    import simdurable._api.context as context

    monkeypatch.setattr(context, "state_key_loss", lambda *args: None)
    assert PAIRS["int-keys-in-state"].check(fixed=False, max_examples=0).ok


def test_an_empty_idempotency_key_is_a_key_given_twice_too() -> None:
    # restate-server 1.7.12 answers the second send with an empty key
    # PreviouslyAccepted, as for any key: the second credit is lost. The record
    # stored no key as "", and the check took the empty key for none.
    lost = sd.check([senders, ledger], "Senders/resend_empty_key",
                    [{"amount": 2}, {"amount": 3}], max_examples=0)
    v = next(v for v in lost.violations if v.kind == "duplicate-effect")
    assert "gave idempotency key '', which Ledger/a/credit({\"amount\": 2})" in v.message
    same = sd.check([senders, ledger], "Senders/resend_empty_key",
                    [{"amount": 2}, {"amount": 2}], max_examples=0)
    assert same.ok, same.render()


keyed = sd.Service("Keyed")


@keyed.handler()
async def my_key(ctx: sd.Context) -> str:
    return repr(ctx.request().idempotency_key)


@pytest.mark.parametrize("key", [None, "", "x"])
def test_a_handler_reads_no_idempotency_key_as_restate_sdk_does(key: str | None) -> None:
    # restate-server 1.7.12 with restate-sdk 1.3.0 (2026-12-06): a request with
    # idempotency-key "x", "" or none, and a call with idempotency_key="y", all
    # read ctx.request().idempotency_key None.
    sim = sd.Simulation([keyed], seed=0)
    h = sim.invoke("Keyed/my_key", None, idempotency_key=key)
    sim.run()
    assert h.result() == "None"
