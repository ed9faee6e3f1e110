"""A handler or a step that raises a ``BaseException`` that is not an
``Exception``: ``SystemExit`` from ``sys.exit()``, or a class of the user's own.

restate-sdk catches ``Exception`` only: on a Restate server such an exception
ends the attempt without an answer and the invocation is retried from its
journal, again and again. Before, it went through ``Simulation.run`` as a
bare traceback; ``simdurable check`` printed that traceback and exited 1 (as
for a violation), or, for ``sys.exit(3)``, exited 3 without a word.
"""

from __future__ import annotations

import argparse
import sys

import pytest

import simdurable as sd
from simdurable._base_exceptions import not_an_exception
from simdurable._cli import main


class Shutdown(BaseException):
    pass


svc = sd.Service("Bases")


@svc.handler()
async def own_base(ctx: sd.Context) -> str:
    raise Shutdown("now")  # LINE own


@svc.handler()
async def exits(ctx: sd.Context) -> str:
    sys.exit(3)  # LINE exit


def _stops() -> str:
    raise Shutdown("from a step")  # LINE step


@svc.handler()
async def in_step(ctx: sd.Context) -> str:
    return await ctx.run_typed("stop", _stops)


@svc.handler()
async def interrupted(ctx: sd.Context) -> str:
    raise KeyboardInterrupt


def _stopped(handler: str) -> sd.HandlerError:
    """The error ``Bases/<handler>``'s run stops with (the simulation closed)."""
    sim = sd.Simulation(services=[svc])
    sim.invoke(f"Bases/{handler}")
    with pytest.raises(sd.HandlerError) as info:
        sim.run()
    sim.close()
    return info.value


def _line(tag: str) -> int:
    with open(__file__) as f:
        return next(i for i, text in enumerate(f, 1) if text.rstrip().endswith(f"# LINE {tag}"))


@pytest.mark.parametrize(("handler", "tag", "shown"), [
    ("own_base", "own", "Shutdown('now')"),
    ("exits", "exit", "SystemExit(3) (sys.exit())"),
    ("in_step", "step", "Shutdown('from a step')"),
])
def test_the_run_stops_with_an_error_naming_the_line(handler, tag, shown):
    err = _stopped(handler)
    assert err.source == f"test_base_exceptions.py:{_line(tag)}"
    assert f"raised {shown}, a BaseException that is not an Exception" in err.detail
    assert "Raise an Exception instead" in err.detail


def test_a_keyboard_interrupt_still_stops_everything():
    sim = sd.Simulation(services=[svc])
    sim.invoke("Bases/interrupted")
    with pytest.raises(KeyboardInterrupt):
        sim.run()
    sim.close()


@pytest.mark.parametrize("handler", ["own_base", "exits"])
def test_check_says_so_and_exits_2(handler, capsys):
    assert main(["check", f"{__name__}:{handler}", "--max-examples", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simdurable check: test_base_exceptions.py:"), err
    assert "a BaseException that is not an Exception" in err
    assert "Traceback" not in err


def _parse(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="greeter")
    parser.add_argument("--times", type=int)
    parser.parse_args(args)  # LINE library


@svc.handler()
async def library_exits(ctx: sd.Context) -> str:
    _parse(["--times", "many"])  # (argparse calls sys.exit(2) on bad arguments)
    return "parsed"


def _parse_in_step() -> str:
    argparse.ArgumentParser(prog="step").parse_args(["--unknown"])  # LINE library step
    return "parsed"


@svc.handler()
async def library_exits_in_step(ctx: sd.Context) -> str:
    return await ctx.run_typed("parse", _parse_in_step)


@pytest.mark.parametrize(("handler", "tag"), [
    ("library_exits", "library"),
    ("library_exits_in_step", "library step"),
])
def test_a_library_that_calls_sys_exit_is_named_at_the_users_call(handler, tag, capsys):
    # It went through the run as a bare SystemExit(2): `simdurable check`
    # exited 2 with argparse's usage line as its only word.
    err = _stopped(handler)
    assert err.source == f"test_base_exceptions.py:{_line(tag)}"
    assert ("called into argparse, whose ArgumentParser.exit() raised SystemExit(2) "
            "(sys.exit()), a BaseException that is not an Exception") in err.detail


class _LibraryOwn(BaseException):
    pass


def test_a_librarys_own_base_exception_is_not_blamed_on_the_user():
    # (Hypothesis and pytest end a test case with their own BaseExceptions,
    # raised inside their code: they go through unchanged.)
    err = _LibraryOwn()
    try:
        argparse.ArgumentParser(prog="x").parse_args(["--no"])
    except SystemExit as exit_:
        assert not_an_exception(exit_) is not None
        err.__traceback__ = exit_.__traceback__
    assert not_an_exception(err) is None
