# After restatedev/docs-restate snippets/python/src/usecases/workflows/workflow_actions.py
# (MIT licence, Restate).
from datetime import timedelta
from typing import Dict

import restate
from pydantic import BaseModel


class User(BaseModel):
    name: str
    email: str


class OrderDetails(BaseModel):
    id: str
    amount: int


approval_workflow = restate.Workflow("workflow-actions")


@approval_workflow.main()
async def run(ctx: restate.WorkflowContext, user: User) -> Dict[str, bool]:
    ctx.set("payment-status", "completed")
    ctx.set("order-details", OrderDetails(id="order123", amount=1500))
    await ctx.promise("manager-approval", type_hint=bool)
    match await restate.select(user_response=ctx.promise("user-response").value(),
                               timeout=ctx.sleep(timedelta(days=1))):
        case ["user_response", _]:
            pass
        case _:
            pass
    return {"success": True}


@approval_workflow.handler()
async def approve(ctx: restate.WorkflowSharedContext, decision: bool):
    await ctx.promise("manager-approval", type_hint=bool).resolve(decision)


order_workflow = restate.Workflow("order-workflow")


@order_workflow.handler()
async def get_order_details(ctx: restate.WorkflowSharedContext) -> OrderDetails:
    details = await ctx.get("order-details", type_hint=OrderDetails)
    if details is None:
        raise restate.TerminalError("Order details not found.")
    return details
