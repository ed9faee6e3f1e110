"""Running scenarios: each kind of expectation passes when met and fails, located, when not."""

from __future__ import annotations

from pathlib import Path

import pytest

from simdurable._scenario import ScenarioError

from .helpers import PAY, errors, run

CRASH = "faults:\n  - {kind: crash, step: charge, phase: effect-done}\n"


def failures(tmp_path: Path, text: str) -> list[str]:
    result = run(tmp_path, text)
    assert not result.ok
    return [p.render("s.yaml") for p in result.failures]


def test_result_effects_and_step_counts_under_a_crash(tmp_path: Path) -> None:
    result = run(tmp_path, """\
services: examples.payments:services
externals: [examples.payments:bank]
invoke:
  - target: Payments/pay
    input: {amount: 10}
    expect:
      result: {receipt: bank-1, amount: 10}
      status: completed
      steps: {executed: {charge: 2}, stored: {charge: 1}}
""" + CRASH + """\
expect:
  effects:
    bank: [{op: charge, payload: {amount: 10}}]
  steps: {executed: {charge: 2}}
  finished: true
  time: {at_least: 500ms, at_most: 1s}
""")
    assert result.ok, result.render()
    assert str(result.fired) == "crash(step=charge, phase=effect-done, attempt=1)"


def test_each_unmet_expectation_is_reported_at_its_line(tmp_path: Path) -> None:
    lines = failures(tmp_path, """\
services: examples.payments:services
externals: [examples.payments:bank]
invoke:
  - target: Payments/pay_unsafe
    input: {amount: 10}
    expect:
      result: {receipt: bank-1, amount: 10}
      steps: {executed: {charge: 1}}
""" + CRASH + """\
expect:
  effects: {bank: 1}
  time: {at_most: 100ms}
""")
    assert lines == [
        's.yaml:7:15: invoke[0].expect.result: got {"amount": 10, "receipt": "bank-2"}, '
        'expected {"amount": 10, "receipt": "bank-1"}; first difference at .receipt: '
        'got "bank-2", expected "bank-1"',
        "s.yaml:8:34: invoke[0].expect.steps.executed.charge: step 'charge' ran 2 time(s), "
        "expected 1",
        's.yaml:12:19: expect.effects.bank: bank saw 2 effect(s), expected 1: '
        'charge({"amount": 10}), charge({"amount": 10})',
        "s.yaml:13:19: expect.time.at_most: the run ended at t=0.500s, after 0.100s",
    ]


def test_terminal_errors_and_retries_exhausted(tmp_path: Path) -> None:
    text = """\
services: examples.flaky:services
externals: examples.flaky:externals
invoke:
  - target: Prices/fetch
    input: ACME
    expect:
      error: {status: 500, message_contains: "boom"}
faults:
  - {kind: fail, step: quote, times: 3, message: boom}
"""
    assert run(tmp_path, text).ok
    lines = failures(tmp_path, text.replace("times: 3", "times: 2"))
    assert lines == ["s.yaml:7:14: invoke[0].expect.error: expected a terminal error, "
                     "got the result 400"]
    lines = failures(tmp_path, text.replace("status: 500", "status: 409"))
    assert lines == ["s.yaml:7:23: invoke[0].expect.error.status: terminal error 500: "
                     "\"ConnectionError('boom')\", expected status 409"]


def test_state_of_objects(tmp_path: Path) -> None:
    text = """\
services: examples.counter:services
invoke:
  - {target: Counter/a/add, input: 2}
  - {target: Counter/a/add, input: 3}
faults:
  - {kind: crash, step: count, phase: after-store}
expect:
  state: {Counter/a: {count: 5}}
"""
    assert run(tmp_path, text).ok
    lines = failures(tmp_path, text.replace("count: 5", "count: 6"))
    assert lines == ['s.yaml:8:22: expect.state.Counter/a: state of Counter/a is {"count": 5}, '
                     'expected {"count": 6}; first difference at .count: got 5, expected 6']


def test_problems_must_be_expected_and_expected_problems_must_happen(tmp_path: Path) -> None:
    base = """\
services: examples.nondeterministic:services
externals: examples.nondeterministic:externals
invoke:
  - {target: Router/route, input: 5}
faults:
  - {kind: crash, step: fast-path, phase: effect-done}
"""
    lines = failures(tmp_path, base)
    assert len(lines) == 1 and lines[0].startswith("s.yaml:4:5: invoke[0]: nondeterminism: handler Router/route")
    assert "the journal holds run \"fast-path\"" in lines[0]
    assert run(tmp_path, base + "expect: {problems: [nondeterminism]}\n").ok
    lines = failures(tmp_path, base.replace("faults:\n  - {kind: crash, step: fast-path, "
                                            "phase: effect-done}\n", "")
                     + "expect: {problems: [nondeterminism]}\n")
    assert lines == ["s.yaml:5:20: expect.problems: expected a nondeterminism problem; "
                     "the run had none"]


