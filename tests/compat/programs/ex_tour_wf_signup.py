# After restatedev/examples python/tutorials/tour-of-workflows-python/app/workflows/
# signup_workflow.py (MIT licence, Restate).
import restate
from restate import WorkflowContext

from .ex_tour_wf_utils import User, activate_user, create_user, send_welcome_email

signup_workflow = restate.Workflow("SignupWorkflow")


@signup_workflow.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    if not await ctx.run_typed("create", create_user, user_id=user_id, user=user):
        return False
    await ctx.run_typed("activate", activate_user, user_id=user_id)
    await ctx.run_typed("welcome", send_welcome_email, user=user)
    return True
