# After restatedev/examples python/tutorials/tour-of-workflows-python/app/workflows/
# signup_with_signals.py (MIT licence, Restate).
import restate
from restate import WorkflowContext, WorkflowSharedContext

from .ex_tour_wf_utils import User, VerifyEmailRequest, send_verification_email

signup_with_signals = restate.Workflow("SignupWithSignalsWorkflow")


@signup_with_signals.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    secret = str(ctx.uuid())
    await ctx.run_typed("verify", send_verification_email, user_id=user_id, user=user,
                        verification_secret=secret)
    clicked = await ctx.promise("email-verified", type_hint=str).value()
    return clicked == secret


@signup_with_signals.handler("verifyEmail")
async def verify_email(ctx: WorkflowSharedContext, req: VerifyEmailRequest) -> None:
    await ctx.promise("email-verified", type_hint=str).resolve(req.secret)