def test_always_suspend_replays_at_every_wait(tmp_path: Path) -> None:
    text = """\
services: examples.reminders:services
externals: examples.reminders:externals
invoke:
  - {target: Reminders/remind, input: {to: x, days: 1}, expect: {result: reminded x}}
"""
    suspended = run(tmp_path, text + "always_suspend: true\n")
    assert suspended.ok
    assert any("always_suspend" in line for line in suspended.timeline)
    assert not any("always_suspend" in line for line in run(tmp_path, text).timeline)


def test_promises_resolved_at_a_virtual_time(tmp_path: Path) -> None:
    text = """\
services: examples.signup:services
externals: examples.signup:externals
invoke:
  - name: w
    target: Signup/ada/run
    input: ada@example.com
    expect: {result: accounts-1}
events:
  - at: 3h
    resolve_promise: {workflow: Signup, key: ada, name: email-link, value: s3cret}
expect:
  time: {at_least: 3h, at_most: 3h}
  state: {Signup/ada: {status: active}}
"""
    assert run(tmp_path, text).ok
    lines = failures(tmp_path, text.replace("value: s3cret", "value: wrong"))
    assert lines[0] == ("s.yaml:7:13: invoke[0].expect: expected the result \"accounts-1\", "
                        "got terminal error 403: 'wrong secret in the email link'") or \
        "wrong secret" in lines[0], lines


def test_unresolved_promise_means_unfinished(tmp_path: Path) -> None:
    lines = failures(tmp_path, """\
services: examples.signup:services
externals: examples.signup:externals
invoke:
  - {target: Signup/ada/run, input: ada@example.com}
expect: {finished: true}
""")
    assert lines[0].startswith("s.yaml:5:20: expect.finished: at t=0.000s, 1 invocation(s) "
                               "cannot progress")


