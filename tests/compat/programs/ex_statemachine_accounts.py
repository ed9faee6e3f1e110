# After restatedev/examples python/patterns-use-cases/statemachinepayments/accounts.py
# (MIT licence, Restate). The opening balance, random in the published code, is a
# fixed stand-in here.
import restate
from pydantic import BaseModel
from restate.exceptions import TerminalError


class Result(BaseModel):
    success: bool
    message: str


account = restate.VirtualObject("account")

BALANCE = "balance"


def initialize_random_amount() -> int:
    return 150_000


@account.handler()
async def deposit(ctx: restate.ObjectContext, amount_cents: int):
    if amount_cents <= 0:
        raise TerminalError("Amount must be greater than 0")
    balance = await ctx.get(BALANCE, type_hint=int) or initialize_random_amount()
    ctx.set(BALANCE, balance + amount_cents)


@account.handler()
async def withdraw(ctx: restate.ObjectContext, amount_cents: int) -> Result:
    if amount_cents <= 0:
        raise TerminalError("Amount must be greater than 0")
    balance = await ctx.get(BALANCE, type_hint=int) or initialize_random_amount()
    if balance < amount_cents:
        return Result(success=False, message=f"Insufficient funds: {balance} cents")
    ctx.set(BALANCE, balance - amount_cents)
    return Result(success=True, message="Withdrawal successful")
