"""A handler or a step that raises a ``BaseException`` that is not an
``Exception`` (``sys.exit()``, a class of the user's own) on the executor.

restate-sdk catches ``Exception`` only: on a Restate server such an exception
ends the attempt without an answer (and no completion for a step), and the
invocation is retried from its journal. The executor does the same, and serves
on. Before, a handler's stopped ``simdurable serve`` (exit 1, every other
invocation waiting), an async step's that awaited left its step unanswered for
ever (asyncio raised ``SystemExit`` out of the steps' loop, ending its
thread), and a plain step's was a step failure, stored as the step's terminal
failure once its own retries were used up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

import simdurable as sd

ROOT = Path(__file__).resolve().parents[2]
FAST = sd.InvocationRetryPolicy(initial_interval=timedelta(milliseconds=5), max_attempts=5)

svc = sd.Service("Exits")
# What ran, per test: the closures that ran (a stored step must not run again)
# and each handler's attempts.
ran: list[str] = []


class Shutdown(BaseException):
    pass


def _once(tag: str) -> bool:
    """True the first time ``tag`` is seen (each attempt appends it)."""
    ran.append(tag)
    return ran.count(tag) == 1


@svc.handler()
async def after_a_step(ctx: sd.Context) -> str:
    value = await ctx.run_typed("stored", lambda: ran.append("stored") or "kept")
    if _once("after_a_step"):
        sys.exit(3)  # LINE handler
    return str(value)


def _plain_step() -> str:
    if _once("plain"):
        raise Shutdown("once")  # LINE plain
    return "plain done"


@svc.handler()
async def in_a_plain_step(ctx: sd.Context) -> str:
    # One attempt of its own: a step failure would be stored as the step's
    # terminal failure at once.
    return str(await ctx.run_typed("plain", _plain_step, sd.RunOptions(max_attempts=1)))


async def _async_step() -> str:
    await asyncio.sleep(0.001)
    if _once("async"):
        sys.exit(4)  # LINE async
    return "async done"


@svc.handler()
async def in_an_async_step(ctx: sd.Context) -> str:
    return str(await ctx.run_typed("async", _async_step, sd.RunOptions(max_attempts=1)))


@svc.handler()
async def always(ctx: sd.Context) -> str:
    raise Shutdown("always")  # LINE always


@svc.handler()
async def ok(ctx: sd.Context, n: int) -> int:
    return n + 1


services = [svc]


def _line(tag: str) -> int:
    with open(__file__) as f:
        return next(i for i, text in enumerate(f, 1) if text.rstrip().endswith(f"# LINE {tag}"))


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ran.clear()


def test_a_handlers_sys_exit_fails_the_attempt_and_keeps_its_stored_step(tmp_path: Path,
                                                                            capsys) -> None:
    with sd.Executor(services, db=tmp_path / "x.db", retry_policy=FAST, echo="problems") as ex:
        assert ex.call("Exits/after_a_step") == "kept"
        assert ex.call("Exits/ok", 1) == 2  # and it serves on
    assert ran.count("stored") == 1  # the retry replayed the stored step
    err = capsys.readouterr().err
    assert "retry" in err and "raised SystemExit(3) (sys.exit())" in err
    assert f"at test_base_exceptions_live.py:{_line('handler')}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("handler", "tag", "shown"), [
    ("in_a_plain_step", "plain", "Shutdown('once')"),
    ("in_an_async_step", "async", "SystemExit(4) (sys.exit())"),
])
def test_a_steps_base_exception_fails_the_attempt_not_the_step(
        tmp_path: Path, capsys, handler: str, tag: str, shown: str) -> None:
    with sd.Executor(services, db=tmp_path / "x.db", retry_policy=FAST, echo="problems") as ex:
        assert ex.send(f"Exits/{handler}").result(timeout=10) == f"{tag} done"
    err = capsys.readouterr().err
    assert f"raised {shown}, a BaseException that is not an Exception" in err
    assert f"at test_base_exceptions_live.py:{_line(tag)}" in err
    assert "step-exhausted" not in err


def test_it_pauses_as_any_failing_invocation_once_its_attempts_are_used(tmp_path: Path) -> None:
    with sd.Executor(services, db=tmp_path / "x.db", retry_policy=FAST) as ex:
        h = ex.send("Exits/always")
        with pytest.raises(sd.NotFinishedError, match="paused after 5 failed attempts") as info:
            h.result(timeout=10)
        assert f"test_base_exceptions_live.py:{_line('always')}" in str(info.value)
        assert ex.call("Exits/ok", 2) == 3


def test_serve_keeps_serving_and_ctrl_c_still_stops_it(tmp_path: Path) -> None:
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "simdurable", "serve",
             "tests.live.test_base_exceptions_live:services", "--db", str(tmp_path / "s.db"),
             "--port", "0"], cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 20
        while "listening on " not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.02)
        url = out.read_text().split("listening on ", 1)[1].split()[0]

        def post(path: str, body: bytes) -> bytes:
            req = urllib.request.Request(f"{url}{path}", data=body or None, method="POST",
                                         headers={"content-type": "application/json"} if body
                                         else {})
            with urllib.request.urlopen(req, timeout=20) as resp:
                return bytes(resp.read())

        # The first attempt exits; the second (the policy's backoff later) answers.
        assert post("/Exits/after_a_step", b"") == b'"kept"'
        assert post("/Exits/ok", b"41") == b"42"
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = err.read_text()
    assert "raised SystemExit(3) (sys.exit())" in text, text
    assert f"test_base_exceptions_live.py:{_line('handler')}" in text
    assert "Traceback" not in text and "bug in simdurable" not in text
