"""What the adapter relies on inside restate-sdk (see docs/decisions.md).

Run against each supported restate-sdk version (CI runs 1.3.0 and 1.2.0): if a
version changes one of these, this file says which, before a handler misbehaves.
"""

from __future__ import annotations

import inspect

import pytest

restate = pytest.importorskip("restate")

from restate import (  # noqa: E402
    asyncio as r_asyncio,
    server_context,
    vm,
)
from restate.handler import handler_from_callable  # noqa: E402

from simdurable._restate import _service, check_version  # noqa: E402


def test_the_installed_version_is_supported() -> None:
    assert check_version() in ("1.2.0", "1.3.0")


def test_restates_combinators_ask_futures_and_contexts_what_the_adapter_answers() -> None:
    for fn in (r_asyncio.gather, r_asyncio.wait_completed):
        src = inspect.getsource(fn)
        for needle in ("isinstance(f, ServerDurableFuture)", "f.context", "f.is_completed()",
                       "f.handle", "context.create_poll_or_cancel_coroutine("):
            assert needle in src, (fn.__name__, needle)
    assert "context.vm.is_completed(handle)" in inspect.getsource(r_asyncio.wait_completed)
    assert "AllCompletedUnresolvedFuture" in inspect.getsource(r_asyncio.gather)
    assert "wait_completed" in inspect.getsource(r_asyncio.as_completed)
    assert "as_completed" in inspect.getsource(r_asyncio.select)
    for name in ("SingleUnresolvedFuture", "AllCompletedUnresolvedFuture",
                 "FirstCompletedUnresolvedFuture"):
        assert hasattr(vm, name)
    assert hasattr(server_context, "restate_context_is_replaying")


def test_an_app_closes_over_its_endpoint_and_handlers_are_found_by_function() -> None:
    svc = restate.Service("Probe")

    @svc.handler()
    async def ping(ctx: restate.Context) -> str:
        return "pong"

    assert _service.services_of_app(restate.app([svc])) == [svc]
    handler = handler_from_callable(ping)
    for field in ("service_tag", "handler_io", "kind", "name", "fn", "arity",
                  "context_managers", "invocation_retry_policy", "idempotency_retention",
                  "workflow_retention", "inactivity_timeout", "abort_timeout",
                  "ingress_private"):
        assert hasattr(handler, field), field
