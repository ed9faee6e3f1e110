# After restatedev/examples python/tutorials/tour-of-workflows-python/app/workflows/
# signup_with_events.py (MIT licence, Restate).
import restate
from restate import WorkflowContext, WorkflowSharedContext

from .ex_tour_wf_utils import User, activate_user, create_user, send_welcome_email

signup_with_events = restate.Workflow("SignupWithEventsWorkflow")


@signup_with_events.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    if not await ctx.run_typed("create", create_user, user_id=user_id, user=user):
        await ctx.promise("user-created").reject("Creation failed.")
        return False
    await ctx.promise("user-created", type_hint=str).resolve("User created.")
    await ctx.run_typed("activate", activate_user, user_id=user_id)
    await ctx.run_typed("welcome", send_welcome_email, user=user)
    return True


@signup_with_events.handler("waitForUserCreation")
async def wait_for_user_creation(ctx: WorkflowSharedContext) -> str:
    return await ctx.promise("user-created").value()
