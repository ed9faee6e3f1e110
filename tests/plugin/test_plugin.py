"""``pytest --simdurable``, tested by running pytest on small projects (pytester)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import pytest

pytest_plugins = ["pytester"]

HANDLERS = '''
import simdurable as sd

bank = sd.FakeExternal("bank")
shop = sd.Service("Shop")


def charge(amount, key):
    return bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"]


@shop.handler()
async def pay(ctx: sd.Context, amount: int) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("charge", charge, amount=amount, key=key)


@shop.handler()
async def pay_unsafe(ctx: sd.Context, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=None)


services = [shop]
'''

PYPROJECT = '''
[tool.pytest.ini_options]
pythonpath = ["."]
# Hypothesis's own pytest plugin costs half a second per run and is not needed here.
addopts = "-p no:cacheprovider -p no:hypothesispytest"

[tool.simdurable]
{extra}
'''

SCENARIO = '''\
services: shopmod:services
externals: [shopmod:bank]
invoke:
  - target: Shop/pay
    input: 10
    expect: {{result: bank-1}}
faults:
  - {{kind: crash, step: charge, phase: effect-done}}
expect:
  effects: {{bank: {count}}}
'''

MARKED = '''
import pytest
from shopmod import bank


@pytest.mark.simdurable
def test_pay_once(sim):
    s = sim()
    h = s.invoke("Shop/{handler}", 10)
    s.run()
    assert h.result() == "bank-1"
    assert len(bank.effects) == 1, [e.op for e in bank.effects]
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='externals = ["shopmod:bank"]\nservices = ["shopmod:services"]\n'
              'handlers = []\nmax_examples = 30'))
    return pytester


def test_without_the_flag_nothing_changes(project: pytest.Pytester) -> None:
    project.mkdir("scenarios")
    project.path.joinpath("scenarios", "ok.yaml").write_text(SCENARIO.format(count=1))
    project.makepyfile(test_shop=MARKED.format(handler="pay_unsafe"))
    result = project.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_shop.py::test_pay_once", "1 test collected*"])
    # The unsafe handler passes: without --simdurable the test runs once, without faults.
    project.runpytest().assert_outcomes(passed=1)


def test_the_sim_fixture_works_without_the_flag(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain='''
        from shopmod import bank, shop

        def test_crash_after_charge(sim):
            s = sim([shop], externals=[bank], seed=3)
            s.crash(after="charge", point="effect-done")
            h = s.invoke("Shop/pay", 5)
            s.run()
            assert h.result() == "bank-1" and len(bank.effects) == 1
            assert s.seed == 3

        def test_configured_services_are_the_default(sim):
            h = sim().invoke("Shop/pay", 5)
        ''')
    project.runpytest().assert_outcomes(passed=2)


def test_a_configured_scenario_folder_that_is_missing_fails_and_a_file_runs(
        project: pytest.Pytester) -> None:
    """Before, a misspelt folder ran no scenario and passed, silently."""
    project.mkdir("flows")
    project.path.joinpath("flows", "ok.yaml").write_text(SCENARIO.format(count=1))
    project.makefile(".toml", pyproject=PYPROJECT.format(
        extra='externals = ["shopmod:bank"]\nservices = ["shopmod:services"]\n'
              'handlers = []\nscenarios = ["flwos", "flows/ok.yaml"]'))
    result = project.runpytest("--simdurable")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["flows/ok.yaml .*", "scenarios: 1 passed, 0 failed",
                                 "FAILED simdurable::scenarios:flwos*"])
    result.stdout.fnmatch_lines([
        "?tool.simdurable? scenarios: 'flwos' is not a folder of scenarios (nothing at "
        "*flwos): name an existing folder (or YAML file), relative to *"])


def test_scenarios_become_items_and_a_broken_one_fails_alone(project: pytest.Pytester) -> None:
    project.mkdir("scenarios")
    project.path.joinpath("scenarios", "ok.yaml").write_text(SCENARIO.format(count=1))
    project.path.joinpath("scenarios", "wrong.yml").write_text(SCENARIO.format(count=2))
    project.path.joinpath("scenarios", "broken.yaml").write_text(
        SCENARIO.format(count=1).replace("input:", "inptu:"))
    project.path.joinpath("scenarios", "garbage.yaml").write_text("services: [a\n  - {\n")
    result = project.runpytest("--simdurable")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines([
        "*scenario broken.yaml*",
        "scenario scenarios/broken.yaml cannot run as written:",
        "scenarios/broken.yaml:5:5: invoke?0?.inptu: unknown key 'inptu'; did you mean 'input'?*",
        "*scenario garbage.yaml*",
        "scenarios/garbage.yaml:2:*: not valid YAML*",
        "*scenario wrong.yml*",
        "scenario 'wrong' failed: 1 expectation(s) not met",
        "  scenarios/wrong.yml:10:19: expect.effects.bank: bank saw 1 effect(s), expected 2*",
        "fault plan (as fired): crash(step=charge, phase=effect-done, attempt=1)",
        "timeline:",
        "reproduce: pytest --simdurable scenarios/wrong.yml::wrong*",
        "*= simdurable =*",
        "scenarios: 1 passed, 3 failed",
    ])
    assert "Traceback" not in result.stdout.str()
    assert "_runner.py" not in result.stdout.str()


def test_a_missing_quote_in_a_fault_plan_is_one_line_not_a_traceback(
    project: pytest.Pytester,
) -> None:
    project.mkdir("scenarios")
    text = SCENARIO.format(count=1).split("faults:")[0] + 'faults: crash(step=charge, message="x)\n'
    project.path.joinpath("scenarios", "quote.yaml").write_text(text)
    result = project.runpytest("--simdurable")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "scenarios/quote.yaml:7:36: faults: cannot read the fault plan: "
        'a quote (") that is never closed',
    ])
    assert "Traceback" not in result.stdout.str()
    assert len(result.stdout.lines) < 30, result.stdout.str()


def test_verbose_adds_the_internal_traceback(project: pytest.Pytester) -> None:
    project.mkdir("scenarios")
    project.path.joinpath("scenarios", "wrong.yaml").write_text(SCENARIO.format(count=2))
    result = project.runpytest("--simdurable", "-v")
    result.assert_outcomes(failed=1)
    assert "_items.py" in result.stdout.str()


def test_the_scenario_reproducer_runs_just_that_scenario(project: pytest.Pytester) -> None:
    project.mkdir("scenarios")
    project.path.joinpath("scenarios", "ok.yaml").write_text(SCENARIO.format(count=1))
    project.path.joinpath("scenarios", "wrong.yaml").write_text(SCENARIO.format(count=2))
    project.runpytest("--simdurable", "scenarios/wrong.yaml::wrong").assert_outcomes(failed=1)


def test_a_marked_test_is_explored_shrunk_and_replayable(project: pytest.Pytester) -> None:
    project.makepyfile(test_shop=MARKED.format(handler="pay_unsafe"))
    result = project.runpytest("--simdurable")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E       AssertionError: assert 'bank-2' == 'bank-1'",
        "E       simdurable: this test fails under the fault plan: crash(step=charge, index=0, "
        "phase=effect-done, attempt=1, target=Shop/pay_unsafe)",
        "E         (seed 0; found after * example(s) over * fault point(s), shrunk to 1 fault(s))",
        "E       reproduce this exact case:",
        "E         pytest --simdurable --simdurable-seed=0 --simdurable-replay=* "
        "test_shop.py::test_pay_once",
        "*- simdurable -*",
        "timeline of the failing simulation*",
        "*crash at effect-done of run \"charge\" #0",
        "*= simdurable =*",
        "marked tests: 1 explored, * examples, 1 failing",
    ])
    line = next(x for x in result.stdout.lines if "pytest --simdurable --simdurable-seed" in x)
    argv = shlex.split(line.split("pytest ", 1)[1])
    again = project.runpytest(*argv)
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["E       AssertionError: assert 'bank-2' == 'bank-1'"])


def test_a_correct_marked_test_passes_every_example(project: pytest.Pytester) -> None:
    project.makepyfile(test_shop=MARKED.format(handler="pay"))
    result = project.runpytest("--simdurable", "--simdurable-examples=12")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["marked tests: 1 explored, 12 examples, 0 failing"])


def test_replay_of_a_plan_that_does_not_fail_passes(project: pytest.Pytester) -> None:
    project.makepyfile(test_shop=MARKED.format(handler="pay_unsafe"))
    project.runpytest("--simdurable", "--simdurable-replay=crash(step=charge, phase=before)"
                      ).assert_outcomes(passed=1)


def test_trace_dir_gets_one_file_per_failure(project: pytest.Pytester) -> None:
    project.makepyfile(test_shop=MARKED.format(handler="pay_unsafe"))
    project.mkdir("scenarios")
    project.path.joinpath("scenarios", "wrong.yaml").write_text(SCENARIO.format(count=2))
    project.runpytest("--simdurable", "--simdurable-trace-dir=traces").assert_outcomes(failed=2)
    files = sorted(p.name for p in (project.path / "traces").iterdir())
    assert files == ["scenarios_wrong.yaml_wrong.txt", "test_shop.py_test_pay_once.txt"]
    text = (project.path / "traces" / "test_shop.py_test_pay_once.txt").read_text()
    assert "crash at effect-done" in text and "--simdurable-replay=" in text


def test_a_trace_dir_that_cannot_be_made_leaves_the_failures_report_whole(
        project: pytest.Pytester) -> None:
    # A FileNotFoundError from os.makedirs replaced the failure's report (and its
    # reproduction line) with a traceback.
    project.makepyfile(test_shop=MARKED.format(handler="pay_unsafe"))
    project.path.joinpath("afile").write_text("")
    result = project.runpytest("--simdurable", "--simdurable-trace-dir=afile/traces")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "crash at effect-done" in out and "--simdurable-replay=" in out
    assert "trace not written: --simdurable-trace-dir afile/traces: Not a directory" in out
    assert "NotADirectoryError" not in out and "Traceback" not in out


def test_a_marked_test_without_sim_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_x='''
        import pytest

        @pytest.mark.simdurable
        def test_x():
            pass
        ''')
    result = project.runpytest("--simdurable")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*is marked @pytest.mark.simdurable but does not take the `sim`*"])


@pytest.mark.parametrize(("toml", "args", "message"), [
    ("servcies = []", (), "*unknown key(s) 'servcies' (did you mean 'services'?)*"),
    ("max_examples = 0", (), "*max_examples must be an integer from 1 to 1000000, not 0*"),
    ("", ("--simdurable-examples=10000000",),
     "*--simdurable-examples must be an integer from 1 to 1000000, not 10000000*"),
    ("jobs = 0", (), '*[[]tool.simdurable[]] jobs must be an integer from 1 to 256 or "auto" (*), not 0*'),
    ("", ("--simdurable-jobs=0",), '*--simdurable-jobs must be an integer from 1 to 256 or "auto" (*), not 0*'),
    ('inputs = { "Shop/pay" = 3 }', (), "*inputs.'Shop/pay' must be a non-empty list*"),
    ("", ("--simdurable-replay=explode(step=x)",), "*--simdurable-replay: at column 1: unknown fault kind*"),
])
def test_bad_configuration_is_a_usage_error(pytester: pytest.Pytester, toml: str,
                                            args: tuple[str, ...], message: str) -> None:
    pytester.makefile(".toml", pyproject=PYPROJECT.format(extra=toml))
    result = pytester.runpytest("--simdurable", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_bad_ini_setting_is_named_as_the_ini_option(pytester: pytest.Pytester) -> None:
    # It was named "simdurable seed", neither the ini option nor a pyproject key.
    pytester.makeini("[pytest]\nsimdurable_seed = x\n")
    result = pytester.runpytest("--simdurable")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*: simdurable_seed must be an integer >= 0, not 'x'"])


def test_handlers_become_items(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["shopmod:services", "shopmod:nothing", "nomod:x"]\n'
              'inputs = { "Shop/pay" = [10], "Shop/pya" = [1] }'))
    result = pytester.runpytest("--simdurable", "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "simdurable::shopmod:nothing",
        "simdurable::nomod:x",
        "simdurable::Shop/pay",
        "simdurable::Shop/pay_unsafe",
        "simdurable::inputs:Shop/pya",
    ])
    result = pytester.runpytest("--simdurable", "-k", "nothing or nomod or pya")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "*services: 'shopmod:nothing': module 'shopmod' has no attribute 'nothing'",
        "*services: 'nomod:x': cannot import module 'nomod'*",
        "*inputs: no handler 'Shop/pya'; did you mean 'Shop/pay'?*",
    ])


def test_a_handler_can_be_named_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(extra='services = ["shopmod:shop"]'))
    result = pytester.runpytest("--simdurable", "--collect-only", "-q", "simdurable::Shop/pay")
    result.stdout.fnmatch_lines(["simdurable::Shop/pay"])
    result.stdout.no_fnmatch_line("*pay_unsafe*")
    result = pytester.runpytest("--simdurable", "simdurable::Shop/nope")
    result.stderr.fnmatch_lines(["*no configured handler named *Shop/nope*; did you mean *Shop/pay*"])


def test_handler_items_run_check_and_print_a_reproducer(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["shopmod:services"]\nexternals = ["shopmod:bank"]\n'
              'inputs = { "Shop/pay" = [10], "Shop/pay_unsafe" = [10] }\nmax_examples = 20'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ simdurable::Shop/pay_unsafe _*",
        "simdurable::Shop/pay_unsafe with input 10:",
        "*1 violation (duplicate-effect)",
        "?1? duplicate-effect: bank.charge({\"amount\": 10}) was applied 2 times*",
        "  minimal fault plan: crash(step=charge, index=0, phase=effect-done, attempt=1)   (seed 0)",
        "  timeline of the failing run:",
        "  reproduce it:",
        "    pytest simdurable::Shop/pay_unsafe --simdurable --simdurable-seed=0 "
        "--simdurable-replay=*",
        "*= simdurable =*",
        "Shop/pay: * examples, fault points covered */*, 0 violation(s)",
        "Shop/pay_unsafe: * examples, fault points covered */*, 1 violation(s)",
    ])
    assert "Traceback" not in result.stdout.str()
    line = next(x for x in result.stdout.lines if x.startswith("    pytest simdurable::"))
    again = pytester.runpytest(*shlex.split(line.split("pytest ", 1)[1]))
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*replayed one case*",
                                "?1? duplicate-effect: bank.charge({\"amount\": 10})*"])
    # Without the handler's name, the handlers the plan does not break are skipped.
    argv = [a for a in shlex.split(line.split("pytest ", 1)[1]) if "::" not in a]
    everywhere = pytester.runpytest(*argv, "-rs")
    everywhere.assert_outcomes(failed=1, skipped=1)
    everywhere.stdout.fnmatch_lines(["SKIPPED * --simdurable-replay does not fail this handler*"])
    # Named, a plan that does not reproduce is a failure that says so.
    fixed = pytester.runpytest(*argv, "simdurable::Shop/pay")
    fixed.assert_outcomes(failed=1)
    fixed.stdout.fnmatch_lines(["*ran without a violation: the bug may be fixed*"])


def test_ini_options_configure_the_plugin_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makeini('''
        [pytest]
        pythonpath = .
        addopts = -p no:cacheprovider -p no:hypothesispytest
        simdurable_services = shopmod:services
        simdurable_scenarios = checks
        simdurable_max_examples = 7
        ''')
    pytester.mkdir("checks")
    pytester.path.joinpath("checks", "ok.yaml").write_text(SCENARIO.format(count=1))
    pytester.makepyfile(test_shop=MARKED.format(handler="pay"))
    result = pytester.runpytest("--simdurable", "--deselect", "simdurable::Shop")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["marked tests: 1 explored, 7 examples, 0 failing",
                                 "scenarios: 1 passed, 0 failed"])


def _outcomes(result: pytest.RunResult) -> list[str]:
    lines = [x for x in result.stdout.lines if re.match(r"^(PASSED|FAILED) ", x)]
    return sorted(x.split(" - ")[0] for x in lines)


def test_xdist_gives_the_same_results_as_a_serial_run(project: pytest.Pytester) -> None:
    project.makepyfile(test_shop=MARKED.format(handler="pay_unsafe"),
                       test_more=MARKED.format(handler="pay"))
    project.mkdir("scenarios")
    for i in range(3):
        project.path.joinpath("scenarios", f"s{i}.yaml").write_text(SCENARIO.format(count=i))
    serial = project.runpytest_subprocess("--simdurable", "-rA", "-p", "no:randomly")
    parallel = project.runpytest_subprocess("--simdurable", "-rA", "-n", "2")
    assert _outcomes(serial) == _outcomes(parallel)
    assert len(_outcomes(serial)) == 5

    def plans(r: pytest.RunResult) -> list[str]:
        return sorted(x for x in r.stdout.lines if "--simdurable-replay=" in x)

    assert plans(serial) == plans(parallel) != []
    parallel.stdout.fnmatch_lines(["*= simdurable =*", "marked tests: 2 explored, * 1 failing",
                                   "scenarios: 1 passed, 2 failed"])


def test_scenario_folders_outside_testpaths_are_still_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(extra="handlers = []").replace(
        'pythonpath = ["."]', 'pythonpath = ["."]\ntestpaths = ["tests"]'))
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_a.py").write_text("def test_a():\n    pass\n")
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "ok.yaml").write_text(SCENARIO.format(count=1))
    result = pytester.runpytest("--simdurable", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*scenarios/ok.yaml::ok PASSED*"])
    # Naming paths runs just those: no scenarios or handler items are added.
    pytester.runpytest("--simdurable", "tests/test_a.py").assert_outcomes(passed=1)


def test_the_plugin_imports_nothing_of_simdurable_without_the_flag(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest('''
        import sys

        def pytest_sessionfinish(session):
            loaded = sorted(m for m in sys.modules if m.split(".")[0] == "simdurable")
            assert not loaded, loaded
        ''')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
    assert result.ret == 0


CHECKING_TEST = '''
import simdurable as sd
from shopmod import bank, services


def test_pay_is_checked():
    sd.check(services=services, invoke="Shop/{handler}", input=10, externals=[bank],
             max_examples=0).raise_if_failed()
'''


def test_the_pytest_line_of_a_plain_test_names_it_and_replays_its_check(
        project: pytest.Pytester) -> None:
    project.makepyfile(test_checked=CHECKING_TEST.format(handler="pay_unsafe"))
    first = project.runpytest()
    first.assert_outcomes(failed=1)
    lines = [line.lstrip("E").strip() for line in first.outlines
             if line.lstrip("E").strip().startswith("pytest test_checked.py::test_pay_is_checked")]
    assert lines, first.outlines
    argv = shlex.split(lines[0])[1:]
    assert "--simdurable-replay=crash(step=charge, index=0, phase=effect-done, attempt=1)" in argv
    again = project.runpytest(*argv)
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*replayed one case*", "*duplicate-effect: bank.charge*"])
    # Once fixed, the same line says the case no longer fails.
    project.makepyfile(test_checked=CHECKING_TEST.format(handler="pay"))
    fixed = project.runpytest(*argv)
    fixed.assert_outcomes(failed=1)
    fixed.stdout.fnmatch_lines(["*DidNotReproduce*"])


SIGNUP = '''
import simdurable as sd

signup = sd.Workflow("Signup")


@signup.main()
async def run(ctx: sd.WorkflowContext, email: str) -> str:
    link = await ctx.promise("link").value()
    return f"{email} confirmed {link}"


@signup.handler()
async def click(ctx: sd.WorkflowSharedContext, link: str) -> None:
    await ctx.promise("link").resolve(link)


@signup.handler()
async def status(ctx: sd.WorkflowSharedContext) -> str:
    return "?"


services = [signup]
'''


def test_a_workflow_is_driven_by_its_shared_handler_and_the_plugin_says_so(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(signupmod=SIGNUP)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["signupmod:services"]\nmax_examples = 5'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "Signup/run: * examples, fault points covered */*, 0 violation(s)",
        "  world inferred: call Signup/key-1/click('0') once the run waits (it completes "
        "promise 'link' that Signup/key-1/run waits on)",
    ])


SECRET_SIGNUP = SIGNUP.replace(
    '    return f"{email} confirmed {link}"',
    '    if link != "s3cret":\n'
    '        raise sd.TerminalError("wrong link", 403)\n'
    '    return f"{email} confirmed {link}"')


@pytest.mark.parametrize("inputs", ["", '[tool.simdurable.inputs]\n"Signup/run" = ["a@b.c"]\n'])
def test_an_inferred_world_that_only_reaches_the_failure_path_is_said(
        pytester: pytest.Pytester, inputs: str) -> None:
    """The driver's simplest value ('0') is never the secret the promise needs: every
    run takes the path kept for a wrong link. The summary said only "world inferred"
    (with no input configured, it blamed the input) as if the run had been checked."""
    pytester.makepyfile(signupmod=SECRET_SIGNUP)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["signupmod:services"]\nmax_examples = 5\n' + inputs))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(passed=1)
    given = "" if inputs else " with the input built from the type hint, '0',"
    also = "" if inputs else ' (or an input in [tool.simdurable.inputs] "Signup/run")'
    result.stdout.fnmatch_lines([
        "  world inferred: call Signup/key-1/click('0') once the run waits *",
        f"  in the inferred world the fault-free run{given} failed with TerminalError('wrong "
        "link', status_code=403), so only the path it takes then was checked; say what the "
        f'world does in [tool.simdurable.world] "Signup/run"{also}',
    ])
    result.stdout.no_fnmatch_line("*the input built from the type hint, '0', failed*give one*")


MAILED_SIGNUP = '''
import simdurable as sd

mailer = sd.FakeExternal("mailer")
users = sd.FakeExternal("users")
signup = sd.Workflow("Signup")


def mail(to: str, secret: str) -> None:
    mailer.apply("send", {{"to": to, "link": {{"secret": secret}}}}, idempotency_key=secret)


def activate(email: str) -> None:
    users.apply("activate", {{"email": email}}, idempotency_key={key})


@signup.main()
async def run(ctx: sd.WorkflowContext, email: str) -> str:
    secret = str(ctx.uuid())
    await ctx.run_typed("mail", mail, to=email, secret=secret)
    link = await ctx.promise("link").value()
    if link != secret:
        raise sd.TerminalError("wrong link", 403)
    await ctx.run_typed("activate", activate, email=email)
    return f"{{email}} confirmed"


@signup.handler()
async def click(ctx: sd.WorkflowSharedContext, link: str) -> None:
    await ctx.promise("link").resolve(link)


services = [signup]
externals = [mailer, users]
'''


@pytest.mark.parametrize("key", ["None", "email"])
def test_an_inferred_world_answers_with_the_secret_the_run_mailed(
        pytester: pytest.Pytester, key: str) -> None:
    """The run draws a secret with ctx.uuid() and mails it; no fixed answer is
    ever right. The inferred driver answered '0' only, so the path after the
    link (an activation without an idempotency key: twice after a crash) was
    never run, and the check passed. It now also answers with what the run
    mailed, read when it clicks."""
    pytester.makepyfile(signupmod=MAILED_SIGNUP.format(key=key))
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["signupmod:services"]\nexternals = ["signupmod:mailer", '
              '"signupmod:users"]\nmax_examples = 5'))
    result = pytester.runpytest("--simdurable")
    if key == "None":
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*duplicate-effect: users.activate(*"])
    else:
        result.assert_outcomes(passed=1)
        result.stdout.no_fnmatch_line("*only the path it takes then was checked*")
    result.stdout.fnmatch_lines([
        "  world inferred: call Signup/key-1/click(what mailer.send was last given"
        "?'link.secret'?) once the run waits (it completes promise 'link' with the string "
        "the run sent out; world.from_effect('mailer', 'send', 'link.secret')); "
        "call Signup/key-1/click('0') *",
    ])


def test_configured_world_exclude_and_shared_handlers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(signupmod=SIGNUP)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["signupmod:services"]\nmax_examples = 5\n'
              'handlers = ["Signup/run", "Signup/click", "Signup/status"]\n'
              'exclude = ["Signup/status"]\n'
              '[tool.simdurable.world]\n'
              '"Signup/run" = [{ resolve_promise = { name = "lnk", value = "x" } }]\n'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(passed=1, failed=1)  # click passes; the world names no promise
    result.stdout.fnmatch_lines([
        "*names a promise no run created (promises used: Signup/key-1:link)*",
        "Signup/click: * examples, *0 violation(s)",
    ])
    result.stdout.no_fnmatch_line("*Signup/status*")
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["signupmod:services"]\n'
              '[tool.simdurable.world]\n'
              '"Signup/run" = [{ resolve_promise = { nam = "link" } }]\n'))
    bad = pytester.runpytest("--simdurable")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(['*world."Signup/run"?0?.resolve_promise: missing name; '
                              'unknown nam*'])


def test_a_configuration_with_nothing_to_check_says_so(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject=PYPROJECT.format(extra="max_examples = 5"))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*simdurable has nothing to check: no services are "
                                 "configured (in pyproject.toml)*", "*services = *"])


TALLY_LEDGER = '''
import simdurable as sd

ledger = sd.FakeExternal("ledger")
tally = sd.VirtualObject("Tally")


def read() -> int:
    return len(ledger.effects)


def write(to: int) -> None:
    ledger.apply("set", {{"to": to}}, idempotency_key=f"to-{{to}}")


'''

TALLY = TALLY_LEDGER + '''@tally.handler({kind})
async def bump(ctx) -> int:
    n = await ctx.run_typed("read", read)
    await ctx.run_typed("write", write, to=n + 1)
    return n + 1


services = [tally]
'''


@pytest.mark.parametrize("kind, outcome", [('kind="shared"', "failed"), ("", "passed")])
def test_object_handlers_run_twice_at_once_by_default(pytester: pytest.Pytester, kind: str,
                                                       outcome: str) -> None:
    pytester.makepyfile(tallymod=TALLY.format(kind=kind))
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["tallymod:services"]\nexternals = ["tallymod:ledger"]\n'
              'max_examples = 30'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":  # shared handlers run at once: both read 0
        result.stdout.fnmatch_lines(["*not-serializable: 2 concurrent invocations left "
                                     "results no one-at-a-time order of them gives*"])


WAITING_TALLY = TALLY_LEDGER + '''@tally.handler({kind})
async def bump(ctx) -> int:
    n = await ctx.run_typed("read", read)
    _, approved = ctx.awakeable()
    await approved                     # someone approves each bump
    await ctx.run_typed("write", write, to=n + 1)
    return n + 1


services = [tally]
'''


@pytest.mark.parametrize("kind, approvals, outcome", [
    ('kind="shared"', 2, "failed"),  # the world serves two callers: both read 0
    ("", 2, "passed"),               # one writer at a time: no lost update
    ('kind="shared"', 1, "passed"),  # a world for one caller: one at a time, and said so
])
def test_an_object_handler_with_a_world_runs_twice_at_once_when_the_world_serves_both(
        pytester: pytest.Pytester, kind: str, approvals: int, outcome: str) -> None:
    """Before, a world meant one caller, silently: a lost update went unseen, and a
    world written for two callers could not be used at all."""
    pytester.makepyfile(tallymod=WAITING_TALLY.format(kind=kind))
    world = ", ".join(["{ resolve_awakeable = { value = true } }"] * approvals)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra=f'services = ["tallymod:services"]\nexternals = ["tallymod:ledger"]\n'
              f'max_examples = 10\n'
              f'[tool.simdurable.world]\n"Tally/bump" = [{world}]'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(**{outcome: 1})
    said = "*Tally/key-1/bump: checked one caller at a time, not 2 at once: with 2 callers " \
           "at once and the same world, one never finishes (Tally/key-1/bump (inv_*): " \
           "waits on #2 awakeable *); give the world an event for each caller to check " \
           "them at once, or set ?tool.simdurable? concurrent = 1"  # ? : [ ] in fnmatch
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*not-serializable: 2 concurrent invocations left "
                                     "results no one-at-a-time order of them gives*"])
    elif approvals == 1:
        result.stdout.fnmatch_lines([said])
    else:
        result.stdout.no_fnmatch_line("*checked one caller at a time*")


def test_jobs_share_a_handler_check_and_leave_its_report_as_it_was(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["shopmod:services"]\nexternals = ["shopmod:bank"]\n'
              'handlers = ["Shop/pay_unsafe"]\ninputs = { "Shop/pay_unsafe" = [10] }\n'
              'max_examples = 30\njobs = 2'))
    texts = []
    # Then the pyproject's jobs = 2, then one per core.
    for args in (["--simdurable-jobs=1"], [], ["--simdurable-jobs=auto"]):
        trace_dir = pytester.path / f"traces{len(texts)}"
        result = pytester.runpytest("--simdurable", f"--simdurable-trace-dir={trace_dir}", *args)
        result.assert_outcomes(failed=1)
        (written,) = trace_dir.iterdir()
        texts.append(written.read_text())
    assert "duplicate-effect" in texts[0] and "worker" not in texts[0]
    assert texts[0] == texts[1] == texts[2]


REFUSES_SMALL = '''
import simdurable as sd

shop = sd.Service("Shop")


@shop.handler()
async def buy(ctx: sd.Context, amount: int) -> int:
    if amount < 100:
        raise sd.TerminalError("below the minimum order", 400)
    return await ctx.run_typed("charge", lambda: amount)


services = [shop]
'''


def test_a_generated_input_the_handler_refuses_is_said_with_the_fix(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(refusing=REFUSES_SMALL)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["refusing:services"]\nmax_examples = 2'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "Shop/buy: * examples, fault points covered 0/0, 0 violation(s)",
        "  the input built from the type hint, 1, failed with TerminalError('below the minimum "
        "order', status_code=400); give one in [tool.simdurable.inputs] \"Shop/buy\"",
    ])


EMPTY_CART = '''
import simdurable as sd

cart = sd.VirtualObject("Cart")


@cart.handler()
async def checkout(ctx: sd.ObjectContext) -> int:
    items = await ctx.get("items") or []
    if not items:
        raise sd.TerminalError("empty cart", 400)
    return len(items)


services = [cart]
'''


def test_a_handler_without_input_failing_is_not_told_to_give_an_input(
        pytester: pytest.Pytester) -> None:
    # It was told to "give one in [tool.simdurable.inputs]": it takes none.
    pytester.makepyfile(emptycart=EMPTY_CART)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["emptycart:services"]\nmax_examples = 2\nconcurrent = 1'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "Cart/checkout: * examples, *0 violation(s)",
        "  Cart/checkout takes no input and failed with TerminalError('empty cart', "
        "status_code=400) in its fault-free run, so only that path was checked; check it from "
        "a scenario or a @pytest.mark.simdurable test that prepares what it needs, and leave "
        "it out with [tool.simdurable] exclude = [\"Cart/checkout\"]",
    ])
    assert "tool.simdurable.inputs" not in result.stdout.str()


@dataclass
class Parcel:
    to: str
    items: list[str]
    weight: float


@pytest.mark.parametrize(("hint", "value"), [
    (str, "0"), (int, 1), (float, 1.0), (bool, False), (list[str], ["0"]),
    (dict[str, int], {"0": 1}), (str | None, "0"), (Parcel, Parcel("0", ["0"], 1.0)),
])
def test_the_generated_input_is_the_simplest_filled_one(hint: object, value: object) -> None:
    """No empty string, list or dict, no zero, no None, in it or in its fields:
    the one input a handler is checked with is not the one it refuses
    (``if not email``) or has nothing to do with (a loop over no items)."""
    import simdurable as sd
    from simdurable._pytest._items import _generated_input

    svc = sd.Service("Parcels")

    async def ship(ctx, parcel):  # type: ignore[no-untyped-def]
        return None

    ship.__annotations__.update(ctx=sd.Context, parcel=hint)
    svc.handler(name="ship")(ship)
    assert _generated_input(svc.handlers["ship"]) == value


def test_a_scenario_item_shows_every_mistake_and_the_field_that_differs(
        project: pytest.Pytester) -> None:
    project.makepyfile(ordermod='''
        import simdurable as sd
        orders = sd.VirtualObject("Orders")

        @orders.handler()
        async def place(ctx: sd.ObjectContext, skus: list) -> dict:
            return {"lines": [{"sku": s, "qty": 1} for s in skus]}

        services = [orders]
        ''')
    project.mkdir("scenarios")
    project.path.joinpath("scenarios", "broken.yaml").write_text(
        "services: ordermod:services\n"
        "invoke:\n"
        "  - {target: Orders/o/place, input: [a], expect: {reslt: 1}}\n"
        "  - {target: Orders/o/plce, input: [b]}\n")
    project.path.joinpath("scenarios", "differs.yaml").write_text(
        "services: ordermod:services\n"
        "invoke:\n"
        "  - target: Orders/o/place\n"
        "    input: [a, b]\n"
        "    expect: {result: {lines: [{sku: a, qty: 1}, {sku: b, qty: 2}]}}\n")
    result = project.runpytest("--simdurable", "-k", "broken or differs")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "scenarios/broken.yaml:3:*: invoke?0?.expect.reslt: unknown key 'reslt'*",
        "scenarios/broken.yaml:4:*: invoke?1?.target: no handler Orders/plce*",
    ])
    result.stdout.fnmatch_lines(["*invoke?0?.expect.result: got *; first difference at "
                                 ".lines?1?.qty: got 1, expected 2"])


APPROVAL = '''
import simdurable as sd

bank = sd.FakeExternal("bank")
order = sd.Workflow("Order")


def charge(amount, key):
    return bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"]


@order.main()
async def run(ctx: sd.WorkflowContext, amount: int) -> str:
    if not await ctx.promise("approval").value():
        return "rejected"
    key = {key}
    return await ctx.run_typed("charge", charge, amount=amount, key=key)


@order.handler()
async def approve(ctx: sd.WorkflowSharedContext, ok: bool) -> None:
    await ctx.promise("approval").resolve(ok)


services = [order]
'''


def run_approval(pytester: pytest.Pytester, source: str, outcome: str) -> pytest.RunResult:
    """``pytest --simdurable`` over the approval workflow ``source``, which ends ``outcome``."""
    pytester.makepyfile(ordermod=source)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["ordermod:services"]\nexternals = ["ordermod:bank"]\n'
              'max_examples = 5\n[tool.simdurable.inputs]\n"Order/run" = [10]'))
    result = pytester.runpytest("--simdurable")
    result.assert_outcomes(**{outcome: 1})
    return result


@pytest.mark.parametrize(("key", "outcome"), [("None", "failed"), ("str(ctx.uuid())", "passed")])
def test_a_yes_or_no_driver_is_tried_with_both_answers(
        pytester: pytest.Pytester, key: str, outcome: str) -> None:
    # The input built from the hint of ``approve(ok: bool)`` is False: the run is
    # rejected and never charges. Only the "yes" answer reaches the unsafe charge.
    result = run_approval(pytester, APPROVAL.replace("{key}", key), outcome)
    if outcome == "passed":
        result.stdout.fnmatch_lines([
            "  world inferred: call Order/key-1/approve(False) once the run waits (*); "
            "call Order/key-1/approve(True) once the run waits (*)",
        ])
    else:
        result.stdout.fnmatch_lines(["*duplicate-effect*", "*the world: call "
                                     "Order/key-1/approve(true) once the run waits*"])


APPROVAL_WITH_TIMEOUT = APPROVAL.replace('''    if not await ctx.promise("approval").value():
        return "rejected"''', '''    match await sd.select(ok=ctx.promise("approval").value(),
                          late=ctx.sleep(timedelta(hours=1))):
        case ["ok", True]:
            pass
        case ["ok", False]:
            return "rejected"
        case _:
            return "expired"''').replace("import simdurable as sd", (
    "from datetime import timedelta\n\nimport simdurable as sd"))


@pytest.mark.parametrize(("key", "outcome"), [("None", "failed"), ("str(ctx.uuid())", "passed")])
def test_a_run_whose_timeout_beats_its_promise_is_driven_by_its_driver_too(
        pytester: pytest.Pytester, key: str, outcome: str) -> None:
    # Alone the run ends "expired" when its hour is up: without a driver the
    # charge behind the approval was never checked, and the unsafe one passed.
    result = run_approval(pytester, APPROVAL_WITH_TIMEOUT.replace("{key}", key), outcome)
    if outcome == "passed":
        result.stdout.fnmatch_lines([
            "  world inferred: call Order/key-1/approve(False) once the run waits (it completes "
            "promise 'approval' that Order/key-1/run waits on until its timeout); *",
        ])
    else:
        result.stdout.fnmatch_lines(["*duplicate-effect*"])


def test_handler_items_are_counted_as_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='externals = ["shopmod:bank"]\nservices = ["shopmod:services"]\n'
              'max_examples = 2'))
    result = pytester.runpytest("--simdurable", "-k", "pay_unsafe")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["collected 2 items / 1 deselected / 1 selected"])


COUNTERS = '''
import simdurable as sd

counter = sd.VirtualObject("Counter")
bump = sd.Service("Bump")
feed = sd.Service("Feed")


@counter.handler(kind="shared")
async def get(ctx: sd.ObjectSharedContext) -> int:
    return int(await ctx.get("n") or 0)


@counter.handler()
async def put(ctx: sd.ObjectContext, n: int) -> None:
    ctx.set("n", n)


@counter.handler()
async def add(ctx: sd.ObjectContext, d: int) -> int:
    n = int(await ctx.get("n") or 0) + d
    ctx.set("n", n)
    return n


@counter.handler()
async def log(ctx: sd.ObjectContext, line: str) -> None:
    ctx.set("log", (await ctx.get("log") or []) + [line])


@bump.handler()
async def {bump}(ctx: sd.Context, key: str) -> int:
    {body}


@feed.handler()
async def publish(ctx: sd.Context, key: str) -> None:
    # Two publishers' messages interleave on the key: nothing is lost.
    ctx.object_send(log, key, f"first {ctx.uuid()}")
    ctx.object_send(log, key, f"second {ctx.uuid()}")


services = [counter, bump, feed]
'''
RACY = "n = await ctx.object_call(get, key, None)\n    await ctx.object_call(put, key, n + 1)\n    return int(n) + 1"
ATOMIC = "return int(await ctx.object_call(add, key, 1))"


def test_a_service_that_sends_to_an_object_runs_twice_at_once_too() -> None:
    """Two producers' messages to a key may be handled interleaved: each
    message is an invocation of its own, so that alone is no violation, and
    the two at once explore more schedules (a publisher ran alone before)."""
    from simdurable._pytest._items import callers_wanted

    module: dict[str, object] = {}
    exec(COUNTERS.replace("{bump}", "atomic").replace("{body}", ATOMIC), module)
    services = module["services"]
    assert callers_wanted(services, "service", "Feed/publish", "a", 2) == 2
    assert callers_wanted(services, "service", "Feed/publish", "a", 1) == 1
    assert callers_wanted(services, "service", "Bump/atomic", "a", 2) == 2


@pytest.mark.parametrize(("body", "outcome"), [(RACY, "failed"), (ATOMIC, "passed")])
def test_a_service_that_reads_and_writes_an_object_through_calls_runs_twice_at_once(
        pytester: pytest.Pytester, body: str, outcome: str) -> None:
    pytester.makepyfile(countermod=COUNTERS.replace("{bump}", "racy").replace("{body}", body))
    pytester.makefile(".toml", pyproject=PYPROJECT.format(
        extra='services = ["countermod:services"]\nmax_examples = 5\n'
              'handlers = ["Bump/racy", "Feed/publish"]\n'
              '[tool.simdurable.inputs]\n"Bump/racy" = ["a"]\n"Feed/publish" = ["a"]'))
    result = pytester.runpytest("--simdurable")
    if outcome == "failed":
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["*not-serializable: 2 concurrent invocations left state "
                                     "{\"Counter/a\": {\"n\": 1}}*"])
    else:
        result.assert_outcomes(passed=2)
