# After restatedev/docs-restate snippets/python/src/tour/workflows/lambda_handler.py (MIT
# licence, Restate).
import restate
from restate import WorkflowContext

signup_workflow = restate.Workflow("SignupWorkflow")


@signup_workflow.main()
async def run(ctx: WorkflowContext) -> bool:
    return True


handler = restate.app(services=[signup_workflow])
