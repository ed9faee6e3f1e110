"""``world.from_effect``: the world answers with what the app sent out.

A confirmation code drawn with ``ctx.uuid()`` and mailed is another string in
every run; a fixed value in the world is never it, so without a way to read
it back the path after the code was never checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import simdurable as sd
from simdurable import world

mailer = sd.FakeExternal("codes-mailer")
bank = sd.FakeExternal("codes-bank")
pay = sd.Workflow("CodePay")


def send_code(code: str) -> None:
    mailer.apply("send", {"to": "ada", "body": {"code": code}}, idempotency_key=code)


def charge(key: str | None) -> None:
    bank.apply("charge", {"amount": 5}, idempotency_key=key)


@pay.main()
async def run(ctx: sd.WorkflowContext, keyed: bool) -> str:
    code = str(ctx.uuid())
    await ctx.run_typed("send-code", send_code, code=code)
    if await ctx.promise("code").value() != code:
        raise sd.TerminalError("wrong code", 403)
    await ctx.run_typed("charge", charge, key=code if keyed else None)
    return "paid"


@pay.handler()
async def confirm(ctx: sd.WorkflowSharedContext, code: str) -> None:
    await ctx.promise("code").resolve(code)


READ = world.from_effect(mailer, "send", "body.code")


@pytest.mark.parametrize("event", [
    world.call("CodePay/p/confirm", READ),
    world.resolve_promise("code", READ),
    world.call("CodePay/p/confirm", READ, when="early"),
])
def test_the_mailed_code_reaches_the_path_after_it(event: world.WorldEvent) -> None:
    buggy = sd.check(services=[pay], invoke="CodePay/p/run", input=False,
                     externals=[mailer, bank], world=[event], max_examples=10)
    assert "duplicate-effect" in {v.kind for v in buggy.violations}
    assert buggy.reference.startswith('returned "paid"')
    fixed = sd.check(services=[pay], invoke="CodePay/p/run", input=True,
                     externals=[mailer, bank], world=[event], max_examples=10)
    assert fixed.ok, fixed


def test_a_fixed_answer_only_reaches_the_refusal() -> None:
    report = sd.check(services=[pay], invoke="CodePay/p/run", input=False,
                      externals=[mailer, bank], max_examples=10,
                      world=[world.call("CodePay/p/confirm", "1234")])
    assert report.ok and "wrong code" in report.reference


def test_the_json_form_reads_back_and_reproduces() -> None:
    ev = world.call("CodePay/p/confirm", READ)
    data = ev.as_dict()
    assert data == {"call": {"target": "CodePay/p/confirm", "from_effect": {
        "external": "codes-mailer", "op": "send", "field": "body.code"}}}
    assert world.from_dict(data) == ev
    assert eval(repr(ev), {"simdurable": sd}) == ev
    assert world.parse('{"resolve_awakeable": {"from_effect": {"external": "m"}}}').value \
        == world.FromEffect("m")
    assert ev.describe() == ("call CodePay/p/confirm(what codes-mailer.send was last given"
                             "['body.code']) once the run waits")


@pytest.mark.parametrize(("text", "says"), [
    ('{"call": {"target": "A/b", "input": 1, "from_effect": {"external": "m"}}}',
     "world event.call: give input or from_effect, not both"),
    ('{"resolve_promise": {"name": "c", "from_effect": {"op": "send"}}}',
     "world event.resolve_promise.from_effect: missing external"),
    ('{"call": {"target": "A/b", "from_effect": {"external": "m", "path": "x"}}}',
     "world event.call.from_effect: unknown path"),
    ('{"call": {"target": "A/b", "from_effect": {"external": "m", "field": 3}}}',
     "world event.call.from_effect.field: expected a string, got 3"),
    ('{"call": {"target": "A/b", "from_effect": "mailer"}}',
     "world event.call.from_effect: expected a mapping"),
    ('{"reject_promise": {"name": "c", "message": "no", "from_effect": {"external": "m"}}}',
     "unknown from_effect"),
])
def test_bad_json_names_the_field(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        world.parse(text, "world event")
    assert says in str(err.value)


def test_bad_python_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="external must be a FakeExternal or its name"):
        world.from_effect(3)
    with pytest.raises(TypeError, match="field must be a dotted path"):
        world.from_effect(mailer, "send", "")


@pytest.mark.parametrize(("read", "says"), [
    (world.from_effect("mailr", "send", "body.code"),
     "no fake external named 'mailr' is checked (externals: codes-bank, codes-mailer)"),
    (world.from_effect(mailer, "sms", "body.code"), "codes-mailer has no 'sms' effect yet"),
    (world.from_effect(mailer, "send", "body.pin"),
     "codes-mailer.send's payload has no 'body.pin' (payload: {\"to\": \"ada\""),
])
def test_a_value_that_cannot_be_read_is_named(read: world.FromEffect, says: str) -> None:
    with pytest.raises(world.WorldError) as err:
        sd.check(services=[pay], invoke="CodePay/p/run", input=True,
                 externals=[mailer, bank], world=[world.call("CodePay/p/confirm", read)],
                 max_examples=5)
    assert says in str(err.value)


SCENARIO = """\
services: tests.test_world_from_effect:pay
externals: [tests.test_world_from_effect:mailer, tests.test_world_from_effect:bank]
invoke:
  - {{name: p, target: CodePay/p/run, input: true, expect: {expect}}}
