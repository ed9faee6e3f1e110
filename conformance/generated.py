"""Seeded random programs for the conformance suite, and their oracle.

Modelled on Restate's own verification test: layers of virtual objects
(``InterpreterL0`` .. ``InterpreterL2``) whose ``interpret`` handler runs a
generated list of commands (state, sleeps, calls and one-way or delayed sends
to a helper service, steps that fail and are retried, terminal errors
recovered, awakeables resolved or rejected by another invocation, calls to an
object of the next layer). Every command that increments an object's
``counter`` (directly, through a one-way send, a delayed send or an awakeable
exchange) is counted by :func:`oracle` from the program text alone, so the
final ``counter`` of every object is known before anything runs, whatever the
interleaving.

This module is imported by restate-sdk's own process on the real server
(``conformance/serve.py``) and by the simulation: it uses restate-sdk only.
"""

from __future__ import annotations

import os
import random
import threading
from datetime import timedelta
from typing import Any

import restate
from restate.exceptions import TerminalError

from conformance.crashing import maybe_crash

LAYERS = 3

SET_STATE = "set"
GET_STATE = "get"
CLEAR_STATE = "clear"
INCREMENT = "increment"
INCREMENT_INDIRECTLY = "increment-indirectly"  # a one-way send that sends back
INCREMENT_DELAYED = "increment-delayed"  # the same, delayed
INCREMENT_VIA_AWAKEABLE = "increment-via-awakeable"
SLEEP = "sleep"
CALL_SERVICE = "call"
CALL_SLOW_SERVICE = "call-slow"
STEP = "step"
FAILING_STEP = "failing-step"  # fails ``fails`` times, then succeeds
RECOVER_TERMINAL_CALL = "recover-terminal-call"
RECOVER_TERMINAL_STEP = "recover-terminal-step"
RESOLVE_AWAKEABLE = "resolve-awakeable"
REJECT_AWAKEABLE = "reject-awakeable"
AWAIT = "await"  # await the future of an earlier command, if still pending
CALL_NEXT_LAYER = "call-next-layer"

INCREMENTS = (INCREMENT, INCREMENT_INDIRECTLY, INCREMENT_DELAYED, INCREMENT_VIA_AWAKEABLE)

# -- the programs -----------------------------------------------------------------------
helper = restate.Service("InterpreterHelper")


@helper.handler()
async def echo(ctx: restate.Context, text: str) -> str:
    return text


@helper.handler(name="echoLater")
async def echo_later(ctx: restate.Context, arg: dict[str, Any]) -> str:
    await ctx.sleep(timedelta(milliseconds=arg["sleep"]))
    return str(arg["text"])


@helper.handler(name="terminalFailure")
async def terminal_failure(ctx: restate.Context) -> str:
    raise TerminalError("bye", 418)


@helper.handler(name="incrementIndirectly")
async def increment_indirectly(ctx: restate.Context, arg: dict[str, Any]) -> None:
    ctx.object_send(LAYER_HANDLERS[arg["layer"]], arg["key"], {"commands": [{"kind": INCREMENT}]})


@helper.handler(name="resolveAwakeable")
async def resolve_awakeable(ctx: restate.Context, aid: str) -> None:
    ctx.resolve_awakeable(aid, "ok")


@helper.handler(name="rejectAwakeable")
async def reject_awakeable(ctx: restate.Context, aid: str) -> None:
    ctx.reject_awakeable(aid, "no", 400)


@helper.handler(name="incrementViaAwakeable")
async def increment_via_awakeable(ctx: restate.Context, arg: dict[str, Any]) -> None:
    """Hand the caller an awakeable of ours, wait for it, then send the increment."""
    aid, promise = ctx.awakeable(type_hint=str)
    ctx.resolve_awakeable(arg["tx"], aid)
    await promise
    ctx.object_send(LAYER_HANDLERS[arg["layer"]], arg["key"], {"commands": [{"kind": INCREMENT}]})


# how many times each failing step's closure has run, by command id (the
# closure, not the journal, counts: a retried step runs its closure again)
_FAILURES: dict[int, int] = {}
_LOCK = threading.Lock()
# With CONFORMANCE_FAILURES_FILE set (the served process on the real server),
# each run is also appended to that file, so that the counts outlive a process
# killed with SIGKILL inside a step (conformance/crashing.py).


def reset() -> None:
    """Forget the failing steps' failures (before a fresh run of the same programs)."""
    with _LOCK:
        _FAILURES.clear()


