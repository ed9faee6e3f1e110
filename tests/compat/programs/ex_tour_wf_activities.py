# After restatedev/examples python/tutorials/tour-of-workflows-python/app/workflows/
# signup_with_activities.py (MIT licence, Restate).
import restate
from restate import WorkflowContext

from .ex_tour_wf_utils import (
    CreateUserRequest,
    User,
    activate_user,
    create_user_handler,
    send_welcome_email,
)

signup_with_activities = restate.Workflow("SignupWithActivitiesWorkflow")


@signup_with_activities.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    ok = await ctx.service_call(create_user_handler, arg=CreateUserRequest(user_id=user_id, user=user))
    if not ok:
        return False
    await ctx.run_typed("activate", activate_user, user_id=user_id)
    await ctx.run_typed("welcome", send_welcome_email, user=user)
    return True
