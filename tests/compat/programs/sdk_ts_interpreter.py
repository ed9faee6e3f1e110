# After restatedev/sdk-python test-services/services/interpreter.py (MIT licence,
# Restate): the layers of the verification test, objects that interpret command
# lists (state, sleeps, calls, delayed sends, steps, awakeables, next layers).
import json
import random
import typing
from datetime import timedelta
from typing import TypedDict

import restate
from restate.context import Context, ObjectContext, ObjectSharedContext
from restate.exceptions import TerminalError
from restate.object import VirtualObject
from restate.serde import JsonSerde

SET_STATE = 1
GET_STATE = 2
CLEAR_STATE = 3
INCREMENT_STATE_COUNTER = 4
INCREMENT_STATE_COUNTER_INDIRECTLY = 5
SLEEP = 6
CALL_SERVICE = 7
CALL_SLOW_SERVICE = 8
INCREMENT_VIA_DELAYED_CALL = 9
SIDE_EFFECT = 10
THROWING_SIDE_EFFECT = 11
SLOW_SIDE_EFFECT = 12
RECOVER_TERMINAL_CALL = 13
RECOVER_TERMINAL_MAYBE_UN_AWAITED = 14
AWAIT_PROMISE = 15
RESOLVE_AWAKEABLE = 16
REJECT_AWAKEABLE = 17
INCREMENT_STATE_COUNTER_VIA_AWAKEABLE = 18
CALL_NEXT_LAYER_OBJECT = 19

helper = restate.Service("ServiceInterpreterHelper")


def increment_program() -> bytes:
    return json.dumps({"commands": [{"kind": INCREMENT_STATE_COUNTER}]}).encode("utf-8")


@helper.handler()
async def ping(ctx: Context) -> None:
    pass


@helper.handler()
async def echo(ctx: Context, parameters: str) -> str:
    return parameters


@helper.handler(name="echoLater")
async def echo_later(ctx: Context, parameter: dict[str, typing.Any]) -> str:
    await ctx.sleep(timedelta(milliseconds=parameter["sleep"]))
    return parameter["parameter"]


@helper.handler(name="terminalFailure")
async def terminal_failure(ctx: Context) -> str:
    raise TerminalError("bye")


@helper.handler(name="incrementIndirectly")
async def increment_indirectly(ctx: Context, parameter) -> None:
    ctx.generic_send(f"ObjectInterpreterL{parameter['layer']}", "interpret", increment_program(),
                     parameter["key"])


@helper.handler(name="resolveAwakeable")
async def resolve_awakeable(ctx: Context, aid: str) -> None:
    ctx.resolve_awakeable(aid, "ok")


@helper.handler(name="rejectAwakeable")
async def reject_awakeable(ctx: Context, aid: str) -> None:
    ctx.reject_awakeable(aid, "error")


@helper.handler(name="incrementViaAwakeableDance")
async def increment_via_awakeable_dance(ctx: Context, input: dict[str, typing.Any]) -> None:
    aid, promise = ctx.awakeable()
    ctx.resolve_awakeable(input["txPromiseId"], aid)
    await promise
    target = input["interpreter"]
    ctx.generic_send(f"ObjectInterpreterL{target['layer']}", "interpret", increment_program(),
                     target["key"])


class Helper:
    """Calls the helper service through raw generic calls and sends."""

    def __init__(self, ctx: ObjectContext) -> None:
        self.ctx = ctx
        self.serde = JsonSerde[typing.Any]()

    async def call(self, method: str, arg: typing.Any) -> typing.Any:
        out = await self.ctx.generic_call("ServiceInterpreterHelper", method, self.serde.serialize(arg))
        return self.serde.deserialize(out)

    def send(self, method: str, arg: typing.Any, delay: int | None = None) -> None:
        send_delay = None if delay is None else timedelta(milliseconds=delay)
        self.ctx.generic_send("ServiceInterpreterHelper", method, self.serde.serialize(arg),
                              send_delay=send_delay)


class Command(TypedDict):
    kind: int
    key: int
    duration: int
    sleep: int
    index: int
    program: typing.Any


Program = dict[typing.Literal["commands"], typing.List[Command]]


