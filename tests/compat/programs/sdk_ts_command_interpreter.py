# After restatedev/sdk-python test-services/services/virtual_object_command_interpreter.py
# (MIT licence, Restate). Interprets lists of commands over awakeables, sleeps,
# steps and signals with restate's combinators, recording each result.
import asyncio
import os
from datetime import timedelta
from typing import Any, Iterable, List, Literal, TypedDict, Union

from restate import (
    ObjectContext,
    ObjectSharedContext,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    VirtualObject,
    as_completed,
    gather,
    select,
    wait_completed,
)
from restate.exceptions import TerminalError

interpreter = VirtualObject("VirtualObjectCommandInterpreter")


@interpreter.handler(name="getResults", kind="shared")
async def get_results(ctx: ObjectSharedContext | ObjectContext) -> List[str]:
    return (await ctx.get("results")) or []


@interpreter.handler(name="hasAwakeable", kind="shared")
async def has_awakeable(ctx: ObjectSharedContext, awk_key: str) -> bool:
    return bool(await ctx.get("awk-" + awk_key))


class CreateAwakeable(TypedDict):
    type: Literal["createAwakeable"]
    awakeableKey: str


class Sleep(TypedDict):
    type: Literal["sleep"]
    timeoutMillis: int


class RunThrowTerminalException(TypedDict):
    type: Literal["runThrowTerminalException"]
    reason: str


class CreateSignal(TypedDict):
    type: Literal["createSignal"]
    signalName: str


class RunReturns(TypedDict):
    type: Literal["runReturns"]
    value: str


AwaitableCommand = Union[CreateAwakeable, Sleep, RunThrowTerminalException, CreateSignal, RunReturns]


class ResolveAwakeable(TypedDict):
    type: Literal["resolveAwakeable"]
    awakeableKey: str
    value: str


class RejectAwakeable(TypedDict):
    type: Literal["rejectAwakeable"]
    awakeableKey: str
    reason: str


class InterpretRequest(TypedDict):
    commands: Iterable[Any]


@interpreter.handler(name="resolveAwakeable", kind="shared")
async def resolve_awakeable(ctx: ObjectSharedContext | ObjectContext, req: ResolveAwakeable):
    awk_id = await ctx.get("awk-" + req["awakeableKey"])
    if not awk_id:
        raise TerminalError(message="No awakeable is registered")
    ctx.resolve_awakeable(awk_id, req["value"])


@interpreter.handler(name="rejectAwakeable", kind="shared")
async def reject_awakeable(ctx: ObjectSharedContext | ObjectContext, req: RejectAwakeable):
    awk_id = await ctx.get("awk-" + req["awakeableKey"])
    if not awk_id:
        raise TerminalError(message="No awakeable is registered")
    ctx.reject_awakeable(awk_id, req["reason"])


def start(ctx: ObjectContext, cmd: AwaitableCommand) -> RestateDurableFuture[Any]:
    kind = cmd["type"]
    if kind == "createAwakeable":
        awk_id, awk = ctx.awakeable()
        ctx.set("awk-" + cmd["awakeableKey"], awk_id)
        return awk
    if kind == "sleep":
        return ctx.sleep(timedelta(milliseconds=cmd["timeoutMillis"]))
    if kind == "runThrowTerminalException":
        def fail(reason: str):
            raise TerminalError(message=reason)

        return ctx.run_typed("run should fail command", fail, reason=cmd["reason"])
    if kind == "createSignal":
        return ctx.signal(cmd["signalName"], type_hint=str)

    async def give_back(value: str) -> str:
        await asyncio.sleep(0)  # a step that really suspends inside its closure
        return value

    return ctx.run_typed("runReturns", give_back, value=cmd["value"])


async def settle(fut: RestateDurableFuture[Any]) -> str:
    if isinstance(fut, RestateDurableSleepFuture):
        await fut
        return "sleep"
    return await fut


@interpreter.handler(name="interpretCommands")
async def interpret_commands(ctx: ObjectContext, req: InterpretRequest):
    result = ""
    for cmd in req["commands"]:
        kind = cmd["type"]
        if kind == "awaitAwakeableOrTimeout":
            awk_id, awk = ctx.awakeable()
            ctx.set("awk-" + cmd["awakeableKey"], awk_id)
            match await select(awakeable=awk, timeout=ctx.sleep(timedelta(milliseconds=cmd["timeoutMillis"]))):
                case ["awakeable", value]:
                    result = value
                case ["timeout", _]:
                    raise TerminalError(message="await-timeout", status_code=500)
        elif kind == "resolveAwakeable":
            await resolve_awakeable(ctx, cmd)
            result = ""
        elif kind == "rejectAwakeable":
            await reject_awakeable(ctx, cmd)
            result = ""
        elif kind == "getEnvVariable":
            def read_env(env_name: str):
                return os.environ.get(env_name, "")

            result = await ctx.run_typed("get_env", read_env, env_name=cmd["envName"])
        elif kind == "awaitOne":
            result = await settle(start(ctx, cmd["command"]))
        elif kind in ("awaitAny", "awaitFirstCompleted"):
            futures = [start(ctx, c) for c in cmd["commands"]]
            done, _ = await wait_completed(*futures)
            result = await settle(done[0])
        elif kind in ("awaitAnySuccessful", "awaitFirstSucceededOrAllFailed"):
            futures = [start(ctx, c) for c in cmd["commands"]]
            last: TerminalError | None = None
            async for fut in as_completed(*futures):
                try:
                    result = await settle(fut)
                    break
                except TerminalError as err:
                    last = err
            else:
                assert last is not None
                raise last
        elif kind == "awaitAllSucceededOrFirstFailed":
            futures = [start(ctx, c) for c in cmd["commands"]]
            await gather(*futures)
            result = "|".join([await settle(f) for f in futures])
        elif kind == "awaitAllCompleted":
            futures = [start(ctx, c) for c in cmd["commands"]]
            await gather(*futures)
            parts = []
            for f in futures:
                try:
                    parts.append("ok:" + await settle(f))
                except TerminalError as err:
                    parts.append("err:" + err.message)
            result = "|".join(parts)
        history = await get_results(ctx)
        history.append(result)
        ctx.set("results", history)
    return result
