# After restatedev/sdk-python examples/concurrent_greeter.py (MIT licence, Restate).
# Two calls raced with wait_completed; the ones still pending are cancelled.
import typing

from pydantic import BaseModel
from restate import Context, Service, wait_completed


class GreetingRequest(BaseModel):
    name: str


class Greeting(BaseModel):
    messages: typing.List[str]


class Message(BaseModel):
    role: str
    content: str


concurrent_greeter = Service("concurrent_greeter")


@concurrent_greeter.handler()
async def greet(ctx: Context, req: GreetingRequest) -> Greeting:
    prompt = f"please greet {req.name}"
    first = ctx.service_call(claude_sonnet, arg=Message(role="user", content=prompt))
    second = ctx.service_call(open_ai, arg=Message(role="user", content=prompt))
    pending, done = await wait_completed(first, second)
    texts = [await f for f in done]
    for f in pending:
        await f.cancel_invocation()  # type: ignore
    return Greeting(messages=texts)


@concurrent_greeter.handler()
async def claude_sonnet(ctx: Context, req: Message) -> str:
    return f"Bonjour {req.content[13:]}!"


@concurrent_greeter.handler()
async def open_ai(ctx: Context, req: Message) -> str:
    return f"Hello {req.content[13:]}!"
