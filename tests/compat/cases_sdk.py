"""Cases for the restate-sdk repository's test services and examples.

Expected outcomes are what each program does on a Restate server, read from
its text (see harness.py for the operations).
"""

from datetime import timedelta
from typing import Any

from tests.compat.harness import Advance, Call, Cancel, Case, ResolveAwakeables

BLOCKED = "waiting"
FAIL = {"errorMessage": "boom", "metadata": None}


def is_uuid_greeting(text: Any) -> bool:
    return isinstance(text, str) and text.startswith("Hello Zoe with random number ")


def one_or_both(msgs: Any) -> bool:
    greetings = msgs.get("messages", []) if isinstance(msgs, dict) else []
    return 1 <= len(greetings) <= 2 and set(greetings) <= {"Bonjour Ann!", "Hello Ann!"}


def ic(commands: list[dict[str, Any]]) -> dict[str, Any]:
    return {"commands": commands}


def run_returns(value: str) -> dict[str, Any]:
    return {"type": "runReturns", "value": value}


def run_throws(reason: str) -> dict[str, Any]:
    return {"type": "runThrowTerminalException", "reason": reason}


VOCI = "VirtualObjectCommandInterpreter"

# The verification test's program: every command kind but the random one.
LAYERED = {"commands": [
    {"kind": 1, "key": 1},              # set key-1
    {"kind": 2, "key": 1},              # get key-1
    {"kind": 1, "key": 2},              # set key-2
    {"kind": 3, "key": 2},              # clear key-2
    {"kind": 4},                        # counter +1
    {"kind": 6, "duration": 50},        # sleep
    {"kind": 7},                        # call echo
    {"kind": 8, "sleep": 20},           # call echoLater
    {"kind": 10},                       # step
    {"kind": 12},                       # slow step (no-op)
    {"kind": 13},                       # recover a terminal call
    {"kind": 5},                        # counter +1 through the helper
    {"kind": 9, "duration": 30},        # counter +1 by a delayed send
    {"kind": 16},                       # awakeable resolved by the helper
    {"kind": 17},                       # awakeable rejected by the helper
    {"kind": 18},                       # counter +1 through the awakeable dance
    {"kind": 15, "index": 6},           # await an already awaited call
    {"kind": 19, "key": 7, "program": {"commands": [
        {"kind": 4},
        {"kind": 19, "key": 8, "program": {"commands": [{"kind": 4}, {"kind": 4}]}},
    ]}},
]}

