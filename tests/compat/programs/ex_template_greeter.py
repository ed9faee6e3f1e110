# After restatedev/examples python/templates/python/app/greeter.py and utils.py (MIT
# licence, Restate); templates/lambda holds the same greeter. The notification
# stand-ins fail for "Alice" on their first try instead of at random.
from datetime import timedelta

import restate
from pydantic import BaseModel

tries: dict[str, int] = {}


def flaky(what: str, name: str) -> None:
    tries[what + name] = tries.get(what + name, 0) + 1
    if name == "Alice" and tries[what + name] == 1:
        raise Exception(f"[SIMULATED] Failed to send {what}: {name}")


def send_notification(greeting_id: str, name: str):
    flaky("notification", name)


def send_reminder(greeting_id: str, name: str):
    flaky("reminder", name)


class GreetingRequest(BaseModel):
    name: str


class Greeting(BaseModel):
    message: str


greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, req: GreetingRequest) -> Greeting:
    greeting_id = str(ctx.uuid())
    await ctx.run_typed("notification", send_notification, greeting_id=greeting_id, name=req.name)
    await ctx.sleep(timedelta(seconds=1))
    await ctx.run_typed("reminder", send_reminder, greeting_id=greeting_id, name=req.name)
    return Greeting(message=f"You said hi to {req.name}!")
