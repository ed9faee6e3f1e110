"""What ``check`` reports and how ``simdurable check`` prints it: the summary,
``--json``, ``--version``, exit codes, progress, coverage and replay lines."""

from __future__ import annotations

import dataclasses
import io
import json
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import simdurable as sd
from examples import shop
from simdurable._check._command import Progress
from simdurable._cli import build_parser, main

ORDER = {"item": "book", "amount": 10}

APP = textwrap.dedent('''
    import simdurable as restate

    bank = restate.FakeExternal("bank")
    pay = restate.Service("Pay")

    def charge(amount):
        return bank.apply("charge", {"amount": amount})

    @pay.handler()
    async def unsafe(ctx: restate.Context, amount: int) -> str:
        return await ctx.run_typed("charge", charge, amount=amount)

    signup = restate.Workflow("Signup")

    @signup.main()
    async def run(ctx: restate.WorkflowContext, email: str) -> str:
        return await ctx.promise("code").value()
''')


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simdurable", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_printed_command_line_replays_the_case_for_a_handler_in_no_config(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    first = _cli(["check", "app:unsafe", "--input", "5", "--max-examples", "0"], tmp_path)
    assert first.returncode == 1, first.stderr
    lines = [line.strip() for line in first.stdout.splitlines()
             if line.strip().startswith("simdurable check app:unsafe")]
    assert len(lines) == 1
    assert "pytest" not in first.stdout  # no configured item could run it
    argv = shlex.split(lines[0])
    assert argv[:2] == ["simdurable", "check"] and "--replay" in argv
    again = _cli(argv[1:], tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "replayed one case" in again.stdout
    assert "duplicate-effect: bank.charge" in again.stdout


def test_a_blob_replays_from_the_command_line(capsys):
    report = sd.check(services=shop.services, invoke="Shop/checkout_unsafe", input=ORDER,
                      externals=shop.externals, max_examples=0)
    blob = report.violations[0].blob
    assert main(["check", "examples.shop:checkout_unsafe", "--input", json.dumps(ORDER),
                 "--blob", blob]) == 1
    assert "replayed one case" in capsys.readouterr().out
    assert main(["check", "examples.shop:checkout", "--input", json.dumps(ORDER),
                 "--blob", blob]) == 1
    assert "did not reproduce" in capsys.readouterr().out


def test_json_report_carries_the_verdict_and_the_replay_line(capsys):
    status = main(["check", "examples.shop:checkout_unsafe", "--input", json.dumps(ORDER),
                   "--max-examples", "0", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1 and data["ok"] is False
    v = data["violations"][0]
    assert v["kind"] == "duplicate-effect" and v["step"] == "charge"
    assert v["reproduce"]["cli"].startswith("simdurable check examples.shop:checkout_unsafe")
    assert data["reference"].startswith("returned")
    assert data["explored"]["handlers_reached"] == ["Inventory/reserve", "Shop/checkout_unsafe"]
    assert main(["check", "examples.shop:checkout", "--input", json.dumps(ORDER),
                 "--max-examples", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_version_and_documented_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"simdurable {sd.__version__}"
    check_help = build_parser()._subparsers._group_actions[0].choices["check"].format_help()
    assert "exit status:" in check_help
    for code in ("0  no violation", "1  a violation", "2  the check could not run"):
        assert code in check_help


def test_summary_says_how_the_reference_run_ended_and_what_was_reached(tmp_path):
    ok = sd.check(services=shop.services, invoke="Shop/checkout", input=ORDER,
                  externals=shop.externals, max_examples=0)
    assert ok.reference.startswith('returned {"left": 9')
    assert "reference run (no faults): returned" in ok.summary()
    assert ok.reached == ["Inventory/reserve", "Shop/checkout"]
    assert ok.paths >= 1 and "handlers reached: Inventory/reserve, Shop/checkout" in ok.summary()

    sys.path.insert(0, str(tmp_path))
    try:
        (tmp_path / "summary_app.py").write_text(APP)
        import summary_app  # type: ignore[import-not-found]

        waiting = sd.check(services=[summary_app.signup], invoke="Signup/w/run", input="a",
                           max_examples=0)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("summary_app", None)
    assert waiting.reference == 'did not finish: Signup/w/run waits on #0 promise "code"'


def test_coverage_lists_only_the_handlers_the_target_reached():
    report = sd.check(services=shop.services, invoke="Shop/checkout", input=ORDER,
                      externals=shop.externals, max_examples=0, coverage=True)
    listed = [h.handler for h in report.coverage.handlers]
    assert sorted(listed) == ["Inventory/reserve", "Shop/checkout"]  # not Shop/checkout_unsafe


def test_progress_is_shown_on_a_terminal_only(capsys):
    main(["check", "examples.shop:checkout", "--input", json.dumps(ORDER), "--max-examples", "0"])
    assert capsys.readouterr().err == ""  # captured output is no terminal
    stream = io.StringIO()
    progress = Progress(stream)
    progress(3, "single faults")
    progress(4, "single faults")  # within 0.2 s of the last: not redrawn
    progress.clear()
    assert stream.getvalue() == ("\r\x1b[Ksimdurable check: 3 runs (single faults)"
                                 "\r\x1b[K")


def test_check_calls_progress_with_every_run_and_its_phase():
    seen: list[tuple[int, str]] = []
    report = sd.check(services=shop.services, invoke="Shop/checkout", input=ORDER,
                      externals=shop.externals, max_examples=2,
                      progress=lambda runs, phase: seen.append((runs, phase)))
    assert [n for n, _ in seen][-1] <= report.runs
    assert {p for _, p in seen} >= {"the reference run", "single faults", "generated examples"}


def test_a_reproducer_names_a_fake_external_by_the_module_that_made_it(tmp_path):
    # The handler module imports `bank` from a clients module: the program
    # imports it from there, as the user's own code does.
    (tmp_path / "naming_clients.py").write_text(
        'import simdurable as sd\nbank = sd.FakeExternal("bank")\n')
    (tmp_path / "naming_app.py").write_text(APP.replace(
        'bank = restate.FakeExternal("bank")', "from naming_clients import bank"))
    sys.path.insert(0, str(tmp_path))
    try:
        import naming_app  # type: ignore[import-not-found]
        import naming_clients  # type: ignore[import-not-found]

        report = sd.check(services=[naming_app.pay], invoke="Pay/unsafe", input=5,
                          externals=[naming_clients.bank], max_examples=0, hash_seeds=())
        text = report.violations[0].message + "\n" + str(report)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("naming_app", None)
        sys.modules.pop("naming_clients", None)
    assert "externals=[naming_clients.bank]" in text, text
    assert "import naming_clients" in text
    assert "naming_app.bank" not in text


TWINS = textwrap.dedent('''
    import simdurable as restate

    worker = restate.Service("Worker")
    worker_bad = restate.Service("Worker")
    jobs = restate.Service("Jobs")

    @worker.handler("work")
    async def work(ctx: restate.Context, n: int) -> int:
        return n

    @worker_bad.handler("work")
    async def work_bad(ctx: restate.Context, n: int) -> int:
        return -n

    @jobs.handler()
    async def start(ctx: restate.Context, n: int) -> int:
        return await ctx.generic_call("Worker", "work", str(n).encode()) and n

    checked = [jobs, worker]
''')


def test_twin_services_left_unhosted_are_named_with_how_to_host_one(tmp_path, capsys):
    (tmp_path / "twins_app.py").write_text(TWINS)
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["check", "twins_app:start", "--input", "2", "--max-examples", "0"]) == 1
        out = capsys.readouterr().out
        assert ("note: twins_app holds 2 services named Worker (worker, worker_bad): none "
                "of them is hosted") in out, out
        assert "`simdurable check twins_app:services --invoke ...`" in out
        # Checked with a list that hosts one of them, there is nothing to say.
        assert main(["check", "twins_app:checked", "--invoke", "Jobs/start", "--input", "2",
                     "--max-examples", "0"]) == 0
        assert "services named" not in capsys.readouterr().out
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("twins_app", None)


receipts = sd.Service("Receipts")


@dataclasses.dataclass
class Receipt:
    order: str
    cents: int


@receipts.handler()
async def issue(ctx: sd.Context, order: str) -> Receipt:
    return Receipt(order=order, cents=await ctx.run_typed("price", lambda: 250))


def test_a_model_returned_is_shown_as_the_json_the_caller_gets_not_its_repr():
    report = sd.check(services=[receipts], invoke="Receipts/issue", input="o1", max_examples=0)
    assert report.reference == 'returned {"cents": 250, "order": "o1"} at 0.000s'
