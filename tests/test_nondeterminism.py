"""Replay mismatches and nondeterministic calls are caught, with where and why."""

from __future__ import annotations

import importlib
import logging
import random
import sys
import time
import traceback
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import simdurable as restate
import simdurable as sd

svc = restate.Service("Flaky")
flip = {"n": 0}


@svc.handler()
async def branchy(ctx: restate.Context) -> str:
    flip["n"] += 1
    name = "left" if flip["n"] % 2 else "right"  # differs on replay
    await ctx.run_typed(name, lambda: name)
    await ctx.sleep(timedelta(seconds=1))
    return name


@svc.handler()
async def clocky(ctx: restate.Context) -> str:
    if time.time() > 0:  # outside a step: flagged in strict mode
        pass
    key = str(uuid.uuid4())
    stamp = datetime.now()
    _ = random.random()
    inside = await ctx.run_typed("fine", lambda: (time.time(), str(uuid.uuid4()))[1])
    return f"{key[:0]}{stamp.year > 0}{len(inside)}"


@svc.handler()
async def steady(ctx: restate.Context) -> str:
    now = await ctx.time()
    value = ctx.random().random()
    await ctx.sleep(timedelta(seconds=1))
    return f"{now:.0f} {value:.3f}"


def test_replay_mismatch_reports_index_both_entries_and_source_line():
    flip["n"] = 0
    sim = sd.Simulation([svc], seed=0, always_suspend=True)
    h = sim.invoke("Flaky/branchy")
    sim.run()
    assert h.status == "paused"
    with pytest.raises(sd.NonDeterminismError) as info:
        h.result()
    err = info.value
    assert err.kind == "nondeterminism"
    assert err.journal_index == 0
    assert err.recorded == 'run "left"' and err.issued == 'run "right"'
    assert err.source is not None and err.source.startswith("test_nondeterminism.py:")
    assert "the journal holds run \"left\" at #0, the handler now issued run \"right\"" in str(err)
    assert h.attempts == 2  # reported at once, not retried 70 times


def test_mismatch_found_after_a_crash_too():
    flip["n"] = 0
    sim = sd.Simulation([svc], seed=0)
    sim.crash(index=2, point="after-store")
    h = sim.invoke("Flaky/branchy")
    sim.run()
    with pytest.raises(sd.JournalMismatchError):
        h.result()
    assert [p.kind for p in sim.problems] == ["nondeterminism"]


def test_strict_mode_reports_clock_uuid_and_random_outside_steps_with_lines():
    sim = sd.Simulation([svc], seed=0, strict=True)
    h = sim.invoke("Flaky/clocky")
    sim.run()
    assert h.result() == "True36"
    found = {p.detail.split(" was called")[0]: p for p in sim.problems}
    assert set(found) == {"time.time()", "uuid.uuid4()", "datetime.now()", "random.random()"}
    for p in found.values():
        assert p.kind == "nondeterministic-call"
        assert p.handler == "Flaky/clocky"
        assert p.source.startswith("test_nondeterminism.py:")
    lines = sorted(int(p.source.split(":")[1]) for p in found.values())
    assert len(set(lines)) == 4


def test_strict_mode_is_silent_for_deterministic_handlers_and_off_by_default():
    sim = sd.Simulation([svc], seed=0, strict=True)
    h = sim.invoke("Flaky/steady")
    sim.run()
    assert h.result().startswith("1767225600 ")  # ctx.time() reads the virtual clock
    assert sim.problems == []
    relaxed = sd.Simulation([svc], seed=0)
    relaxed.invoke("Flaky/clocky")
    relaxed.run()
    assert relaxed.problems == []


outbox = sd.FakeExternal("outbox")
mailer = restate.Service("Mailer")


def send_mail(to: str) -> None:
    outbox.apply("send", {"to": to}, idempotency_key=to)


@mailer.handler()
async def welcome(ctx: restate.Context, to: str) -> None:
    await ctx.run_typed("mail", send_mail, to=to)


@mailer.handler()
async def welcome_unsafe(ctx: restate.Context, to: str) -> None:
    send_mail(to)  # the helper's side effect runs outside a step


def test_a_call_in_a_helper_names_the_handler_line_that_called_the_helper():
    ok = sd.check(services=[mailer], invoke="Mailer/welcome", input="ada", externals=[outbox],
                  max_examples=5, hash_seeds=())
    assert ok.ok, ok.render()
    bad = sd.check(services=[mailer], invoke="Mailer/welcome_unsafe", input="ada",
                   externals=[outbox], max_examples=5, hash_seeds=())
    assert bad.kinds == ["nondeterministic-call"]
    (v,) = bad.violations
    helper = send_mail.__code__.co_firstlineno + 1
    caller = welcome_unsafe.__code__.co_firstlineno + 2  # below its decorator and def
    assert v.source == f"test_nondeterminism.py:{helper}"
    assert (f"FakeExternal.apply() was called outside a step (in send_mail(), called by "
            f"welcome_unsafe() at test_nondeterminism.py:{caller});") in v.message


