"""The dev executor refuses at once a body that does not fit the handler's
declared input type, and names the line of a handler that fails on every attempt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import simdurable as restate

from .test_ingress import Client

typed = restate.Service("Typed")


@typed.handler()
async def inc(ctx: restate.Context, n: int) -> int:
    return n + 1


@typed.handler()
async def total(ctx: restate.Context, xs: list[int]) -> int:
    return sum(xs)


@typed.handler()
async def maybe(ctx: restate.Context, x: int | None) -> str:
    return "none" if x is None else str(x + 1)


@typed.handler()
async def ratio(ctx: restate.Context, x: float) -> float:
    return x / 2


@typed.handler()
async def anything(ctx: restate.Context, x) -> str:  # type: ignore[no-untyped-def]
    return type(x).__name__


@typed.handler()
async def boom(ctx: restate.Context, req: dict) -> str:  # type: ignore[type-arg]
    return str(req["missing"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[restate.Executor, Client]]:
    db = tmp_path_factory.mktemp("typed") / "dev.db"
    ex = restate.Executor([typed], db=db)
    ex.start(port=0)
    try:
        assert ex.url is not None
        yield ex, Client(ex.url)
    finally:
        ex.close()


@pytest.mark.parametrize("path,body,message", [
    ("/Typed/inc", '"abc"', 'the body is a JSON string, "abc", but the handler takes int'),
    ("/Typed/inc", "true", "the body is a JSON boolean, true, but the handler takes int"),
    ("/Typed/inc", "1.5", "the body is a JSON number, 1.5, but the handler takes int"),
    ("/Typed/total", '[1, "x"]', 'the body[1] is a JSON string, "x", but the handler takes int'),
    ("/Typed/total", '{"a": 1}', "the body is a JSON object, {\"a\": 1}, but the handler "
                                 "takes list[int]"),
    ("/Typed/maybe", '"1"', 'the body is a JSON string, "1", but the handler takes int'),
    ("/Typed/ratio", '"1"', 'the body is a JSON string, "1", but the handler takes float'),
])
def test_a_body_of_the_wrong_type_gets_400_at_once(
    served: tuple[restate.Executor, Client], path: str, body: str, message: str,
) -> None:
    ex, c = served
    before = len(ex.invocations())
    status, payload, _ = c.request("POST", path, body)
    assert status == 400, payload
    assert payload["message"] == f"the body is not a valid input for {path[1:]}: {message}"
    assert len(ex.invocations()) == before  # nothing was submitted to fail and retry


@pytest.mark.parametrize("path,body,answer", [
    ("/Typed/inc", "1", 2),
    ("/Typed/total", "[1, 2]", 3),
    ("/Typed/maybe", "null", "none"),
    ("/Typed/maybe", "4", "5"),
    ("/Typed/ratio", "3", 1.5),
    ("/Typed/anything", '"abc"', "str"),
])
def test_a_body_of_the_declared_type_is_taken(
    served: tuple[restate.Executor, Client], path: str, body: str, answer: object,
) -> None:
    _, c = served
    status, payload, _ = c.request("POST", path, body)
    assert (status, payload) == (200, answer)


def test_a_handler_failing_on_every_attempt_is_logged_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # echo="problems" is what `simdurable serve` prints to stderr.
    with restate.Executor([typed], db=tmp_path / "dev.db", echo="problems") as ex:
        h = ex.send("Typed/boom", {})
        err = ""
        for _ in range(200):
            err += capsys.readouterr().err
            if "retry" in err:
                break
            time.sleep(0.05)
        ex.cancel(h)
    retry = next(line for line in err.splitlines() if "retry" in line)
    assert "handler raised KeyError('missing') at test_typed_input.py:" in retry, retry
    assert "next attempt in" in retry
