"""Cases for the Python snippets of Restate's documentation (docs-restate).

Expected outcomes are what each snippet does on a Restate server, read from
its text (see harness.py for the operations).
"""

import json
from datetime import timedelta
from typing import Any

from tests.compat.harness import (
    Advance,
    Call,
    Case,
    Now,
    ResolveAwakeables,
    ResolvePromise,
)

RETRYING = ("backing-off", "paused")
BOB = {"name": "Bob", "email": "bob@x"}
MYDATA = json.dumps({"some_value": "a", "some_number": 1}).encode()
STAMP = "2024-05-01T12:00:00"


def first_id(now: Now) -> str:
    return now.ids[0]


def mail_secret(now: Now) -> str:
    assert now.program is not None
    return str(now.program.mails["bob@x"])


def steer(text: str) -> Any:
    return lambda now: {"invocation_id": now.ids[0], "text": text}


CASES: dict[str, list[Case]] = {
    "docs_develop_awakeables": [
        # "Pete" is not an awakeable id: once its awakeable is resolved, the handler's
        # resolve_awakeable("Pete", ...) fails the invocation on Restate 1.7.12 (RT0012,
        # "InvalidAwakeableId"), which retries it until its retry policy pauses it.
        Case("the awakeable resolved", [
            Call("MyService/my_handler", "arg", status=RETRYING),
            ResolveAwakeables("fine"),
        ]),
    ],
    "docs_develop_durable_promise": [
        Case("review submitted", [
            Call("ReviewWorkflow/d1/run", "doc-1", send=True,
                 result="Processed review 'LGTM' for document doc-1"),
            Call("ReviewWorkflow/d1/submit_review", "LGTM", result=None),
        ]),
    ],
    "docs_develop_durable_timers": [
        Case("the call outlasts the timeout", [
            Call("MyService/timer_handler", "x", result="timeout"),
            Call("MyService/my_handler", "y", result=None),
        ]),
    ],
    "docs_develop_error_handling": [
        Case("a code and metadata", [Call("MyService/my_handler", "x", error=(402, "Payment declined."))]),
        Case("charge declined", [Call("BillingService/charge", "p1", error=(402, "Payment declined."))]),
        Case("the metadata reaches the caller", [
            Call("BillingService/checkout", "p1",
                 result={"status": "declined", "code": 402, "reason": "insufficient_funds"}),
        ]),
        Case("undo, then rethrow", [Call("MyService/my_handler_2", "x", error=(500, "Can't write"))]),
        Case("RetryableError: retried", [Call("MyService/my_handler_3", "x", status=RETRYING)]),
        Case("rate limited twice, then served", [Call("MyService/my_handler_4", "x", result="payload")]),
    ],
    "docs_develop_journaling": [
        Case("confirmed", [
            Call("MyService/my_handler", "x", result="success!"),
            Advance(timedelta(minutes=2)),  # open_ai sleeps a minute before the awakeable
            ResolveAwakeables("ok"),
        ], covers=("AnalyticsService/calculate_metrics", "MyService/claude_sonnet",
                   "MyService/open_ai")),
        Case("denied", [
            Call("MyService/my_handler", "x", error=(500, "Confirmation was denied!")),
            Advance(timedelta(minutes=2)),
            ResolveAwakeables("deny"),
        ]),
        Case("race and cancel the slower", [
            Call("MyService/my_other_handler", "x", result=["Bonjour!"]),
        ]),
    ],
    "docs_develop_kafka": [
        Case("headers", [Call("MyService/myHandler", headers={"k": "v"},
                              check=lambda v: v.get("k") == "v")]),
    ],
    "docs_develop_logging": [Case("greet", [Call("Greeter/greet", "Ada", result="Hello, Ada!")])],
    "docs_develop_my_service": [Case("greet", [Call("MyService/myHandler", "Hi", result="Hi!")])],
    "docs_develop_my_virtual_object": [
        Case("both handlers", [
            Call("MyVirtualObject/Mary/myHandler", "Hi", result="Hi Mary!"),
            Call("MyVirtualObject/Mary/my_concurrent_handler", "Hey", result="Hey Mary!"),
        ]),
    ],
    "docs_develop_my_workflow": [
        Case("run and interact", [
            Call("MyWorkflow/w/run", "Hi", result="success"),
            Call("MyWorkflow/w/interact_with_workflow", "Hi", result=None),
        ]),
    ],
    "docs_develop_retries": [
        Case("a write that fails twice", [Call("MyService/myHandler", "Hi", result="$Hi!")]),
    ],
    "docs_develop_serialization": [
        # output_serde=MySerde() cannot write the str the handler returns: retried.
        Case("a serde that cannot write the result", [
            Call("MyService/k/my_handler", raw=MYDATA, status=RETRYING),
        ]),
        Case("pydantic", [
            Call("MyService/k/deliver", {"timestamp": STAMP, "dimensions": [10, 20]},
                 result={"status": "delivered", "timestamp": STAMP}),
        ]),
        Case("msgspec", [
            Call("MyService/k/ship", {"timestamp": STAMP, "dimensions": [10, 20]},
                 result={"status": "shipped", "timestamp": STAMP}),
        ]),
    ],
    "docs_develop_service_communication": [
        # The snippet calls the workflow's run twice for one id: the second call gets
        # Restate's 409 "the workflow method was already invoked", uncaught.
        Case("every call and send", [
            Call("Caller/calling_handler", "x", error=(409, "the workflow method was already invoked")),
            Advance(timedelta(hours=6)),
        ], covers=("MyService/myHandler", "MyVirtualObject/myHandler",
                   "MyWorkflow/interact_with_workflow"),
           state={"MyVirtualObject/Mary": {}}),
    ],
    "docs_develop_signals": [
        Case("approved", [
            Call("SignalsTestPy/wait_for_approval", result=True),
            Call("SignalsTestPy/approve", lambda now: {"invocation_id": now.ids[0], "approved": True},
                 result=None),
        ]),
        Case("denied", [
            Call("SignalsTestPy/wait_for_approval", error=(500, "Request denied")),
            Call("SignalsTestPy/deny", steer("no"), result=None),
        ]),
        Case("steered once", [
            Call("SignalsTestPy/revise_until_done", "AI", result="Research notes for AI\nmore"),
            Call("SignalsTestPy/steer_invocation", steer("more"), result=None),
            Call("SignalsTestPy/steer_invocation", steer("done"), result=None),
        ]),
        Case("a signal sent before the wait", [
            Call("SignalsTestPy/sleep_then_wait", result="early"),
            Call("SignalsTestPy/steer_invocation", steer("early"), result=None),
        ]),
    ],
    "docs_develop_state": [
        Case("defaults, set, clear", [Call("Caller/k/caller", "x", result=["default-key", 123])],
             state={"Caller/k": {}}),
    ],
    "docs_develop_testing": [Case("greet", [Call("greeter/greet", "Alice", result="Hello Alice!")])],
    "docs_skills_error_handling": [
        Case("invalid input", [Call("MyService/my_handler", "x",
                                    error=(500, "Invalid input - will not retry"))]),
    ],
    "docs_skills_serialization": [
        Case("pydantic greeting", [Call("Greeter/greet", {"name": "Zed"},
                                        result={"result": "You said hi to Zed!"})]),
        Case("a serde that cannot write the result", [
            Call("MyService/k/my_handler", raw=MYDATA, status=RETRYING),
        ]),
    ],
    "docs_skills_actions": [
        Case("the small handlers", [
            Call("ClaudeService/ask_claude", "q", result="Claude response"),
            Call("OpenAIService/ask_openai", "q", result="OpenAI response"),
            Call("MyObject/k/my_object_handler", "q", result="done"),
            Call("MyService/my_handler", "echo", result="echo"),
            Call("MyService/some_handler", "q", result="done"),
        ]),
    ],
    "docs_foundations_services": [
        Case("the small services", [
            Call("AnalyticsService/record_event", {"kind": "x"}, result=None),
            Call("NotificationService/send_email", {"userId": "u"}, result=None),
            Call("NotificationService/send_reminder", {"userId": "u"}, result=None),
            Call("OrderWorkflow/o1/run", {}, result=None),
            Call("OrderWorkflow/o1/get_status", result="pending"),
            Call("ShoppingCartObject/u/empty_expired_cart", result=None),
            Call("UserAccount/u/get_profile", result={"name": "John", "email": "john@example.com"}),
            Call("ValidationService/validate_order", {"id": 1}, result={"valid": True}),
        ]),
    ],
    "docs_foundations_actions": [
        Case("steps", [Call("ActionsExample/durable_steps_example", "u1", result=None)]),
        # a dict passed where the workflow takes a pydantic Order: restate's serde for
        # the call cannot write it, and the handler is retried
        Case("calls", [Call("ActionsExample/service_calls_example",
                            {"userId": "u1", "orderId": "o1", "order": {}}, status=RETRYING)]),
        Case("sends", [Call("ActionsExample/sending_messages_example", "u1", result=None)]),
        Case("a delayed send", [Call("ActionsExample/delayed_messages_example",
                                     {"userId": "u1", "message": "m"}, result=None)]),
        Case("a timer around a call", [Call("ActionsExample/durable_timers_example",
                                            {"orderId": "o2", "order": {}}, status=RETRYING)]),
        Case("state", [
            Call("StateExample/s/state_get_example", result=None),
            Call("StateExample/s/state_set_example", 4, result=None),
        ], state={"StateExample/s": {"count": 5, "lastLogin": "Wed, 21 Oct 2015 07:28:00 GMT",
                                     "profile": {"name": "John Doe", "email": "john@example.com"}}}),
        Case("state cleared", [
            Call("StateExample/c/state_set_example", 1, result=None),
            Call("StateExample/c/state_clear_example", result=None),
        ], state={"StateExample/c": {}}),
        Case("a workflow waiting on promises", [
            Call("WorkflowExample/w/run", send=True, result=None),
            Call("WorkflowExample/w/confirm_payment", {"success": True, "transaction_id": "t"},
                 result=None),
            Call("WorkflowExample/w/approve_request", True, result=None),
            ResolvePromise("WorkflowExample", "w", "payment", {"success": True, "transaction_id": "t"}),
            ResolvePromise("WorkflowExample", "w", "inventory", {"available": True, "quantity": 1}),
        ]),
    ],
    "docs_foundations_invocations": [
        Case("attach to a keyed send", [Call("GreeterService/greet", {"greeting": "Hey"}, result="Hey!")]),
        Case("the target", [Call("MyService/my_handler", "Hi", result="Hi!")]),
        Case("cancel a keyed send", [Call("GreeterService/cancel", {"greeting": "Hey"}, result=None)]),
    ],
    "docs_foundations_basic_service": [
        Case("subscribe", [Call("SubscriptionService/add",
                                {"user_id": "u", "credit_card": "c", "subscriptions": ["a", "b"]},
                                result=None)]),
    ],
    "docs_foundations_object": [
        Case("a cart's total", [
            Call("ShoppingCart/c/add_item", {"product_id": "p", "quantity": 2, "price": 1.5},
                 result={"items": [{"product_id": "p", "quantity": 2, "price": 1.5}]}),
            Call("ShoppingCart/c/add_item", {"product_id": "q", "quantity": 1, "price": 2.0},
                 check=lambda v: len(v["items"]) == 2),
            Call("ShoppingCart/c/get_total", result=5.0),
        ]),
    ],
    "docs_foundations_workflow": [
        Case("the emailed secret", [
            Call("UserSignup/u/run", BOB, send=True, result=True),
            Call("UserSignup/u/click", mail_secret, result=None),
        ]),
    ],
    "docs_guides_retries": [
        Case("the body decoded", [Call("MyService/my_handler", result=None)]),
        Case("served at once", [Call("MyService/my_retryable_handler", "Hi", result="$Hi!")]),
    ],
    "docs_services_cancellation": [
        Case("an order processed", [
            Call("order-service/o/process_order", {"id": "o"}, status=RETRYING),
        ], covers=("order-service/notify",)),
        Case("notify", [Call("order-service/o/notify", "m", result=None)]),
    ],
    "docs_services_configuration": [
        Case("run with every option", [Call("MyWorkflow/w/run", "x", result="success")]),
    ],
    "docs_tour_retries": [
        Case("pay", [Call("MyService/myHandler", {"userId": "u", "creditCard": "c", "subscriptions": []},
                          result=None)]),
    ],
    "docs_tour_terminal_error": [
        Case("invalid card", [Call("MyService/my_handler", "x", error=(500, "Invalid credit card"))]),
    ],
    "docs_tour_lambda": [Case("run", [Call("SignupWorkflow/w/run", result=True)])],
    "docs_usecases_delivery_tracker": [
        Case("register, move, read", [
            Call("DeliveryTracker/d/register", {"final_destination": "Rome"}, result=None),
            Call("DeliveryTracker/d/set_location", {"location": "Milan", "timestamp": "t"}, result=None),
            Call("DeliveryTracker/d/get_delivery", result={
                "final_destination": "Rome", "locations": [{"location": "Milan", "timestamp": "t"}]}),
            Call("DeliveryTracker/x/get_delivery", error=(500, "Delivery x not found")),
        ]),
    ],
    "docs_usecases_user_feed": [
        Case("moderated once", [Call("UserFeed/u/process_post", {"content": "c", "metadata": "m"},
                                     result=None)]),
    ],
    "docs_usecases_microservices": [
        Case("booking", [Call("BookingService/reserve", {"hotel_id": "h", "flight_id": "f"},
                              result={"success": True})]),
        Case("order", [Call("OrderService/process",
                            {"id": "o", "items": [{"id": "i", "amount": 1}], "credit_card": "c"},
                            check=lambda v: v["success"] is True and len(v["payment_id"]) == 36)]),
        Case("tickets: the email handler reads .id of a dict", [
            Call("MyService/process", {"id": "t", "items": [], "credit_card": "c"}, result=None),
            Call("EmailService/send_ticket_email", {"id": "t"}, status=RETRYING),
            Call("ReminderService/send_reminder", {"id": "t"}, status=RETRYING),
            Call("InventoryService/charge_payment", "x", result={"item": "x", "in_stock": True}),
        ]),
        Case("balance", [
            Call("UserAccount/a/update_balance", 10.5, result=10.5),
            Call("UserAccount/a/update_balance", -20.0, error=(500, "Insufficient funds")),
            Call("UserAccount/a/get_balance", result=10.5),
        ]),
    ],
    "docs_usecases_external_signup": [
        Case("sign up", [Call("user-signup/u/run", BOB, result={"success": True})],
             covers=("user-service/create_user",)),
    ],
    "docs_usecases_signup": [
        Case("sign up", [Call("user-signup/u/run", BOB, result={"success": True})]),
    ],
    "docs_usecases_workflow_actions": [
        Case("approved and answered", [
            Call("workflow-actions/w/run", BOB, send=True, result={"success": True}),
            Call("workflow-actions/w/approve", True, result=None),
            ResolvePromise("workflow-actions", "w", "user-response", "yes"),
        ], state={"workflow-actions/w": {"payment-status": "completed",
                                         "order-details": {"id": "order123", "amount": 1500}}}),
        Case("no order details", [
            Call("order-workflow/o/get_order_details", error=(500, "Order details not found.")),
        ]),
    ],
}
