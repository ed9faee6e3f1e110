# After restatedev/examples python/patterns-use-cases/syncasync/app.py and utils.py
# (MIT licence, Restate). The upload step awaits asyncio inside its closure.
import asyncio
import random

import restate

emails: list[str] = []


async def create_s3_bucket() -> str:
    bucket = str(int(random.random() * 1_000_000_000))
    return f"https://s3-eu-central-1.amazonaws.com/{bucket}/"


async def upload_data(target: str) -> None:
    await asyncio.sleep(0)


async def send_email(email: str, url: str) -> None:
    emails.append(f"{email} {url}")


data_upload_service = restate.Workflow("DataUploadService")


@data_upload_service.main()
async def run(ctx: restate.WorkflowContext) -> str:
    url = await ctx.run_typed("bucket creation", create_s3_bucket)
    await ctx.run_typed("upload", upload_data, target=url)
    await ctx.promise("url", type_hint=str).resolve(url)
    return url


@data_upload_service.handler("resultAsEmail")
async def result_as_email(ctx: restate.WorkflowSharedContext, email: str):
    url = await ctx.promise("url", type_hint=str).value()
    await ctx.run_typed("email", send_email, email=email, url=url)


app = restate.app([data_upload_service])
