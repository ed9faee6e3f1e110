# After restatedev/sdk-python test-services/services/failing.py (MIT licence, Restate).
# Terminal errors from handlers, calls and steps; steps that succeed or give up
# after a number of attempts.
from datetime import timedelta
from typing import Optional, TypedDict

from restate import ObjectContext, RunOptions, VirtualObject
from restate.exceptions import TerminalError


class FailureToPropagate(TypedDict):
    errorMessage: str
    metadata: Optional[dict[str, str]]


failing = VirtualObject("Failing")


@failing.handler(name="terminallyFailingCall")
async def terminally_failing_call(ctx: ObjectContext, failure: FailureToPropagate):
    raise TerminalError(message=failure["errorMessage"], metadata=failure.get("metadata"))


@failing.handler(name="callTerminallyFailingCall")
async def call_terminally_failing_call(ctx: ObjectContext, failure: FailureToPropagate) -> str:
    await ctx.object_call(terminally_failing_call, key="random-583e1bf2", arg=failure)
    raise Exception("Should not reach here")


handler_failures = 0


@failing.handler(name="failingCallWithEventualSuccess")
async def failing_call_with_eventual_success(ctx: ObjectContext) -> int:
    global handler_failures
    handler_failures += 1
    if handler_failures >= 4:
        handler_failures = 0
        return 4
    raise ValueError(f"Failed at attempt: {handler_failures}")


@failing.handler(name="terminallyFailingSideEffect")
async def terminally_failing_side_effect(ctx: ObjectContext, failure: FailureToPropagate):
    def effect():
        raise TerminalError(message=failure["errorMessage"], metadata=failure.get("metadata"))

    await ctx.run_typed("sideEffect", effect)
    raise ValueError("Should not reach here")


succeeding_attempts = 0


@failing.handler(name="sideEffectSucceedsAfterGivenAttempts")
async def side_effect_succeeds_after_given_attempts(ctx: ObjectContext, minimum_attempts: int) -> int:
    def effect():
        global succeeding_attempts
        succeeding_attempts += 1
        if succeeding_attempts >= minimum_attempts:
            return succeeding_attempts
        raise ValueError(f"Failed at attempt: {succeeding_attempts}")

    options: RunOptions[int] = RunOptions(
        max_attempts=minimum_attempts + 1,
        initial_retry_interval=timedelta(milliseconds=1),
        retry_interval_factor=1.0,
    )
    return await ctx.run_typed("sideEffect", effect, options)


failing_attempts = 0


@failing.handler(name="sideEffectFailsAfterGivenAttempts")
async def side_effect_fails_after_given_attempts(ctx: ObjectContext, max_attempts: int) -> int:
    def effect():
        global failing_attempts
        failing_attempts += 1
        raise ValueError(f"Failed at attempt: {failing_attempts}")

    try:
        options: RunOptions[int] = RunOptions(
            max_attempts=max_attempts,
            initial_retry_interval=timedelta(milliseconds=1),
            retry_interval_factor=1.0,
        )
        await ctx.run_typed("sideEffect", effect, options)
        raise ValueError("Side effect did not fail.")
    except TerminalError:
        global failing_attempts
        return failing_attempts