def _runs_before(cid: int) -> int:
    """How many times step ``cid``'s closure ran before; counts this run."""
    with _LOCK:
        path = os.environ.get("CONFORMANCE_FAILURES_FILE")
        if path and not _FAILURES and os.path.exists(path):  # a process started again
            with open(path, encoding="utf-8") as log:
                for line in log:
                    if line.strip():
                        _FAILURES[int(line)] = _FAILURES.get(int(line), 0) + 1
        seen = _FAILURES.get(cid, 0)
        _FAILURES[cid] = seen + 1
        if path:
            with open(path, "a", encoding="utf-8") as log:
                log.write(f"{cid}\n")
    return seen


def _fail_first(cid: int, fails: int) -> str:
    seen = _runs_before(cid)
    if seen < fails:
        raise ValueError(f"attempt {seen + 1} of step {cid} fails")
    # the run that succeeds: the crash cases kill the process here, once
    # (the closure ran, its result never reached Restate)
    maybe_crash(f"failing-{cid}")
    return f"done-{cid}"


async def interpret_commands(layer: int, ctx: restate.ObjectContext,
                             program: dict[str, Any]) -> None:
    """Run ``program``'s commands in order; the futures of calls and awakeables
    are awaited by a later ``await`` command or at the end."""
    pending: dict[int, tuple[Any, Any]] = {}

    async def settle(i: int) -> None:
        if i not in pending:
            return
        expected, future = pending.pop(i)
        try:
            got = await future
        except TerminalError:
            got = "rejected"
        if got != expected:
            raise TerminalError(f"command {i}: expected {expected!r}, got {got!r}")

    for i, cmd in enumerate(program["commands"]):
        kind = cmd["kind"]
        if kind == SET_STATE:
            ctx.set(f"key-{cmd['key']}", f"value-{cmd['key']}")
        elif kind == GET_STATE:
            await ctx.get(f"key-{cmd['key']}", type_hint=str)
        elif kind == CLEAR_STATE:
            ctx.clear(f"key-{cmd['key']}")
        elif kind == INCREMENT:
            ctx.set("counter", (await ctx.get("counter", type_hint=int) or 0) + 1)
        elif kind == INCREMENT_INDIRECTLY:
            ctx.service_send(increment_indirectly, {"layer": layer, "key": ctx.key()})
        elif kind == INCREMENT_DELAYED:
            ctx.service_send(increment_indirectly, {"layer": layer, "key": ctx.key()},
                             send_delay=timedelta(milliseconds=cmd["ms"]))
        elif kind == INCREMENT_VIA_AWAKEABLE:
            tx, tx_promise = ctx.awakeable(type_hint=str)
            ctx.service_send(increment_via_awakeable, {"layer": layer, "key": ctx.key(), "tx": tx})
            ctx.resolve_awakeable(await tx_promise, "ok")
        elif kind == SLEEP:
            await ctx.sleep(timedelta(milliseconds=cmd["ms"]))
        elif kind == CALL_SERVICE:
            pending[i] = (f"hello-{i}", ctx.service_call(echo, f"hello-{i}"))
        elif kind == CALL_SLOW_SERVICE:
            pending[i] = (f"hello-{i}", ctx.service_call(
                echo_later, {"text": f"hello-{i}", "sleep": cmd["ms"]}))
        elif kind == STEP:
            def value(i: int = i) -> str:
                return f"hello-{i}"
            if await ctx.run_typed("step", value) != f"hello-{i}":
                raise TerminalError(f"command {i}: the step's value changed")
        elif kind == FAILING_STEP:
            await ctx.run_typed(f"failing-{cmd['id']}", _fail_first, cid=cmd["id"],
                                fails=cmd["fails"])
        elif kind == RECOVER_TERMINAL_CALL:
            try:
                await ctx.service_call(terminal_failure, None)
            except TerminalError:
                pass
            else:
                raise TerminalError(f"command {i}: expected a terminal error")
        elif kind == RECOVER_TERMINAL_STEP:
            def refuse() -> None:
                raise TerminalError("refused", 409)
            try:
                await ctx.run_typed("refuse", refuse)
            except TerminalError:
                pass
        elif kind == RESOLVE_AWAKEABLE:
            aid, promise = ctx.awakeable(type_hint=str)
            pending[i] = ("ok", promise)
            ctx.service_send(resolve_awakeable, aid)
        elif kind == REJECT_AWAKEABLE:
            aid, promise = ctx.awakeable(type_hint=str)
            pending[i] = ("rejected", promise)
            ctx.service_send(reject_awakeable, aid)
        elif kind == AWAIT:
            await settle(cmd["index"])
        elif kind == CALL_NEXT_LAYER:
            pending[i] = (None, ctx.object_call(LAYER_HANDLERS[layer + 1], str(cmd["key"]),
                                                cmd["program"]))
        else:
            raise TerminalError(f"command {i}: unknown kind {kind!r}")
    for i in sorted(pending):
        await settle(i)


