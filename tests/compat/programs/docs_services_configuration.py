# After restatedev/docs-restate snippets/python/src/services/configuration.py (MIT licence,
# Restate): every service and handler option.
from datetime import timedelta

import restate

my_workflow = restate.Workflow(
    "MyWorkflow",
    inactivity_timeout=timedelta(minutes=15),
    abort_timeout=timedelta(minutes=15),
    idempotency_retention=timedelta(days=3),
    journal_retention=timedelta(days=7),
    ingress_private=True,
    enable_lazy_state=True,
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(seconds=1),
        max_interval=timedelta(seconds=30),
        max_attempts=10,
        on_max_attempts="pause",
    ),
)


@my_workflow.main(
    inactivity_timeout=timedelta(minutes=15),
    abort_timeout=timedelta(minutes=15),
    workflow_retention=timedelta(days=3),
    journal_retention=timedelta(days=7),
    ingress_private=True,
    enable_lazy_state=True,
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(seconds=1),
        max_interval=timedelta(seconds=30),
        max_attempts=10,
        on_max_attempts="pause",
    ),
)
async def run(ctx: restate.WorkflowContext, req: str) -> str:
    return "success"


app = restate.app([my_workflow])
