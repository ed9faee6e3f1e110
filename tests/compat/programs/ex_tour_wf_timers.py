# After restatedev/examples python/tutorials/tour-of-workflows-python/app/workflows/
# signup_with_timers.py (MIT licence, Restate).
from datetime import timedelta

import restate
from restate import TerminalError, WorkflowContext, WorkflowSharedContext

from .ex_tour_wf_utils import User, VerifyEmailRequest, send_reminder_email, send_verification_email

signup_with_timers = restate.Workflow("SignupWithTimersWorkflow")


@signup_with_timers.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    secret = str(ctx.uuid())
    await ctx.run_typed("verify", send_verification_email, user_id=user_id, user=user,
                        verification_secret=secret)
    clicked = ctx.promise("email-verified", type_hint=str)
    deadline = ctx.sleep(timedelta(days=1))
    while True:
        reminder = ctx.sleep(timedelta(seconds=15))
        match await restate.select(verification=clicked.value(), reminder=reminder, timeout=deadline):
            case ["verification", got]:
                return got == secret
            case ["reminder", _]:
                await ctx.run_typed("remind", send_reminder_email, user_id=user_id, user=user,
                                    verification_secret=secret)
            case ["timeout", _]:
                raise TerminalError("Email verification timed out after 24 hours")


@signup_with_timers.handler("verifyEmail")
async def verify_email(ctx: WorkflowSharedContext, req: VerifyEmailRequest) -> None:
    await ctx.promise("email-verified", type_hint=str).resolve(req.secret)