events:
  - at: 1m
    resolve_promise: {{workflow: CodePay, key: p, name: code, {value}}}
"""


def test_a_scenario_event_answers_with_the_mailed_code(tmp_path: Path) -> None:
    from tests.scenario.helpers import errors, run

    read = "from_effect: {external: codes-mailer, op: send, field: body.code}"
    ok = run(tmp_path, SCENARIO.format(expect="{result: paid}", value=read))
    assert ok.ok, ok.render()
    fixed = run(tmp_path, SCENARIO.format(
        expect="{error: {status: 403, message: wrong code}}", value="value: '1234'"))
    assert fixed.ok, fixed.render()
    both = errors(tmp_path, SCENARIO.format(expect="{result: paid}",
                                            value=read + ", value: x"))
    assert any("give value or from_effect, not both" in line for line in both), both
    typo = errors(tmp_path, SCENARIO.format(
        expect="{result: paid}", value="from_effect: {external: codes-mailer, fild: code}"))
    assert any("fild" in line for line in typo), typo
    missing = errors(tmp_path, SCENARIO.format(
        expect="{result: paid}", value="from_effect: {external: sms}"), run_it=True)
    assert any("events[0]: from_effect: no fake external named 'sms' is checked "
               "(externals: codes-bank, codes-mailer)" in line for line in missing), missing


# Two callers each mail their own code; bob's mail goes out last.
BOTH = [("CodePay/bob/run", True)]


@pytest.mark.parametrize("events", [
    [world.call("CodePay/ada/confirm", READ), world.call("CodePay/bob/confirm", READ)],
    [world.resolve_promise("code", READ, workflow="CodePay/ada"),
     world.resolve_promise("code", READ, workflow="CodePay/bob")],
])
def test_each_concurrent_caller_is_answered_with_its_own_code(
        events: list[world.WorldEvent]) -> None:
    # Read from any invocation, ada was answered with bob's code (the last mailed):
    # "wrong code" at once, and one at a time too, taken for not-serializable.
    report = sd.check(services=[pay], invoke="CodePay/ada/run", input=True,
                      externals=[mailer, bank], concurrent=BOTH, world=events,
                      max_examples=10)
    assert report.ok, report
    buggy = sd.check(services=[pay], invoke="CodePay/ada/run", input=False,
                     externals=[mailer, bank], concurrent=BOTH, world=events,
                     max_examples=10)
    assert "duplicate-effect" in {v.kind for v in buggy.violations}
    assert "not-serializable" not in {v.kind for v in buggy.violations}


def test_a_program_answers_each_workflow_from_its_own_mail() -> None:
    for ext in (mailer, bank):
        ext.reset()
    sim = sd.Simulation(services=[pay], seed=0, externals=[mailer, bank])
    handles = {k: sim.invoke(f"CodePay/{k}/run", True) for k in ("ada", "bob")}
    world.reach(sim, handles["ada"], world.call("CodePay/ada/confirm", READ))
    # The event answers the one whose mail went out first, not the last mailed.
    first = next(k for k, h in handles.items() if h.id == mailer.effects[0].invocation)
    assert len(mailer.effects) == 2
    ev = world.call(f"CodePay/{first}/confirm", READ)
    assert world.apply(sim, handles[first], ev) is None
    sim.run()
    assert handles[first].result() == "paid"
    assert bank.effects[0].idempotency_key == mailer.effects[0].payload["body"]["code"]


def test_a_reported_program_with_a_mailed_code_runs() -> None:
    buggy = sd.check(services=[pay], invoke="CodePay/p/run", input=False,
                     externals=[mailer, bank], world=[world.call("CodePay/p/confirm", READ)],
                     max_examples=10)
    program = next(v for v in buggy.violations if v.kind == "duplicate-effect").program
    assert "world.apply(sim, h, " in program and "FromEffect(" not in program
    for ext in (mailer, bank):
        ext.reset()
    exec(program, {})
    assert [e.op for e in bank.effects] == ["charge", "charge"]


def test_runs_compare_effects_given_with_and_without_a_key() -> None:
    # The same effect once with a key and once without used to end the
    # comparison of two runs with a TypeError (None < str while sorting).
    from simdurable._api.external import Effect
    from simdurable._check._properties import Outcome

    keyed = Effect("send", {"to": "ada"}, "k1", "r1")
    bare = Effect("send", {"to": "ada"}, None, "r2")
    ref = Outcome("completed", effects={"m": [keyed, bare]})
    other = Outcome("completed", effects={"m": [bare]})
    assert ref.differences(Outcome("completed", effects={"m": [bare, keyed]})) == []
    assert [line.split(":")[0] for line in ref.differences(other)] == ["m effects"]


@pytest.mark.parametrize("make", [
    lambda: world.call("CodePay/p/confirm", {"code": READ}),
    lambda: world.resolve_promise("code", [READ]),
    lambda: world.send("CodePay/p/confirm", {"body": {"codes": [1, READ]}}),
])
def test_a_read_inside_a_value_is_refused(make: object) -> None:
    # Inside a dict it was passed on unread: the handler got no code, and a
    # workflow reminding every 15 s until a 24 h deadline ran 5,760 steps a run.
    with pytest.raises(TypeError, match=r"holds a from_effect at \[") as err:
        make()  # type: ignore[operator]
    assert "it is read only as the whole value" in str(err.value)
