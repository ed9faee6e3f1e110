# After restatedev/examples python/patterns-use-cases/eventtransactions/app.py and utils.py
# (MIT licence, Restate). Moderation stand-in: pending twice, then done.
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


status_checks: dict[str, int] = {}
feeds: dict[str, list[str]] = {}


def create_post(user_id: str, post: SocialMediaPost) -> str:
    return str(uuid.uuid4())


def get_post_status(post_id: str) -> str:
    status_checks[post_id] = status_checks.get(post_id, 0) + 1
    return Status.PENDING if status_checks[post_id] < 3 else Status.DONE


def update_user_feed(user: str, post_id: str):
    feeds.setdefault(user, []).append(post_id)


user_feed = restate.VirtualObject("UserFeed")


@user_feed.handler("processPost")
async def process_post(ctx: restate.ObjectContext, post: SocialMediaPost):
    user_id = ctx.key()
    post_id = await ctx.run_typed("profile update", create_post, user_id=user_id, post=post)
    while await ctx.run_typed("post status", get_post_status, post_id=post_id) == Status.PENDING:
        await ctx.sleep(timedelta(seconds=5))
    await ctx.run_typed("update feed", lambda: update_user_feed(user_id, post_id))


app = restate.app(services=[user_feed])
