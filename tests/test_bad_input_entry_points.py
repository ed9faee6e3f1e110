"""Wrong arguments to the entry points, and files that are not what they should be,
get an error saying what to pass: never a traceback from deep inside."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import simdurable as sd
from simdurable._cli import main
from simdurable._live._trace import TraceFileError, read_trace
from simdurable._pytest._settings import load_settings
from simdurable._replay._export import JournalSourceError
from simdurable._replay._restate import query
from tests.fuzzing import fuzz

svc = sd.Service("Greeter")
bank = sd.FakeExternal("bank")


@svc.handler()
async def greet(ctx: sd.Context, name: str) -> str:
    return f"hi {name}"


ROOT = Path(__file__).resolve().parent.parent
ORDER = json.dumps({"item": "book", "amount": 30})


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"seed": "7"}, TypeError, "seed must be an integer >= 0, not '7'"),
    ({"seed": 1.5}, TypeError, "seed must be an integer >= 0"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0, not -1"),
    ({"faults": 3}, TypeError, "faults must be a fault plan string"),
    ({"faults": ["crash(step=x)"]}, TypeError, "faults must be Fault objects"),
    ({"externals": bank}, TypeError, r"pass \[bank\], not the fake itself"),
    ({"externals": [3]}, TypeError, "externals must be FakeExternal objects, not int"),
    ({"max_steps": 0}, ValueError, "max_steps must be an integer >= 1"),
])
def test_simulation_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        sd.Simulation(services=[svc], **kwargs)


def test_simulation_methods_check_their_arguments():
    sim = sd.Simulation(services=[svc])
    with pytest.raises(TypeError, match="after must be a step name"):
        sim.crash(after=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times must be an integer >= 1, not 'a'"):
        sim.fail("charge", times="a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="until must be a timedelta or a number of seconds"):
        sim.run(until="1h")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="until must be a finite number"):
        sim.run(until=float("inf"))  # type: ignore[arg-type]
    # The right types still work: the checks refuse only what cannot be meant.
    sim.fail("x", times=1)
    h = sim.invoke("Greeter/greet", "ada")
    sim.run(until=timedelta(seconds=1))
    assert h.result() == "hi ada"


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"seed": True}, ValueError, "seed must be an integer >= 0, not True"),
    ({"externals": bank}, TypeError, "not the fake itself"),
    ({"hash_seeds": 3}, TypeError, "hash_seeds must be a sequence of PYTHONHASHSEED integers"),
    ({"replay": 3}, TypeError, "replay must be a fault plan string"),
    ({"wall_budget": "10"}, TypeError, "wall_budget must be seconds > 0 or None, not '10'"),
    ({"max_steps": "x"}, ValueError, "max_steps must be an integer >= 1, not 'x'"),
    ({"jobs": 100_000}, ValueError, "jobs must be an integer from 1 to 256"),
    ({"max_examples": 10**22}, ValueError, "max_examples must be an integer from 0 to 1000000"),
    ({"max_examples": True}, ValueError, "max_examples must be an integer from 0 to 1000000"),
])
def test_check_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        sd.check(services=[svc], invoke="Greeter/greet", input="ada",
                 max_examples=kwargs.pop("max_examples", 0),
                 hash_seeds=kwargs.pop("hash_seeds", ()), **kwargs)


def test_absurd_job_counts_are_refused_before_any_process_starts(capsys):
    assert main(["check", "examples.shop:checkout", "--input", ORDER, "-j", "100000"]) == 2
    assert "jobs must be an integer from 1 to 256" in capsys.readouterr().err
    for flags, message in ((["-j", "100000"], "-j/--jobs must be an integer from 1 to 256"),
                           (["--seed", "-1"], "--seed must be an integer >= 0, not -1"),
                           (["--max-examples", "-3"],
                            "--max-examples must be an integer from 0 to 1000000"),
                           (["--max-examples", str(10**22)],
                            f"--max-examples must be an integer from 0 to 1000000, not {10**22}")):
        # Once for the command, not as a failure of each scenario that explores.
        assert main(["scenario", str(ROOT / "scenarios"), *flags]) == 2
        captured = capsys.readouterr()
        assert message in captured.err and "passed" not in captured.out


@pytest.mark.parametrize(("flags", "message"), [
    (["--max-examples", str(10**22)], "--max-examples must be an integer from 0 to 1000000 "
                                      "(a longer campaign is simdurable soak over seeds)"),
    (["--max-examples", "-1"], "--max-examples must be an integer from 0 to 1000000"),
    (["--concurrent", str(10**22)], "--concurrent must be an integer from 1 to 4"),
    (["--concurrent", "0"], "--concurrent must be an integer from 1 to 4"),
    (["-j", str(10**22)], '-j/--jobs must be an integer from 1 to 256 or "auto" (worker processes'),
    (["-j", "2.5"], '-j/--jobs must be an integer from 1 to 256 or "auto"'),
    (["-j", "many"], '-j/--jobs must be an integer from 1 to 256 or "auto"'),
    (["--seed", "-1"], "--seed must be an integer >= 0, not -1"),
])
def test_check_refuses_numbers_out_of_range_naming_the_flag(capsys, flags, message):
    assert main(["check", "examples.shop:checkout", "--input", ORDER, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simdurable check: {message}") and "Traceback" not in err, err
    assert main(["check", "examples.shop:checkout", "--input", ORDER, "--max-examples", "0",
                 "--concurrent", "2", "-j", "1"]) == 0  # in range: it runs


@pytest.mark.parametrize(("table", "message"), [
    ("max_examples = 1e22", r"max_examples must be an integer from 1 to 1000000, not 1e\+22"),
    ("max_examples = 10000000000000000000000",
     "max_examples must be an integer from 1 to 1000000, not 10000000000000000000000"),
    ("max_examples = 2.5", "max_examples must be an integer from 1 to 1000000, not 2.5"),
    ("seed = inf", "seed must be an integer >= 0, not inf"),
    ("jobs = 100000", r'jobs must be an integer from 1 to 256 or "auto" \(.*\), not 100000'),
    ('jobs = "many"', r'jobs must be an integer from 1 to 256 or "auto" \(.*\), not \'many\''),
    ("jobs = 2.0", r'jobs must be an integer from 1 to 256 or "auto" \(.*\), not 2.0'),
    ("jobs = true", r'jobs must be an integer from 1 to 256 or "auto" \(.*\), not True'),
])
def test_configuration_numbers_are_whole_and_in_range(tmp_path, table, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.simdurable]\n{table}\n")
    with pytest.raises(ValueError, match=message):
        load_settings(str(tmp_path), {}, {})


def test_jobs_auto_in_the_configuration_is_one_worker_per_core(tmp_path, monkeypatch):
    from simdurable._check import _parallel

    monkeypatch.setattr(_parallel, "usable_cores", lambda: 3)
    (tmp_path / "pyproject.toml").write_text('[tool.simdurable]\njobs = "auto"\n')
    assert load_settings(str(tmp_path), {}, {}).jobs == 3
    assert load_settings(str(tmp_path), {}, {"jobs": "2"}).jobs == 2  # the flag wins
    (tmp_path / "pyproject.toml").write_text("")
    assert load_settings(str(tmp_path), {"jobs": "auto"}, {}).jobs == 3  # pytest.ini


def test_trace_command_names_the_line_of_a_file_that_is_not_a_trace(tmp_path, capsys):
    good = '{"t_ms": 1000, "kind": "submit", "inv": "inv_1", "text": "Greeter/greet"}\n'
    cases = {
        "binary.jsonl": (good.encode() + b"\xff\xfe\n" + good.encode(),
                         "binary.jsonl:2:1: not UTF-8"),
        "notes.txt": (b"hello\n", "notes.txt:1:1: not a JSON trace event"),
        "inf.jsonl": (b'{"t_ms": 1e400, "kind": "a", "inv": "b", "text": "c"}\n',
                      "inf.jsonl:1: field 't_ms' must be an integer (Unix milliseconds), got inf"),
        "list.jsonl": (b"[1, 2]\n", "list.jsonl:1: expected an object"),
        "short.jsonl": (b'{"t_ms": 1}\n', "short.jsonl:1: field 'kind' is missing"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert main(["trace", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    # A last line torn by a killed writer is skipped; the events before it are printed.
    (tmp_path / "torn.jsonl").write_text(good + '{"t_ms": 2, "ki')
    assert main(["trace", str(tmp_path / "torn.jsonl")]) == 0
    assert "Greeter/greet" in capsys.readouterr().out


@fuzz(200)
@given(st.binary(max_size=200) | st.lists(
    st.sampled_from([b'{"t_ms": 1, "kind": "k", "inv": "i", "text": "t"}', b"{", b"\xff",
                     b'{"t_ms": "1"}', b"null", b"", b'{"t_ms": 1e999}']),
    max_size=5).map(b"\n".join))
def test_fuzz_trace_files_are_read_or_refused_with_a_line(data: bytes) -> None:
    import os
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            for t, kind, inv, text in read_trace(path):
                assert isinstance(t, int) and isinstance(kind + inv + text, str)
        except TraceFileError as err:
            assert str(err).startswith(f"{path}:")
    finally:
        os.unlink(path)


@pytest.mark.parametrize(("url", "message"), [
    ("http://[::1", "Invalid IPv6 URL"),
    ("http://127.0.0.1:99999", "Port out of range"),
    ("http://", "no host given"),
    ("http://a b:9070", "'a b' is not a host name"),
])
def test_a_malformed_admin_url_is_named(url, message):
    with pytest.raises(JournalSourceError) as info:
        query(url, "SELECT 1")
    assert str(info.value).startswith(f"{url}: not a valid admin API URL")
    assert message in str(info.value)


def test_a_chrome_trace_that_cannot_be_written_is_said_not_a_traceback(tmp_path, capsys):
    args = ["check", "examples.shop:checkout", "--input", "{}", "--max-examples", "0"]
    # Refused before the check runs: a missing folder, a directory.
    for path, said in ((tmp_path / "no" / "t.json", f"the folder {tmp_path / 'no'} does not "
                                                    f"exist"),
                       (tmp_path, "is a directory; name a file, like trace.json")):
        assert main([*args, "--chrome-trace", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"simdurable check: --chrome-trace {path}: {said}\n"
        assert captured.out == ""
    # A file its folder refuses, once the check found something to write.
    assert main([*args, "--chrome-trace", "/proc/self/trace.json"]) == 2
    assert ("simdurable check: --chrome-trace /proc/self/trace.json: cannot write it: "
            in capsys.readouterr().err)
    assert main([*args, "--chrome-trace", str(tmp_path / "t.json")]) == 1  # written
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]


def test_the_demo_refuses_a_negative_seed_in_one_line(capsys):
    assert main(["demo", "--seed", "-3"]) == 2
    assert capsys.readouterr().err == "simdurable demo: --seed must be an integer >= 0, not -3\n"


LAZY = '''
class Proxy:
    """A lazy object (werkzeug's LocalProxy, Django's settings) whose reads raise."""

    def __getattr__(self, name):
        raise RuntimeError("working outside of application context")


proxy = Proxy()
'''


@pytest.mark.parametrize("argv,message", [
    (["serve", "lazymod:proxy", "--port", "0"],
     "simdurable serve: 'lazymod:proxy' is Proxy, not a Service, VirtualObject or Workflow"),
    (["check", "lazymod:proxy"],
     "simdurable check: 'lazymod:proxy' is a Proxy: expected a handler, a service or a list"),
    (["check", "lazymod:proxy.svc"],
     "simdurable check: 'lazymod:proxy.svc': reading its attribute 'svc' raised RuntimeError "
     "at "),
    (["soak", "lazymod:proxy", "--seeds", "0:1"],
     "simdurable soak: 'lazymod:proxy' is a Proxy: expected a handler, a service or a list"),
])
def test_a_target_whose_attributes_raise_is_refused_in_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], message: str) -> None:
    # Its own __getattr__'s RuntimeError came out as a traceback (serve, check, the
    # pytest plugin's collection as an INTERNALERROR).
    (tmp_path / "lazymod.py").write_text(LAZY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "lazymod", raising=False)
    extra = ["--db", str(tmp_path / "dev.db")] if argv[0] == "serve" else []
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
