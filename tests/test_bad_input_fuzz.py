"""A fuzz sweep over what users hand simdurable: ``[tool.simdurable]`` tables,
command lines, and the keyword arguments of ``Simulation``, its methods and
``check``. Every refusal is an error that names the setting, flag or
argument, never a traceback from deep inside (an ``AttributeError`` at the
first retry, a ``TypeError`` from the store). The scenario files, the
executor's HTTP ingress and trace files have sweeps of their own
(``tests/scenario/test_fuzz.py``, ``tests/live/test_ingress_fuzz.py``,
``tests/test_bad_input_entry_points.py``).
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import simdurable as sd
from simdurable._cli import main
from simdurable._pytest._settings import KNOWN_KEYS, load_settings
from simdurable.runtime._errors import SimdurableError
from tests.fuzzing import fuzz

svc = sd.Service("Greeter")
obj = sd.VirtualObject("Counter")
bank = sd.FakeExternal("bank")


@svc.handler()
async def greet(ctx: sd.Context, name: str) -> str:
    return await ctx.run_typed("hi", lambda: f"hi {name}")


@obj.handler()
async def add(ctx: sd.ObjectContext, n: int) -> int:
    total = (await ctx.get("n") or 0) + n
    ctx.set("n", total)
    return int(total)


def _fuzzed(examples: int) -> settings:
    return settings(fuzz(examples), derandomize=True)


# -- [tool.simdurable] ----------------------------------------------------------

_TOML_SCALARS = ["0", "1", "-1", "9223372036854775807", "1.5", "nan", "-inf", "true", '""',
                 '"x"', '"Greeter/greet"', '"-1"', '"yes"', '"redis://"', '"../x"', "0x10",
                 "1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", '"\\u0000"', '"é"']
_TOML_NAMES = ["Greeter/greet", "Counter", "Counter/add", "x", "", "resolve_promise"]


def _toml_value(depth: int = 0) -> st.SearchStrategy[str]:
    scalar = st.sampled_from(_TOML_SCALARS)
    if depth >= 2:
        return scalar
    inner = _toml_value(depth + 1)
    array = st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    table = st.lists(st.tuples(st.sampled_from(_TOML_NAMES), inner), max_size=3,
                     unique_by=lambda kv: kv[0]).map(
        lambda kvs: "{" + ", ".join(f"{json.dumps(k)} = {v}" for k, v in kvs) + "}")
    return st.one_of(scalar, array, table)


_TABLES = st.lists(st.tuples(st.sampled_from(sorted(KNOWN_KEYS) + ["nope"]), _toml_value()),
                   min_size=1, max_size=4, unique_by=lambda kv: kv[0])


@_fuzzed(150)
@given(_TABLES)
def test_fuzz_tool_simdurable_tables_are_read_or_refused_naming_the_setting(
        tmp_path_factory: pytest.TempPathFactory, table: list[tuple[str, str]]) -> None:
    root = tmp_path_factory.mktemp("project")
    text = "[tool.simdurable]\n" + "".join(f"{k} = {v}\n" for k, v in table)
    (root / "pyproject.toml").write_text(text, encoding="utf-8")
    try:
        load_settings(str(root), {}, {})
    except ValueError as err:
        assert "[tool.simdurable]" in str(err) or "pyproject.toml" in str(err), str(err)


def test_an_input_that_is_a_toml_time_is_named_not_a_traceback(tmp_path: Path) -> None:
    # Found by the sweep: the error's own suggestion wrote the value as JSON,
    # and a TOML time is not JSON (TypeError: Object of type time ...).
    (tmp_path / "pyproject.toml").write_text(
        '[tool.simdurable]\ninputs = { "Greeter/greet" = 07:32:00 }\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"inputs.'Greeter/greet' must be a non-empty list"):
        load_settings(str(tmp_path), {}, {})


# -- command lines --------------------------------------------------------------

_WORDS = ["", "-", ":", "a:b", "os:path", "json:loads", "Greeter/greet", "Counter/a/add", "x/y/z",
          "é", "/", "/dev/null", "9" * 30, "-1", "0", "nan", "inf", "1e400", "{", "[1,", "null",
          '{"a": 1}', "1..3", "3..1", "a..b", "1/0", "0/0", "2/1", "-1s", "1x", "crash(",
          "crash(step=a)", "inv_1", "tests.test_bad_input_fuzz:nothing", "tests.test_bad_input_fuzz",
          "tests.test_bad_input_fuzz:bank", "no.such.module:svc"]
# Each subcommand's flags that take a value, and those that take none; ``serve``
# would listen for real, and ``demo`` has only a seed.
_FLAGS: dict[str, tuple[list[str], list[str], int]] = {
    "check": (["--input", "--invoke", "--key", "--max-examples", "--seed", "--replay", "--blob",
               "--world", "--concurrent", "--jobs", "--chrome-trace"], ["--json", "--no-strict"], 1),
    "soak": (["--input", "--invoke", "--key", "--seeds", "--shard", "--budget", "--max-examples",
              "--jobs", "--database"], ["--no-strict"], 1),
    "scenario": (["--seed", "--max-examples", "--jobs"], ["--no-strict"], 1),
    "trace": (["--invocation", "--chrome"], [], 1),
    "journal": (["--db"], ["--json"], 1),
    "state": (["--db"], ["--json"], 1),
    "invocations": (["--target", "--db", "--status"], ["--json"], 0),
    "cancel": (["--db"], [], 1),
    "kill": (["--db"], [], 1),
    "resume": (["--db"], [], 1),
    "replay-journals": ([], ["--json", "--verbose"], 2),
    "demo": (["--seed"], [], 0),
}


@st.composite
def _command_lines(draw: st.DrawFn, tmp: Path) -> list[str]:
    command = draw(st.sampled_from(sorted(_FLAGS)))
    valued, plain, positional = _FLAGS[command]
    words = st.sampled_from(_WORDS + [str(tmp / "missing"), str(tmp), str(tmp / "junk.bin")])
    argv = [command] + [draw(words) for _ in range(positional)]
    for flag in draw(st.lists(st.sampled_from(valued + plain), max_size=3, unique=True)):
        argv += [flag] if flag in plain else [flag, draw(words)]
    return argv


@_fuzzed(60)
@given(data=st.data())
def test_fuzz_command_lines_end_with_a_message_not_a_traceback(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    tmp = tmp_path_factory.getbasetemp() / "cli"
    tmp.mkdir(exist_ok=True)
    (tmp / "junk.bin").write_bytes(bytes(range(256)))
    argv = data.draw(_command_lines(tmp))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
    assert status != 0 or argv[0] in ("demo", "invocations"), argv
    assert "Traceback" not in out.getvalue() + err.getvalue(), argv


# -- Simulation, its methods, check ---------------------------------------------

class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


_VALUES = st.sampled_from([
    None, True, 0, -1, 2**70, 1.5, float("nan"), float("inf"), "", "x", "Greeter/greet",
    "Counter/a/add", "a/b/c/d", b"\xff", [], [1], ["x"], {}, {"a": 1}, {1: 2}, (1, 2), {1},
    timedelta(seconds=-1), timedelta(days=10**8), datetime(2020, 1, 1),
    datetime(2020, 1, 1, tzinfo=UTC), svc, [svc], bank, [bank], _Opaque(),
    [_Opaque()], print, "crash(step=hi)", "crash(",
])
_SIM_ARGS = ["seed", "faults", "strict", "externals", "retry_policy", "always_suspend", "chooser",
             "epoch", "max_steps", "max_journal", "max_invocations", "store", "wall_budget"]
_CHECK_ARGS = ["input", "externals", "invariant", "seed", "strict", "replay", "single_faults",
               "liveness", "retry_policy", "coverage", "self_check", "max_steps", "hash_seeds",
               "progress", "world", "concurrent", "wall_budget"]
_CLEAR = (TypeError, ValueError, LookupError, SimdurableError)


def _names_it(err: BaseException, names: list[str]) -> bool:
    text = str(err)
    return any(name in text for name in names) or isinstance(err, SimdurableError)


@_fuzzed(120)
@given(st.dictionaries(st.sampled_from(_SIM_ARGS), _VALUES, min_size=1, max_size=3),
       st.sampled_from(["invoke", "send", "run", "journal", "state", "cancel", "kill"]),
       st.lists(_VALUES, min_size=3, max_size=3))
def test_fuzz_simulation_arguments_are_refused_naming_them(
        kwargs: dict[str, Any], method: str, args: list[Any]) -> None:
    try:
        sim = sd.Simulation(services=[svc, obj], **kwargs)
    except _CLEAR as err:
        assert _names_it(err, list(kwargs)), repr(err)
        return
    a, b, c = args
    calls: dict[str, tuple[Any, list[str]]] = {
        "invoke": (lambda: sim.invoke("Greeter/greet", "x", idempotency_key=a, headers=b),
                   ["idempotency_key", "headers", "input"]),
        "send": (lambda: sim.send(a if isinstance(a, str) else "Counter/a/add", 1, delay=b, raw=c),
                 ["target", "delay", "raw", "input", "Counter", "handler", "service"]),
        "run": (lambda: sim.run(a, stop=b), ["until", "stop"]),
        "journal": (lambda: sim.journal(a), ["InvocationHandle", "invocation"]),
        "state": (lambda: sim.state(a, b), ["state("]),
        "cancel": (lambda: sim.cancel(a), ["InvocationHandle", "invocation"]),
        "kill": (lambda: sim.kill(a), ["InvocationHandle", "invocation"]),
    }
    call, names = calls[method]
    try:
        sim.invoke("Counter/a/add", 1)
        call()
        sim.run()
    except _CLEAR as err:
        assert _names_it(err, names + list(kwargs)), repr(err)


@_fuzzed(40)
@given(st.dictionaries(st.sampled_from(_CHECK_ARGS), _VALUES, min_size=1, max_size=2))
def test_fuzz_check_arguments_are_refused_naming_them(kwargs: dict[str, Any]) -> None:
    kwargs = {k: v for k, v in kwargs.items() if not callable(v) or k == "progress"}
    try:
        sd.check(services=[svc, obj], invoke="Greeter/greet", max_examples=1,
                 single_faults=False, **{"input": "x", **kwargs})
    except _CLEAR as err:
        assert _names_it(err, list(kwargs) + ["input", "Greeter/greet"]), repr(err)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"epoch": 1.5}, TypeError, "epoch must be a datetime, not 1.5"),
    ({"epoch": datetime(2020, 1, 1)}, ValueError, "epoch must be a timezone-aware datetime"),
    ({"store": False}, TypeError, r"store must be a Store \(like MemoryStore\(\)\), not False"),
    ({"retry_policy": timedelta(1)}, TypeError, "retry_policy must be an InvocationRetryPolicy"),
    ({"chooser": "x"}, TypeError, "chooser must have choose"),
    ({"max_journal": "10"}, ValueError, "max_journal must be an integer >= 1, not '10'"),
    ({"max_invocations": 0}, ValueError, "max_invocations must be an integer >= 1, not 0"),
    ({"wall_budget": "1"}, ValueError, "wall_budget must be a number of seconds > 0"),
])
def test_what_the_sweep_found_in_simulation_arguments(kwargs: dict[str, Any], error: type,
                                                      message: str) -> None:
    # Each was an AttributeError or TypeError at the first run, submit or retry.
    with pytest.raises(error, match=message):
        sd.Simulation(services=[svc], **kwargs)


def test_what_the_sweep_found_in_simulation_methods() -> None:
    sim = sd.Simulation(services=[svc, obj])
    with pytest.raises(TypeError, match="raw must be the input's bytes, not int"):
        sim.invoke("Greeter/greet", raw=2**70)  # type: ignore[arg-type]  # (bytes(n): n zeros)
    with pytest.raises(TypeError, match="headers must be a dict of str to str"):
        sim.invoke("Greeter/greet", "x", headers=[("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="idempotency_key must be a str, not 7"):
        sim.invoke("Greeter/greet", "x", idempotency_key=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="delay must be a timedelta or a number of seconds"):
        sim.send("Counter/a/add", 1, delay=datetime(2020, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stop must be a callable"):
        sim.run(stop="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pass an InvocationHandle or an invocation id"):
        sim.journal(["inv"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"state\(service, key\) takes two strings"):
        sim.state(["Counter"], "a")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"retry_policy": 1.5}, "retry_policy must be an InvocationRetryPolicy"),
    ({"progress": 3}, "progress must be a callable progress"),
    ({"liveness": float("nan")}, "liveness must be a finite number of seconds"),
    ({"liveness": {1}}, "liveness must be a timedelta or a number of seconds"),
    ({"concurrent": print}, "concurrent must be a count or a list of"),
])
def test_what_the_sweep_found_in_check_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        sd.check(services=[svc], invoke="Greeter/greet", input="x", max_examples=0, **kwargs)


class _TwoArgs:
    def __call__(self, a: object, b: object, *, c: object) -> None: ...


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"setup": lambda x: None}, r"setup must be a callable setup\(\) taking no arguments, "
                                r"not <lambda>\(x\) \(missing a required argument: 'x'\)"),
    ({"setup": _TwoArgs()}, r"setup must be a callable setup\(\) .*, not _TwoArgs\(a, b, \*, c\)"),
    ({"invariant": lambda: None}, r"invariant must be a callable invariant\(outcome\), "
                                  r"not <lambda>\(\) \(too many positional arguments\)"),
    ({"invariant": lambda outcome, extra: None}, r"invariant\(outcome\), not <lambda>\(outcome, "
                                                 r"extra\)"),
    ({"progress": lambda runs: None}, r"progress must be a callable progress\(runs, phase\), "
                                      r"not <lambda>\(runs\)"),
    ({"strict": "yes"}, "strict must be True or False, not 'yes'"),
    ({"strict": 1}, "strict must be True or False, not 1"),
    # A builtin whose parameters cannot be read: whether it fits was known only
    # at its first call (``invariant=dict``: dict(outcome), "not iterable").
    ({"setup": dict}, r"setup must be a callable setup\(\) taking no arguments, and the "
                      r"parameters of dict cannot be read .* lambda: dict\(\.\.\.\)"),
    ({"invariant": dict}, r"invariant must be a callable invariant\(outcome\), and the "
                          r"parameters of dict cannot be read .* lambda outcome: dict"),
    ({"progress": max}, r"progress must be a callable progress\(runs, phase\), and the "
                        r"parameters of max cannot be read .* lambda runs, phase: max"),
])
def test_a_wrong_callable_or_strict_is_refused_where_given(kwargs: dict[str, Any],
                                                           message: str) -> None:
    # Each was Python's own TypeError from deep inside the first run (or, for
    # strict, taken as true), not an error naming the argument.
    ran: list[str] = []
    with pytest.raises(TypeError, match=message):
        sd.check(services=[svc], invoke="Greeter/greet", input="x", max_examples=0,
                 hash_seeds=(), **{"setup": lambda: ran.append("setup"), **kwargs})
    if "progress" not in kwargs:  # (replay takes no progress)
        with pytest.raises(TypeError, match=message):
            sd.replay("", services=[svc], invoke="Greeter/greet", input="x",
                      **{"setup": lambda: ran.append("setup"), **kwargs})
    assert ran == []


def test_callables_of_any_fitting_signature_are_taken() -> None:
    seen: list[object] = []
    report = sd.check(services=[svc], invoke="Greeter/greet", input="x", max_examples=0,
                      single_faults=False, hash_seeds=(),
                      setup=lambda *args: seen.append(args),
                      invariant=lambda outcome, extra=None, **kw: seen.append(outcome.status),
                      progress=lambda runs, phase, *more: None, strict=False)
    assert report.ok and () in seen and "completed" in seen
    sim = sd.Simulation(services=[svc])
    sim.invoke("Greeter/greet", "x")
    sim.run(stop=lambda *args: False)
    sim.run(stop=list)  # a builtin whose parameters can be read: (iterable=(), /)


class _Chooser:
    """A chooser whose methods take what the engine passes, differently spelt."""

    def choose(self, n: int, *label: str) -> int:
        return 0

    def chance(self, p: float, label: str = "", **more: object) -> bool:
        return False


class _ChooserWithoutLabels:
    def choose(self, n: int) -> int:
        return 0

    def chance(self, p: float, label: str) -> bool:
        return False


def test_a_choosers_methods_are_checked_where_it_is_given() -> None:
    # Before, a choose(n) without the label failed with Python's own TypeError
    # at the run's first decision (or never, in a run without one).
    with pytest.raises(TypeError, match=r"chooser.choose must be a callable choose\(n, label\), "
                                        r"not _ChooserWithoutLabels.choose\(n\) \(too many "
                                        r"positional arguments\)"):
        sd.Simulation(services=[svc], chooser=_ChooserWithoutLabels())
    lacking = _Chooser()
    lacking.chance = max  # type: ignore[method-assign]  # (an instance's own: checked each time)
    with pytest.raises(TypeError, match=r"chooser.chance must be a callable chance\(p, label\), "
                                        r"and the parameters of max cannot be read"):
        sd.Simulation(services=[svc], chooser=lacking)
    sim = sd.Simulation(services=[svc], chooser=_Chooser())
    h = sim.invoke("Greeter/greet", "x")
    sim.run()
    assert h.result() is not None


_SCENARIO = """\
services: tests.test_bad_input_fuzz:svc
invoke:
  - target: Greeter/greet
    input: x