def _layer(n: int) -> tuple[restate.VirtualObject, Any]:
    obj = restate.VirtualObject(f"InterpreterL{n}")

    @obj.handler()
    async def interpret(ctx: restate.ObjectContext, program: dict[str, Any]) -> None:
        await interpret_commands(n, ctx, program)

    @obj.handler(kind="shared")
    async def counter(ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("counter", type_hint=int) or 0

    return obj, interpret


_layers = [_layer(n) for n in range(LAYERS)]
layer_0, layer_1, layer_2 = (obj for obj, _ in _layers)
LAYER_HANDLERS = [h for _, h in _layers]
SERVICES = [helper, layer_0, layer_1, layer_2]


# -- generating programs, and their oracle ----------------------------------------------
class _Ids:
    """Command ids unique across seeds (a server process serves several seeds)."""

    def __init__(self, seed: int) -> None:
        self.next = seed * 100_000

    def take(self) -> int:
        self.next += 1
        return self.next


def _commands(rng: random.Random, layer: int, size: int, keys: list[str],
              ids: _Ids) -> list[Any]:
    kinds = [SET_STATE, GET_STATE, CLEAR_STATE, INCREMENT, INCREMENT, INCREMENT_INDIRECTLY,
             INCREMENT_DELAYED, INCREMENT_VIA_AWAKEABLE, SLEEP, CALL_SERVICE, CALL_SLOW_SERVICE,
             STEP, FAILING_STEP, RECOVER_TERMINAL_CALL, RECOVER_TERMINAL_STEP,
             RESOLVE_AWAKEABLE, REJECT_AWAKEABLE, AWAIT]
    if layer + 1 < LAYERS:
        kinds += [CALL_NEXT_LAYER, CALL_NEXT_LAYER]
    out: list[Any] = []
    for i in range(size):
        kind = rng.choice(kinds)
        cmd: dict[str, Any] = {"kind": kind}
        if kind in (SET_STATE, GET_STATE, CLEAR_STATE):
            cmd["key"] = rng.randrange(3)
        elif kind in (SLEEP, CALL_SLOW_SERVICE, INCREMENT_DELAYED):
            cmd["ms"] = rng.randrange(10, 300)
        elif kind == FAILING_STEP:
            cmd["id"], cmd["fails"] = ids.take(), rng.randrange(1, 3)
        elif kind == AWAIT:
            if i == 0:
                cmd = {"kind": STEP}
            else:
                cmd["index"] = rng.randrange(i)
        elif kind == CALL_NEXT_LAYER:
            cmd["key"] = rng.choice(keys)
            cmd["program"] = {"commands": _commands(rng, layer + 1, max(1, size // 2), keys, ids)}
        out.append(cmd)
    return out


def generate(seed: int, objects: int = 3, size: int = 8) -> dict[str, Any]:
    """The top-level programs of one seed: ``{key: program}`` for ``InterpreterL0``.

    The same seed gives the same programs (a private ``random.Random``); the
    objects' keys name the seed, so that seeds run on one server do not meet."""
    rng = random.Random(seed)
    ids = _Ids(seed)
    keys = [f"s{seed}-{k}" for k in range(objects)]
    return {key: {"commands": _commands(rng, 0, size, keys, ids)} for key in keys}


def _walk(layer: int, key: str, program: dict[str, Any], counters: dict[str, int],
          steps: dict[str, int]) -> None:
    where = f"InterpreterL{layer}/{key}"
    counters.setdefault(where, 0)
    for cmd in program["commands"]:
        if cmd["kind"] in INCREMENTS:
            counters[where] += 1
        elif cmd["kind"] == FAILING_STEP:
            steps[f"InterpreterL{layer}/interpret/failing-{cmd['id']}"] = cmd["fails"] + 1
        elif cmd["kind"] == CALL_NEXT_LAYER:
            _walk(layer + 1, str(cmd["key"]), cmd["program"], counters, steps)


def oracle(programs: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """From the program text alone: every object's final ``counter`` (by
    ``service/key``), and how many times each failing step's closure runs."""
    counters: dict[str, int] = {}
    steps: dict[str, int] = {}
    for key, program in programs.items():
        _walk(0, key, program, counters, steps)
    return dict(sorted(counters.items())), dict(sorted(steps.items()))
