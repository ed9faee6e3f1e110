# After restatedev/docs-restate snippets/python/src/usecases/eventprocessing/user_feed.py
# and utils.py (MIT licence, Restate). Moderation stand-in: pending once, then done.
import uuid
from datetime import timedelta

import restate
from pydantic import BaseModel


class SocialMediaPost(BaseModel):
    content: str
    metadata: str


class Status:
    PENDING = "PENDING"
    DONE = "DONE"


checks: dict[str, int] = {}


def create_post(user_id: str, post: SocialMediaPost) -> str:
    return str(uuid.uuid4())


def get_post_status(post_id: str) -> str:
    checks[post_id] = checks.get(post_id, 0) + 1
    return Status.PENDING if checks[post_id] < 2 else Status.DONE


def update_user_feed(user: str, post_id: str):
    pass


user_feed = restate.VirtualObject("UserFeed")


@user_feed.handler()
async def process_post(ctx: restate.ObjectContext, post: SocialMediaPost):
    user_id = ctx.key()
    post_id = await ctx.run_typed("create post", create_post, user_id=user_id, post=post)
    while await ctx.run_typed("get status", get_post_status, post_id=post_id) == Status.PENDING:
        await ctx.sleep(timedelta(seconds=5))
    await ctx.run_typed("update feed", update_user_feed, user=user_id, post_id=post_id)


app = restate.app([user_feed])
