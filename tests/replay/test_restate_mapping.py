"""The mapping of Restate's journal entries onto simdurable's (``_replay/_restate.py``),
on entries as restate-server 1.7.12 wrote them for restate-sdk 1.3 programs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, strategies as st

import simdurable as restate
from simdurable._replay._restate import map_journal
from simdurable.runtime._journal import Entry, Failure, Value

from ..fuzzing import fuzz


def rows(*entries: Any, version: int = 2) -> list[dict[str, Any]]:
    return [{"index": i, "version": version,
             "entry_type": next(iter(e), "") if isinstance(e, dict) else "",
             "entry_json": json.dumps(e)} for i, e in enumerate(entries)]


def b(text: str) -> list[int]:
    return list(text.encode())


INPUT = {"Command": {"Input": {"headers": [{"name": "content-type", "value": "application/json"}],
                               "payload": b('"x"'), "name": ""}}}


def test_state_keys_promises_sends_and_failures() -> None:
    call_target = {"Service": {"name": "Helper", "handler": "echo", "scope": None}}
    mapped = map_journal(rows(
        INPUT,
        {"Command": {"SetState": {"key": "a", "value": b("1"), "name": ""}}},
        {"Command": {"GetEagerState": {"key": "b", "result": "Void", "name": ""}}},
        {"Command": {"GetEagerStateKeys": {"state_keys": ["b", "a"], "name": ""}}},
        {"Command": {"ClearState": {"key": "a", "name": ""}}},
        {"Command": {"ClearAllState": {"name": ""}}},
        {"Command": {"OneWayCall": {"request": {"invocation_target": call_target,
                                                "parameter": b('"sent"'),
                                                "invocation_id": "inv_1"},
                                    "invocation_id_completion_id": 2}}},
        {"Notification": {"Completion": {"CallInvocationId": {"completion_id": 2,
                                                              "invocation_id": "inv_1"}}}},
        {"Command": {"Run": {"completion_id": 4, "name": "boom"}}},
        {"Notification": {"Completion": {"Run": {"completion_id": 4, "result": {
            "Failure": {"code": 418, "message": "nope"}}}}}},
        {"Command": {"CompletePromise": {"key": "p", "value": {"Success": b('"v"')},
                                         "completion_id": 5}}},
        {"Notification": {"Completion": {"CompletePromise": {"completion_id": 5,
                                                             "result": "Void"}}}},
        {"Command": {"Output": {"result": {"Success": b('"done"')}, "name": ""}}},
    ))
    assert mapped.unmapped == ""
    assert (mapped.input, mapped.headers) == (b'"x"', {"content-type": "application/json"})
    assert mapped.output == Value(b'"done"')
    assert mapped.entries == [
        Entry("set", "a", data=b"1"),
        Entry("get", "b", result=Value(b"")),
        Entry("state_keys", result=Value(b'["a", "b"]')),
        Entry("clear", "a"),
        Entry("clear_all"),
        Entry("send", "Helper/echo", data=b'"sent"', ref="inv_1"),  # the callee's id
        Entry("run", "boom"),
        Entry("completion", result=Failure(418, "nope"), target=6),
        Entry("promise_complete", "p", data=b'R"v"', result=Value(b"")),
    ]
    assert mapped.source_indices == [1, 2, 3, 4, 5, 6, 8, 9, 10]


def test_a_cancelled_sleep_replays_against_the_same_handler() -> None:
    obj = restate.VirtualObject("Kitchen")

    @obj.handler()
    async def hang(ctx: restate.ObjectContext) -> str:
        await ctx.sleep(timedelta(hours=1))
        return "x"

    mapped = map_journal(rows(
        {"Command": {"Input": {"headers": [], "payload": [], "name": ""}}},
        {"Command": {"Sleep": {"wake_up_time": 1796391541395, "completion_id": 1, "name": ""}}},
        {"Notification": {"Signal": {"id": {"Index": 1}, "result": "Void"}}},
        {"Command": {"Output": {"result": {"Failure": {"code": 409, "message": "cancelled"}},
                                "name": ""}}},
    ))
    assert [e.kind for e in mapped.entries] == ["sleep", "cancelled"]
    from simdurable.runtime._store import InvocationRecord

    rec = InvocationRecord(id="inv_1", service="Kitchen", handler="hang", key="h", input=b"",
                           seq=0, status="completed", result=mapped.output)
    report = restate.replay_journals([obj], [restate.RecordedInvocation(rec, mapped.entries)])
    assert report.ok, str(report)


# An awakeable handed to a helper, then a named signal, as restate-server 1.7.12
# journals them for restate-sdk 1.3: no command for ctx.awakeable() or
# ctx.signal(), only the signal notifications that complete them.
INV = "inv_1afcLBJ9VGGR0lOH5B9vWA3Pw9HjvrJxZf"
AWK = "sign_18einq1M1VXcBokF3YbrMRFv9QG3h748LAAAAEQ"  # its awakeable of signal 17
HELPER = {"Service": {"name": "Helper", "handler": "resolve", "scope": None}}


def _waiter(second_awakeable: bool = False, send_other: bool = False) -> Any:
    svc = restate.Service("Waiter")

    @svc.handler()
    async def wait(ctx: restate.Context) -> str:
        aid, promise = ctx.awakeable(type_hint=str)
        ctx.generic_send("Helper", "resolve", json.dumps("other" if send_other else aid).encode())
        got = await promise
        await ctx.run_typed("note", lambda: "noted")
        if second_awakeable:
            await ctx.awakeable(type_hint=str)[1]
        approved = await ctx.signal("approval", type_hint=bool)
        return f"{got} {approved}"

    return svc


def _recorded() -> restate.RecordedInvocation:
    from simdurable._replay._restate_ids import awakeable_ids_of
    from simdurable.runtime._store import InvocationRecord

    mapped = map_journal(rows(
        {"Command": {"Input": {"headers": [], "payload": [], "name": ""}}},
        {"Command": {"OneWayCall": {"request": {"invocation_id": "inv_1x",
                                                "invocation_target": HELPER,
                                                "parameter": b(json.dumps(AWK))},
                                    "invocation_id_notification_idx": 1, "name": ""}}},
        {"Notification": {"Completion": {"CallInvocationId": {"completion_id": 1,
                                                              "invocation_id": "inv_1x"}}}},
        {"Notification": {"Signal": {"id": {"Index": 17}, "result": {"Success": b('"ok"')}}}},
        {"Command": {"Run": {"completion_id": 2, "name": "note"}}},
        {"Notification": {"Completion": {"Run": {"completion_id": 2,
                                                 "result": {"Success": b('"noted"')}}}}},
        {"Notification": {"Signal": {"id": {"Name": "approval"},
                                     "result": {"Success": b("true")}}}},
        {"Command": {"Output": {"result": {"Success": b('"ok true"')}, "name": ""}}},
    ), INV)
    assert mapped.unmapped == ""
    assert [(n.position, n.signal, n.source_index) for n in mapped.signals] == [
        (1, 17, 3), (3, "approval", 6)]
    rec = InvocationRecord(id=INV, service="Waiter", handler="wait", key=None, input=b"",
                           seq=0, status="completed", result=mapped.output)
    return restate.RecordedInvocation(rec, mapped.entries, signals=tuple(mapped.signals),
                                      source_indices=tuple(mapped.source_indices),
                                      awakeable_ids=awakeable_ids_of(INV))


def test_awakeables_and_signals_recorded_by_restate_are_replayed() -> None:
    """Each ``ctx.awakeable()`` and ``ctx.signal()`` is put where the code makes it,
    with the completion Restate recorded, and the awakeable's id is Restate's:
    the send that hands it on replays."""
    report = restate.replay_journals([_waiter()], [_recorded()])
    assert report.ok, str(report)


def test_an_export_keeps_what_restate_journals_of_awakeables_and_signals(
        tmp_path: Any) -> None:
    path = tmp_path / "restate.json"
    restate.export_journals([_recorded()], path)
    doc = json.loads(path.read_text())
    assert [n["signal"] for n in doc["invocations"][0]["unjournaled_signals"]] == [
        17, "approval"]
    assert restate.replay_journals([_waiter()], str(path)).ok
    assert not restate.replay_journals([_waiter(send_other=True)], str(path)).ok
    doc["invocations"][0]["unjournaled_signals"][0]["position"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(restate.JournalSourceError,
                       match=r"invocation #0 \(inv_1afc\w+\): unjournaled signal #0: field "
                             r"'position' is 99, not a journal index from 0 to 3"):
        restate.replay_journals([_waiter()], str(path))


def test_code_that_changed_around_an_awakeable_diverges() -> None:
    # another payload where the awakeable's id was sent
    sent = restate.replay_journals([_waiter(send_other=True)], [_recorded()]).results[0]
    assert sent.verdict == "diverges" and sent.recorded is not None
    assert AWK in sent.recorded and sent.source_index == 1
    # a second awakeable that no completion ever reached: the ended invocation waits
    more = restate.replay_journals([_waiter(second_awakeable=True)], [_recorded()]).results[0]
    assert more.verdict == "diverges", more.describe()
    assert "waits for more" in more.reason or "issues another" in more.reason


def test_restate_awakeable_ids_are_computed_from_the_invocation_id() -> None:
    from simdurable._replay._restate_ids import awakeable_id, awakeable_ids_of

    assert awakeable_id(INV, 17) == AWK  # as restate-server 1.7.12 gave it to the handler
    assert awakeable_id("inv_1afcLBJ9VGGR1Xhh8GIPmL29QLcT08ONBM", 17) == (
        "sign_18einq1M1VXeaQCzHGlYrJt0lJYtTg0VAAAAAEQ")
    assert awakeable_ids_of("inv_b333") is None  # the simulation's ids are not Restate's
    with pytest.raises(ValueError, match="not a Restate invocation id"):
        awakeable_id("inv_1ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", 17)


def test_a_signal_of_restates_own_cannot_be_judged() -> None:
    mapped = map_journal(rows(
        INPUT,
        {"Command": {"Run": {"completion_id": 1, "name": "a"}}},
        {"Notification": {"Signal": {"id": {"Index": 5}, "result": "Void"}}},
    ))
    assert len(mapped.entries) == 1
    assert mapped.unmapped.startswith(
        "Restate journal entry #2 (Notification): a signal ({'Index': 5}) of Restate's own")


@pytest.mark.parametrize(("entry", "message"), [
    ({"Command": {"GetInvocationOutput": {"completion_id": 1}}},
     "Restate journal entry #1 (Command): no counterpart in simdurable's journal"),
    ({"Notification": {"Completion": {"Run": {"completion_id": 9, "result": "Void"}}}},
     "completes id 9, which no command holds"),
    ({"Command": {"Call": {"request": {"invocation_target": {"Nowhere": 1}}}}},
     "a call target simdurable does not know"),
    ({"Command": {"SetState": {"value": [1]}}}, "malformed (KeyError('key'))"),
    ({"Command": {"Run": None}}, "malformed (Run holds None, not an object)"),
    ({"Command": {"Run": {"completion_id": 1}}, "Extra": {}}, "not a Command or a Notification"),
])
def test_entries_without_a_counterpart_are_named(entry: dict[str, Any], message: str) -> None:
    mapped = map_journal(rows(INPUT, entry), "inv_9")
    assert message in mapped.unmapped, mapped.unmapped


def test_another_journal_version_is_a_clear_error() -> None:
    with pytest.raises(restate.JournalSourceError,
                       match=r"invocation inv_9: Restate journal entry #0 \(Command\) is of "
                             r"journal version 1; simdurable reads version 2"):
        map_journal(rows(INPUT, version=1), "inv_9")
    with pytest.raises(restate.JournalSourceError,
                       match=r"only as the raw protobuf message of service protocol 1-3 .*"
                             r"let them finish \(or kill them\) before the deploy"):
        map_journal(rows(INPUT, version=1), "inv_9")
    bad = rows(INPUT)
    bad[0]["entry_json"] = "{not json"
    with pytest.raises(restate.JournalSourceError, match="entry #0: entry_json is not JSON"):
        map_journal(bad, "inv_9")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 20) | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
        st.sampled_from(["Command", "Notification", "Completion", "Run", "Sleep", "Call",
                         "Signal", "Input", "Output", "SetState", "GetEagerState", "key",
                         "name", "completion_id", "result", "Success", "Failure", "Void",
                         "Index", "id", "request", "invocation_target", "value", "payload"]),
        kids, max_size=3),
    max_leaves=10,
)


@fuzz(150)
@given(entries=st.lists(_json, max_size=5), version=st.sampled_from([2, 2, 2, 1, None]))
def test_fuzzed_restate_entries_map_or_say_why(entries: list[Any], version: Any) -> None:
    try:
        mapped = map_journal(rows(INPUT, *entries, version=version), "inv_f")
    except restate.JournalSourceError as err:
        assert str(err).startswith("invocation inv_f: Restate journal entry #")
        return
    assert len(mapped.entries) == len(mapped.source_indices)
    for i, entry in enumerate(mapped.entries):  # completions point back at a command
        if entry.kind == "completion":
            assert 0 <= entry.target < i and entry.result is not None


def test_an_awakeable_made_after_waiting_on_another_replays() -> None:
    """The second awakeable is made once the first one's completion has arrived:
    its command is put after that completion, where the code made it (as on
    restate-server 1.7.12, seen with the conformance suite's random programs)."""
    from simdurable._replay._restate_ids import awakeable_id, awakeable_ids_of
    from simdurable.runtime._store import InvocationRecord

    svc = restate.Service("Twice")

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        first, p1 = ctx.awakeable(type_hint=str)
        ctx.generic_send("Helper", "resolve", json.dumps(first).encode())
        got = await p1
        second, p2 = ctx.awakeable(type_hint=str)
        ctx.generic_send("Helper", "resolve", json.dumps(second).encode())
        return got + await p2

    def send(awk: str, n: int) -> list[dict[str, Any]]:
        return [{"Command": {"OneWayCall": {"request": {
                    "invocation_id": f"inv_1h{n}", "invocation_target": HELPER,
                    "parameter": b(json.dumps(awk))}, "invocation_id_notification_idx": n}}},
                {"Notification": {"Completion": {"CallInvocationId": {
                    "completion_id": n, "invocation_id": f"inv_1h{n}"}}}}]

    def signal(n: int, value: str) -> dict[str, Any]:
        return {"Notification": {"Signal": {"id": {"Index": n},
                                            "result": {"Success": b(json.dumps(value))}}}}

    mapped = map_journal(rows(
        {"Command": {"Input": {"headers": [], "payload": [], "name": ""}}},
        *send(awakeable_id(INV, 17), 1), signal(17, "a"),
        *send(awakeable_id(INV, 18), 2), signal(18, "b"),
        {"Command": {"Output": {"result": {"Success": b('"ab"')}, "name": ""}}},
    ), INV)
    rec = InvocationRecord(id=INV, service="Twice", handler="go", key=None, input=b"",
                           seq=0, status="completed", result=mapped.output)
    recorded = restate.RecordedInvocation(rec, mapped.entries, signals=tuple(mapped.signals),
                                          awakeable_ids=awakeable_ids_of(INV))
    report = restate.replay_journals([svc], [recorded])
    assert report.ok, str(report)
