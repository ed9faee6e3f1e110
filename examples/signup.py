"""A signup workflow that waits for the user to click the link in an email.

``run`` creates the account, mails a link, and waits on the durable promise
``email-link``; the shared ``click`` handler (or a test) resolves it. The
workflow then activates the account and records it in its state.
"""

from __future__ import annotations

import simdurable as restate

accounts = restate.FakeExternal("accounts")
signup = restate.Workflow("Signup")


def _create(email: str, key: str) -> str:
    return str(accounts.apply("create", {"email": email}, idempotency_key=key)["id"])


def _activate(account: str, key: str) -> None:
    accounts.apply("activate", {"account": account}, idempotency_key=key)


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    key = str(ctx.uuid())
    account = await ctx.run_typed("create-account", _create, email=email, key=key)
    ctx.set("status", "waiting")
    secret = await ctx.promise("email-link").value()
    if secret != "s3cret":
        ctx.set("status", "rejected")
        raise restate.TerminalError("wrong secret in the email link", 403)
    await ctx.run_typed("activate", _activate, account=account, key=key)
    ctx.set("status", "active")
    return account


@signup.handler()
async def click(ctx: restate.WorkflowSharedContext, secret: str) -> None:
    await ctx.promise("email-link").resolve(secret)


services = [signup]
externals = [accounts]
