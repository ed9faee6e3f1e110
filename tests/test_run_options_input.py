"""A step's RunOptions of the wrong type is refused where the handler builds it,
naming the field, the value and the handler's own line (not a dataclass's
generated ``__init__``, nor a retry deep in the step)."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest

import simdurable as sd

restate = pytest.importorskip("restate")


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_attempts": "3"}, "RunOptions.max_attempts takes an int, not str ('3')"),
    ({"max_attempts": True}, "RunOptions.max_attempts takes an int, not bool (True)"),
    ({"max_duration": 5}, "RunOptions.max_duration takes a datetime.timedelta, not int (5)"),
    ({"initial_retry_interval": 0.5},
     "RunOptions.initial_retry_interval takes a datetime.timedelta, not float (0.5)"),
    ({"max_retry_interval": "1s"},
     "RunOptions.max_retry_interval takes a datetime.timedelta, not str ('1s')"),
    ({"retry_interval_factor": "2"}, "RunOptions.retry_interval_factor takes a number, not str"),
    ({"max_attempts": 0}, "RunOptions.max_attempts must be >= 1, not 0"),
])
def test_a_wrong_field_is_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message.replace("(", r"\(").replace(
            ")", r"\)")):
        sd.RunOptions(**fields)


def test_right_fields_are_kept() -> None:
    options = sd.RunOptions(max_attempts=3, max_duration=timedelta(seconds=5),
                            retry_interval_factor=1.5)
    assert options.backoff() is not None


def one() -> int:
    return 1


svc = sd.Service("Opts")
rsvc = restate.Service("ROpts")


@svc.handler()
async def own(ctx: sd.Context) -> int:
    return await ctx.run_typed("a", one, sd.RunOptions(max_attempts="3"))  # LINE own


@rsvc.handler()
async def theirs(ctx: restate.Context) -> int:
    return await ctx.run_typed("a", one, restate.RunOptions(initial_retry_interval=1))  # LINE theirs


def _line(tag: str) -> int:
    lines = inspect.getsource(inspect.getmodule(_line)).splitlines()  # type: ignore[arg-type]
    return next(i for i, text in enumerate(lines, 1) if text.endswith(f"# LINE {tag}"))


@pytest.mark.parametrize(("service", "target", "tag", "field"), [
    (svc, "Opts/own", "own", "max_attempts"),
    (rsvc, "ROpts/theirs", "theirs", "initial_retry_interval"),
])
def test_the_failure_is_at_the_handlers_line(service: Any, target: str, tag: str,
                                              field: str) -> None:
    sim = sd.Simulation([service], seed=1)
    h = sim.invoke(target)
    sim.run()
    with pytest.raises(sd.NotFinishedError) as info:
        h.result()
    text = str(info.value)
    assert f"RunOptions.{field} takes" in text
    assert text.endswith(f"at test_run_options_input.py:{_line(tag)}")
