# After restatedev/docs-restate snippets/python/src/foundations/actions/{analytics_service,
# notification_service,order_workflow,shopping_cart_object,user_account,validation_service}.py
# (MIT licence, Restate): the small services the actions snippet calls.
from typing import Any, Dict

import restate
from pydantic import BaseModel
from restate import ObjectContext, WorkflowContext, WorkflowSharedContext

analytics_service = restate.Service("AnalyticsService")


@analytics_service.handler()
async def record_event(ctx: restate.Context, event: Any) -> None:
    pass


notification_service = restate.Service("NotificationService")


@notification_service.handler()
async def send_email(ctx: restate.Context, req: Dict[str, str]) -> None:
    pass


@notification_service.handler()
async def send_reminder(ctx: restate.Context, req: Dict[str, str]) -> None:
    pass


order_workflow = restate.Workflow("OrderWorkflow")


class Order(BaseModel):
    pass


@order_workflow.main()
async def run(ctx: WorkflowContext, order: Order):
    pass


@order_workflow.handler()
async def get_status(ctx: WorkflowSharedContext) -> str:
    return "pending"


shopping_cart_object = restate.VirtualObject("ShoppingCartObject")


@shopping_cart_object.handler()
async def empty_expired_cart(ctx: restate.ObjectContext) -> None:
    pass


class UserProfile(BaseModel):
    name: str
    email: str


user_account = restate.VirtualObject("UserAccount")


@user_account.handler()
async def get_profile(ctx: ObjectContext) -> UserProfile:
    return UserProfile(name="John", email="john@example.com")


validation_service = restate.Service("ValidationService")


@validation_service.handler()
async def validate_order(ctx: restate.Context, order: Any) -> Dict:
    return {"valid": True}
