# After restatedev/docs-restate snippets/python/src/foundations/services/workflow.py (MIT
# licence, Restate).
import restate
from pydantic import BaseModel
from restate import WorkflowContext, WorkflowSharedContext

mails: dict[str, str] = {}


class User(BaseModel):
    name: str
    email: str


def create_user_entry(user_id: str, user: User) -> None:
    return None


def send_verification_email(user: User, secret: str) -> None:
    mails[user.email] = secret


signup_workflow = restate.Workflow("UserSignup")


@signup_workflow.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    await ctx.run_typed("create", create_user_entry, user_id=user_id, user=user)
    secret = str(ctx.uuid())
    await ctx.run_typed("mail", send_verification_email, user=user, secret=secret)
    return await ctx.promise("email-link-clicked", type_hint=str).value() == secret


@signup_workflow.handler()
async def click(ctx: WorkflowSharedContext, secret: str) -> None:
    await ctx.promise("email-link-clicked", type_hint=str).resolve(secret)
