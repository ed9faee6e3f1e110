"""``Executor.invoke``/``call``/``send`` refuse what Restate's ingress refuses
with a 400 before any invocation exists (``serve`` answers these in the
ingress's words): an idempotency key that is no string, and an input for a
handler that takes none. Before, each made an invocation whose input the
handler never saw. An empty idempotency key is a key, as restate-server 1.7.12
takes it (tests/test_ingress_edges.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import simdurable as sd

svc = sd.Service("Svc")
runs: list[str] = []


@svc.handler()
async def ping(ctx: sd.Context) -> str:
    runs.append("ping")
    return "pong"


@svc.handler()
async def echo(ctx: sd.Context, x: int) -> int:
    runs.append("echo")
    return x


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda ex: ex.invoke("Svc/echo", 1, idempotency_key=7), TypeError,
     "idempotency_key must be a str, not 7"),
    (lambda ex: ex.send("Svc/echo", 1, idempotency_key=b"k"), TypeError,
     "idempotency_key must be a str, not b'k'"),
    (lambda ex: ex.call("Svc/ping", 5), TypeError,
     "Svc/ping takes no input, but was given 5 (Restate's ingress refuses a body for it: "
     "\"Expected body and content-type to be empty\")"),
    (lambda ex: ex.invoke("Svc/ping", raw=b"{}"), TypeError,
     "Svc/ping takes no input, but was given raw=b'{}'"),
    (lambda ex: ex.send("Svc/ping", {"a": 1}), TypeError, "Svc/ping takes no input"),
])
def test_refused_before_any_invocation_is_made(tmp_path: Path, call: Any, error: type,
                                               message: str) -> None:
    runs.clear()
    with sd.Executor([svc], db=tmp_path / "x.db") as ex:
        with pytest.raises(error) as err:
            call(ex)
        assert message in str(err.value)
        assert ex.invocations() == []
    assert runs == []


def test_what_the_ingress_takes_is_still_taken(tmp_path: Path) -> None:
    runs.clear()
    with sd.Executor([svc], db=tmp_path / "x.db") as ex:
        assert ex.call("Svc/ping", timeout=10) == "pong"
        assert ex.invoke("Svc/ping", raw=b"").result(10) == "pong"
        assert ex.call("Svc/echo", 3, idempotency_key="k", timeout=10) == 3
        assert ex.call("Svc/echo", 3, idempotency_key="k", timeout=10) == 3  # the same one
        assert len(ex.invocations()) == 3
    assert runs == ["ping", "ping", "echo"]
