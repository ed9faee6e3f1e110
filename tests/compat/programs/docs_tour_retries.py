# After restatedev/docs-restate snippets/python/src/tour/microservices/retries.py (MIT
# licence, Restate).
import uuid
from datetime import timedelta
from typing import List, TypedDict

import restate
from restate import Context, Service

my_service = Service("MyService")


class SubscriptionRequest(TypedDict):
    userId: str
    creditCard: str
    subscriptions: List[str]


def create_recurring_payment(credit_card: str, payment_id: str) -> str:
    return f"payRef-{uuid.uuid4()}"


@my_service.handler("myHandler")
async def my_service_handler(ctx: Context, req: SubscriptionRequest):
    payment_id = f"payment-{uuid.uuid4()}"
    await ctx.run_typed("pay", lambda: create_recurring_payment(req["creditCard"], payment_id),
                        restate.RunOptions(max_attempts=10, max_retry_duration=timedelta(seconds=30)))


app = restate.app([my_service])