async def interpret_program(layer: int, ctx: ObjectContext, program: Program) -> None:
    helper_svc = Helper(ctx)
    open_futures: dict[int, typing.Tuple[typing.Any, typing.Awaitable[typing.Any]]] = {}

    async def await_index(index: int) -> None:
        if index not in open_futures:
            return
        expected, fut = open_futures.pop(index)
        try:
            got = await fut
        except TerminalError:
            got = "rejected"
        if got != expected:
            raise TerminalError(f"Expected {expected} but got {got}")

    for i, command in enumerate(program["commands"]):
        kind = command["kind"]
        if kind == SET_STATE:
            ctx.set(f"key-{command['key']}", f"value-{command['key']}")
        elif kind == GET_STATE:
            await ctx.get(f"key-{command['key']}")
        elif kind == CLEAR_STATE:
            ctx.clear(f"key-{command['key']}")
        elif kind == INCREMENT_STATE_COUNTER:
            ctx.set("counter", (await ctx.get("counter") or 0) + 1)
        elif kind == SLEEP:
            await ctx.sleep(timedelta(milliseconds=command["duration"]))
        elif kind == CALL_SERVICE:
            open_futures[i] = (f"hello-{i}", helper_svc.call("echo", f"hello-{i}"))
        elif kind == INCREMENT_VIA_DELAYED_CALL:
            helper_svc.send("incrementIndirectly", {"layer": layer, "key": ctx.key()},
                            delay=command["duration"])
        elif kind == CALL_SLOW_SERVICE:
            arg = {"parameter": f"hello-{i}", "sleep": command["sleep"]}
            open_futures[i] = (f"hello-{i}", helper_svc.call("echoLater", arg))
        elif kind == SIDE_EFFECT:
            expected = f"hello-{i}"
            got = await ctx.run_typed("sideEffect", lambda: expected)
            if got != expected:
                raise TerminalError(f"Expected {expected} but got {got}")
        elif kind in (SLOW_SIDE_EFFECT, RECOVER_TERMINAL_MAYBE_UN_AWAITED):
            pass
        elif kind == RECOVER_TERMINAL_CALL:
            try:
                await helper_svc.call("terminalFailure", None)
            except TerminalError:
                pass
            else:
                raise TerminalError("Expected terminal error")
        elif kind == THROWING_SIDE_EFFECT:
            async def maybe_fail():
                if bool(random.getrandbits(1)):
                    raise ValueError("Random error")

            await ctx.run_typed("throwingSideEffect", maybe_fail)
        elif kind == INCREMENT_STATE_COUNTER_INDIRECTLY:
            helper_svc.send("incrementIndirectly", {"layer": layer, "key": ctx.key()})
        elif kind == AWAIT_PROMISE:
            await await_index(command["index"])
        elif kind == RESOLVE_AWAKEABLE:
            name, promise = ctx.awakeable()
            open_futures[i] = ("ok", promise)
            helper_svc.send("resolveAwakeable", name)
        elif kind == REJECT_AWAKEABLE:
            name, promise = ctx.awakeable()
            open_futures[i] = ("rejected", promise)
            helper_svc.send("rejectAwakeable", name)
        elif kind == INCREMENT_STATE_COUNTER_VIA_AWAKEABLE:
            tx_id, tx_promise = ctx.awakeable()
            helper_svc.send("incrementViaAwakeableDance",
                            {"interpreter": {"layer": layer, "key": ctx.key()}, "txPromiseId": tx_id})
            theirs: str = await tx_promise
            ctx.resolve_awakeable(theirs, "ok")
        elif kind == CALL_NEXT_LAYER_OBJECT:
            raw = json.dumps(command["program"]).encode("utf-8")
            open_futures[i] = (b"", ctx.generic_call(f"ObjectInterpreterL{layer + 1}", "interpret", raw,
                                                      f"{command['key']}"))
        else:
            raise ValueError(f"Unknown command type: {kind}")
        await await_index(i)


def make_layer(i):
    layer = VirtualObject(f"ObjectInterpreterL{i}")

    @layer.handler()
    async def interpret(ctx: ObjectContext, program: Program) -> None:
        await interpret_program(i, ctx, program)

    @layer.handler(kind="shared")
    async def counter(ctx: ObjectSharedContext) -> int:
        return await ctx.get("counter") or 0

    return layer


layer_0 = make_layer(0)
layer_1 = make_layer(1)
layer_2 = make_layer(2)
