"""The public surface is exactly ``__all__``, and mirrors restate-sdk's names."""

from __future__ import annotations

import simdurable


def test_all_is_exact():
    public = {n for n in dir(simdurable) if not n.startswith("_")}
    modules = {"runtime"} | {n for n in public if type(getattr(simdurable, n)).__name__ == "module"}
    assert set(simdurable.__all__) - modules == public - modules
    assert set(simdurable.__all__) & modules == {"logging"}  # in restate-sdk's __all__ too


def test_restate_names_are_there():
    for name in ["Service", "VirtualObject", "Workflow", "Context", "ObjectContext",
                 "ObjectSharedContext", "WorkflowContext", "WorkflowSharedContext", "RunOptions",
                 "TerminalError", "DurablePromise", "SendHandle", "InvocationRetryPolicy",
                 "gather", "select", "as_completed", "wait_completed", "Simulation",
                 "FakeExternal"]:
        assert hasattr(simdurable, name), name
