"""A reminder that waits thirty days of (virtual) time before sending a mail.

The durable timer lives in the server's store, so a restart of the whole
server in the middle of the wait neither loses nor repeats the mail.
"""

from __future__ import annotations

from datetime import timedelta

import simdurable as restate

mailer = restate.FakeExternal("mailer")
reminders = restate.Service("Reminders")


def send_mail(to: str, key: str) -> None:
    mailer.apply("send", {"to": to}, idempotency_key=key)


@reminders.handler()
async def remind(ctx: restate.Context, req: dict) -> str:
    key = str(ctx.uuid())
    await ctx.sleep(timedelta(days=req.get("days", 30)))
    await ctx.run_typed("mail", send_mail, to=req["to"], key=key)
    return f"reminded {req['to']}"


services = [reminders]
externals = [mailer]
