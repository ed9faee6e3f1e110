# After restatedev/examples python/patterns-use-cases/sagas/app.py and clients/
# (MIT licence, Restate). Compensations run in reverse when the hotel refuses.
import restate
from pydantic import BaseModel
from restate.exceptions import TerminalError

undo_log: list[str] = []


class FlightRequest(BaseModel):
    flight_id: str
    passenger_name: str


class CarRentalRequest(BaseModel):
    pickup_location: str
    rental_date: str


class HotelRequest(BaseModel):
    arrival_date: str
    departure_date: str


async def book_flight(customer_id: str, flight: FlightRequest):
    return None


async def cancel_flight(customer_id: str):
    undo_log.append(f"flight {customer_id}")


async def book_car(customer_id: str, car: CarRentalRequest):
    return None


async def cancel_car(customer_id: str):
    undo_log.append(f"car {customer_id}")


async def book_hotel(customer_id: str, hotel: HotelRequest):
    raise TerminalError("[SIMULATED] This hotel is fully booked!")


async def cancel_hotel(customer_id: str):
    undo_log.append(f"hotel {customer_id}")


class BookingRequest(BaseModel):
    customer_id: str
    flight: FlightRequest
    car: CarRentalRequest
    hotel: HotelRequest


booking_workflow = restate.Service("BookingWorkflow")


@booking_workflow.handler()
async def run(ctx: restate.Context, req: BookingRequest):
    compensations = []
    try:
        compensations.append(lambda: ctx.run_typed("Cancel flight", cancel_flight,
                                                   customer_id=req.customer_id))
        await ctx.run_typed("Book flight", book_flight, customer_id=req.customer_id, flight=req.flight)
        compensations.append(lambda: ctx.run_typed("Cancel car", cancel_car,
                                                   customer_id=req.customer_id))
        await ctx.run_typed("Book car", book_car, customer_id=req.customer_id, car=req.car)
        compensations.append(lambda: ctx.run_typed("Cancel hotel", cancel_hotel,
                                                   customer_id=req.customer_id))
        await ctx.run_typed("Book hotel", book_hotel, customer_id=req.customer_id, hotel=req.hotel)
    except TerminalError as e:
        for undo in reversed(compensations):
            await undo()
        raise e


app = restate.app([booking_workflow])
