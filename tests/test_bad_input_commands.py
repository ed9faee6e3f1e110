"""Bad input to the newer commands (``soak``, ``export-journals``, ``check --world``)
and to ``[tool.simdurable]``: a one-line error naming the flag, setting or file,
exit status 2, and never a traceback or a campaign that saves nothing."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import simdurable as sd
from simdurable import world
from simdurable._check._database import DatabaseError, open_database
from simdurable._cli import main
from simdurable._loader import LoadError, load_externals
from simdurable._pytest._settings import load_settings
from simdurable._replay._export import JournalSourceError, write_export
from tests.fuzzing import fuzz

pytest_plugins = ["pytester"]

HANDLERS = '''
import simdurable as sd

bank = sd.FakeExternal("bank")
shop = sd.Service("Shop")
counter = sd.VirtualObject("Counter")


@shop.handler()
async def pay(ctx: sd.Context, amount: int) -> str:
    return "ok"


@counter.handler()
async def add(ctx: sd.ObjectContext, n: int) -> int:
    return n


services = [shop, counter]
'''

PYPROJECT = '''
[tool.pytest.ini_options]
pythonpath = ["."]
addopts = "-p no:cacheprovider -p no:hypothesispytest"

[tool.simdurable]
services = ["badmod:services"]
externals = ["badmod:bank"]
inputs = {{ "Shop/pay" = [10], "Counter/add" = [1] }}
{extra}
'''

ORDER = json.dumps({"item": "book", "amount": 30})

loop = sd.Service("Loop")


@loop.handler()
async def go(ctx: sd.Context, n: int) -> int:
    return {}["missing"]   # raises on every attempt: a retry loop


loop_services = [loop]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(badmod=HANDLERS)
    monkeypatch.chdir(pytester.path)
    monkeypatch.syspath_prepend(str(pytester.path))
    yield pytester
    sys.modules.pop("badmod", None)


def _one_line_error(capsys: pytest.CaptureFixture[str], message: str) -> None:
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("event", "message"), [
    ('{"advance": "99999999999999999999999999h"}',
     "--world #1.advance: duration '99999999999999999999999999h' is too long; the limit is "
     "100000d"),
    ('{"advance": 1e400}', "--world #1.advance: Infinity seconds is too long"),
    ('{"call": {"target": "Shop/checkout"}, "at": "100001d"}',
     "--world #1.at: duration '100001d' is too long"),
])
def test_a_world_duration_no_clock_reaches_is_refused_before_any_run(
        capsys: pytest.CaptureFixture[str], event: str, message: str) -> None:
    # It used to pass the parser and overflow the virtual clock in the first run.
    assert main(["check", "examples.shop:checkout", "--input", ORDER, "--world", event]) == 2
    _one_line_error(capsys, message)


@pytest.mark.parametrize(("event", "message"), [
    ('{"call": {"target": "Inventory/book/reserve", "input": "two"}}',
     "--world #1.call.input is not a valid input for Inventory/reserve: the input is a JSON "
     "string, \"two\", but the handler takes int"),
    ('{"send": {"target": "Shop/checkout", "input": [1]}, "at": "1s"}',
     "--world #1.send.input is not a valid input for Shop/checkout: the input is a JSON "
     "array, [1], but the handler takes dict"),
])
def test_a_world_input_its_handler_cannot_take_is_refused_as_input_is(
        capsys: pytest.CaptureFixture[str], event: str, message: str) -> None:
    # It ran: every run of the check carried a call that failed on its input, unsaid.
    assert main(["check", "examples.shop:services", "--invoke", "Shop/checkout", "--input",
                 ORDER, "--world", event, "--max-examples", "1"]) == 2
    _one_line_error(capsys, message)


def test_python_world_events_refuse_durations_as_json_does() -> None:
    from datetime import timedelta

    assert world.advance(timedelta(hours=1)).by_ms == 3_600_000
    assert world.call("A/b", at=timedelta(seconds=1.5)).at_ms == 1500
    with pytest.raises(ValueError, match=r"advance\(by\): .* is too long; the limit is 100000d"):
        world.advance(timedelta.max)
    with pytest.raises(ValueError, match="is not a duration"):
        world.send("A/b", at=timedelta(seconds=-1))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["5s", "1.5h", "99999999999999999999d", "1e400", " 2 m", "-1s"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["advance", "at", "call", "resolve_promise", "name",
                                       "target", "input", "code", "workflow", "key",
                                       "message", "value"]), inner, max_size=4),
    max_leaves=12)


@fuzz(300)
@given(_JSON)
def test_fuzz_world_events_are_read_or_refused_with_the_field(data: object) -> None:
    try:
        ev = world.from_dict(data, "--world #1")  # type: ignore[arg-type]
    except ValueError as err:
        assert str(err).startswith("--world #1")
        return
    for ms in (ev.at_ms, ev.by_ms):
        assert ms is None or 0 <= ms <= 100_000 * 86_400_000
    assert world.from_dict(ev.as_dict()) == ev


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "0:99999999999999999999999999999"],
     "a range holds at most 1000000000000000 (split it with --shard"),
    (["--max-examples", "-1"], "--max-examples must be an integer from 0 to 1000000"),
    (["--max-examples", str(10**22)],
     f"--max-examples must be an integer from 0 to 1000000 (per check; more seeds explore "
     f"longer), not {10**22}"),
    (["-j", "0"], '-j/--jobs must be an integer from 1 to 256 or "auto" (worker processes; '
                  'auto is one per usable core'),
    (["--budget", "1e400"], "--budget must be at most 365d (a year), not '1e400'"),
    (["--budget", "400d"], "--budget must be at most 365d"),
    (["--database", "pyproject.toml"], "database 'pyproject.toml': is a file, not a directory"),
    (["--database", "pyproject.toml/sub"], "is a file, so the directory cannot be made"),
    (["--database", "http://host/x"], "not a directory nor a redis:// URL"),
])
def test_soak_refuses_bad_arguments_before_the_first_seed(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    # Before: a traceback (the seeds), a campaign of "could not check" lines ending
    # "no failures" with status 0 (examples, jobs), or failures saved nowhere (database).
    project.makefile(".toml", pyproject=PYPROJECT.format(extra=""))
    assert main(["soak", "badmod:pay", "--input", "10", *args]) == 2
    _one_line_error(capsys, message)


def test_a_soak_whose_checks_cannot_run_does_not_exit_zero(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    project.makefile(".toml", pyproject=PYPROJECT.format(extra=""))
    # A world event for a promise the handler never creates fails each check.
    assert main(["soak", "--seeds", "0:1", "--max-examples", "0"]) == 0
    capsys.readouterr()
    project.makefile(".toml", pyproject=PYPROJECT.format(extra=(
        '[tool.simdurable.world]\n"Shop/pay" = [{ resolve_promise = { name = "nope" } }]')))
    assert main(["soak", "--seeds", "0:1", "--max-examples", "0"]) == 2
    out = capsys.readouterr().out
    assert "could not check: Shop/pay seed 0" in out and "nope" in out, out


@pytest.mark.parametrize(("extra", "message"), [
    ('externals = ["badmod:services"]',
     "[tool.simdurable] externals: 'badmod:services' is Service, not a FakeExternal"),
    ('services = ["badmod:bank"]',
     "[tool.simdurable] services: 'badmod:bank' is FakeExternal, not a Service"),
    ('[tool.simdurable.world]\n"Shop/pya" = [{ advance = "1s" }]',
     "[tool.simdurable] world: no handler 'Shop/pya'; did you mean 'Shop/pay'?"),
    ('[tool.simdurable.keys]\nCountr = "a"',
     "[tool.simdurable] keys: no object or workflow 'Countr'; did you mean 'Counter'?"),
    ('exclude = ["Shop/nope"]', "[tool.simdurable] exclude: no handler 'Shop/nope'"),
    ('[tool.simdurable.world]\n"Counter/a/add" = [{ advance = "1s" }]',
     "[tool.simdurable] world: no handler 'Counter/a/add'; name it Counter/add, and give the "
     "key in [tool.simdurable.keys]: Counter = \"a\""),
    ("concurrent = 9", "[tool.simdurable] concurrent must be an integer from 1 to 4, not 9"),
])
def test_soak_names_the_setting_that_is_wrong(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str], extra: str,
        message: str) -> None:
    project.makefile(".toml", pyproject=PYPROJECT.format(extra=extra).replace(
        'services = ["badmod:services"]\n', "" if "services =" in extra else
        'services = ["badmod:services"]\n').replace(
        'externals = ["badmod:bank"]\n', "" if "externals =" in extra else
        'externals = ["badmod:bank"]\n'))
    assert main(["soak", "--seeds", "0:1", "--max-examples", "0"]) == 2
    _one_line_error(capsys, message)


@pytest.mark.parametrize(("extra", "message"), [
    ('[tool.simdurable.keys]\nCountr = "a"',
     "*keys: no object or workflow 'Countr'; did you mean 'Counter'?*"),
    ('exclude = ["Counter/a/add"]',
     "*exclude: no handler 'Counter/a/add'; name it Counter/add, and give the key in "
     "[[]tool.simdurable.keys[]]: Counter = \"a\"*"),
    ('externals = ["badmod:services"]',
     "*externals: 'badmod:services' is Service, not a FakeExternal (or a list of them)*"),
])
def test_the_plugin_fails_an_item_naming_the_setting(project: pytest.Pytester, extra: str,
                                                     message: str) -> None:
    toml = PYPROJECT.format(extra=extra)
    if "externals =" in extra:
        toml = toml.replace('externals = ["badmod:bank"]\n', "")
    project.makefile(".toml", pyproject=toml)
    result = project.runpytest("--simdurable", "-k", "keys or externals or badmod or exclude",
                               "--simdurable-examples=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])


BAD_INPUT = ('[tool.simdurable] inputs."Shop/pay"[0] is not a valid input for Shop/pay: the '
             'input is a JSON string, "ten", but the handler takes int')


def test_a_configured_input_the_handler_cannot_take_is_refused(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    # It used to be checked as given: the handler failed on it in every run and the
    # check passed, having explored nothing else.
    project.makefile(".toml", pyproject=PYPROJECT.format(extra="").replace("[10]", '["ten"]'))
    result = project.runpytest("--simdurable", "--simdurable-examples=1")
    result.assert_outcomes(failed=1, passed=1)
    escaped = "".join(f"[{c}]" if c in "[]" else c for c in BAD_INPUT)
    result.stdout.fnmatch_lines([f"*{escaped}*"])
    assert main(["soak", "--seeds", "0:1", "--max-examples", "0"]) == 2
    _one_line_error(capsys, BAD_INPUT)
    assert main(["soak", "badmod:pay", "--input", '"ten"', "--seeds", "0:1"]) == 2
    _one_line_error(capsys, "simdurable soak: --input is not a valid input for Shop/pay: the "
                            'input is a JSON string, "ten", but the handler takes int')


def test_the_sim_fixture_names_an_external_that_is_not_a_fake(
        project: pytest.Pytester) -> None:
    # Before: AttributeError: 'Service' object has no attribute 'reset'.
    project.makefile(".toml", pyproject=PYPROJECT.format(extra="").replace(
        'externals = ["badmod:bank"]', 'externals = ["badmod:services"]'))
    project.makepyfile(test_x="def test_x(sim):\n    sim()\n")
    result = project.runpytest("test_x.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*LoadError: [[]tool.simdurable[]] externals: 'badmod:services' "
                                 "is Service, not a FakeExternal*"])
    assert "has no attribute 'reset'" not in result.stdout.str()


def test_load_externals_accepts_fakes_and_lists_of_them() -> None:
    import examples.shop as shop

    assert load_externals(["examples.shop:bank"], "x") == [shop.bank]
    with pytest.raises(LoadError, match="--externals: 'examples.shop:shop' is Service"):
        load_externals(["examples.shop:shop"], "--externals")


@pytest.mark.parametrize("target,message", [
    ("examples/shop.py:checkout", "'examples/shop.py' is a file path; give the module's name as "
     "Python imports it from the current folder, such as examples.shop:checkout"),
    ("examples.shop.py:checkout", "such as examples.shop:checkout"),
    ("./examples/shop:checkout", "such as examples.shop:checkout"),
    ("..\\shop:checkout", "is a file path; give the module's name"),
    (".shop:checkout", "'.shop' is a relative module name; give its whole name"),
    ("examples.nope:checkout", "cannot import module 'examples.nope': No module named"),
])
def test_a_file_path_or_relative_name_as_target_says_what_to_write(
        capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    assert main(["check", target, "--max-examples", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simdurable check: {target!r}: ") and message in err, err
    assert "Traceback" not in err and "'package' argument" not in err


@pytest.mark.parametrize(("source", "message"), [
    ("import os\n\nraise RuntimeError('DATABASE_URL is not set')\n",
     "importing module 'failsonimport' raised RuntimeError at {path}:3: DATABASE_URL is not set"),
    ("def f(:\n    pass\n",
     "importing module 'failsonimport' raised SyntaxError at {path}:1: invalid syntax"),
    # (these ended the command itself: exit status 4 without a word, or a traceback)
    ("import sys\n\nsys.exit(4)\n",
     "importing module 'failsonimport' raised SystemExit (sys.exit(4)) at {path}:3"),
    ("class Stop(BaseException):\n    pass\n\nraise Stop('no config')\n",
     "importing module 'failsonimport' raised Stop, a BaseException, at {path}:4: no config"),
])
@pytest.mark.parametrize("command", [["check", "failsonimport:go"],
                                     ["soak", "failsonimport:go", "--seeds", "0:1"],
                                     ["serve", "failsonimport:go", "--port", "0"]])
def test_a_module_that_raises_on_import_is_named_with_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        source: str, message: str, command: list[str]) -> None:
    # It used to end in a bare traceback (exit status 1) in check, soak and serve.
    path = tmp_path / "failsonimport.py"
    path.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "failsonimport", raising=False)
    assert main(command) == 2
    _one_line_error(capsys, message.format(path=path))


def test_a_module_named_py_in_a_package_is_still_a_module(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pkgwithpy").mkdir()
    (tmp_path / "pkgwithpy" / "__init__.py").write_text("")
    (tmp_path / "pkgwithpy" / "py.py").write_text("bank = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from simdurable._loader import load_object

    assert load_object("pkgwithpy.py:bank") == 1


def test_a_pyproject_that_is_not_utf8_is_named_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.simdurable]\nservices = ["\xff"]\n')
    with pytest.raises(ValueError) as info:
        load_settings(str(tmp_path), {}, {})
    assert str(info.value) == (f"{tmp_path / 'pyproject.toml'}:2:14: cannot read it: byte 0xff "
                               "is not UTF-8 (TOML files are UTF-8)")


def test_an_export_to_a_path_that_cannot_be_written_names_it(tmp_path: Path) -> None:
    # Before: "[Errno 21] Is a directory: '/tmp/x.tmp' -> '/tmp/x'", the temporary name.
    for target, reason in ((tmp_path, "a directory; name a file, like journals.json"),
                           ("", "an empty path; name a file, like journals.json"),
                           (tmp_path / "missing" / "j.json", "No such file or directory")):
        with pytest.raises(JournalSourceError) as info:
            write_export([], target, "dev.db")
        assert str(info.value) == f"cannot write the export to {str(target)!r}: {reason}"
    assert list(tmp_path.iterdir()) == []   # no temporary file left behind
    write_export([], tmp_path / "j.json", "dev.db")
    assert json.loads((tmp_path / "j.json").read_text())["count"] == 0


def test_an_export_refuses_to_replace_a_database_or_a_special_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `export-journals dev.db -o dev.db` replaced the database it had just read with the
    # export, and `-o /dev/full` (run as root) replaced the device node with a file.
    db = tmp_path / "dev.db"
    with sd.Executor([], db=db):
        pass
    kept = db.read_bytes()
    assert main(["export-journals", str(db), "-o", str(db)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"simdurable export-journals: cannot write the export to {str(db)!r}: it is an SQLite "
        f"database (a dev-executor database?), which the export would replace; name another "
        f"file, like journals.json")
    assert db.read_bytes() == kept
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(JournalSourceError, match="it is not a regular file"):
        write_export([], fifo, "dev.db")
    assert fifo.is_fifo()


def test_a_directory_database_that_can_be_made_is_accepted(tmp_path: Path) -> None:
    open_database(str(tmp_path / "a" / "b"))   # made when the first failure is saved
    assert not (tmp_path / "a").exists()
    with pytest.raises(DatabaseError, match="empty"):
        open_database(" ")


def test_world_duration_limits_match_fault_plans() -> None:
    # The same limit as a fault plan's durations, so a plan and a world agree.
    from simdurable.runtime._faults import MAX_DURATION_MS

    assert world.from_dict({"advance": "100000d"}).by_ms == MAX_DURATION_MS
    assert world.from_dict({"advance": MAX_DURATION_MS / 1000}).by_ms == MAX_DURATION_MS
    assert not math.isnan(world.from_dict({"advance": 0.0005}).by_ms)


@pytest.mark.parametrize("kind", ["retry-loop", "not-serializable", "serialization"])
def test_a_scenario_may_expect_every_kind_check_reports(tmp_path: Path, kind: str) -> None:
    # The schema used to stop at `stuck`, refusing the newer kinds at load time.
    from tests.scenario.helpers import run

    text = ("services: tests.test_bad_input_commands:loop_services\n"
            "invoke:\n  - {target: Loop/go, input: 1, expect: {status: paused}}\n"
            f"explore: {{max_examples: 2, expect: {kind}}}\n")
    result = run(tmp_path, text)
    if kind == "retry-loop":
        assert result.ok, result.render()
        assert result.explored == ["Loop/go: retry-loop"]
    else:
        assert [p.render("s.yaml") for p in result.failures] == [
            f"s.yaml:4:10: explore: exploring Loop/go (2 examples) did not find a {kind} "
            f"violation (found: retry-loop)"]


@pytest.mark.parametrize(("args", "message"), [
    (["examples.shop:checkout", "--input", ORDER, "--blob", ""],
     "--blob is empty: pass the blob a report printed"),
    (["examples.shop:checkout", "--input", ORDER, "--replay", "crash(step=charge)",
      "--blob", "eNo"], "give --replay or --blob, not both"),
    (["examples.shop:checkout", "--input", ORDER, "--key", "x"],
     "--key is for objects and workflows; Shop is a service, whose handlers take no key"),
    (["examples.signup:run", "--input", '"a"', "--key", "ada", "--invoke", "Signup/ada/run"],
     "give --key or --invoke, not both"),
    (["examples.shop:services", "--input", ORDER, "--invoke", "Shop/checkout/extra/parts"],
     "no handler Shop/parts is registered (read as Shop/<key 'checkout/extra'>/parts)"),
    (["examples.shop:checkout", "--input", ORDER, "--replay", "crash(step=charge, phase=done)"],
     "simdurable check: --replay 'crash(step=charge, phase=done)': at column 1: in "
     "crash(...): unknown phase 'done'"),
])
def test_check_refuses_flags_it_would_ignore(capsys: pytest.CaptureFixture[str],
                                             args: list[str], message: str) -> None:
    # Each used to be ignored (a full check ran without the blob, the plan or the
    # key) or, for the target, named a handler the user never wrote.
    assert main(["check", *args]) == 2
    _one_line_error(capsys, message)


DEEP = "[" * 100_000 + "]" * 100_000  # (past 3.13's own limit for C code too)
LONG = "9" * 5000


@pytest.mark.parametrize(("command", "message"), [
    (["check", "examples.shop:checkout", "--input", LONG],
     "--input is not JSON (a number too long to read"),
    (["check", "examples.shop:checkout", "--input", DEEP],
     "--input is not JSON (nested too deep to read): [[[["),
    (["check", "examples.shop:checkout", "--input", "{", "--max-examples", "0"],
     "--input is not JSON (Expecting property name enclosed in double quotes"),
    (["check", "examples.shop:checkout", "--input", ORDER, "--world", DEEP],
     "--world #1 is not JSON (nested too deep to read)"),
    (["check", "examples.shop:checkout", "--input", ORDER, "--world", f'{{"advance": {LONG}}}'],
     "--world #1 is not JSON (a number too long to read"),
    (["soak", "badmod:pay", "--input", DEEP], "--input is not JSON (nested too deep to read)"),
    (["soak", "badmod:pay", "--input", LONG], "--input is not JSON (a number too long to read"),
])
def test_json_that_python_cannot_read_is_refused_naming_the_flag(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str], command: list[str],
        message: str) -> None:
    # Each was a traceback: an integer of more than 4300 digits raises a ValueError
    # that is no JSONDecodeError, and deep nesting a RecursionError.
    project.makefile(".toml", pyproject=PYPROJECT.format(extra=""))
    assert main(command) == 2
    _one_line_error(capsys, message)


def test_a_pyproject_python_cannot_read_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.simdurable]\ninputs = { "Shop/pay" = ' + DEEP + " }\n")
    with pytest.raises(ValueError, match=r"pyproject.toml: cannot read it: arrays or tables "
                                         r"nested too deep"):
        load_settings(str(tmp_path), {}, {})
    (tmp_path / "pyproject.toml").write_text(f"[tool.simdurable]\nseed = {LONG}\n")
    with pytest.raises(ValueError, match=r"pyproject.toml: cannot read it: a number too long"):
        load_settings(str(tmp_path), {}, {})


def test_an_ini_input_python_cannot_read_names_its_line() -> None:
    for raw, why in ((DEEP, "nested too deep to read"), (LONG, "a number too long to read")):
        with pytest.raises(ValueError, match=rf"simdurable_inputs line 'Shop/pay = .*' is not "
                                             rf"JSON \({why}"):
            load_settings("/nonexistent", {"inputs": [f"Shop/pay = {raw}"]}, {})


def test_a_blob_nested_too_deep_is_not_a_blob() -> None:
    import base64
    import zlib

    from simdurable._check._report import decode_blob

    blob = base64.urlsafe_b64encode(zlib.compress(DEEP.encode())).decode()
    with pytest.raises(ValueError, match=r"not a simdurable reproduction blob: .* \(nested too deep\)"):
        decode_blob(blob)


_WORDS = st.sampled_from([
    "examples.shop:checkout", "examples.shop:services", "examples.shop:shop",
    "examples.shop:shop/checkout", "examples.shop:shop/nope", "examples.shop:bank",
    "examples.shop:inventory", "examples.shop", "examples.shop:", ":x", "nomod:x",
    "examples.shop:services/x", "examples.shop:/", "examples.shop:restate.Service",
    "examples/shop.py:checkout", "", "-",
])
_ARG_JSON = st.one_of(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                 lambda kids: st.lists(kids, max_size=3)
                 | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                 max_leaves=8).map(json.dumps),
    st.text(max_size=12), st.sampled_from([DEEP, LONG, "1e999", "NaN", '"\\ud800"', "{"]))
_FLAGS = st.lists(st.one_of(
    st.tuples(st.just("--input"), _ARG_JSON),
    st.tuples(st.just("--world"), _ARG_JSON),
    st.tuples(st.just("--invoke"), st.text(max_size=12) | st.sampled_from(
        ["Shop/checkout", "Inventory/a/reserve", "Inventory/reserve", "//", "Shop//x"])),
    st.tuples(st.just("--key"), st.text(max_size=8)),
    st.tuples(st.just("--replay"), st.text(max_size=20) | st.sampled_from(
        ["crash(step=charge)", "crash(index=-1)", "fail(times=0)", "delay(by=1e400d)"])),
    st.tuples(st.just("--blob"), st.text(max_size=20)),
    st.tuples(st.just("--seed"), st.sampled_from(["-1", "x", str(2**70)])),
    st.tuples(st.just("--concurrent"), st.sampled_from(["0", "9", "x"])),
    st.tuples(st.just("--externals"), st.sampled_from(["examples.shop:shop", "nomod:x"])),
), max_size=3)


@fuzz(40)
@given(_WORDS, _FLAGS)
def test_fuzz_check_arguments_are_checked_or_refused_in_one_line(target: str,
                                                                 flags: list[tuple[str, ...]]
                                                                 ) -> None:
    argv = ["check", target, "--max-examples", "0", "--no-strict"]
    for flag in flags:
        argv += list(flag)
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = main(argv)
    except SystemExit as exit_:  # argparse refusing a flag: its usage line and status 2
        status = exit_.code  # type: ignore[assignment]
    assert status in (0, 1, 2), (argv, err.getvalue())
    assert "Traceback" not in err.getvalue(), (argv, err.getvalue())


def _toml(value: object) -> str:
    """``value`` written as a TOML value (inline tables and arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


_SETTING = st.recursive(
    st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["examples.shop:services", "examples.shop:bank", "examples.shop:shop",
                       "nomod:x", "examples.shop:", "Shop/checkout", "Inventory/reserve",
                       "Inventory", "1s", "redis://", "", LONG]),
    lambda kids: st.lists(kids, max_size=3)
    | st.dictionaries(st.sampled_from(["Shop/checkout", "Inventory/reserve", "Inventory",
                                       "Nope/x", "advance", "call", "target", "input"])
                      | st.text(max_size=5),
                      kids, max_size=3),
    max_leaves=10)