stamps = restate.VirtualObject("Stamps")
ticks = {"n": 0}


@stamps.handler()
async def stamp(ctx: restate.ObjectContext) -> None:
    ticks["n"] += 1
    ctx.set("deadline", ticks["n"])  # differs on replay: a state key, not a step
    await ctx.sleep(timedelta(seconds=1))


@stamps.handler()
async def stamp_step(ctx: restate.ObjectContext) -> None:
    await ctx.run_typed("deadline", lambda: 1)  # a step: the error names it as one
    ticks["n"] += 1
    await ctx.run_typed(f"tick {ticks['n']}", lambda: 1)
    await ctx.sleep(timedelta(seconds=1))


def test_a_mismatch_on_a_state_write_does_not_call_the_key_a_step():
    sim = sd.Simulation([stamps], seed=0, always_suspend=True)
    h = sim.invoke("Stamps/a/stamp")
    sim.run()
    with pytest.raises(sd.NonDeterminismError) as err:
        h.result()
    assert 'step "deadline"' not in str(err.value), err.value
    assert str(err.value).startswith("handler Stamps/a/stamp (journal #0,"), err.value
    assert 'the journal holds set "deadline" 1 at #0' in str(err.value)
    twin = sd.Simulation([stamps], seed=0, always_suspend=True)
    h2 = twin.invoke("Stamps/b/stamp_step")
    twin.run()
    with pytest.raises(sd.NonDeterminismError) as err2:
        h2.result()
    assert str(err2.value).startswith('handler Stamps/b/stamp_step, step "tick '), err2.value


tracing = restate.Service("Tracing")


@tracing.handler()
async def keeps_the_traceback(ctx: restate.Context) -> str:
    try:
        raise ValueError("card declined")
    except ValueError:
        text = traceback.format_exc()  # LINE format_exc
    return text.splitlines()[-1]


def test_a_call_made_by_a_library_function_names_that_function():
    # Before: "os.stat() was called outside a step", at the handler's line, which
    # calls no os.stat: traceback.format_exc() does, as it reads the source files.
    sim = sd.Simulation(services=[tracing], strict=True)
    h = sim.invoke("Tracing/keeps_the_traceback")
    sim.run()
    assert h.result() == "ValueError: card declined"
    [problem] = sim.problems
    line = next(i for i, text in enumerate(open(__file__), 1)
                if text.rstrip().endswith("# LINE format_exc"))
    assert problem.source == f"test_nondeterminism.py:{line}"
    assert str(problem.detail).startswith(
        "os.stat() was called outside a step, by traceback.format_exc(); "), problem.detail


logged = restate.Service("Logged")
_log = logging.getLogger("tests.logged")


@logged.handler()
async def logs(ctx: restate.Context, amount: int) -> str:
    if amount > 100:
        _log.warning("a large amount: %s", amount)  # a record notes the time and the pid
        restate.getLogger("tests.logged").warning("and through restate's logger")
    await ctx.run_typed("charge", lambda: amount)
    return "ok"


def test_logging_in_a_handler_is_no_nondeterministic_call(caplog: pytest.LogCaptureFixture):
    # Before: "time.time() was called outside a step, by logging.Logger.warning()",
    # for every handler that logged at an enabled level. The record's time goes
    # into the log, not back into the handler.
    sim = sd.Simulation(services=[logged], strict=True)
    h = sim.invoke("Logged/logs", 500)
    sim.run()
    assert h.result() == "ok"
    assert sim.problems == []
    assert "a large amount: 500" in caplog.text
    report = sd.check(services=[logged], invoke="Logged/logs", input=500, max_examples=5,
                      hash_seeds=())
    assert report.ok, report.render()


@logged.handler()
async def warns(ctx: restate.Context) -> str:
    warnings.warn("this API goes away", DeprecationWarning, stacklevel=1)
    await ctx.run_typed("charge", lambda: 1)
    return "ok"


