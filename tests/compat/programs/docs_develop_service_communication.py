# After restatedev/docs-restate snippets/python/src/develop/service_communication.py (MIT
# licence, Restate): every way to call and send, scopes, attach and cancel.
import json
from datetime import timedelta

from restate import Context, Service

from .docs_develop_my_service import my_handler as my_service_handler
from .docs_develop_my_virtual_object import my_handler as my_object_handler
from .docs_develop_my_workflow import interact_with_workflow, run

caller = Service("Caller")


@caller.handler()
async def calling_handler(ctx: Context, arg):
    await ctx.service_call(my_service_handler, arg="Hi")
    await ctx.object_call(my_object_handler, key="Mary", arg="Hi")
    await ctx.workflow_call(run, key="my_workflow_id", arg="Hi")
    await ctx.workflow_call(interact_with_workflow, key="my_workflow_id", arg="Hi")
    await ctx.generic_call("MyVirtualObject", "myHandler", key="Mary",
                           arg=json.dumps("Hi").encode("utf-8"))
    ctx.service_send(my_service_handler, arg="Hi")
    ctx.object_send(my_object_handler, key="Mary", arg="Hi")
    ctx.workflow_send(run, key="my_wf_id", arg="Hi")
    ctx.workflow_send(interact_with_workflow, key="my_wf_id", arg="Hi")
    ctx.generic_send("MyService", "myHandler", arg=json.dumps("Hi").encode("utf-8"))
    ctx.service_send(my_service_handler, arg="Hi", send_delay=timedelta(hours=5))
    ctx.object_send(my_object_handler, key="Mary", arg="Hi", send_delay=timedelta(hours=5))
    ctx.workflow_send(run, key="my_workflow_id", arg="Hi", send_delay=timedelta(hours=5))
    ctx.generic_send("MyService", "myHandler", arg=json.dumps("Hi").encode("utf-8"),
                     send_delay=timedelta(hours=5))
    ctx.object_send(my_object_handler, key="Mary", arg="I'm call A")
    ctx.object_send(my_object_handler, key="Mary", arg="I'm call B")
    await ctx.service_call(my_service_handler, arg="Hi", idempotency_key="my-idempotency-key")
    await ctx.scope("tenant-123").service_call(my_service_handler, arg="Hi")
    await ctx.scope("tenant-123").workflow_call(run, key="my_workflow_id", arg="Hi",
                                                limit_key="premium/user42")
    ctx.scope("tenant-123").object_send(my_object_handler, key="Mary", arg="Hi")
    ctx.request().scope
    ctx.request().limit_key
    handle = ctx.service_send(my_service_handler, arg="Hi", idempotency_key="my-idempotency-key")
    invocation_id = await handle.invocation_id()
    result = await ctx.attach_invocation(invocation_id, type_hint=str)
    ctx.cancel_invocation(invocation_id)
    return result
