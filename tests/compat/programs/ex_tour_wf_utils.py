# After restatedev/examples python/tutorials/tour-of-workflows-python/app/utils.py (MIT
# licence, Restate): outside-world stand-ins (failing for "Alice" as published) and
# the user service.
import restate
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel as camelize
from restate import TerminalError

sent: dict[str, str] = {}  # email stand-in: user id -> verification secret
log: list[str] = []


class User(BaseModel):
    name: str
    email: str


def send_welcome_email(user: User):
    if user.name == "Alice":
        raise Exception(f"[SIMULATED] Failed to send welcome email: {user.name}")
    log.append(f"welcome {user.email}")


def create_user(user_id: str, user: User) -> bool:
    return True


def delete_user(user_id: str) -> bool:
    log.append(f"delete {user_id}")
    return True


def send_verification_email(user_id: str, user: User, verification_secret: str):
    sent[user_id] = verification_secret


def send_reminder_email(user_id: str, user: User, verification_secret: str):
    log.append(f"remind {user_id}")


def activate_user(user_id: str):
    log.append(f"activate {user_id}")


def deactivate_user(user_id: str):
    log.append(f"deactivate {user_id}")


def subscribe_to_paid_plan(user: User) -> bool:
    if user.name == "Alice":
        raise TerminalError(f"[SIMULATED] Failed to subscribe to paid plan for {user.name}: "
                            "not available in this country")
    return True


def cancel_subscription(user: User) -> bool:
    log.append(f"unsubscribe {user.name}")
    return True


class CreateUserRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    user_id: str
    user: User


class VerifyEmailRequest(BaseModel):
    secret: str


class StatusResponse(BaseModel):
    status: str | None
    user: dict | None


user_service = restate.Service("UserService")


@user_service.handler("createUser")
async def create_user_handler(ctx: restate.Context, req: CreateUserRequest) -> bool:
    return await ctx.run_typed("create user", create_user, user_id=req.user_id, user=req.user)
