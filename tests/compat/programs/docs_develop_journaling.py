# After restatedev/docs-restate snippets/python/src/develop/journaling_results.py (MIT
# licence, Restate): steps, deterministic randomness, and restate's combinators.
import random
import typing
from datetime import timedelta

import restate
from restate import Context, RestateDurableCallFuture, Service
from restate.exceptions import TerminalError

my_service = Service("MyService")
analytics_service = Service("AnalyticsService")
printed: list[str] = []


def fetch_user_data(user_id: int) -> dict:
    return {"user_id": user_id, "name": "John Doe"}


def fetch_order_history(user_id: int) -> list:
    return [{"order_id": 1, "user_id": user_id, "item": "Book"},
            {"order_id": 2, "user_id": user_id, "item": "Pen"}]


@analytics_service.handler()
async def calculate_metrics(ctx: Context, user_id: int) -> dict:
    return {"user_id": user_id, "metrics": {"purchases": 5, "visits": 10}}


@my_service.handler()
async def my_handler(ctx: Context, arg):
    async def call_llm(prompt: str) -> str:
        return "llm response"

    await ctx.run_typed("LLM call", call_llm, prompt="What is the weather?")
    await ctx.run_typed("generate number", lambda: random.randint(0, 10))
    ctx.uuid()
    ctx.random().random()
    await ctx.time()
    call1 = ctx.run_typed("fetch_user", fetch_user_data, user_id=123)
    call2 = ctx.run_typed("fetch_orders", fetch_order_history, user_id=123)
    call3 = ctx.service_call(calculate_metrics, arg=123)
    await call1
    await call2
    await call3
    claude = ctx.service_call(claude_sonnet, arg="What is the weather?")
    openai = ctx.service_call(open_ai, arg="What is the weather?")
    done = await restate.gather(claude, openai)
    [await r for r in done]
    _, confirmation = ctx.awakeable(type_hint=str)
    match await restate.select(confirmation=confirmation, timeout=ctx.sleep(timedelta(days=1))):
        case ["confirmation", "ok"]:
            return "success!"
        case ["confirmation", "deny"]:
            raise TerminalError("Confirmation was denied!")
        case _:
            raise TerminalError("Verification timer expired!")


@my_service.handler()
async def my_other_handler(ctx: Context, arg):
    async def call_llm(prompt: str, model: str) -> str:
        return "llm response"

    call1 = ctx.run_typed("LLM call", call_llm, prompt="What is the weather?", model="gpt-4")
    call2 = ctx.run_typed("LLM call", call_llm, prompt="What is the weather?", model="gpt-3.5-turbo")
    async for future in restate.as_completed(call1, call2):
        printed.append(await future)
    claude = ctx.service_call(claude_sonnet, arg="What is the weather?")
    openai = ctx.service_call(open_ai, arg="What is the weather?")
    done, pending = await restate.wait_completed(claude, openai)
    results = [await f for f in done]
    for f in pending:
        call_future = typing.cast(RestateDurableCallFuture, f)
        ctx.cancel_invocation(await call_future.invocation_id())
    return results


@my_service.handler()
async def claude_sonnet(ctx: Context, req: str) -> str:
    return "Bonjour!"


@my_service.handler()
async def open_ai(ctx: Context, req: str) -> str:
    await ctx.sleep(timedelta(minutes=1))
    return "Hello!"
