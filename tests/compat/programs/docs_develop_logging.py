# After restatedev/docs-restate snippets/python/src/develop/logging.py (MIT licence, Restate).
import logging

import restate

service = restate.Service("Greeter")
logger = restate.getLogger(__name__)


@service.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    logger.info("Processing greeting for %s", name)
    return f"Hello, {name}!"


standard_logger = logging.getLogger("my-application")
standard_logger.addFilter(restate.RestateLoggingFilter())
