"""Cases for the programs of Restate's examples repository (python/).

Expected outcomes are what each program does on a Restate server, read from
its text (see harness.py for the operations).
"""

import json
from datetime import timedelta
from typing import Any

from tests.compat.harness import PRESENT, Advance, Call, Case, Now

# A handler that keeps failing: Restate retries it (and pauses it at last).
RETRYING = ("backing-off", "paused")

SUB_REQ = {"user_id": "Sam", "credit_card": "1234", "subscriptions": ["Netflix", "Disney+"]}
BOOKING = {"customer_id": "c1",
           "flight": {"flight_id": "F1", "passenger_name": "Sam"},
           "car": {"pickup_location": "AMS", "rental_date": "2025-01-01"},
           "hotel": {"arrival_date": "2025-01-01", "departure_date": "2025-01-05"}}
EVENT = {"type": "invoice.payment_failed", "created": 1, "data": {"id": "in_1", "customer": "cu"}}
S3 = "https://s3-eu-central-1.amazonaws.com/"
TICKET = {"ticketId": "t1", "concertDate": "2020-01-01T20:00:00", "price": 40.0,
          "customerEmail": "me@x"}
SUBS_OK = {"userId": "u1", "creditCard": "4242", "subscriptions": ["Hulu", "Max"]}
SUBS_DISNEY = {"userId": "u1", "creditCard": "4242", "subscriptions": ["Hulu", "Disney"]}
DISNEY = '[SIMULATED] "Disney subscription is not available in this region"'
PAY_REQ = {"amount": 10, "currency": "EUR", "customerId": "c", "orderId": "o"}
BOB = {"name": "Bob", "email": "bob@x"}
FOOD_ORDER = {"id": "o1", "restaurant_id": "r1", "products": [], "total_cost": 10,
              "delivery_delay": 100}
ALICE = {"name": "Alice", "email": "alice@x"}


def secret_sent(now: Now) -> str:
    assert now.program is not None
    outbox = now.program.send_email_with_link.__globals__["outbox"]  # in the utils module
    return str(outbox["u1"])


def verification(user_id: str) -> Any:
    def secret(now: Now) -> dict[str, str]:
        assert now.program is not None
        sent = now.program.send_verification_email.__globals__["sent"]
        return {"secret": str(sent[user_id])}
    return secret


def confirmation(now: Now) -> dict[str, Any]:
    return {"id": now.awakeables[0], "result": {"success": True, "transactionId": "txn-123"}}


# What a simulation says when given a body for a handler without an input.
NO_INPUT = "takes no input, but was given raw="


def webhook(now: Now) -> bytes:
    return json.dumps({"type": "payment_intent.succeeded", "data": {"object": {
        "status": "succeeded", "metadata": {"restate_callback_id": now.awakeables[0]}}}}).encode()


def starts(prefix: str) -> Any:
    return lambda v: isinstance(v, str) and v.startswith(prefix)


