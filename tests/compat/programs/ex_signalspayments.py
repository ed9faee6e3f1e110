# After restatedev/examples python/patterns-use-cases/signalspayments/app.py and
# stripe_utils.py (MIT licence, Restate). A payment API stand-in replaces Stripe: a
# "processing" intent completes later through a webhook that resolves the awakeable.
import json
import logging

import restate
from pydantic import BaseModel
from restate.exceptions import TerminalError

logger = logging.getLogger(__name__)

RESTATE_CALLBACK_ID = "restate_callback_id"


class PaymentRequest(BaseModel):
    amount: int
    payment_method_id: str
    delayed_status: bool = False


def is_payment_intent(event) -> bool:
    return event["type"].startswith("payment_intent")


def parse_webhook_call(request_body, signature):
    if not signature:
        raise TerminalError("Missing 'stripe-signature' header.", status_code=400)
    try:
        return json.loads(request_body)
    except Exception as err:
        raise TerminalError(f"Webhook Error: {err}", status_code=400)


async def create_payment_intent(request: dict) -> dict:
    intent = {"id": "pi_" + request["idempotency_key"][:8], "amount": request["amount"],
              "status": "requires_payment_method" if request["payment_method_id"] == "pm_card_declined"
              else "succeeded",
              "metadata": {RESTATE_CALLBACK_ID: request["intent_webhook_id"]}}
    if request.get("delayed_status"):
        intent["status"] = "processing"
    return intent


def ensure_success(status):
    if status == "succeeded":
        return
    if status in ["requires_payment_method", "canceled"]:
        raise TerminalError(f"Payment declined: {status}")
    raise Exception(f"Unhandled status: {status}")


def verify_payment_request(request: PaymentRequest):
    if not request.amount or request.amount == 0:
        raise TerminalError("'amount' missing or zero in request")
    if not request.payment_method_id:
        raise TerminalError("'paymentMethodId' missing in request")


payment_service = restate.Service("payments")


@payment_service.handler("processPayment")
async def process_payment(ctx: restate.Context, req: PaymentRequest):
    verify_payment_request(req)
    idempotency_key = str(ctx.uuid())
    webhook_id, webhook_promise = ctx.awakeable(type_hint=dict)
    intent = await ctx.run_typed("stripe call", create_payment_intent, request={
        "payment_method_id": req.payment_method_id,
        "amount": req.amount,
        "idempotency_key": idempotency_key,
        "intent_webhook_id": webhook_id,
        "delayed_status": req.delayed_status,
    })
    if intent["status"] != "processing":
        ensure_success(intent["status"])
        return
    processed = await webhook_promise
    ensure_success(processed["status"])


@payment_service.handler("processWebhook")
async def process_webhook(ctx: restate.Context):
    req = ctx.request()
    event = parse_webhook_call(req.body, req.headers.get("stripe-signature"))
    if not is_payment_intent(event):
        return {"received": True}
    intent = event["data"]["object"]
    callback = intent["metadata"].get(RESTATE_CALLBACK_ID)
    if not callback:
        raise TerminalError(f"Missing callback property: {RESTATE_CALLBACK_ID}", status_code=404)
    ctx.resolve_awakeable(callback, intent)
    return {"received": True}


app = restate.app([payment_service])