_KEYS = ["services", "externals", "inputs", "handlers", "exclude", "scenarios", "max_examples",
         "seed", "strict", "keys", "world", "concurrent", "jobs", "database", "journals",
         "max_example"]


@fuzz(150)
@given(st.dictionaries(st.sampled_from(_KEYS), _SETTING, max_size=5))
def test_fuzz_tool_simdurable_is_read_or_refused_naming_the_setting(table: dict[str, object]
                                                                    ) -> None:
    # What ``pytest --simdurable`` and ``simdurable soak`` read: a setting that
    # cannot be used is a ValueError (LoadError) saying which, never another error.
    from simdurable._check._soak import config_targets

    text = "[tool.simdurable]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        Path(root, "pyproject.toml").write_text(text)
        try:
            load_settings(root, {}, {})
            config_targets(root)
        except ValueError as err:
            assert str(err), text


def test_ctrl_c_ends_a_command_with_130_and_no_traceback(tmp_path: Path) -> None:
    # A KeyboardInterrupt (Ctrl-C during a long import here; during a check or
    # a soak alike) went out of the script as a traceback through
    # simdurable's own frames.
    (tmp_path / "interrupted.py").write_text("raise KeyboardInterrupt\n")
    import subprocess

    done = subprocess.run([sys.executable, "-m", "simdurable", "check", "interrupted:go"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 130
    assert done.stderr == "simdurable: interrupted\n"


class _ExitingSerde(sd.Serde):  # type: ignore[type-arg]
    """A serde that calls sys.exit() on an input it refuses."""

    def serialize(self, obj: object) -> bytes:
        return str(obj).encode()

    def deserialize(self, buf: bytes) -> int:
        if not buf.isdigit():
            sys.exit(3)
        return int(buf)


exiting_input = sd.Service("ExitingInput")


@exiting_input.handler(input_serde=_ExitingSerde())
async def take(ctx: sd.Context, n: int) -> int:
    return n


def test_an_input_serde_that_calls_sys_exit_is_named_not_exited(
        capsys: pytest.CaptureFixture[str]) -> None:
    # `simdurable check --input` exited with the serde's status 3 and no word.
    assert main(["check", f"{__name__}:take", "--input", '"x"', "--max-examples", "1"]) == 2
    err = capsys.readouterr().err
    assert ("--input is not a valid input for ExitingInput/take: the handler's input serde "
            "(_ExitingSerde.deserialize) raised SystemExit(3) (sys.exit())") in err, err
