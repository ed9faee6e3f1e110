# After restatedev/examples python/end-to-end-applications/food-ordering/app/ordering/
# (app.py, order_workflow.py, delivery_manager.py, driver_digital_twin.py, driver_matcher.py,
# order_status.py, external/driver_mobile_app_sim.py, external/location_utils.py,
# types/types.py, utils/geo.py) (MIT licence, Restate), in one module. Stand-ins replace
# the payment API, the restaurant's HTTP endpoint and the Kafka producer.
import random
import uuid  # noqa: F401 - as published
from datetime import timedelta
from enum import Enum
from typing import TypedDict

import restate
from restate import ObjectContext, VirtualObject, Workflow, WorkflowContext, WorkflowSharedContext
from restate.exceptions import TerminalError

DEMO_REGION = "San Jose (CA)"
kafka_log: list[str] = []
prepared: list[str] = []


class Status(str, Enum):
    NEW = "NEW"
    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    IN_PREPARATION = "IN_PREPARATION"
    SCHEDULING_DELIVERY = "SCHEDULING_DELIVERY"
    WAITING_FOR_DRIVER = "WAITING_FOR_DRIVER"
    IN_DELIVERY = "IN_DELIVERY"
    DELIVERED = "DELIVERED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class DriverStatus(str, Enum):
    IDLE = "IDLE"
    WAITING_FOR_WORK = "WAITING_FOR_WORK"
    DELIVERING = "DELIVERING"


class Location(TypedDict):
    long: float
    lat: float


class DeliveryInformation(TypedDict):
    order_id: str
    restaurant_id: str
    restaurant_location: Location
    customer_location: Location
    order_picked_up: bool


class DeliveryRequest(TypedDict):
    delivery_id: str
    restaurant_id: str
    restaurant_location: Location
    customer_location: Location


class PendingDelivery(TypedDict):
    promise_id: str


class DeliveryState(TypedDict):
    current_delivery: DeliveryRequest
    order_picked_up: bool


class Product(TypedDict):
    product_id: str
    description: str
    quantity: int


class Order(TypedDict):
    id: str
    restaurant_id: str
    products: list[Product]
    total_cost: int
    delivery_delay: int


SPEED = 0.005


def random_location() -> Location:
    return {"long": random.random() * 0.135 - 0.0675, "lat": random.random() * 0.135 - 0.0675}


def calculate_eta_millis(current: Location, target: Location) -> float:
    return 1000 * max(abs(target["long"] - current["long"]), abs(target["lat"] - current["lat"])) / SPEED


def dim_step(current: float, target: float) -> float:
    return target if abs(target - current) < SPEED else (current + SPEED if target > current else current - SPEED)


def update_location(current: Location, target: Location) -> tuple[Location, bool]:
    new_long, new_lat = dim_step(current["long"], target["long"]), dim_step(current["lat"], target["lat"])
    return Location(long=new_long, lat=new_lat), new_long == target["long"] and new_lat == target["lat"]


def send_location_to_kafka(driver_id: str, location: dict):
    kafka_log.append(driver_id)


class PaymentClient:
    def charge(self, token, amount) -> bool:
        return True


class RestaurantClient:
    def prepare(self, order_id: str) -> None:
        prepared.append(order_id)


payment_client = PaymentClient()
restaurant_client = RestaurantClient()

# -- order workflow --------------------------------------------------------------
order_workflow = Workflow("order-workflow")


