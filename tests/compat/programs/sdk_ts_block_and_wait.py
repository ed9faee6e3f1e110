# After restatedev/sdk-python test-services/services/block_and_wait_workflow.py
# (MIT licence, Restate). A workflow that blocks on a durable promise.
from restate import Workflow, WorkflowContext, WorkflowSharedContext
from restate.exceptions import TerminalError

workflow = Workflow("BlockAndWaitWorkflow")


@workflow.main()
async def run(ctx: WorkflowContext, input: str):
    ctx.set("my-state", input)
    output = await ctx.promise("durable-promise").value()
    if await ctx.promise("durable-promise").peek() is None:
        raise TerminalError(message="Durable promise should be completed")
    return output


@workflow.handler()
async def unblock(ctx: WorkflowSharedContext, output: str):
    await ctx.promise("durable-promise").resolve(output)


@workflow.handler(name="getState")
async def get_state(ctx: WorkflowSharedContext, output: str) -> str | None:
    return await ctx.get("my-state")
