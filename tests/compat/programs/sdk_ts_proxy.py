# After restatedev/sdk-python test-services/services/proxy.py (MIT licence, Restate).
# Forwards raw calls and sends to any handler, by name.
from datetime import timedelta
from typing import Iterable, Optional, TypedDict

from restate import Context, Service
from restate.context import RestateDurableCallFuture, SendHandle

proxy = Service("Proxy")


class ProxyRequest(TypedDict):
    serviceName: str
    virtualObjectKey: Optional[str]
    handlerName: str
    message: Iterable[int]
    delayMillis: Optional[int]
    idempotencyKey: Optional[str]
    scope: Optional[str]
    limitKey: Optional[str]


def forward_call(ctx: Context, req: ProxyRequest) -> RestateDurableCallFuture[bytes]:
    return ctx.generic_call(
        req["serviceName"],
        req["handlerName"],
        bytes(req["message"]),
        req.get("virtualObjectKey"),
        idempotency_key=req.get("idempotencyKey"),
        scope=req.get("scope"),
        limit_key=req.get("limitKey"),
    )


def forward_send(ctx: Context, req: ProxyRequest) -> SendHandle:
    millis = req.get("delayMillis")
    return ctx.generic_send(
        req["serviceName"],
        req["handlerName"],
        bytes(req["message"]),
        req.get("virtualObjectKey"),
        send_delay=None if millis is None else timedelta(milliseconds=millis),
        idempotency_key=req.get("idempotencyKey"),
        scope=req.get("scope"),
        limit_key=req.get("limitKey"),
    )


@proxy.handler()
async def call(ctx: Context, req: ProxyRequest) -> Iterable[int]:
    return list(await forward_call(ctx, req))


@proxy.handler(name="oneWayCall")
async def one_way_call(ctx: Context, req: ProxyRequest) -> str:
    handle = forward_send(ctx, req)
    return await handle.invocation_id()


class ManyCallRequest(TypedDict):
    proxyRequest: ProxyRequest
    oneWayCall: bool
    awaitAtTheEnd: bool


@proxy.handler(name="manyCalls")
async def many_calls(ctx: Context, requests: Iterable[ManyCallRequest]):
    pending = []
    for req in requests:
        if req["oneWayCall"]:
            forward_send(ctx, req["proxyRequest"])
        else:
            fut = forward_call(ctx, req["proxyRequest"])
            if req["awaitAtTheEnd"]:
                pending.append(fut)
    for fut in pending:
        await fut
