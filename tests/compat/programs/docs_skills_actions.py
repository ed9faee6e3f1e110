# After restatedev/docs-restate snippets/python/src/develop/skillsmd/actions.py (MIT
# licence, Restate). Its workflow "run" is a catalogue of every context action, not a
# program meant to run (see inventory.EXCLUDED); the small handlers around it are.
import asyncio
import json
from datetime import timedelta

import restate

my_service = restate.Service("MyService")
my_object = restate.VirtualObject("MyObject")
my_workflow = restate.Workflow("MyWorkflow")
claude_service = restate.Service("ClaudeService")
openai_service = restate.Service("OpenAIService")


def call_external_api(query: str, some_id: str):
    pass


def request_human_review(name, awakeable_id):
    pass


async def call_llm(prompt: str, model: str) -> str:
    return "done"


@claude_service.handler()
async def ask_claude(ctx: restate.Context, prompt: str) -> str:
    return "Claude response"


@openai_service.handler()
async def ask_openai(ctx: restate.Context, prompt: str) -> str:
    return "OpenAI response"


@my_object.handler()
async def my_object_handler(ctx: restate.ObjectContext, prompt: str) -> str:
    return "done"


@my_service.handler()
async def my_handler(ctx: restate.ObjectContext, prompt: str) -> str:
    return prompt


@my_service.handler()
async def some_handler(ctx: restate.Context, arg: str) -> str:
    return "done"


@my_workflow.main()
async def run(ctx: restate.WorkflowContext, arg: str) -> str:
    count = await ctx.get("count", type_hint=int) or 0
    ctx.set("count", count + 1)
    ctx.clear("count")
    ctx.clear_all()
    ctx.state_keys()
    ctx.uuid()
    ctx.random().random()
    await ctx.time()
    await ctx.service_call(my_handler, "Hi")
    await ctx.object_call(my_object_handler, key="object-key", arg="Hi")
    await ctx.workflow_call(run, "wf-id", arg="Hi")
    ctx.service_send(my_handler, "Hi")
    ctx.object_send(my_object_handler, key="object-key", arg="Hi")
    ctx.workflow_send(run, "wf-id", arg="Hi")
    await ctx.generic_call("MyObject", "my_handler", key="Mary", arg=json.dumps("Hi").encode("utf-8"))
    ctx.service_send(my_handler, "Hi", send_delay=timedelta(hours=5))
    await ctx.run("my-side-effect", lambda: call_external_api("weather", "123"))
    await ctx.run_typed("my-side-effect", call_external_api, query="weather", some_id="123")
    await ctx.sleep(timedelta(seconds=30))
    awakeable_id, promise = ctx.awakeable(type_hint=str)
    await ctx.run_typed("request_human_review", request_human_review, name="Pete",
                        awakeable_id=awakeable_id)
    await promise
    ctx.resolve_awakeable(awakeable_id, "Looks good!")
    ctx.reject_awakeable(awakeable_id, "Cannot be reviewed")
    await ctx.promise("review", type_hint=str).value()
    await ctx.promise("review", type_hint=str).resolve("approval")
    call1 = ctx.run_typed("LLM call", call_llm, prompt="What is the weather?", model="gpt-4")
    call2 = ctx.run_typed("LLM call", call_llm, prompt="What is the weather?", model="gpt-3.5-turbo")
    await asyncio.gather(call1, call2)
    await restate.gather(ctx.service_call(ask_openai, "What is the weather?"),
                         ctx.service_call(ask_claude, "What is the weather?"))
    await asyncio.wait([call1, call2], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
    confirmation = ctx.awakeable(type_hint=str)
    match await restate.select(confirmation=confirmation[1], timeout=ctx.sleep(timedelta(days=1))):
        case ["confirmation", _]:
            pass
        case ["timeout", _]:
            raise restate.TerminalError("Timeout!")
    await restate.wait_completed(call1, call2)
    async for future in restate.as_completed(call1, call2):
        await future
    handle = ctx.service_send(my_handler, arg="Hi", idempotency_key="my-idempotency-key")
    invocation_id = await handle.invocation_id()
    await ctx.attach_invocation(invocation_id)
    ctx.cancel_invocation(invocation_id)
    try:
        await ctx.service_call(some_handler, arg="Hi")
    except Exception:
        pass
    return "done"
