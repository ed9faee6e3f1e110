"""``check(world=...)``: promises, awakeables, calls and time from outside,
explored under faults and schedules."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import simdurable as sd
from examples import signup as app
from simdurable import world
from simdurable._cli import main

accounts = sd.FakeExternal("accounts-unsafe")
unsafe = sd.Workflow("UnsafeSignup")


def _activate(account: str) -> None:
    accounts.apply("activate", {"account": account})  # no idempotency key


@unsafe.main()
async def run(ctx: sd.WorkflowContext, email: str) -> str:
    secret = await ctx.promise("email-link").value()
    await ctx.run_typed("activate", _activate, account=f"{email}:{secret}")
    return "active"


waiter = sd.Service("Waiter")


@waiter.handler()
async def wait(ctx: sd.Context) -> str:
    _, promise = ctx.awakeable()
    return f"got {await promise}"


def check_signup(*events: sd.WorldEvent, max_examples: int = 10) -> sd.Report:
    return sd.check(services=app.services, invoke="Signup/ada/run", input="ada@example.com",
                    externals=app.externals, max_examples=max_examples, world=list(events))


def test_a_workflow_waiting_on_its_promise_is_stuck_without_the_world():
    report = check_signup(max_examples=0)
    assert report.kinds == ["stuck"]
    assert report.reference == ('did not finish: Signup/ada/run waits on #3 promise '
                                '"email-link"')
    # The report says what to write, in Python and on the command line.
    assert report.notes == [
        "the fault-free run waits on promise 'email-link' of Signup/ada, which nothing in a "
        "check resolves unless you say what the world does: world=[simdurable.world."
        "resolve_promise('email-link', <value>)], or --world '{\"resolve_promise\": "
        "{\"name\": \"email-link\", \"value\": ...}}'"]
    waits = sd.check(services=[waiter], invoke="Waiter/wait", max_examples=0)
    assert "world=[simdurable.world.resolve_awakeable(<value>)]" in waits.notes[0]
    assert not sd.check(services=[waiter], invoke="Waiter/wait", max_examples=0,
                        world=[world.resolve_awakeable(1)]).notes


shipping = sd.Workflow("Shipping")


@shipping.main()
async def deliver(ctx: sd.WorkflowContext) -> str:
    match await sd.select(shipped=ctx.promise("shipped").value(),
                          deadline=ctx.sleep(timedelta(days=3))):
        case ["shipped", tracking]:
            return str(tracking)
        case _:
            return "refunded"


def test_a_run_that_gave_up_on_a_promise_is_not_said_to_wait_on_it():
    report = sd.check(services=[shipping], invoke="Shipping/o1/deliver", max_examples=0)
    assert report.ok and report.reference.startswith('returned "refunded"')
    assert report.notes == [
        "the fault-free run stopped waiting (a timeout, say) and ended without promise "
        "'shipped' of Shipping/o1, which nothing in a check resolves unless you say what the "
        "world does: world=[simdurable.world.resolve_promise('shipped', <value>)], or "
        "--world '{\"resolve_promise\": {\"name\": \"shipped\", \"value\": ...}}'"]


def test_the_world_resolving_the_promise_lets_the_correct_workflow_pass():
    report = check_signup(world.resolve_promise("email-link", "s3cret"))
    assert report.ok, report.render()
    assert report.reference.startswith('returned "accounts-1"')
    assert report.world == ["resolve promise 'email-link' of Signup/ada with \"s3cret\" "
                            "once the run waits"]
    assert report.fault_points_exercised > 0 and report.runs > 10


def test_a_shared_handler_called_by_the_world_drives_it_too():
    report = check_signup(world.call("Signup/ada/click", "s3cret"))
    assert report.ok, report.render()
    assert report.reached == ["Signup/click", "Signup/run"]


def test_the_world_rejecting_the_promise_is_a_visible_ending():
    report = check_signup(world.reject_promise("email-link", "link expired", 410),
                          max_examples=0)
    assert report.ok, report.render()
    assert "failed with TerminalError" in report.reference and "410" in report.reference


def test_a_timed_event_happens_at_its_virtual_time():
    report = check_signup(world.resolve_promise("email-link", "s3cret",
                                                at=timedelta(hours=1)), max_examples=0)
    assert report.ok
    assert report.reference.endswith("at 3600.000s")
    later = check_signup(world.advance(timedelta(minutes=5)),
                         world.resolve_promise("email-link", "s3cret"), max_examples=0)
    assert later.reference.endswith("at 300.000s")


def test_the_unsafe_twin_is_found_under_faults_with_the_world_in_place():
    accounts.reset()
    report = sd.check(services=[unsafe], invoke="UnsafeSignup/ada/run", input="ada",
                      externals=[accounts], max_examples=0,
                      world=[world.resolve_promise("email-link", "s3cret")])
    assert report.kinds == ["duplicate-effect"]
    v = report.violations[0]
    assert "sim.resolve_promise('UnsafeSignup', 'ada', 'email-link', 's3cret')" in v.program
    assert "world=[simdurable.world.from_dict(" in v.python_line
    # the imports the program needs, and no other (no event waits for a time)
    assert "from simdurable import world\n" in v.program
    assert "timedelta" not in v.program
    again = sd.replay(v.fault_plan, v.seed, services=[unsafe], invoke="UnsafeSignup/ada/run",
                      input="ada", externals=[accounts],
                      world=[world.resolve_promise("email-link", "s3cret")])
    assert again.kinds == ["duplicate-effect"]
    namespace: dict[str, object] = {}
    exec(v.program.replace("import tests.check.test_world\n", "")
         .replace("tests.check.test_world.", ""), globals() | namespace)



def test_a_timed_events_program_imports_timedelta_and_runs_as_printed():
    accounts.reset()
    timed = [world.resolve_promise("email-link", "s3cret", at=timedelta(hours=1))]
    report = sd.check(services=[unsafe], invoke="UnsafeSignup/ada/run", input="ada",
                      externals=[accounts], max_examples=0, world=timed)
    v = report.violations[0]
    assert "from datetime import timedelta\n" in v.program
    assert "from simdurable import world" not in v.program  # nothing of it is used
    accounts.reset()
    exec(v.program.replace("import tests.check.test_world\n", "")
         .replace("tests.check.test_world.", ""), dict(globals()))

def test_an_awakeable_resolved_by_the_world():
    report = sd.check(services=[waiter], invoke="Waiter/wait", max_examples=5,
                      world=[world.resolve_awakeable(7)])
    assert report.ok, report.render()
    assert report.reference.startswith('returned "got 7"')
    rejected = sd.check(services=[waiter], invoke="Waiter/wait", max_examples=0,
                        world=[world.reject_awakeable("no", 400)])
    assert rejected.ok and "failed with TerminalError" in rejected.reference


def test_events_that_name_nothing_the_run_created_are_errors():
    with pytest.raises(sd.WorldError, match=r"names a promise no run created \(promises "
                                            r"used: Signup/ada:email-link\)"):
        check_signup(world.resolve_promise("email-lnk", "s3cret"))
    with pytest.raises(sd.WorldError, match="no invocation waits on an awakeable"):
        check_signup(world.resolve_awakeable(1))
    with pytest.raises(ValueError, match='is not a workflow, so say whose promise it is'):
        sd.check(services=[waiter], invoke="Waiter/wait", world=[world.resolve_promise("x")])
    with pytest.raises(TypeError, match="world must be a list"):
        sd.check(services=[waiter], invoke="Waiter/wait",
                 world=world.resolve_awakeable(1))  # type: ignore[arg-type]


def test_the_json_form_round_trips_and_names_the_wrong_field():
    events = [world.resolve_promise("p", {"a": 1}, workflow="Signup/ada", at=timedelta(seconds=2)),
              world.reject_promise("p", "no", 409), world.resolve_awakeable([1]),
              world.reject_awakeable("x"), world.call("A/b", 1), world.send("A/k/c"),
              world.advance(timedelta(hours=1), at=timedelta(minutes=1)), world.cancel(),
              world.cancel(when="late")]
    for ev in events:
        assert world.from_dict(json.loads(json.dumps(ev.as_dict()))) == ev
    with pytest.raises(ValueError, match=r"world\[0\].resolve_promise: missing name"):
        world.from_dict({"resolve_promise": {"value": 1}}, "world[0]")
    with pytest.raises(ValueError, match=r"--world.at: '5 parsecs' is not a duration"):
        world.parse('{"resolve_awakeable": {}, "at": "5 parsecs"}')
    with pytest.raises(ValueError, match="give both workflow and key"):
        world.from_dict({"resolve_promise": {"name": "p", "workflow": "W"}})


def test_the_cli_takes_the_world_and_its_replay_line_keeps_it(capsys):
    ok = main(["check", "examples.signup:run", "--key", "ada", "--input", '"a@b"',
               "--max-examples", "3", "--world",
               '{"call": {"target": "Signup/ada/click", "input": "s3cret"}}'])
    out = capsys.readouterr().out
    assert ok == 0, out
    assert "the world: call Signup/ada/click(\"s3cret\") once the run waits" in out
    assert main(["check", "examples.signup:run", "--key", "ada", "--input", '"a@b"',
                 "--world", '{"resolve": {}}']) == 2
    assert "--world #1: an event does exactly one of" in capsys.readouterr().err
    status = main(["check", "tests.check.test_world:run", "--key", "ada", "--input", '"a"',
                   "--max-examples", "0", "--externals", "tests.check.test_world:accounts",
                   "--world", '{"resolve_promise": {"name": "email-link", "value": "x"}}'])
    out = capsys.readouterr().out
    assert status == 1
    line = next(x.strip() for x in out.splitlines()
                if x.strip().startswith("simdurable check tests.check.test_world:run"))
    assert "--world '{\"resolve_promise\"" in line


accounts = sd.FakeExternal("accounts")
onboarding = sd.Workflow("Onboarding")


def _open(user: str) -> str:
    return accounts.apply("open", {"user": user}, idempotency_key="open-" + user)["id"]


def _close(user: str) -> None:
    accounts.apply("close", {"user": user}, idempotency_key="close-" + user)


@onboarding.main()
async def onboard(ctx: sd.WorkflowContext, user: str) -> str:
    acct = await ctx.run_typed("open", _open, user=user)
    try:
        await ctx.promise("verdict").value()
    except sd.TerminalError:
        await ctx.run_typed("close", _close, user=user)  # the compensation
        raise
    return acct


@onboarding.main()
async def onboard_leaky(ctx: sd.WorkflowContext, user: str) -> str:
    acct = await ctx.run_typed("open", _open, user=user)
    await ctx.promise("verdict").value()  # a rejection leaves the account open
    return acct


def _closed_when_rejected(outcome: sd.Outcome) -> None:
    ops = [e.op for e in outcome.effects.get("accounts", [])]
    if outcome.error is not None:
        assert ops.count("close") == ops.count("open"), ops


@pytest.mark.parametrize(("run", "ok"), [("onboard", True), ("onboard_leaky", False)])
def test_a_compensation_after_a_rejected_promise_is_not_failed_for_good_by_default(
        run: str, ok: bool):
    # The rejection is the run's failure; the step it runs next is its
    # compensation, which a terminal failure of its own would defeat in any app.
    report = sd.check(services=[onboarding], invoke=f"Onboarding/ada/{run}", input="ada",
                      externals=[accounts], invariant=_closed_when_rejected,
                      world=[world.reject_promise("verdict", "id expired", 403)],
                      max_examples=20, hash_seeds=())
    assert report.ok is ok, report.render()
    if not ok:
        assert report.kinds == ["invariant"]
