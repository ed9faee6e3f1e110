"""``except`` clauses around durable awaits, written with restate-sdk itself
(``import restate``) as its users write them."""

from __future__ import annotations

from datetime import timedelta

import restate
from restate.exceptions import TerminalError

import simdurable as sd

from . import Pair

cards = sd.FakeExternal("cards")
mail = sd.FakeExternal("mail")


def charge(user: str) -> str:
    return str(cards.apply("charge", {"user": user}, idempotency_key=f"renewal-{user}")["id"])


def tell_declined(user: str) -> None:
    mail.apply("declined", {"user": user}, idempotency_key=f"declined-{user}")


# A renewal waits a month, charges, and tells the customer when that fails,
# with a bare `except:`. The month's wait suspends the invocation: restate-sdk
# raises its SuspendedException (a BaseException) at the await, the bare
# except takes it for a declined card, and the handler goes on as if the
# month had passed. restate-sdk's own message for that exception warns of
# exactly this ("you might be using a try/catch all statement"); AWS's durable
# execution SDK moved its suspension exception out of Exception for users'
# catch-alls. The twin catches TerminalError, as Restate's error-handling
# guide says.
# https://github.com/aws/aws-durable-execution-sdk-java/pull/368
# https://docs.restate.dev/develop/python/error-handling
renew_bug = restate.Service("Renewal")
renew_ok = restate.Service("Renewal")


@renew_bug.handler(name="renew")
async def renew_bug_run(ctx: restate.Context, user: str) -> str:
    try:
        await ctx.sleep(timedelta(days=30))
        receipt = await ctx.run_typed("charge", charge, user=user)
    except:  # noqa: E722 - the bug
        await ctx.run_typed("tell-declined", tell_declined, user=user)
        return "declined"
    return receipt


@renew_ok.handler(name="renew")
async def renew_ok_run(ctx: restate.Context, user: str) -> str:
    try:
        await ctx.sleep(timedelta(days=30))
        receipt = await ctx.run_typed("charge", charge, user=user)
    except TerminalError:
        await ctx.run_typed("tell-declined", tell_declined, user=user)
        return "declined"
    return receipt


PAIRS = [
    Pair(name="catch-all-swallows-suspension", kind="context-misuse",
         source="aws/aws-durable-execution-sdk-java#368; docs.restate.dev error-handling",
         invoke="Renewal/renew", input="ann", buggy=[renew_bug], correct=[renew_ok],
         externals=(cards, mail)),
]
