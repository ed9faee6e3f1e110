"""A scenario never passes by testing nothing: faults that never fire, events
naming promises no run created, invocations left unfinished, and an `explore:`
that dropped the scenario's own events are each reported."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import PAY, errors, run


def failures(tmp_path: Path, text: str) -> list[str]:
    result = run(tmp_path, text)
    assert not result.ok
    return [p.render("s.yaml") for p in result.failures]


def test_a_fault_that_never_fires_fails_the_scenario(tmp_path: Path) -> None:
    # `charge` succeeds on attempt 1, so there is no attempt 3 to crash.
    late = PAY + "faults:\n  - {kind: crash, step: charge, phase: effect-done, attempt: 3}\n"
    lines = failures(tmp_path, late)
    assert lines == [
        "s.yaml:8:5: faults[0]: the fault crash(step=charge, phase=effect-done, attempt=3) "
        "never fired (faults that fired: none); mark it `optional: true` if it may not fire"
    ]
    # The same fault on the attempt that happens fires, and the scenario passes.
    assert run(tmp_path, late.replace("attempt: 3", "attempt: 1")).ok


def test_an_optional_fault_may_stay_unfired(tmp_path: Path) -> None:
    text = PAY + ("faults:\n  - {kind: crash, step: charge, phase: effect-done, attempt: 3,"
                  " optional: true}\n  - {kind: crash, step: charge, phase: effect-done}\n")
    result = run(tmp_path, text)
    assert result.ok, result.render()
    assert str(result.fired) == "crash(step=charge, phase=effect-done, attempt=1)"


def test_a_plan_string_fault_that_never_fires_says_how_to_mark_it(tmp_path: Path) -> None:
    lines = failures(tmp_path, PAY + 'faults: "fail(step=charge, attempt=2)"\n')
    assert len(lines) == 1
    assert lines[0].startswith("s.yaml:7:9: faults: the fault fail(step=charge, attempt=2) "
                               "never fired"), lines
    assert "write the faults as a list to mark one `optional: true`" in lines[0]


SIGNUP = """\
services: examples.signup:services
externals: examples.signup:externals
invoke:
  - {name: w, target: Signup/ada/run, input: ada@example.com, expect: {result: accounts-1}}
events:
  - resolve_promise: {workflow: Signup, key: ada, name: email-link, value: s3cret}
"""


def test_an_event_naming_a_promise_no_run_created_is_an_error(tmp_path: Path) -> None:
    assert run(tmp_path, SIGNUP).ok
    lines = errors(tmp_path, SIGNUP.replace("name: email-link", "name: emial-link"),
                   run_it=True)
    assert [line.split("bad.yaml:")[-1] for line in lines] == [
        "6:57: events[0].resolve_promise.name: no run created the promise "
        "'emial-link' of Signup/ada; did you mean 'email-link'? (its promises: email-link)"
    ], lines
    # Wrong key: that workflow never ran, so none of its promises exist.
    lines = errors(tmp_path, SIGNUP.replace("key: ada", "key: bob"), run_it=True)
    assert [line.split("bad.yaml:")[-1] for line in lines] == [
        "6:22: events[0].resolve_promise: no run of Signup/bob used a promise "
        "(workflows with promises: Signup/ada)"
    ], lines


def test_unfinished_invocations_fail_unless_expected(tmp_path: Path) -> None:
    waits = SIGNUP.split("events:")[0]
    lines = failures(tmp_path, waits)
    assert len(lines) == 2, lines  # why it never finished, and the result it never got
    assert lines[0].startswith("s.yaml:4:5: invoke[0]: Signup/ada/run (inv_"), lines
    assert 'did not finish: waits on #3 promise "email-link" at t=0.000s; say `finished: ' \
        'false` under `expect`' in lines[0], lines
    # Said in either form, an unfinished invocation is what the scenario wants.
    plain = waits.replace(", expect: {result: accounts-1}", "")
    assert not run(tmp_path, plain).ok
    assert run(tmp_path, plain + "expect: {finished: false}\n").ok
    assert run(tmp_path, plain.replace("input: ada@example.com",
                                       "input: ada@example.com, expect: {status: waiting}")).ok


@pytest.fixture
def wf_module(tmp_path: Path) -> Iterator[str]:
    """A workflow that charges after its promise: with and without a key."""
    (tmp_path / "wf_charge.py").write_text(
        "import simdurable as sd\n"
        "bank = sd.FakeExternal('bank')\n"
        "good = sd.Workflow('Good')\n"
        "bad = sd.Workflow('Bad')\n"
        "def charge(amount: int, key: str | None) -> str:\n"
        "    return str(bank.apply('charge', {'amount': amount}, idempotency_key=key)['id'])\n"
        "@good.main()\n"
        "async def run(ctx: sd.WorkflowContext, amount: int) -> str:\n"
        "    ok = await ctx.promise('approved').value()\n"
        "    key = str(ctx.uuid())\n"
        "    return await ctx.run_typed('charge', charge, amount=amount, key=key) if ok else 'no'\n"
        "@bad.main()\n"
        "async def run_bad(ctx: sd.WorkflowContext, amount: int) -> str:\n"
        "    ok = await ctx.promise('approved').value()\n"
        "    return await ctx.run_typed('charge', charge, amount=amount, key=None) if ok else 'no'\n"
        "services = [good, bad]\n"
        "externals = [bank]\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield "wf_charge"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("wf_charge", None)


def _wf(name: str, handler: str) -> str:
    return f"""\
