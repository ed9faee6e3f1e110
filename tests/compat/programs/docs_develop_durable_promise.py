# After restatedev/docs-restate snippets/python/src/develop/durable_promise.py (MIT licence,
# Restate).
import restate

review_workflow = restate.Workflow("ReviewWorkflow")


def ask_review(document_id: str) -> str:
    return f"Review requested for document {document_id}"


def process_review(document_id: str, review: str) -> str:
    return f"Processed review '{review}' for document {document_id}"


@review_workflow.main()
async def run(ctx: restate.WorkflowContext, document_id: str):
    await ctx.run_typed("ask review", ask_review, document_id=document_id)
    review = await ctx.promise("review", type_hint=str).value()
    return process_review(document_id, review)


@review_workflow.handler()
async def submit_review(ctx: restate.WorkflowSharedContext, review: str):
    await ctx.promise("review", type_hint=str).resolve(review)


app = restate.app([review_workflow])
