# After restatedev/docs-restate snippets/python/src/foundations/actions/actions.py (MIT
# licence, Restate).
from datetime import timedelta
from typing import Any, Dict

import restate
from pydantic import BaseModel
from restate import Context, ObjectContext, WorkflowContext, WorkflowSharedContext

from .docs_foundations_services import UserProfile


class ShoppingCart(BaseModel):
    pass


class PaymentResult(BaseModel):
    success: bool
    transaction_id: str


class InventoryConfirmation(BaseModel):
    available: bool
    quantity: int


async def fetch_url(url: str) -> Dict:
    return {}


async def update_user_database(id: str, data: Any) -> Any:
    return data


actions_example_service = restate.Service("ActionsExample")


@actions_example_service.handler()
async def durable_steps_example(ctx: Context, user_id: str) -> None:
    await ctx.run_typed("fetch-data", fetch_url, url="https://api.example.com/data")
    await ctx.run_typed("update-user", update_user_database, id=user_id, data={"name": "John"})
    ctx.uuid()


@actions_example_service.handler()
async def service_calls_example(ctx: Context, req: Dict[str, Any]) -> None:
    user_id, order_id, order = req["userId"], req["orderId"], req["order"]
    from .docs_foundations_services import validate_order

    await ctx.service_call(validate_order, order)
    from .docs_foundations_services import get_profile

    profile: UserProfile = await ctx.object_call(get_profile, key=user_id, arg=None)
    from .docs_foundations_services import run

    await ctx.workflow_call(run, key=order_id, arg=order)


@actions_example_service.handler()
async def sending_messages_example(ctx: Context, user_id: str) -> None:
    from .docs_foundations_services import send_email

    ctx.service_send(send_email, {"userId": user_id, "message": "Welcome!"})
    from .docs_foundations_services import record_event

    ctx.service_send(record_event, {"kind": "user_signup", "userId": user_id})
    from .docs_foundations_services import empty_expired_cart

    ctx.object_send(empty_expired_cart, key=user_id, arg=None)


@actions_example_service.handler()
async def delayed_messages_example(ctx: Context, req: Dict[str, str]) -> None:
    from .docs_foundations_services import send_reminder

    ctx.service_send(send_reminder, {"userId": req["userId"], "message": req["message"]},
                     send_delay=timedelta(days=1))


@actions_example_service.handler()
async def durable_timers_example(ctx: Context, req: Dict[str, Any]) -> None:
    await ctx.sleep(timedelta(minutes=5))
    from .docs_foundations_services import run

    match await restate.select(result=ctx.workflow_call(run, key=req["orderId"], arg=req["order"]),
                               timeout=ctx.sleep(timedelta(minutes=5))):
        case ["result", result]:
            return result
        case _:
            pass
    return None


state_example_object = restate.VirtualObject("StateExample")


@state_example_object.handler()
async def state_get_example(ctx: ObjectContext) -> None:
    await ctx.get("profile", type_hint=UserProfile)
    await ctx.get("count", type_hint=int) or 0
    await ctx.get("cart", type_hint=ShoppingCart) or ShoppingCart()


@state_example_object.handler()
async def state_set_example(ctx: ObjectContext, count: int) -> None:
    ctx.set("lastLogin", "Wed, 21 Oct 2015 07:28:00 GMT")
    ctx.set("count", count + 1)
    ctx.set("profile", UserProfile(name="John Doe", email="john@example.com"))


@state_example_object.handler()
async def state_clear_example(ctx: ObjectContext) -> None:
    ctx.clear("shoppingCart")
    ctx.clear("sessionToken")
    ctx.clear_all()


workflow_example_workflow = restate.Workflow("WorkflowExample")


@workflow_example_workflow.main()
async def run(ctx: WorkflowContext) -> None:
    await ctx.promise("payment-completed", type_hint=PaymentResult).value()
    await ctx.promise("manager-approval", type_hint=bool).value()
    payment_promise = ctx.promise("payment", type_hint=PaymentResult)
    inventory_promise = ctx.promise("inventory", type_hint=InventoryConfirmation)
    await restate.gather(payment_promise.value(), inventory_promise.value())


@workflow_example_workflow.handler()
async def confirm_payment(ctx: WorkflowSharedContext, result: PaymentResult) -> None:
    await ctx.promise("payment-completed", type_hint=PaymentResult).resolve(result)


@workflow_example_workflow.handler()
async def approve_request(ctx: WorkflowSharedContext, approved: bool) -> None:
    await ctx.promise("manager-approval", type_hint=bool).resolve(approved)
