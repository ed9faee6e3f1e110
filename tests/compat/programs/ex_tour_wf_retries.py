# After restatedev/examples python/tutorials/tour-of-workflows-python/app/workflows/
# signup_with_retries.py (MIT licence, Restate).
from datetime import timedelta

import restate
from restate import TerminalError, WorkflowContext

from .ex_tour_wf_utils import User, activate_user, create_user, send_welcome_email

signup_with_retries = restate.Workflow("SignupWithRetriesWorkflow")


@signup_with_retries.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    if not await ctx.run_typed("create", create_user, user_id=user_id, user=user):
        return False
    await ctx.run_typed("activate", activate_user, user_id=user_id)
    try:
        await ctx.run_typed("welcome", send_welcome_email,
                            restate.RunOptions(max_attempts=3, max_retry_duration=timedelta(seconds=30)),
                            user=user)
    except TerminalError:
        pass  # the welcome email is given up after its retries
    return True
