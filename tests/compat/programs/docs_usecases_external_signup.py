# After restatedev/docs-restate snippets/python/src/usecases/workflows/external_signup.py
# (MIT licence, Restate).
from typing import Dict

import restate
from pydantic import BaseModel


class User(BaseModel):
    name: str
    email: str


class CreateUserRequest(BaseModel):
    user_id: str
    user: User


def activate_user(user_id: str):
    pass


def send_welcome_email(user: User):
    pass


user_service = restate.Service("user-service")


@user_service.handler()
async def create_user(ctx: restate.Context, req: CreateUserRequest) -> bool:
    return True


user_signup = restate.Workflow("user-signup")


@user_signup.main()
async def run(ctx: restate.WorkflowContext, user: User) -> Dict[str, bool]:
    user_id = ctx.key()
    if not await ctx.service_call(create_user, CreateUserRequest(user_id=user_id, user=user)):
        return {"success": False}
    await ctx.run_typed("activate", activate_user, user_id=user_id)
    await ctx.run_typed("welcome", send_welcome_email, user=user)
    return {"success": True}