def test_awakeables_and_cancel_events(tmp_path: Path) -> None:
    (tmp_path / "awk_handlers.py").write_text(
        "import simdurable as sd\n"
        "svc = sd.Service('Waiter')\n"
        "@svc.handler()\n"
        "async def wait(ctx: sd.Context) -> str:\n"
        "    _, fut = ctx.awakeable()\n"
        "    return 'got ' + str(await fut)\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        text = """\
services: awk_handlers:svc
invoke:
  - {name: w, target: Waiter/wait}
  - {name: v, target: Waiter/wait}
events:
  - at: 10s
    resolve_awakeable: {invocation: w, value: 42}
  - cancel: {invocation: v}
expect:
  time: {at_least: 10s}
"""
        result = run(tmp_path, text)
        assert result.ok, result.render()
        sc_handles = [line for line in result.timeline if "done" in line]
        assert any('-> "got 42"' in line for line in sc_handles), result.timeline
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("awk_handlers", None)


def test_scenario_mistakes_are_errors_with_suggestions(tmp_path: Path) -> None:
    lines = errors(tmp_path, PAY + "faults:\n  - {kind: crash, step: chrage}\n"
                   "expect:\n  effects: {bnak: 1}\n  steps: {executed: {chrge: 1}}\n",
                   run_it=True)
    text = "\n".join(lines)
    assert ":8:25: faults[0].step: no step or operation is named 'chrage' in this scenario's " \
           "runs; did you mean 'charge'? (names seen: charge)" in text
    assert ":10:13: expect.effects.bnak: no fake external is named 'bnak'; did you mean " \
           "'bank'?" in text
    assert ":11:22: expect.steps.executed.chrge: no step is named 'chrge'; did you mean " \
           "'charge'?" in text


def test_imports_that_fail_and_unknown_handlers(tmp_path: Path) -> None:
    lines = errors(tmp_path, PAY.replace("examples.payments:services", "examples.paymnts:services"),
                   run_it=True)
    assert lines == [f"{tmp_path / 'bad.yaml'}:1:11: services: 'examples.paymnts:services': "
                     "cannot import module 'examples.paymnts': No module named 'examples.paymnts'"]
    lines = errors(tmp_path, PAY.replace("Payments/pay", "Payments/pya"), run_it=True)
    assert "invoke[0].target: no handler Payments/pya" in lines[0] or \
        "invoke[0].target:" in lines[0], lines
    assert "did you mean 'Payments/pay'?" in lines[0]
    lines = errors(tmp_path, PAY.replace("examples.payments:bank", "examples.payments:charge"),
                   run_it=True)
    assert "is function, not a FakeExternal" in lines[0]


def test_the_same_seed_gives_the_same_timeline(tmp_path: Path) -> None:
    text = """\
services: examples.counter:services
seed: 3
invoke:
  - {target: Counter/a/add, input: 1}
  - {target: Counter/a/add, input: 2}
  - {target: Counter/b/add, input: 3}
faults:
  - {kind: restart, at: 1ms}
"""
    a, b = run(tmp_path, text), run(tmp_path, text)
    c = run(tmp_path, text.replace("seed: 3", "seed: 4"))
    assert a.timeline == b.timeline
    assert a.timeline != c.timeline


def test_explore_runs_check_with_its_expectation(tmp_path: Path) -> None:
    text = PAY.replace("Payments/pay", "Payments/pay_unsafe") + \
        "explore: {max_examples: 30, expect: duplicate-effect}\n"
    result = run(tmp_path, text)
    assert result.ok, result.render()
    result = run(tmp_path, text.replace("expect: duplicate-effect", "expect: ok"))
    assert not result.ok
    assert "duplicate-effect" in result.failures[0].message


def test_scenario_error_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        run(tmp_path, PAY + "faults:\n  - {kind: crash, step: x}\n  - {kind: fail, step: y}\n")
    assert len(info.value.problems) == 2


def test_rejections_sends_and_idempotency_keys(tmp_path: Path) -> None:
    result = run(tmp_path, """\
services: [examples.signup:services, examples.payments:services]
externals: [examples.signup:externals, examples.payments:bank]
invoke:
  - name: w
    target: Signup/bob/run
    input: bob@example.com
    expect: {error: {status: 410, message: link expired}}
  - {target: Payments/pay, input: {amount: 3}, idempotency_key: order-1}
  - {target: Payments/pay, input: {amount: 3}, idempotency_key: order-1, send: true}
  - {target: Payments/pay, input: {amount: 4}, delay: 2m}
events:
  - at: 1m
    reject_promise: {workflow: Signup, key: bob, name: email-link, message: link expired,
                     code: 410}
expect:
  effects: {bank: 2, accounts: {create: 1, activate: 0}}
  state: {Signup/bob: {status: waiting}}
  time: {at_least: 2m}
""")
    assert result.ok, result.render()


def test_events_that_cannot_happen_even_without_faults_are_scenario_errors(
        tmp_path: Path) -> None:
    lines = errors(tmp_path, """services: examples.signup:services
externals: examples.signup:externals
invoke:
  - {name: w, target: Signup/bob/run, input: bob@example.com}
events:
  - reject_promise: {workflow: Signup, key: bob, name: email-link, message: expired}
  - resolve_promise: {workflow: Signup, key: bob, name: email-link, value: late}
  - resolve_awakeable: {invocation: w, value: 1}
""", run_it=True)
    assert [line.split("bad.yaml")[1] for line in lines] == [
        ":7:5: events[1]: promise 'email-link' of Signup/bob was already completed",
        ":8:5: events[2]: invocation 'w' has no pending awakeable at t=0.000s (status: failed)",
    ]


HEADERS = """\
services: tests.compat.programs.sdk_ts_test_utils:test_utils
invoke:
  - target: TestUtilsService/echoHeaders
    headers: {x-tenant: t1, x-signature: abc}
    expect: {result: {x-tenant: t1, x-signature: abc}}
"""


def test_an_invocations_headers_reach_ctx_request(tmp_path: Path) -> None:
    pytest.importorskip("restate")
    result = run(tmp_path, HEADERS)
    assert result.ok, [p.render("s.yaml") for p in result.failures]
    wrong = run(tmp_path, HEADERS.replace("x-signature: abc}}", "x-signature: abd}}"))
    [problem] = wrong.failures
    assert 'first difference at ["x-signature"]: got "abc", expected "abd"' in problem.render("s")


def test_headers_are_text_and_not_explored_silently(tmp_path: Path) -> None:
    pytest.importorskip("restate")
    assert errors(tmp_path, HEADERS.replace("x-tenant: t1,", "x-tenant: 1,")) == [
        f"{tmp_path}/bad.yaml:4:25: invoke[0].headers.x-tenant: expected a string, got an "
        "integer 1"]
    result = run(tmp_path, HEADERS + "explore: {max_examples: 5}\n")
    [problem] = result.failures
    assert "explore: cannot explore TestUtilsService/echoHeaders with its headers" in (
        problem.render("s"))