@order_workflow.main()
async def run(ctx: WorkflowContext, order: Order):
    total_cost, delivery_delay = order["total_cost"], order["delivery_delay"]
    ctx.set("status", Status.CREATED)
    token = str(ctx.uuid())
    if not await ctx.run_typed("payment", payment_client.charge, token=token, amount=total_cost):
        ctx.set("status", Status.REJECTED)
        return
    ctx.set("status", Status.SCHEDULED)
    await ctx.sleep(timedelta(milliseconds=delivery_delay))
    await ctx.run_typed("prepare", restaurant_client.prepare, order_id=ctx.key())
    ctx.set("status", Status.IN_PREPARATION)
    await ctx.promise("preparation_finished").value()
    ctx.set("status", Status.SCHEDULING_DELIVERY)
    delivery_id = str(ctx.uuid())
    ctx.object_send(start, delivery_id, arg=order)
    await ctx.promise("driver_selected").value()
    ctx.set("status", Status.WAITING_FOR_DRIVER)
    await ctx.promise("driver_at_restaurant").value()
    ctx.set("status", Status.IN_DELIVERY)
    await ctx.promise("delivery_finished").value()
    ctx.set("status", Status.DELIVERED)


@order_workflow.handler(name="finishedPreparation")
async def finished_preparation(ctx: WorkflowSharedContext):
    await ctx.promise("preparation_finished").resolve(None)


@order_workflow.handler()
async def selected_driver(ctx: WorkflowSharedContext):
    await ctx.promise("driver_selected").resolve(None)


@order_workflow.handler()
async def signal_driver_at_restaurant(ctx: WorkflowSharedContext):
    await ctx.promise("driver_at_restaurant").resolve(None)


@order_workflow.handler()
async def signal_delivery_finished(ctx: WorkflowSharedContext):
    await ctx.promise("delivery_finished").resolve(None)


@order_workflow.handler()
async def get_status(ctx: WorkflowSharedContext):
    return await ctx.get("status")


# -- delivery manager ---------------------------------------------------------------
delivery_manager = VirtualObject("delivery-manager")
DELIVERY_INFO = "DELIVERY_INFO"


@delivery_manager.handler()
async def start(ctx: ObjectContext, order: Order):
    restaurant_location, customer_location = await ctx.run_typed(
        "locations", lambda: [random_location(), random_location()])
    info: DeliveryInformation = {
        "order_id": order["id"], "restaurant_id": order["restaurant_id"],
        "restaurant_location": restaurant_location, "customer_location": customer_location,
        "order_picked_up": False,
    }
    ctx.set(DELIVERY_INFO, info)
    promise_id, driver_promise = ctx.awakeable()
    ctx.object_send(request_driver_for_delivery, DEMO_REGION, {"promise_id": promise_id})
    driver_id = await driver_promise
    await ctx.object_call(assign_delivery_job, driver_id, {
        "delivery_id": ctx.key(), "restaurant_id": order["restaurant_id"],
        "restaurant_location": info["restaurant_location"],
        "customer_location": info["customer_location"],
    })
    await ctx.workflow_call(selected_driver, order["id"], arg=None)


@delivery_manager.handler(name="notify_delivery_pickup")
async def manager_notify_delivery_pickup(ctx: ObjectContext):
    delivery = await ctx.get(DELIVERY_INFO)
    if delivery is None:
        raise TerminalError("No delivery information found")
    delivery["order_picked_up"] = True
    ctx.set(DELIVERY_INFO, delivery)
    ctx.workflow_send(signal_driver_at_restaurant, delivery["order_id"], arg=None)


@delivery_manager.handler(name="notify_delivery_delivered")
async def manager_notify_delivery_delivered(ctx: ObjectContext):
    delivery = await ctx.get(DELIVERY_INFO)
    if delivery is None:
        raise TerminalError("No delivery information found")
    ctx.clear(DELIVERY_INFO)
    ctx.workflow_send(signal_delivery_finished, delivery["order_id"], arg=None)


@delivery_manager.handler("handleDriverLocationUpdate")
async def handle_driver_location_update(ctx: ObjectContext, location: Location):
    delivery = await ctx.get(DELIVERY_INFO)
    if delivery["order_picked_up"]:
        eta = calculate_eta_millis(location, delivery["customer_location"])
    else:
        eta = (calculate_eta_millis(location, delivery["restaurant_location"])
               + calculate_eta_millis(delivery["restaurant_location"], delivery["customer_location"]))
    ctx.object_send(set_eta, delivery["order_id"], eta)


