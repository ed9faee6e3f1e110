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


def test_an_awakeable_cannot_be_judged_and_says_why() -> None:
    mapped = map_journal(rows(
        INPUT,
        {"Command": {"Run": {"completion_id": 1, "name": "a"}}},
        {"Notification": {"Signal": {"id": {"Index": 17}, "result": {"Success": b('"v"')}}}},
    ))
    assert len(mapped.entries) == 1
    assert mapped.unmapped.startswith(
        "Restate journal entry #2 (Notification): a signal ({'Index': 17}):")
    assert "ctx.awakeable() and ctx.signal() journal no command on Restate" in mapped.unmapped


@pytest.mark.parametrize(("entry", "message"), [
    ({"Command": {"GetInvocationOutput": {"completion_id": 1}}},
     "Restate journal entry #1 (Command): no counterpart in simdurable's journal"),
    ({"Notification": {"Completion": {"Run": {"completion_id": 9, "result": "Void"}}}},
     "completes id 9, which no command holds"),
    ({"Command": {"Call": {"request": {"invocation_target": {"Nowhere": 1}}}}},
     "a call target simdurable does not know"),
    ({"Command": {"SetState": {"value": [1]}}}, "malformed (KeyError('key'))"),
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
