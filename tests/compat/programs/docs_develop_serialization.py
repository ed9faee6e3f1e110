# After restatedev/docs-restate snippets/python/src/develop/serialization.py (MIT licence,
# Restate): a user's own Serde, pydantic and msgspec types in state, awakeables and steps.
import json
import typing
from datetime import datetime

import msgspec
import restate
from pydantic import BaseModel
from restate import ObjectContext, VirtualObject
from restate.serde import PydanticJsonSerde, Serde  # noqa: F401 - imported as published


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


my_object = VirtualObject("MyService")

STAMP = datetime(2024, 5, 1, 12, 0, 0)


@my_object.handler(input_serde=MySerde(), output_serde=MySerde())
async def my_handler(ctx: ObjectContext, greeting: str) -> str:
    await ctx.get("my_state", serde=MySerde())
    ctx.set("my_state", MyData(some_value="Hi", my_number=15), serde=MySerde())
    ctx.awakeable(serde=MySerde())
    return "some-output"


class Delivery(BaseModel):
    timestamp: datetime
    dimensions: tuple[int, int]


class CompletedDelivery(BaseModel):
    status: str
    timestamp: datetime


def do_something() -> Delivery:
    return Delivery(timestamp=STAMP, dimensions=(10, 20))


@my_object.handler()
async def deliver(ctx: ObjectContext, delivery: Delivery) -> CompletedDelivery:
    await ctx.get("delivery", type_hint=Delivery)
    ctx.awakeable(type_hint=Delivery)
    await ctx.run_typed("some-task", do_something, restate.RunOptions(type_hint=Delivery))
    return CompletedDelivery(status="delivered", timestamp=delivery.timestamp)


class Package(msgspec.Struct):
    timestamp: datetime
    dimensions: tuple[int, int]


class CompletedPackage(msgspec.Struct):
    status: str
    timestamp: datetime


def do_package_task() -> Package:
    return Package(timestamp=STAMP, dimensions=(10, 20))


@my_object.handler()
async def ship(ctx: ObjectContext, package: Package) -> CompletedPackage:
    await ctx.get("package", type_hint=Package)
    ctx.awakeable(type_hint=Package)
    await ctx.run_typed("some-task", do_package_task, restate.RunOptions(type_hint=Package))
    return CompletedPackage(status="shipped", timestamp=package.timestamp)
