# After restatedev/sdk-python examples/workflow.py (MIT licence, Restate).
# A payment workflow that waits for a verdict on a promise, or times out.
from datetime import timedelta

from restate import TerminalError, Workflow, WorkflowContext, WorkflowSharedContext, select

TIMEOUT = timedelta(seconds=10)

payment = Workflow("payment")


@payment.main()
async def pay(ctx: WorkflowContext, amount: int):
    ctx.set("status", "verifying payment")

    def ask_gateway():
        return None  # stand-in: the published example prints approval instructions

    await ctx.run_typed("payment", ask_gateway)
    ctx.set("status", "waiting for the payment provider to approve")
    match await select(result=ctx.promise("verify.payment").value(), timeout=ctx.sleep(TIMEOUT)):
        case ["result", "approved"]:
            ctx.set("status", "payment approved")
            return {"success": True}
        case ["result", "declined"]:
            ctx.set("status", "payment declined")
            raise TerminalError(message="Payment declined", status_code=401)
        case ["timeout", _]:
            ctx.set("status", "payment verification timed out")
            raise TerminalError(message="Payment verification timed out", status_code=410)


@payment.handler()
async def payment_verified(ctx: WorkflowSharedContext, result: str):
    await ctx.promise("verify.payment", type_hint=str).resolve(result)