# -- driver digital twin ---------------------------------------------------------------
driver_digital_twin = VirtualObject("driver-digital-twin")
DRIVER_STATUS = "driver-status"
ASSIGNED_DELIVERY = "assigned-delivery"
DRIVER_LOCATION = "driver-location"


async def check_if_driver_in_expected_state(expected: DriverStatus, ctx: ObjectContext):
    current = await ctx.get(DRIVER_STATUS) or DriverStatus.IDLE
    if current != expected:
        raise TerminalError(f"Driver status wrong. Expected {expected} but was {current}")


@driver_digital_twin.handler(name="set_driver_available")
async def twin_set_driver_available(ctx: ObjectContext, region: str):
    await check_if_driver_in_expected_state(DriverStatus.IDLE, ctx)
    ctx.set(DRIVER_STATUS, DriverStatus.WAITING_FOR_WORK)
    ctx.object_send(set_driver_available, region, ctx.key())


@driver_digital_twin.handler()
async def get_assigned_delivery(ctx: ObjectContext):
    return await ctx.get(ASSIGNED_DELIVERY)


@driver_digital_twin.handler()
async def assign_delivery_job(ctx: ObjectContext, delivery_request: DeliveryRequest):
    await check_if_driver_in_expected_state(DriverStatus.WAITING_FOR_WORK, ctx)
    ctx.set(DRIVER_STATUS, DriverStatus.DELIVERING)
    ctx.set(ASSIGNED_DELIVERY, delivery_request)
    location = await ctx.get(DRIVER_LOCATION)
    if location:
        ctx.object_send(handle_driver_location_update, delivery_request["delivery_id"], location)


@driver_digital_twin.handler(name="notify_delivery_pickup")
async def twin_notify_delivery_pickup(ctx: ObjectContext):
    await check_if_driver_in_expected_state(DriverStatus.DELIVERING, ctx)
    assigned = await ctx.get(ASSIGNED_DELIVERY)
    ctx.object_send(manager_notify_delivery_pickup, assigned["delivery_id"], arg=None)


@driver_digital_twin.handler(name="notify_delivery_delivered")
async def twin_notify_delivery_delivered(ctx: ObjectContext):
    await check_if_driver_in_expected_state(DriverStatus.DELIVERING, ctx)
    assigned = await ctx.get(ASSIGNED_DELIVERY)
    ctx.clear(ASSIGNED_DELIVERY)
    ctx.object_send(manager_notify_delivery_delivered, assigned["delivery_id"], arg=None)
    ctx.set(DRIVER_STATUS, DriverStatus.IDLE)


@driver_digital_twin.handler("handleDriverLocationUpdateEvent")
async def handle_driver_location_update_event(ctx: ObjectContext, location: Location):
    ctx.set(DRIVER_LOCATION, location)
    assigned = await ctx.get(ASSIGNED_DELIVERY)
    if assigned:
        ctx.object_send(handle_driver_location_update, assigned["delivery_id"], location)


# -- driver matcher ------------------------------------------------------------------
driver_matcher = VirtualObject("driver-delivery-matcher")
PENDING_DELIVERIES = "PENDING_DELIVERIES"
AVAILABLE_DRIVERS = "AVAILABLE_DRIVERS"


@driver_matcher.handler()
async def set_driver_available(ctx: ObjectContext, driver_id: str):
    pending: list[PendingDelivery] = await ctx.get(PENDING_DELIVERIES) or []
    if len(pending) > 0:
        nxt = pending.pop(0)
        ctx.set(PENDING_DELIVERIES, pending)
        ctx.resolve_awakeable(nxt["promise_id"], driver_id)
        return
    drivers: list[str] = await ctx.get(AVAILABLE_DRIVERS) or []
    drivers.append(driver_id)
    ctx.set(AVAILABLE_DRIVERS, drivers)


