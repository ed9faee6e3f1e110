# After restatedev/examples python/patterns-use-cases/durablerpc/app.py (MIT licence, Restate).
import logging

import restate

product_service = restate.VirtualObject("product")


@product_service.handler()
async def reserve(ctx: restate.ObjectContext) -> bool:
    if await ctx.get("reserved", type_hint=bool):
        logging.info("Product already reserved %s", ctx.key())
        return False
    ctx.set("reserved", True)
    return True


app = restate.app([product_service])