strict: {value}
"""


@pytest.mark.parametrize("value", ['"no"', "1", "0", "null", "[]"])
def test_a_scenario_strict_that_is_not_a_boolean_is_refused_with_file_line_and_field(
        tmp_path: Path, value: str) -> None:
    # (Taken through bool(), "no" would have meant strict.)
    from simdurable._scenario._model import load_scenario
    from simdurable._scenario._yaml import ScenarioError

    path = tmp_path / "greet.yaml"
    path.write_text(_SCENARIO.format(value=value))
    with pytest.raises(ScenarioError, match=r"greet.yaml:5:9: strict: expected true or false"):
        load_scenario(path)
    path.write_text(_SCENARIO.format(value="false"))
    assert load_scenario(path).strict is False


def test_a_wrong_stop_or_strict_is_refused_by_the_simulation() -> None:
    with pytest.raises(TypeError, match="strict must be True or False, not 'no'"):
        sd.Simulation(services=[svc], strict="no")  # type: ignore[arg-type]
    sim = sd.Simulation(services=[svc])
    with pytest.raises(TypeError, match=r"stop must be a callable stop\(\) taking no arguments, "
                                        r"and the parameters of vars cannot be read .* "
                                        r"lambda: vars\(\.\.\.\)"):
        sim.run(stop=vars)  # (a builtin with no signature to read; 3.13 has bool's)
    with pytest.raises(TypeError, match=r"stop must be a callable stop\(\) taking no arguments, "
                                        r"not <lambda>\(sim\)"):
        sim.run(stop=lambda sim: True)  # type: ignore[arg-type,misc]