@driver_matcher.handler()
async def request_driver_for_delivery(ctx: ObjectContext, request: PendingDelivery):
    drivers: list[str] = await ctx.get(AVAILABLE_DRIVERS) or []
    if len(drivers) > 0:
        nxt = drivers.pop(0)
        ctx.set(AVAILABLE_DRIVERS, drivers)
        ctx.resolve_awakeable(request["promise_id"], nxt)
        return
    pending: list[PendingDelivery] = await ctx.get(PENDING_DELIVERIES) or []
    pending.append(request)
    ctx.set(PENDING_DELIVERIES, pending)


# -- the driver's mobile app (simulated) ------------------------------------------------
mobile_app_object = VirtualObject("driver-mobile-app")
APP_DELIVERY = "assigned-delivery"
CURRENT_LOCATION = "current-location"
POLL_INTERVAL = timedelta(milliseconds=1000)
MOVE_INTERVAL = timedelta(milliseconds=1000)
PAUSE_BETWEEN_DELIVERIES = timedelta(milliseconds=2000)


@mobile_app_object.handler("startDriver")
async def start_driver(ctx: ObjectContext):
    if await ctx.get(CURRENT_LOCATION) is not None:
        return
    location = await ctx.run_typed("random_location", random_location)
    ctx.set(CURRENT_LOCATION, location)
    await ctx.run_typed("sending_location_to_kafka", send_location_to_kafka, driver_id=ctx.key(),
                        location=location)
    ctx.object_send(twin_set_driver_available, ctx.key(), DEMO_REGION)
    ctx.object_send(poll_for_work, ctx.key(), arg=None)


@mobile_app_object.handler()
async def poll_for_work(ctx: ObjectContext):
    assigned = await ctx.object_call(get_assigned_delivery, ctx.key(), arg=None)
    if assigned is None:
        ctx.object_send(poll_for_work, ctx.key(), arg=None, send_delay=POLL_INTERVAL)
        return
    ctx.set(APP_DELIVERY, DeliveryState(current_delivery=assigned, order_picked_up=False))
    ctx.object_send(move, ctx.key(), arg=None, send_delay=MOVE_INTERVAL)


@mobile_app_object.handler()
async def move(ctx: ObjectContext):
    current = await ctx.get(CURRENT_LOCATION)
    assigned = await ctx.get(APP_DELIVERY)
    target = (assigned["current_delivery"]["customer_location"] if assigned["order_picked_up"]
              else assigned["current_delivery"]["restaurant_location"])
    new_location, arrived = update_location(current, target)
    ctx.set(CURRENT_LOCATION, new_location)
    await ctx.run_typed("send_location_to_kafka", send_location_to_kafka, driver_id=ctx.key(),
                        location=current)
    if arrived:
        if assigned["order_picked_up"]:
            ctx.clear(APP_DELIVERY)
            await ctx.object_call(twin_notify_delivery_delivered, ctx.key(), arg=None)
            await ctx.sleep(PAUSE_BETWEEN_DELIVERIES)
            ctx.object_send(twin_set_driver_available, ctx.key(), DEMO_REGION)
            ctx.object_send(poll_for_work, ctx.key(), arg=None)
            return
        assigned["order_picked_up"] = True
        ctx.set(APP_DELIVERY, assigned)
        await ctx.object_call(twin_notify_delivery_pickup, ctx.key(), arg=None)
    ctx.object_send(move, ctx.key(), arg=None, send_delay=MOVE_INTERVAL)


# -- order status ----------------------------------------------------------------------
order_status = VirtualObject("order-status")


@order_status.handler()
async def get(ctx: ObjectContext):
    eta = await ctx.get("eta") or None
    status = await ctx.workflow_call(get_status, ctx.key(), arg=None) or None
    return {"eta": eta, "status": status}


@order_status.handler()
async def set_eta(ctx: ObjectContext, eta: int):
    ctx.set("eta", eta)


@order_status.handler()
async def event_handler(ctx: ObjectContext, eta: int):
    ctx.set("eta", eta)


app = restate.app([order_workflow, delivery_manager, driver_digital_twin, driver_matcher,
                   mobile_app_object, order_status])