def test_a_warning_shown_in_a_handler_is_no_nondeterministic_call():
    # Before: "os.stat() was called outside a step, by warnings._showwarnmsg()":
    # a warning shown reads its source line (linecache), for stderr only.
    shown: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        shown.append(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show  # (as shown outside pytest, which records them)
        sim = sd.Simulation(services=[logged], strict=True)
        h = sim.invoke("Logged/warns")
        sim.run()
        assert h.result() == "ok"
        assert sim.problems == []
    assert "this API goes away" in shown[0]


@logged.handler()
async def in_berlin(ctx: restate.Context, ts: float) -> str:
    when = datetime.fromtimestamp(ts, tz=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    await ctx.run_typed("charge", lambda: 1)
    return when.isoformat()


def test_a_time_zone_looked_up_in_a_handler_is_no_nondeterministic_call():
    # Before: "os.path.isfile() was called outside a step, by
    # zoneinfo._tzpath.find_tzfile()": the time-zone database, fixed where the
    # service runs, as the modules it imports are.
    ZoneInfo.clear_cache()  # (read again, as a new process does)
    sim = sd.Simulation(services=[logged], strict=True)
    h = sim.invoke("Logged/in_berlin", 1_700_000_000)
    sim.run()
    assert h.result() == "2023-11-14T23:13:20+01:00"
    assert sim.problems == []


@logged.handler()
async def prints_the_traceback(ctx: restate.Context) -> str:
    try:
        raise ValueError("card declined")
    except ValueError:
        traceback.print_exc()  # to stderr: it reads the source lines, for stderr only
        _log.exception("and logged with it")
    await ctx.run_typed("charge", lambda: 1)
    return "ok"


def test_a_traceback_printed_or_logged_is_no_nondeterministic_call(
        capsys: pytest.CaptureFixture[str]):
    sim = sd.Simulation(services=[logged], strict=True)
    h = sim.invoke("Logged/prints_the_traceback")
    sim.run()
    assert h.result() == "ok"
    assert sim.problems == []
    assert "ValueError: card declined" in capsys.readouterr().err


@logged.handler()
async def imports_late(ctx: restate.Context, name: str) -> str:
    module = importlib.import_module(name)  # its first import, in a new process
    await ctx.run_typed("charge", lambda: 1)
    return module.__name__


def _late_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                   source: str) -> list[str]:
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    sim = sd.Simulation(services=[logged], strict=True)
    h = sim.invoke("Logged/imports_late", name)
    sim.run()
    assert h.result() == name
    return [p.detail for p in sim.problems]


def test_a_library_run_by_a_module_imported_in_a_handler_is_not_judged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Before: "id() was called outside a step (in model_type_ref(), called by
    # <module>() at models_late.py:4)": pydantic making the module's model class.
    assert _late_problems(tmp_path, monkeypatch, "models_late", (
        "from pydantic import BaseModel\n\n\n"
        "class Order(BaseModel):\n"
        "    id: str\n")) == []
    # What the module's own top level calls is still judged.
    [detail] = _late_problems(tmp_path, monkeypatch, "clock_late", (
        "import time\n\nSTARTED = time.time()\n"))
    assert detail.startswith("time.time() was called outside a step"), detail


# Third-party loggers note the time as ``logging`` does, for the log only.
# Before: "datetime.now() was called outside a step (in aware_now(), ...)" for
# loguru, "(in now(), ...)" for structlog's TimeStamper, at every enabled call.
def _stamp_by_hand(logger: object, method: str, event: dict) -> dict:  # type: ignore[type-arg]
    event["by_hand"] = time.time()  # the user's own processor: judged
    return event


def test_loguru_and_structlog_in_a_handler_are_no_nondeterministic_call() -> None:
    import loguru
    import structlog

    lines: list[str] = []
    sink = loguru.logger.add(lines.append, format="{time} {message}")
    stamped = structlog.wrap_logger(
        structlog.ReturnLogger(), processors=[structlog.processors.TimeStamper(fmt="iso"),
                                              structlog.processors.KeyValueRenderer()])
    by_hand = structlog.wrap_logger(structlog.ReturnLogger(), processors=[_stamp_by_hand])
    third = restate.Service("ThirdPartyLogged")

    @third.handler()
    async def logs(ctx: restate.Context, amount: int) -> str:
        loguru.logger.info("a large amount: {}", amount)
        stamped.info("charging", amount=amount)
        await ctx.run_typed("charge", lambda: amount)
        return "ok"

    @third.handler()
    async def stamps(ctx: restate.Context, amount: int) -> str:
        by_hand.info("charging", amount=amount)
        await ctx.run_typed("charge", lambda: amount)
        return "ok"

    try:
        sim = sd.Simulation(services=[third], strict=True)
        h = sim.invoke("ThirdPartyLogged/logs", 500)
        mine = sim.invoke("ThirdPartyLogged/stamps", 500)
        sim.run()
    finally:
        loguru.logger.remove(sink)
    assert h.result() == "ok" and mine.result() == "ok"
    assert any("a large amount: 500" in line for line in lines)
    [problem] = sim.problems
    assert str(problem.detail).startswith("time.time() was called outside a step"), problem.detail
    assert "in _stamp_by_hand()" in str(problem.detail), problem.detail
