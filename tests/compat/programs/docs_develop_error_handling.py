# After restatedev/docs-restate snippets/python/src/develop/error_handling.py (MIT licence,
# Restate). Terminal errors with codes and metadata; restate's RetryableError.
from datetime import timedelta

import restate
from restate import Context, Service
from restate.exceptions import TerminalError

my_service = Service("MyService")
billing_service = Service("BillingService")


@my_service.handler()
async def my_handler(ctx: Context, arg):
    from restate.exceptions import TerminalError

    raise TerminalError("Payment declined.", status_code=402,
                        metadata={"reason": "insufficient_funds", "payment_id": "payment-123"})


@billing_service.handler()
async def charge(ctx: Context, payment_id: str):
    raise TerminalError("Payment declined.", status_code=402,
                        metadata={"reason": "insufficient_funds", "payment_id": payment_id})


@billing_service.handler()
async def checkout(ctx: Context, payment_id: str):
    """Registered here; the published snippet defines it without a decorator."""
    try:
        await ctx.service_call(charge, arg=payment_id)
        return {"status": "charged"}
    except TerminalError as err:
        return {"status": "declined", "code": err.status_code,
                "reason": err.metadata.get("reason") if err.metadata else None}


undone: list[str] = []


def undo_transaction():
    undone.append("undo")


@my_service.handler()
async def my_handler_2(ctx: Context, arg):
    try:
        def do_transaction():
            raise TerminalError("Can't write")

        await ctx.run_typed("do transaction", do_transaction)
    except TerminalError as err:
        await ctx.run_typed("undo transaction", undo_transaction)
        raise err


@my_service.handler()
async def my_handler_3(ctx: Context, arg):
    from restate.exceptions import RetryableError

    raise RetryableError("Service temporarily unavailable", retry_after=timedelta(seconds=30))


class Response:
    def __init__(self, status: int, data: str) -> None:
        self.status = status
        self.data = data
        self.headers = {"Retry-After": "1"}


calls: list[int] = []


async def make_request():
    calls.append(1)
    return Response(429 if len(calls) < 3 else 200, "payload")


@my_service.handler()
async def my_handler_4(ctx: Context, arg):
    from restate.exceptions import RetryableError

    async def call_external_api():
        response = await make_request()
        if response.status == 429:
            retry_after = int(response.headers.get("Retry-After", "30"))
            raise RetryableError("Rate limited", retry_after=timedelta(seconds=retry_after))
        return response.data

    return await ctx.run_typed("call API", call_external_api, restate.RunOptions(max_attempts=5))
