# After restatedev/sdk-python examples/example.py (MIT licence, Restate): the
# examples bound into one ASGI app at import.
import logging

import restate

from .sdk_ex_concurrent_greeter import concurrent_greeter
from .sdk_ex_greeter import greeter
from .sdk_ex_pydantic_greeter import pydantic_greeter
from .sdk_ex_random_greeter import random_greeter
from .sdk_ex_virtual_object import counter
from .sdk_ex_workflow import payment

logging.basicConfig(level=logging.INFO)

app = restate.app(services=[greeter, random_greeter, counter, payment, pydantic_greeter,
                            concurrent_greeter])
