# After restatedev/examples python/tutorials/tour-of-workflows-python/app/workflows/
# signup_with_sagas.py (MIT licence, Restate).
import restate
from restate import TerminalError, WorkflowContext

from .ex_tour_wf_utils import (
    User,
    activate_user,
    cancel_subscription,
    create_user,
    deactivate_user,
    delete_user,
    subscribe_to_paid_plan,
)

signup_with_sagas = restate.Workflow("SignupWithSagasWorkflow")


@signup_with_sagas.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    compensations = []
    try:
        compensations.append(lambda: ctx.run_typed("delete", delete_user, user_id=user_id))
        await ctx.run_typed("create", create_user, user_id=user_id, user=user)
        compensations.append(lambda: ctx.run_typed("deactivate", deactivate_user, user_id=user_id))
        await ctx.run_typed("activate", activate_user, user_id=user_id)
        compensations.append(lambda: ctx.run_typed("unsubscribe", cancel_subscription, user=user))
        await ctx.run_typed("subscribe", subscribe_to_paid_plan, user=user)
    except TerminalError:
        for undo in reversed(compensations):
            await undo()
        return False
    return True
