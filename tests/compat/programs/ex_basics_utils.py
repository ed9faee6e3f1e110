# After restatedev/examples python/basics/app/utils.py (MIT licence, Restate).
# Stand-ins for the outside world (the published one crashes at random), and a
# subscription object the building-blocks example calls.
import restate

outbox: dict[str, str] = {}  # email stand-in: user id -> the secret sent


def create_subscription(user_id: str, subscription: str, payment_ref: str) -> str:
    return "SUCCESS"


def create_recurring_payment(credit_card: str, payment_id: str) -> str:
    return "payment-reference"


async def create_user_entry(user):
    return None


def send_email_with_link(user_id: str, email: str, secret: str):
    outbox[user_id] = secret


async def charge_bank_account(payment_deduplication_id: str, amount: int) -> bool:
    return True


subscription_service = restate.VirtualObject("SubscriptionService")


@subscription_service.handler()
async def create(ctx: restate.ObjectContext, userId: str) -> str:
    return "SUCCESS"


@subscription_service.handler()
async def cancel(ctx: restate.ObjectContext):
    pass