CASES: dict[str, list[Case]] = {
    "sdk_ts_counter": [
        Case("add, get, fail, reset", [
            Call("Counter/c1/add", 5, result={"oldValue": 0, "newValue": 5}),
            Call("Counter/c1/add", 3, result={"oldValue": 5, "newValue": 8}),
            Call("Counter/c1/get", result=8),
            Call("Counter/c1/addThenFail", 2, error=(500, "c1")),
            Call("Counter/c1/get", result=10),
            Call("Counter/c1/reset", result=None),
            Call("Counter/c1/get", result=0),
        ], state={"Counter/c1": {}}),
    ],
    "sdk_ts_awakeable_holder": [
        Case("hold then ask", [
            Call("AwakeableHolder/h/hasAwakeable", result=False),
            Call("AwakeableHolder/h/hold", "awk-id", result=None),
            Call("AwakeableHolder/h/hasAwakeable", result=True),
        ], state={"AwakeableHolder/h": {"id": "awk-id"}}),
        Case("unlock without one", [
            Call("AwakeableHolder/x/unlock", "p", error=(500, "No awakeable is registered")),
        ]),
    ],
    "sdk_ts_block_and_wait": [
        Case("unblocked run", [
            Call("BlockAndWaitWorkflow/w1/run", "in", send=True, result="out"),
            Call("BlockAndWaitWorkflow/w1/getState", "", result="in"),
            Call("BlockAndWaitWorkflow/w1/unblock", "out", result=None),
        ], state={"BlockAndWaitWorkflow/w1": {"my-state": "in"}}),
    ],
    "sdk_ts_cancel_test": [
        Case(f"cancel while blocked on {op}", [
            Call("CancelTestRunner/r/startTest", op, result=None),
            ResolveAwakeables(),
            Cancel(0),
            Call("CancelTestRunner/r/verifyTest", result=True),
            Call("CancelTestBlockingService/r/isUnlocked", send=True),
        ], covers=("CancelTestBlockingService/block", "AwakeableHolder/hold"))
        for op in ("CALL", "SLEEP", "AWAKEABLE")
    ] + [
        Case("verify before any test", [Call("CancelTestRunner/z/verifyTest", result=False)]),
    ],
    "sdk_ts_failing": [
        Case("terminal errors", [
            Call("Failing/f/terminallyFailingCall", FAIL, error=(500, "boom")),
            Call("Failing/f/callTerminallyFailingCall", FAIL, error=(500, "boom")),
            Call("Failing/f/terminallyFailingSideEffect", FAIL, error=(500, "boom")),
        ]),
        Case("retried handler succeeds on the fourth attempt", [
            Call("Failing/g/failingCallWithEventualSuccess", result=4),
        ]),
        Case("a step succeeds after three attempts", [
            Call("Failing/s/sideEffectSucceedsAfterGivenAttempts", 3, result=3),
        ]),
        Case("a step gives up after its attempts", [
            Call("Failing/t/sideEffectFailsAfterGivenAttempts", 3, result=3),
        ]),
    ],
    "sdk_ts_kill_test": [
        Case("a call tree that blocks on itself", [
            Call("KillTestRunner/k/startCallTree", status=BLOCKED),
            ResolveAwakeables(),
            Call("AwakeableHolder/k/hasAwakeable", result=True),
            Call("KillTestSingleton/other/isUnlocked", result=None),
        ], covers=("KillTestSingleton/recursiveCall",)),
    ],
    "sdk_ts_list_object": [
        Case("append, get, clear", [
            Call("ListObject/l/append", "a", result=None),
            Call("ListObject/l/append", "b", result=None),
            Call("ListObject/l/get", result=["a", "b"]),
            Call("ListObject/l/clear", result=["a", "b"]),
            Call("ListObject/l/get", result=[]),
        ], state={"ListObject/l": {}}),
    ],
    "sdk_ts_map_object": [
        Case("set, get, clearAll", [
            Call("MapObject/m/set", {"key": "k2", "value": "v2"}, result=None),
            Call("MapObject/m/set", {"key": "k1", "value": "v1"}, result=None),
            Call("MapObject/m/get", "k1", result="v1"),
            Call("MapObject/m/get", "nope", result=""),
            Call("MapObject/m/clearAll", result=[{"key": "k1", "value": "v1"},
                                                 {"key": "k2", "value": "v2"}]),
        ], state={"MapObject/m": {}}),
    ],
    "sdk_ts_non_determinism": [
        Case(f"{name} ends and bumps the counter once", [
            Call(f"NonDeterministic/{name}/{name}", result=None),
        ], state={f"Counter/{name}": {"counter": 1}}, covers=("Counter/add",))
        for name in ("setDifferentKey", "backgroundInvokeWithDifferentTargets",
                     "callDifferentMethod", "eitherSleepOrCall")
    ],
    "sdk_ts_proxy": [
        Case("call, send, many", [
            Call("Proxy/call", {"serviceName": "TestUtilsService", "handlerName": "uppercaseEcho",
                                "message": list(b'"hi"')}, result=list(b'"HI"')),
            Call("Proxy/oneWayCall", {"serviceName": "Counter", "virtualObjectKey": "p",
                                      "handlerName": "add", "message": list(b"2"),
                                      "delayMillis": 10},
                 check=lambda v: isinstance(v, str) and len(v) > 0),
            Call("Proxy/manyCalls", [
                {"proxyRequest": {"serviceName": "Counter", "virtualObjectKey": "p",
                                  "handlerName": "add", "message": list(b"3")},
                 "oneWayCall": True, "awaitAtTheEnd": False},
                {"proxyRequest": {"serviceName": "Counter", "virtualObjectKey": "p",
                                  "handlerName": "add", "message": list(b"4"),
                                  "idempotencyKey": "once"},
                 "oneWayCall": False, "awaitAtTheEnd": True},
            ], result=None),
        ], state={"Counter/p": {"counter": 9}}, covers=("Counter/add",)),
    ],
    "sdk_ts_test_utils": [
        Case("echoes", [
            Call("TestUtilsService/echo", "hey", result="hey"),
            Call("TestUtilsService/uppercaseEcho", "hey", result="HEY"),
            Call("TestUtilsService/echoHeaders", headers={"x-compat": "1"},
                 check=lambda v: isinstance(v, dict) and v.get("x-compat") == "1"),
            Call("TestUtilsService/rawEcho", raw=b"\x00\xffraw", result=b"\x00\xffraw"),
            Call("TestUtilsService/countExecutedSideEffects", 3, result=3),
        ]),
        Case("cancel another invocation", [
            Call("Waiter/awakeable", error=(409, "cancelled")),
            Call("TestUtilsService/cancelInvocation", lambda now: now.ids[0], result=None),
        ]),
        Case("resolve a signal", [
            Call("SignalWaiter/wait", "go", result="yes"),
            Call("TestUtilsService/resolveSignal",
                 lambda now: {"invocationId": now.ids[0], "signalName": "go", "value": "yes"},
                 result=None),
        ]),
        Case("reject a signal", [
            Call("SignalWaiter/wait", "go", error=(500, "no")),
            Call("TestUtilsService/rejectSignal",
                 lambda now: {"invocationId": now.ids[0], "signalName": "go", "reason": "no"},
                 result=None),
        ]),
    ],
    "sdk_ts_command_interpreter": [
        Case("steps and sleeps", [
            Call(f"{VOCI}/a/interpretCommands", ic([
                {"type": "awaitOne", "command": run_returns("v1")},
                {"type": "awaitOne", "command": {"type": "sleep", "timeoutMillis": 20}},
                {"type": "getEnvVariable", "envName": "SIMDURABLE_COMPAT_UNSET"},
            ]), result=""),
            Advance(timedelta(seconds=1)),
            Call(f"{VOCI}/a/getResults", result=["v1", "sleep", ""]),
        ]),
        Case("combinators", [
            Call(f"{VOCI}/b/interpretCommands", ic([
                {"type": "awaitAny", "commands": [
                    {"type": "createAwakeable", "awakeableKey": "never"},
                    {"type": "sleep", "timeoutMillis": 10}]},
                {"type": "awaitAnySuccessful", "commands": [run_throws("bad"), run_returns("ok")]},
                {"type": "awaitAllSucceededOrFirstFailed",
                 "commands": [run_returns("x"), run_returns("y")]},
                {"type": "awaitAllCompleted", "commands": [run_returns("x"), run_throws("z")]},
            ]), result="ok:x|err:z"),
            Advance(timedelta(seconds=1)),
            Call(f"{VOCI}/b/getResults", result=["sleep", "ok", "x|y", "ok:x|err:z"]),
        ]),
        Case("all fail", [
            Call(f"{VOCI}/c/interpretCommands", ic([
                {"type": "awaitFirstSucceededOrAllFailed", "commands": [run_throws("only")]},
            ]), error=(500, "only")),
        ]),
        Case("awakeable or timeout", [
            Call(f"{VOCI}/d/interpretCommands", ic([
                {"type": "awaitAwakeableOrTimeout", "awakeableKey": "k", "timeoutMillis": 100},
            ]), error=(500, "await-timeout")),
        ]),
        Case("awakeable before the timeout", [
            Call(f"{VOCI}/e/interpretCommands", ic([
                {"type": "awaitAwakeableOrTimeout", "awakeableKey": "k", "timeoutMillis": 60_000},
            ]), result="hello"),
            Call(f"{VOCI}/e/hasAwakeable", "k", result=True),
            Call(f"{VOCI}/e/resolveAwakeable",
                 {"type": "resolveAwakeable", "awakeableKey": "k", "value": "hello"}, result=None),
        ]),
        Case("reject an awakeable", [
            Call(f"{VOCI}/f/interpretCommands", ic([
                {"type": "awaitOne", "command": {"type": "createAwakeable", "awakeableKey": "k"}},
            ]), error=(500, "nope")),
            Call(f"{VOCI}/f/rejectAwakeable",
                 {"type": "rejectAwakeable", "awakeableKey": "k", "reason": "nope"}, result=None),
            Call(f"{VOCI}/f/hasAwakeable", "zzz", result=False),
        ]),
        Case("a signal", [
            Call(f"{VOCI}/g/interpretCommands", ic([
                {"type": "awaitOne", "command": {"type": "createSignal", "signalName": "s"}},
            ]), result="sig"),
            Call("TestUtilsService/resolveSignal",
                 lambda now: {"invocationId": now.ids[0], "signalName": "s", "value": "sig"},
                 result=None),
        ]),
    ],
    "sdk_ts_interpreter": [
        Case("three layers", [
            Call("ObjectInterpreterL0/1/interpret", LAYERED, result=None),
            Advance(timedelta(seconds=1)),
            Call("ObjectInterpreterL0/1/counter", result=4),
            Call("ObjectInterpreterL1/7/counter", result=1),
            Call("ObjectInterpreterL2/8/counter", result=2),
        ], state={"ObjectInterpreterL0/1": {"counter": 4, "key-1": "value-1"},
                  "ObjectInterpreterL1/7": {"counter": 1}},
           covers=("ObjectInterpreterL1/interpret", "ObjectInterpreterL2/interpret",
                   "ServiceInterpreterHelper/echo", "ServiceInterpreterHelper/echoLater",
                   "ServiceInterpreterHelper/terminalFailure",
                   "ServiceInterpreterHelper/incrementIndirectly",
                   "ServiceInterpreterHelper/resolveAwakeable",
                   "ServiceInterpreterHelper/rejectAwakeable",
                   "ServiceInterpreterHelper/incrementViaAwakeableDance")),
        Case("helper directly", [
            Call("ServiceInterpreterHelper/ping", result=None),
            Call("ServiceInterpreterHelper/echo", "e", result="e"),
            Call("ServiceInterpreterHelper/echoLater", {"parameter": "p", "sleep": 5}, result="p"),
            Call("ServiceInterpreterHelper/terminalFailure", error=(500, "bye")),
        ]),
    ],
    "sdk_ex_greeter": [
        Case("greet", [Call("greeter/greet", "Sam", result="Hello Sam!")]),
    ],
    "sdk_ex_concurrent_greeter": [
        Case("race two models", [
            Call("concurrent_greeter/greet", {"name": "Ann"}, check=one_or_both),
            Call("concurrent_greeter/claude_sonnet", {"role": "user", "content": "please greet Bo"},
                 result="Bonjour Bo!"),
            Call("concurrent_greeter/open_ai", {"role": "user", "content": "please greet Bo"},
                 result="Hello Bo!"),
        ]),
    ],
    "sdk_ex_msgspec_greeter": [
        Case("greet", [Call("msgspec_greeter/greet", {"name": "Mo"},
                            result={"message": "Hello Mo!"})]),
    ],
    "sdk_ex_pydantic_greeter": [
        Case("greet", [Call("pydantic_greeter/greet", {"name": "Py"},
                            result={"message": "Hello Py!"})]),
    ],
    "sdk_ex_random_greeter": [
        Case("greet", [Call("random_greeter/greet", "Zoe", check=is_uuid_greeting)]),
    ],
    "sdk_ex_virtual_object": [
        Case("increment and count", [
            Call("counter/a/increment", 5, result=5),
            Call("counter/a/increment", 3, result=8),
            Call("counter/a/count", result=8),
        ], state={"counter/a": {"counter": 8}}),
    ],
    "sdk_ex_workflow": [
        Case("approved", [
            Call("payment/p1/pay", 10, send=True, result={"success": True}),
            Call("payment/p1/payment_verified", "approved", result=None),
        ], state={"payment/p1": {"status": "payment approved"}}),
        Case("declined", [
            Call("payment/p2/pay", 10, send=True, error=(401, "Payment declined")),
            Call("payment/p2/payment_verified", "declined", result=None),
        ], state={"payment/p2": {"status": "payment declined"}}),
        Case("timed out", [
            Call("payment/p3/pay", 10, error=(410, "Payment verification timed out")),
        ], state={"payment/p3": {"status": "payment verification timed out"}}),
    ],
    "sdk_ex_app": [
        Case("the app's services", [
            Call("greeter/greet", "App", result="Hello App!"),
            Call("counter/z/increment", 1, result=1),
        ]),
    ],
}