services: wf_charge:services
externals: wf_charge:externals
invoke:
  - {{name: w, target: {name}/o1/{handler}, input: 10}}
events:
  - {{at: 1h, resolve_promise: {{workflow: {name}, key: o1, name: approved, value: true}}}}
expect: {{effects: {{bank: 1}}}}
explore: {{max_examples: 5}}
"""


def test_explore_uses_the_scenarios_events(tmp_path: Path, wf_module: str) -> None:
    good = run(tmp_path, _wf("Good", "run"))
    assert good.ok, good.render()
    assert good.explored == ["Good/o1/run: ok"]  # not `stuck`: the promise is resolved
    bad = run(tmp_path, _wf("Bad", "run_bad"))
    assert not bad.ok
    assert bad.explored == ["Bad/o1/run_bad: duplicate-effect"], bad.explored
    # Same seed, same report.
    again = run(tmp_path, _wf("Bad", "run_bad"))
    assert again.render() == bad.render()


@pytest.fixture
def hold_module(tmp_path: Path) -> Iterator[str]:
    """Charge, wait for a confirmation, refund when cancelled: with and without a key."""
    (tmp_path / "hold_charge.py").write_text(
        "import simdurable as sd\n"
        "bank = sd.FakeExternal('bank')\n"
        "good = sd.Service('GoodHold')\n"
        "bad = sd.Service('BadHold')\n"
        "def pay(op: str, amount: int, key: str | None) -> str:\n"
        "    return str(bank.apply(op, {'amount': amount}, idempotency_key=key)['id'])\n"
        "async def hold(ctx, amount: int, keyed: bool) -> str:\n"
        "    key = str(ctx.uuid()) if keyed else None\n"
        "    await ctx.run_typed('charge', pay, op='charge', amount=amount, key=key)\n"
        "    _, confirmed = ctx.awakeable()\n"
        "    try:\n"
        "        return await confirmed\n"
        "    except sd.TerminalError:\n"
        "        back = str(ctx.uuid()) if keyed else None\n"
        "        await ctx.run_typed('refund', pay, op='refund', amount=amount, key=back)\n"
        "        raise\n"
        "@good.handler()\n"
        "async def run(ctx: sd.Context, amount: int) -> str:\n"
        "    return await hold(ctx, amount, True)\n"
        "@bad.handler()\n"
        "async def run_bad(ctx: sd.Context, amount: int) -> str:\n"
        "    return await hold(ctx, amount, False)\n"
        "services = [good, bad]\n"
        "externals = [bank]\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield "hold_charge"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("hold_charge", None)


def _hold(target: str) -> str:
    return f"""\
services: hold_charge:services
externals: hold_charge:externals
invoke:
  - {{name: h, target: {target}, input: 10, expect: {{error: {{status: 409}}}}}}
events:
  - {{at: 1m, cancel: {{invocation: h}}}}
expect: {{effects: {{bank: 2}}}}
explore: {{max_examples: 5}}
"""


def test_explore_carries_the_scenarios_cancellation(tmp_path: Path, hold_module: str) -> None:
    # Without the cancellation the explored handler would wait for ever (`stuck`),
    # and its refund, the code a cancellation runs, would never be explored.
    good = run(tmp_path, _hold("GoodHold/run"))
    assert good.ok, good.render()
    assert good.explored == ["GoodHold/run: ok"]
    bad = run(tmp_path, _hold("BadHold/run_bad"))
    assert not bad.ok
    assert bad.explored == ["BadHold/run_bad: duplicate-effect"], bad.explored
    assert "cancel the checked invocation once the run waits" in bad.render()
