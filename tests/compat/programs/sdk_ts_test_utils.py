# After restatedev/sdk-python test-services/services/test_utils.py (MIT licence, Restate).
from typing import Dict, TypedDict

from restate import Context, Service
from restate.serde import BytesSerde

test_utils = Service("TestUtilsService")


@test_utils.handler()
async def echo(context: Context, input: str) -> str:
    return input


@test_utils.handler(name="uppercaseEcho")
async def uppercase_echo(context: Context, input: str) -> str:
    return input.upper()


@test_utils.handler(name="echoHeaders")
async def echo_headers(context: Context) -> Dict[str, str]:
    return context.request().headers


@test_utils.handler(
    name="rawEcho",
    accept="*/*",
    content_type="application/octet-stream",
    input_serde=BytesSerde(),
    output_serde=BytesSerde(),
)
async def raw_echo(context: Context, input: bytes) -> bytes:
    return input


@test_utils.handler(name="countExecutedSideEffects")
async def count_executed_side_effects(context: Context, increments: int) -> int:
    ran = 0

    def effect():
        nonlocal ran
        ran += 1

    for _ in range(increments):
        await context.run("count", effect)
    return ran


@test_utils.handler(name="cancelInvocation")
async def cancel_invocation(context: Context, invocation_id: str) -> None:
    context.cancel_invocation(invocation_id)


class ResolveSignalRequest(TypedDict):
    invocationId: str
    signalName: str
    value: str


@test_utils.handler(name="resolveSignal")
async def resolve_signal(context: Context, req: ResolveSignalRequest) -> None:
    context.resolve_signal(req["invocationId"], req["signalName"], req["value"])


class RejectSignalRequest(TypedDict):
    invocationId: str
    signalName: str
    reason: str


@test_utils.handler(name="rejectSignal")
async def reject_signal(context: Context, req: RejectSignalRequest) -> None:
    context.reject_signal(req["invocationId"], req["signalName"], req["reason"])


# Not in the published file: targets for cancelInvocation and the signal handlers.
waiter = Service("Waiter")


@waiter.handler()
async def awakeable(context: Context) -> str:
    _, awk = context.awakeable()
    return await awk


signal_waiter = Service("SignalWaiter")


@signal_waiter.handler()
async def wait(context: Context, name: str) -> str:
    return await context.signal(name, type_hint=str)
