# After restatedev/docs-restate snippets/python/src/develop/signals.py (MIT licence, Restate).
from datetime import timedelta

import restate
from pydantic import BaseModel


class SteerRequest(BaseModel):
    invocation_id: str
    text: str


class ApproveRequest(BaseModel):
    invocation_id: str
    approved: bool


coordination_service = restate.Service("SignalsTestPy")


@coordination_service.handler()
async def wait_for_approval(ctx: restate.Context) -> bool:
    return await ctx.signal("approval", type_hint=bool)


@coordination_service.handler()
async def revise_until_done(ctx: restate.Context, topic: str) -> str:
    draft = f"Research notes for {topic}"
    while True:
        text = await ctx.signal("steer", type_hint=str)
        if text == "done":
            return draft
        draft = f"{draft}\n{text}"


@coordination_service.handler()
async def sleep_then_wait(ctx: restate.Context) -> str:
    await ctx.sleep(timedelta(seconds=3))
    return await ctx.signal("steer", type_hint=str)


@coordination_service.handler()
async def steer_invocation(ctx: restate.Context, req: SteerRequest) -> None:
    ctx.resolve_signal(req.invocation_id, "steer", req.text)


@coordination_service.handler()
async def approve(ctx: restate.Context, req: ApproveRequest) -> None:
    ctx.resolve_signal(req.invocation_id, "approval", req.approved)


@coordination_service.handler()
async def deny(ctx: restate.Context, req: SteerRequest) -> None:
    ctx.reject_signal(req.invocation_id, "approval", "Request denied")
