# After restatedev/docs-restate snippets/python/src/develop/my_workflow.py (MIT licence,
# Restate).
import restate

my_workflow = restate.Workflow("MyWorkflow")


@my_workflow.main()
async def run(ctx: restate.WorkflowContext, req: str) -> str:
    return "success"


@my_workflow.handler()
async def interact_with_workflow(ctx: restate.WorkflowSharedContext, req: str):
    return


app = restate.app([my_workflow])