CASES: dict[str, list[Case]] = {
    "ex_basics_durable_execution": [
        Case("subscribe", [Call("SubscriptionService/add", SUB_REQ, result=None)]),
    ],
    "ex_basics_building_blocks": [
        # subscription_service.create is not an attribute of restate's VirtualObject:
        # the published handler fails at its first line and Restate retries it.
        Case("the catalogue", [Call("myService/run", status=RETRYING)]),
    ],
    "ex_basics_utils": [
        Case("the subscription object", [
            Call("SubscriptionService/s1/create", "u1", result="SUCCESS"),
            Call("SubscriptionService/s1/cancel", result=None),
        ]),
    ],
    "ex_basics_virtual_objects": [
        Case("greet twice, ungreet", [
            Call("greeter/mary/greet", "Hi", result="Hi mary for the 1-th time."),
            Call("greeter/mary/greet", "Hello", result="Hello mary for the 2-th time."),
            Call("greeter/mary/ungreet", result="Goodbye mary, taking one greeting back: 1."),
        ], state={"greeter/mary": {"count": 1}}),
    ],
    "ex_basics_workflows": [
        Case("sign up with the emailed secret", [
            Call("usersignup/u1/run", {"name": "Bob", "email": "bob@x"}, send=True, result=True),
            Call("usersignup/u1/click", secret_sent, result=None),
        ]),
        Case("a wrong secret", [
            Call("usersignup/u2/run", {"name": "Bob", "email": "bob@x"}, send=True, result=False),
            Call("usersignup/u2/click", "guess", result=None),
        ]),
    ],
    "ex_durablerpc": [
        Case("reserve once", [
            Call("product/p1/reserve", result=True),
            Call("product/p1/reserve", result=False),
        ], state={"product/p1": {"reserved": True}}),
    ],
    "ex_eventenrichment": [
        Case("register, update, read", [
            Call("package-tracker/pk/registerPackage", {"final_destination": "Paris"}, result=None),
            Call("package-tracker/pk/updateLocation", {"location": "Lyon", "timestamp": "t1"},
                 result=None),
            Call("package-tracker/pk/getPackageInfo", result={
                "final_destination": "Paris", "locations": [{"location": "Lyon", "timestamp": "t1"}]}),
        ]),
        Case("unknown package", [
            Call("package-tracker/none/updateLocation", {"location": "x", "timestamp": "t"},
                 error=(500, "Package none not found")),
            Call("package-tracker/none/getPackageInfo", error=(500, "Package not found")),
        ]),
    ],
    "ex_eventtransactions": [
        Case("a post waits for moderation", [
            Call("UserFeed/ann/processPost", {"content": "hi", "metadata": "m"}, result=None),
        ]),
    ],
    "ex_parallelizework": [
        Case("fan out and gather", [
            Call("FanOutWorker/run", {"description": "a,b,c"}, result={
                "description": "description='a': DONE,description='b': DONE,description='c': DONE"}),
        ]),
    ],
    "ex_queueing": [
        Case("run", [Call("AsyncTaskWorker/run", {"id": "t7"}, result="Finished work on task: t7")]),
    ],
    "ex_sagas": [
        Case("the hotel refuses: compensations run", [
            Call("BookingWorkflow/run", BOOKING,
                 error=(500, "[SIMULATED] This hotel is fully booked!")),
        ]),
    ],
    "ex_schedulingtasks": [
        Case("three reminders then escalation", [
            Call("PaymentTracker/in1/onPaymentFailure", EVENT, result=None),
            Advance(timedelta(days=4)),
        ], state={"PaymentTracker/in1": {"reminder_count": 3}}),
        Case("paid: no reminder", [
            Call("PaymentTracker/in2/onPaymentSuccess", EVENT, result=None),
            Call("PaymentTracker/in2/onPaymentFailure", EVENT, result=None),
        ], state={"PaymentTracker/in2": {"paid": True}}),
    ],
    "ex_signalspayments": [
        Case("synchronous success", [
            Call("payments/processPayment", {"amount": 100, "payment_method_id": "pm_card"},
                 result=None),
        ]),
        Case("declined", [
            Call("payments/processPayment", {"amount": 100, "payment_method_id": "pm_card_declined"},
                 error=(500, "Payment declined: requires_payment_method")),
        ]),
        Case("no amount", [
            Call("payments/processPayment", {"amount": 0, "payment_method_id": "pm"},
                 error=(500, "'amount' missing or zero in request")),
        ]),
        # restate-sdk 1.3 declares no input for processWebhook (it has no input
        # parameter), and restate-server 1.7.12 refuses a body for it: the webhook's
        # JSON never reaches the handler there (sent to it, 2026-12-06), nor here.
        Case("the webhook's body refused, as Restate's ingress refuses it", [
            Call("payments/processPayment", {"amount": 100, "payment_method_id": "pm_card",
                                             "delayed_status": True}, send=True,
                 status=("suspended", "waiting")),
            Call("payments/processWebhook", raw=webhook, headers={"stripe-signature": "sig"},
                 refused=NO_INPUT),
        ]),
        Case("a webhook without a body", [
            Call("payments/processWebhook", error=(400, "Missing 'stripe-signature' header.")),
        ]),
    ],
    "ex_statefulactors": [
        Case("up and down", [
            Call("machine-operator/m1/setUp", result="m1 is now up"),
            Advance(timedelta(seconds=10)),
            Call("machine-operator/m1/setUp", result="m1 is already up, so nothing to do"),
            Call("machine-operator/m1/tearDown", result="m1 is now down"),
            Advance(timedelta(seconds=10)),
            Call("machine-operator/m1/tearDown", result="m1 is not up, cannot tear down"),
        ], state={"machine-operator/m1": {"status": "DOWN"}}),
    ],
    "ex_statemachine_accounts": [
        Case("withdraw and deposit", [
            Call("account/a1/withdraw", 100, result={"success": True, "message": "Withdrawal successful"}),
            Call("account/a1/deposit", 50, result=None),
            Call("account/a1/withdraw", 10**9, result={"success": False,
                                                       "message": "Insufficient funds: 149950 cents"}),
            Call("account/a1/deposit", 0, error=(500, "Amount must be greater than 0")),
        ], state={"account/a1": {"balance": 149950}}),
    ],
    "ex_statemachine_processor": [
        Case("pay then cancel: refunded, then expired", [
            Call("PaymentProcessor/p1/makePayment", {"account_id": "acc", "amount_cents": 500},
                 result="Withdrawal successful"),
            Call("PaymentProcessor/p1/makePayment", {"account_id": "acc", "amount_cents": 500},
                 result="Payment already completed in prior call"),
            Call("PaymentProcessor/p1/cancelPayment", result=None),
            Call("PaymentProcessor/p1/makePayment", {"account_id": "acc", "amount_cents": 500},
                 result="Payment already cancelled"),
            Advance(timedelta(days=2)),
        ], state={"PaymentProcessor/p1": {}, "account/acc": {"balance": 150000}},
           covers=("PaymentProcessor/expire",)),
        Case("cancel before paying", [
            Call("PaymentProcessor/p2/cancelPayment", result=None),
        ], state={"PaymentProcessor/p2": {"status": "CANCELED"}}),
    ],
    "ex_syncasync": [
        Case("upload, then the email", [
            Call("DataUploadService/w1/run", send=True, check=starts(S3)),
            Call("DataUploadService/w1/resultAsEmail", "me@x", result=None),
        ]),
    ],
    "ex_template_greeter": [
        Case("greet", [Call("Greeter/greet", {"name": "Bob"}, result={"message": "You said hi to Bob!"})]),
        Case("greet Alice: her stand-ins fail once and are retried", [
            Call("Greeter/greet", {"name": "Alice"}, result={"message": "You said hi to Alice!"}),
        ]),
    ],
    "ex_lambda_cdk_greeter": [
        Case("greet", [
            Call("Greeter/greet", "Lu", result="Hello, Lu, from AWS Lambda!"),
            Call("Greeter/greet", "", result="Hello, Restate, from AWS Lambda!"),
        ]),
    ],
    "ex_tour_orch_utils": [
        Case("payment and email services", [
            Call("PaymentService/charge", TICKET, check=lambda v: isinstance(v, str) and len(v) == 36),
            Call("EmailService/email_ticket", TICKET, result=None),
            Call("EmailService/send_reminder_email", TICKET, result=None),
        ]),
    ],
    "ex_tour_orch_communication": [
        Case("buy a ticket", [Call("ConcertTicketingService/buy", TICKET,
                                   check=starts("Ticket purchased successfully with payment reference: "))]),
    ],
    "ex_tour_orch_concurrent": [
        Case("subscriptions in parallel", [
            Call("ParallelSubscriptionService/add", SUBS_OK,
                 check=lambda v: v["success"] is True and v["payment_ref"].startswith("payRef-")),
        ]),
        # restate's gather waits for all and raises nothing: the failure goes unseen.
        Case("a terminal failure in one", [
            Call("ParallelSubscriptionService/add", SUBS_DISNEY,
                 check=lambda v: v["success"] is True),
        ]),
    ],
    "ex_tour_orch_events": [
        Case("confirmed by a webhook", [
            Call("Payments/process", PAY_REQ, result={"success": True, "transaction_id": "txn-123",
                                                      "error_message": None}),
            Call("Payments/confirm", confirmation, result=None),
        ]),
    ],
    "ex_tour_orch_getstarted": [
        Case("subscribe", [Call("SubscriptionService/add", SUBS_OK, result=None)]),
        Case("an API that stays down: retried", [
            Call("SubscriptionService/add", {**SUBS_OK, "subscriptions": ["Netflix"]}, status=RETRYING),
        ]),
    ],
    "ex_tour_orch_objects": [
        Case("add twice, list", [
            Call("UserSubscriptions/u/add", "Hulu", result=None),
            Call("UserSubscriptions/u/add", "Hulu", result=None),
            Call("UserSubscriptions/u/add", "Max", result=None),
            Call("UserSubscriptions/u/getSubscriptions", result=["Hulu", "Max"]),
        ], state={"UserSubscriptions/u": {"subscriptions": ["Hulu", "Max"], "lastUpdated": PRESENT}}),
    ],
    "ex_tour_orch_sagas": [
        Case("all subscribed", [Call("SubscriptionSaga/add", SUBS_OK, result=None)]),
        Case("compensated", [Call("SubscriptionSaga/add", SUBS_DISNEY, error=(500, DISNEY))]),
    ],
    "ex_tour_orch_timers": [
        Case("confirmed in time", [
            Call("PaymentsWithTimeout/process", PAY_REQ,
                 result={"success": True, "transaction_id": "txn-123", "error_message": None}),
            Call("PaymentsWithTimeout/confirm", confirmation, result=None),
        ]),
        Case("timed out", [
            Call("PaymentsWithTimeout/process", PAY_REQ,
                 result={"success": False, "transaction_id": None, "error_message": "Payment timeout"}),
        ]),
    ],
    "ex_tour_wf_utils": [
        Case("create a user", [Call("UserService/createUser", {"userId": "u", "user": BOB}, result=True)]),
    ],
    "ex_tour_wf_signup": [
        Case("sign up", [Call("SignupWorkflow/u1/run", BOB, result=True)]),
        Case("Alice's welcome email keeps failing", [
            Call("SignupWorkflow/u2/run", ALICE, status=RETRYING),
        ]),
    ],
    "ex_tour_wf_activities": [
        Case("sign up through the user service", [
            Call("SignupWithActivitiesWorkflow/u1/run", BOB, result=True),
        ], covers=("UserService/createUser",)),
    ],
    "ex_tour_wf_events": [
        Case("the creation event", [
            Call("SignupWithEventsWorkflow/u1/waitForUserCreation", result="User created."),
            Call("SignupWithEventsWorkflow/u1/run", BOB, result=True),
        ]),
    ],
    "ex_tour_wf_queries": [
        Case("status while and after", [
            Call("SignupWithQueriesWorkflow/u1/run", BOB, result=True),
            Call("SignupWithQueriesWorkflow/u1/getStatus", result={"status": "created", "user": BOB}),
        ], state={"SignupWithQueriesWorkflow/u1": {"status": "created", "user": BOB}}),
    ],
    "ex_tour_wf_retries": [
        Case("Alice's welcome email is given up", [
            Call("SignupWithRetriesWorkflow/u1/run", ALICE, result=True),
        ]),
    ],
    "ex_tour_wf_sagas": [
        Case("Bob subscribes", [Call("SignupWithSagasWorkflow/u1/run", BOB, result=True)]),
        Case("Alice's plan is refused: undone", [
            Call("SignupWithSagasWorkflow/u2/run", ALICE, result=False),
        ]),
    ],
    "ex_tour_wf_signals": [
        Case("verified with the emailed secret", [
            Call("SignupWithSignalsWorkflow/u1/run", BOB, send=True, result=True),
            Call("SignupWithSignalsWorkflow/u1/verifyEmail", verification("u1"), result=None),
        ]),
    ],
    "ex_tour_wf_timers": [
        Case("reminded twice, then verified", [
            Call("SignupWithTimersWorkflow/u1/run", BOB, send=True, result=True),
            Advance(timedelta(seconds=40)),
            Call("SignupWithTimersWorkflow/u1/verifyEmail", verification("u1"), result=None),
        ]),
        Case("a wrong secret", [
            Call("SignupWithTimersWorkflow/u2/run", BOB, send=True, result=False),
            Call("SignupWithTimersWorkflow/u2/verifyEmail", {"secret": "nope"}, result=None),
        ]),
    ],
    "ex_food_ordering": [
        Case("an order delivered by a simulated driver", [
            Call("driver-mobile-app/d1/startDriver", result=None),
            Call("order-workflow/o1/run", FOOD_ORDER, send=True, result=None),
            Advance(timedelta(seconds=5)),
            Call("order-workflow/o1/get_status", result="IN_PREPARATION"),
            Call("order-workflow/o1/finishedPreparation", result=None),
            Advance(timedelta(minutes=3)),
            Call("order-status/o1/get", check=lambda v: v["status"] == "DELIVERED"),
        ], state={"order-workflow/o1": {"status": "DELIVERED"},
                  "driver-digital-twin/d1": {"driver-status": "WAITING_FOR_WORK"},
                  "driver-delivery-matcher/San Jose (CA)": {"AVAILABLE_DRIVERS": ["d1"]}},
           covers=("order-workflow/selected_driver", "order-workflow/signal_driver_at_restaurant",
                   "order-workflow/signal_delivery_finished", "delivery-manager/start",
                   "delivery-manager/notify_delivery_pickup",
                   "delivery-manager/notify_delivery_delivered",
                   "driver-digital-twin/set_driver_available",
                   "driver-digital-twin/get_assigned_delivery",
                   "driver-digital-twin/assign_delivery_job",
                   "driver-digital-twin/notify_delivery_pickup",
                   "driver-digital-twin/notify_delivery_delivered",
                   "driver-delivery-matcher/set_driver_available",
                   "driver-delivery-matcher/request_driver_for_delivery",
                   "driver-mobile-app/poll_for_work", "driver-mobile-app/move",
                   "order-workflow/get_status"),
           settle=timedelta(seconds=10)),
        Case("location events and etas", [
            Call("driver-digital-twin/d2/handleDriverLocationUpdateEvent", {"long": 0.0, "lat": 0.0},
                 result=None),
            Call("order-status/o9/set_eta", 1200, result=None),
            Call("order-status/o8/event_handler", 900, result=None),
        ], state={"driver-digital-twin/d2": {"driver-location": {"long": 0.0, "lat": 0.0}},
                  "order-status/o9": {"eta": 1200}, "order-status/o8": {"eta": 900}}),
        Case("a location update for a delivery being picked up", [
            Call("delivery-manager/dl/notify_delivery_pickup",
                 error=(500, "No delivery information found")),
            Call("delivery-manager/dl/handleDriverLocationUpdate", {"long": 0.0, "lat": 0.0},
                 status=RETRYING),
        ]),
    ],
}
