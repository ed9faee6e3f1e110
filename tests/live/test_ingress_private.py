"""restate-sdk's ``ingress_private=True`` under ``simdurable serve``: Restate's ingress
refuses an outside call to the handler (400 "the invoked service is not public")
and other handlers still call it. The executor's ingress served it: an app that
relies on the option to keep a handler internal was open to any client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest

restate = pytest.importorskip("restate")

ledger = restate.Service("Ledger")
internal = restate.Service("Internal", ingress_private=True)


@internal.handler()
async def credit(ctx: restate.Context, n: int) -> int:
    return n + 1


@ledger.handler(ingress_private=True)
async def adjust(ctx: restate.Context, n: int) -> int:
    return n * 2


@ledger.handler()
async def deposit(ctx: restate.Context, n: int) -> int:
    credited = await ctx.service_call(credit, n)
    return int(await ctx.service_call(adjust, credited))


def _post(url: str, body: object) -> tuple[int, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_serve_refuses_an_ingress_private_handler_and_handlers_still_call_it(
        tmp_path: Path) -> None:
    import simdurable

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex = simdurable.Executor([ledger, internal], db=tmp_path / "p.db")
    assert any("ingress_private=True: simdurable serve's HTTP ingress refuses it"
               in str(w.message) for w in caught)
    ex.start(port=0)
    try:
        assert ex.url is not None
        for path in ("/Internal/credit", "/Ledger/adjust", "/Internal/credit/send",
                     "/restate/send/Ledger/adjust"):
            assert _post(ex.url + path, 1) == (400, {
                "code": 400, "message": "the invoked service is not public"}), path
        assert _post(ex.url + "/Ledger/deposit", 1) == (200, 4)
        assert ex.call("Internal/credit", 1) == 2  # (the Executor is the test's own hand)
    finally:
        ex.close()
