# After restatedev/docs-restate snippets/python/src/develop/skillsmd/serialization.py (MIT
# licence, Restate).
import json
import typing

import restate
from pydantic import BaseModel
from restate.serde import Serde


class Greeting(BaseModel):
    name: str


class GreetingResponse(BaseModel):
    result: str


greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, greeting: Greeting) -> GreetingResponse:
    return GreetingResponse(result=f"You said hi to {greeting.name}!")


my_object = restate.VirtualObject("MyService")


class MyData(typing.TypedDict):
    some_value: str
    my_number: int


class MySerde(Serde[MyData]):
    def deserialize(self, buf: bytes) -> typing.Optional[MyData]:
        if not buf:
            return None
        data = json.loads(buf)
        return MyData(some_value=data["some_value"], my_number=data["some_number"])

    def serialize(self, obj: typing.Optional[MyData]) -> bytes:
        if obj is None:
            return bytes()
        return bytes(json.dumps({"some_value": obj["some_value"], "some_number": obj["my_number"]}),
                     "utf-8")


@my_object.handler(input_serde=MySerde(), output_serde=MySerde())
async def my_handler(ctx: restate.ObjectContext, greeting: str) -> str:
    await ctx.get("my_state", serde=MySerde())
    ctx.set("my_state", MyData(some_value="Hi", my_number=15), serde=MySerde())
    ctx.awakeable(serde=MySerde())
    return "some-output"
