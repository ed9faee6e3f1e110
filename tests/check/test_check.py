"""``check``: the phases, the report, and the reproducers it prints."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

import simdurable as restate
import simdurable as sd
from examples import shop
from simdurable._check._properties import RunFacts, check_exactly_once

ORDER = {"item": "book", "amount": 10}


def check_shop(handler, **kw):
    kw.setdefault("max_examples", 20)
    return sd.check(services=shop.services, invoke=f"Shop/{handler}", input=ORDER,
                    externals=shop.externals, **kw)


def test_a_sound_handler_passes_and_says_what_was_explored():
    report = check_shop("checkout")
    assert report.ok and report.violations == []
    text = report.render()
    assert "Shop/checkout" in text and "no violations" in text
    # Every crash point of the reference run was tried, each alone.
    assert report.single_faults >= 3 * 4
    assert report.fault_points_exercised == report.fault_points
    assert report.examples >= 20
    # The exactly-once self-check saw closures re-run, each explained by a fault.
    assert report.reruns_explained > 0 and report.closure_runs > report.reruns_explained
    assert report.step_runs["charge"] >= 2
    report.raise_if_failed()


def test_the_self_check_line_names_both_causes_of_a_re_run():
    """A step also runs again when it raised and its retry policy retried it, with
    no fault injected: the summary does not credit every re-run to a fault."""
    report = sd.Report(target="S/h", input=None, seed=0, closure_runs=3, reruns_explained=1,
                       step_runs={"charge": 2})
    assert ("3 step closure runs, 1 re-runs, each after an injected fault or a retried "
            "failure" in report.summary())
    quiet = sd.Report(target="S/h", input=None, seed=0, closure_runs=2, step_runs={"a": 1})
    assert "2 step closure runs, no re-runs" in quiet.summary()


def test_a_double_charge_is_shrunk_to_one_crash_between_charge_and_store():
    report = check_shop("checkout_unsafe")
    assert report.kinds == ["duplicate-effect"]
    v = report.violations[0]
    assert str(v.fault_plan) == "crash(step=charge, index=2, phase=effect-done, attempt=1)"
    assert sd.FaultPlan.parse(str(v.fault_plan)) == v.fault_plan
    assert (v.seed, v.step, v.journal_index, v.handler) == (0, "charge", 2, "Shop/checkout_unsafe")
    assert v.source is not None and v.source.startswith("shop.py:")
    assert v.step_runs == {"charge": 2}
    assert v.schedule is None


def test_the_report_is_a_program_a_timeline_and_lines_to_paste_back():
    report = check_shop("checkout_unsafe")
    with pytest.raises(AssertionError) as info:
        report.raise_if_failed()
    text = str(info.value)
    for expected in [
        "duplicate-effect: bank.charge",
        "where: handler Shop/checkout_unsafe, step \"charge\" (journal #2, shop.py:",
        "minimal fault plan: crash(step=charge, index=2, phase=effect-done, attempt=1)",
        "sim = sd.Simulation(services=[examples.shop.shop, examples.shop.inventory], seed=0",
        "sim.crash(after='charge', index=2, point='effect-done', attempt=1)",
        "h = sim.invoke('Shop/checkout_unsafe', {'item': 'book', 'amount': 10})",
        "timeline of the failing run:",
        "crash at effect-done of run \"charge\" #2",
        "simdurable.replay('crash(step=charge, index=2, phase=effect-done, attempt=1)', seed=0",
        "--simdurable --simdurable-seed=0 --simdurable-replay='crash(step=charge, index=2, "
        "phase=effect-done, attempt=1)'",
        '@simdurable.reproduce("0.1.0", "',
    ]:
        assert expected in text, expected


def test_the_printed_program_replays_the_failure():
    v = check_shop("checkout_unsafe").violations[0]
    shop.bank.reset()
    namespace: dict[str, object] = {}
    exec(v.program, namespace)
    assert len(shop.bank.ops("charge")) == 2


def test_replay_runs_exactly_the_reported_case():
    v = check_shop("checkout_unsafe").violations[0]
    again = sd.replay(str(v.fault_plan), seed=v.seed, services=shop.services,
                      invoke="Shop/checkout_unsafe", input=ORDER, externals=shop.externals)
    assert again.kinds == ["duplicate-effect"] and again.replayed
    assert again.violations[0].timeline == v.timeline
    by_blob = sd.replay(blob=v.blob, services=shop.services, invoke="Shop/checkout_unsafe",
                        input=ORDER, externals=shop.externals)
    assert by_blob.kinds == ["duplicate-effect"]
    fixed = sd.replay(str(v.fault_plan), seed=v.seed, services=shop.services,
                      invoke="Shop/checkout", input=ORDER, externals=shop.externals)
    assert fixed.ok


def test_check_under_replaying_runs_one_case_and_says_when_it_does_not_reproduce():
    plan = "crash(step=charge, phase=effect-done, attempt=1)"
    with sd.replaying(plan, seed=0):
        report = check_shop("checkout_unsafe")
        assert report.replayed and report.kinds == ["duplicate-effect"]
        with pytest.raises(sd.DidNotReproduce, match="ran without a violation"):
            check_shop("checkout")
    with pytest.raises(sd.DidNotReproduce):
        check_shop("checkout", replay=plan)


def test_a_replayed_plan_whose_fault_never_fires_says_so():
    # The fixed handler and a fault that did fire: "fixed", nothing else said.
    fired = "crash(step=charge, phase=effect-done, attempt=1)"
    with pytest.raises(sd.DidNotReproduce) as err:
        check_shop("checkout", replay=fired)
    assert "never fired" not in str(err.value)
    # A fault at an attempt the handler never reaches replays nothing.
    late = "crash(step=charge, phase=effect-done, attempt=3)"
    with pytest.raises(sd.DidNotReproduce, match=r"the replayed plan's fault\(s\) "
                       r"crash\(step=charge, phase=effect-done, attempt=3\) never fired"):
        check_shop("checkout_unsafe", replay=late)
    both = sd.replay(f"{fired}; crash(step=charge, phase=before, attempt=5)",
                     services=shop.services, invoke="Shop/checkout_unsafe", input=ORDER,
                     externals=shop.externals)
    assert both.kinds == ["duplicate-effect"]
    assert any("crash(step=charge, phase=before, attempt=5) never fired" in n
               for n in both.notes), both.notes
    assert not any("no step or operation" in n for n in both.notes), both.notes


def test_a_replayed_fault_naming_no_step_of_the_runs_says_which_there_are():
    with pytest.raises(sd.DidNotReproduce, match=r"no step or operation is named 'chrage' in "
                       r"the runs; did you mean 'charge'\? \(names seen: "):
        check_shop("checkout_unsafe", replay="crash(step=chrage, phase=effect-done)")


def test_reproduce_decorator_replays_the_blob_and_refuses_another_version():
    v = check_shop("checkout_unsafe").violations[0]

    @sd.reproduce("0.1.0", v.blob)
    def test_it():
        return check_shop("checkout_unsafe")

    assert test_it().kinds == ["duplicate-effect"]

    @sd.reproduce("0.0.1", v.blob)
    def test_old():
        return check_shop("checkout_unsafe")

    with pytest.raises(sd.DidNotReproduce, match="different version of simdurable"):
        test_old()


def test_reproduce_on_a_test_that_never_calls_check_fails():
    v = check_shop("checkout_unsafe").violations[0]

    @sd.reproduce("0.1.0", v.blob)
    def test_forgets_check():
        return "passed"

    with pytest.raises(sd.DidNotReproduce, match="never called simdurable.check"):
        test_forgets_check()


def test_the_same_check_twice_gives_the_same_report():
    a = check_shop("checkout_unsafe", max_examples=30)
    b = check_shop("checkout_unsafe", max_examples=30)
    assert a.render() == b.render()
    assert a.runs == b.runs


def test_hypothesis_alone_finds_the_double_charge_and_shrinks_it_to_one_fault():
    report = check_shop("checkout_unsafe", single_faults=False, max_examples=100)
    assert report.single_faults == 0
    assert "duplicate-effect" in report.kinds
    v = next(v for v in report.violations if v.kind == "duplicate-effect")
    assert "Hypothesis" in v.found_by
    assert len(v.fault_plan) == 1
    # The shrunk example replays from its plan and seed alone.
    again = sd.replay(str(v.fault_plan), seed=v.seed, services=shop.services,
                      invoke="Shop/checkout_unsafe", input=ORDER, externals=shop.externals)
    assert "duplicate-effect" in again.kinds


svc = restate.Service("Misc")
calls = {"n": 0}


@svc.handler()
async def waits_forever(ctx: restate.Context) -> str:
    _, fut = ctx.awakeable()
    return await fut


@svc.handler()
async def waits_if_refused(ctx: restate.Context) -> str:
    try:
        return await ctx.run_typed("ask", lambda: "yes", restate.RunOptions(max_attempts=1))
    except restate.TerminalError:
        _, fut = ctx.awakeable()  # nothing will ever resolve it
        return await fut


@svc.handler()
async def spins(ctx: restate.Context) -> None:
    while True:
        await ctx.sleep(timedelta(seconds=1))


@svc.handler()
async def leaks(ctx: restate.Context) -> str:
    calls["n"] += 1                          # state kept between runs, outside the simulation
    return await ctx.run_typed(f"step-{calls['n'] % 2}", lambda: "ok")


@svc.handler()
async def asserts(ctx: restate.Context, n: int) -> int:
    x = await ctx.run_typed("double", lambda: n * 2)
    sd.always(x % 2 == 0, "doubling gives an even number")
    sd.always(x < 10, "small")
    return x


def test_an_invocation_that_never_finishes_is_stuck_with_what_it_waits_on():
    report = sd.check(services=[svc], invoke="Misc/waits_forever", max_examples=0)
    assert report.kinds == ["stuck"]
    v = report.violations[0]
    assert v.message.startswith("1 invocation(s) never finished and no fault was injected: "
                                "Misc/waits_forever ")
    assert "awakeable" in v.message
    faulty = sd.check(services=[svc], invoke="Misc/waits_if_refused", hash_seeds=(),
                      max_examples=0)
    v = faulty.violations[0]
    assert v.fault_plan is not None and v.fault_plan.faults
    assert v.message.startswith(
        "1 invocation(s) never finished after the faults stopped: Misc/waits_if_refused ")


def test_an_unbounded_loop_is_stuck():
    report = sd.check(services=[svc], invoke="Misc/spins", max_examples=0, single_faults=False,
                      max_steps=500)
    assert report.kinds == ["stuck"]
    assert "no end in sight" in report.violations[0].message


def test_state_leaking_between_runs_fails_the_harness_self_check():
    report = sd.check(services=[svc], invoke="Misc/leaks", max_examples=0, single_faults=False)
    assert report.kinds == ["nondeterminism"]
    v = report.violations[0]
    assert "twice" in v.message and "first difference at event" in (v.details or "")
    assert "step-0" in v.details and "step-1" in v.details


def test_always_assertions_are_invariants_and_report_their_line():
    report = sd.check(services=[svc], invoke="Misc/asserts", input=7, max_examples=0)
    assert report.kinds == ["invariant"]
    v = report.violations[0]
    assert v.message == "always('small') was false"
    assert v.source is not None and v.source.startswith("test_check.py:")
    assert sd.check(services=[svc], invoke="Misc/asserts", input=2, max_examples=0).ok
    # Outside check they only return the condition.
    assert sd.always(False, "x") is False and sd.sometimes(True, "y") is True


def test_user_invariant_receives_the_outcome():
    seen = []

    def invariant(outcome: sd.Outcome) -> None:
        seen.append(outcome)
        assert len(outcome.effects["bank"]) <= 1, "charged more than once"

    report = check_shop("checkout", invariant=invariant, max_examples=5)
    assert report.ok, report.render()
    first = seen[0]
    assert first.status == "completed" and first.result["receipt"] == "bank-1"
    assert first.state == {"Inventory/book": {"stock": 9}}
    assert first.sends == ['Shop/checkout call Inventory/book/reserve 1']
    assert first.step_runs == {"charge": 1, "ship": 1}


def test_the_exactly_once_self_check_catches_an_unexplained_re_run():
    sim = sd.Simulation(shop.services, seed=0, externals=shop.externals)
    h = sim.invoke("Shop/checkout", ORDER)
    sim.run()
    log = sim.engine.step_run_log
    log.append(log[0])                        # a re-run no crash or failure explains
    facts = RunFacts(sim, h, None, None, None, [], 0)  # type: ignore[arg-type]
    facts.outcome = type("O", (), {"faults": "no faults"})()  # type: ignore[assignment]
    with pytest.raises(sd.InternalError, match="exactly-once self-check failed"):
        check_exactly_once(facts)


def test_a_failing_run_exports_as_chrome_trace_json(tmp_path):
    v = check_shop("checkout_unsafe").violations[0]
    data = v.chrome_trace()
    json.dumps(data)
    names = [e["name"] for e in data["traceEvents"]]
    assert any(n.startswith("crash:") for n in names)
    slices = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert any("attempt 1 of Shop/checkout_unsafe" in e["name"] for e in slices)
    path = sd.write_chrome_trace(v.events, str(tmp_path / "run.json"))
    assert json.load(open(path))["traceEvents"]


def test_coverage_shows_lines_that_ran_only_under_faults():
    from tests.corpus import correct

    report = sd.check(services=[correct.trips], invoke="Trips/book_trip", input="t1",
                      externals=[correct.travel], max_examples=0, coverage=True)
    assert report.ok
    lines = {h.handler: h for h in report.coverage.handlers}["Trips/book_trip"]
    import inspect

    src, first = inspect.getsourcelines(correct.book_trip)
    compensation = next(first + i for i, line in enumerate(src) if "cancel-flight" in line)
    assert compensation in lines.only_under_faults
    assert "ran only under faults: correct.py:" in report.render()
    # The decorated ``async def`` line ran at import, not in a run: it is not listed.
    def_line = next(first + i for i, line in enumerate(src) if "async def" in line)
    assert def_line not in lines.never_ran + lines.only_under_faults, lines


def test_bad_arguments_get_clear_errors():
    with pytest.raises(sd.InvalidTargetError, match="check\\(invoke='Shop/nope'\\)"):
        sd.check(services=shop.services, invoke="Shop/nope")
    with pytest.raises(TypeError, match="services must be a list"):
        sd.check(services="Shop", invoke="Shop/checkout")
    with pytest.raises(ValueError, match="max_examples"):
        sd.check(services=shop.services, invoke="Shop/checkout", max_examples=-1)
    with pytest.raises(sd.FaultPlanError):
        sd.check(services=shop.services, invoke="Shop/checkout", replay="boom(")


def test_nondeterminism_shows_the_journal_diff_at_the_first_difference():
    from examples import nondeterministic

    report = sd.check(services=nondeterministic.services, invoke="Router/route", input=10,
                      externals=nondeterministic.externals, max_examples=0)
    assert report.kinds == ["nondeterminism"]
    v = report.violations[0]
    assert str(v.fault_plan) == "crash(step=fast-path, index=0, phase=effect-done, attempt=1)"
    assert (v.journal_index, v.step) == (0, "slow-path")
    assert v.source is not None and v.source.startswith("nondeterministic.py:")
    assert v.journal_diff is not None
    assert '- #0   run "fast-path"      (in the journal)' in v.journal_diff
    assert '+ #0   run "slow-path"      (issued on replay)' in v.journal_diff
    assert "journal diff (first difference):" in report.render()


@svc.handler()
async def fresh_id(ctx: restate.Context) -> str:
    import uuid

    return await ctx.run_typed("new-id", lambda: str(uuid.uuid4()))


def test_a_step_returning_fresh_values_is_not_a_violation_but_a_note():
    report = sd.check(services=[svc], invoke="Misc/fresh_id", max_examples=10)
    assert report.ok, report.render()
    assert any('step "new-id"' in n and "returned different values" in n for n in report.notes)


def test_hash_seed_runs_need_importable_services_and_say_so():
    local = restate.Service("Local")

    @local.handler()
    async def go(ctx: restate.Context) -> str:
        return "ok"

    report = sd.check(services=[local], invoke="Local/go", max_examples=0, hash_seeds=(1, 2))
    assert report.ok
    assert report.notes == ["skipped the fresh-process runs: the services must be importable "
                            "module globals"]


tick = restate.Service("Tick")
tick_calls = {"n": 0}


@tick.handler()
async def tick_once_in_a_while(ctx: restate.Context, x: int) -> int:
    tick_calls["n"] += 1
    if tick_calls["n"] % 97 == 0:  # a clock read in some runs only: not reproducible
        time.time()
    return await ctx.run_typed("s", lambda: x)


def test_a_violation_that_does_not_reproduce_is_still_reported():
    # Hypothesis replays the failing example, it passes, and Hypothesis calls the
    # test flaky; check must report what it saw instead of raising.
    tick_calls["n"] = 0
    report = sd.check(services=[tick], invoke="Tick/tick_once_in_a_while", input=1,
                      max_examples=200, seed=0)
    assert report.kinds == ["nondeterministic-call"], report.render()


ledger = sd.FakeExternal("ledger")
outside = sd.VirtualObject("Outside")


@outside.handler()
async def add_outside(ctx: sd.ObjectContext, amount: int) -> int:
    n = await ctx.get("n") or 0
    ledger.apply("charge", amount)  # the bug: the handler's own code, replayed after a crash
    ctx.set("n", n + amount)
    return n + amount


@outside.handler()
async def add_in_a_step(ctx: sd.ObjectContext, amount: int) -> int:
    n = await ctx.get("n") or 0
    key = str(ctx.uuid())
    await ctx.run_typed("charge", lambda: ledger.apply("charge", amount, idempotency_key=key))
    ctx.set("n", n + amount)
    return n + amount


def test_an_effect_applied_outside_any_step_is_reported_as_such():
    """A duplicate made by the handler's own code names no step ("None") and no
    attempts: it says the code ran again, at which fault, and what to do; the
    twin that applies it in a step with a key made before the step is quiet."""
    report = sd.check(services=[outside], invoke="Outside/k/add_outside", input=5,
                      externals=[ledger], max_examples=10, strict=False)
    v = next(v for v in report.violations if v.kind == "duplicate-effect")
    assert v.message == (
        'ledger.charge(5) was applied 2 times outside any step, by the handler\'s own code: '
        'a crash before set "n" (#1) made the handler run that code again, and the effect '
        "carries no idempotency key: apply it in a step (ctx.run_typed), with a key made "
        "before the step (ctx.uuid())"
    )
    assert v.step is None and v.details is None
    twin = sd.check(services=[outside], invoke="Outside/k/add_in_a_step", input=5,
                    externals=[ledger], max_examples=10)
    assert twin.ok, twin.render()


def test_the_examples_counted_are_the_examples_that_ran():
    """The summary's "N generated examples" is what ``max_examples`` asked for:
    test cases Hypothesis gave up on while drawing (an overrun) ran nothing and
    are not counted (they made the count exceed the runs)."""
    report = check_shop("checkout", max_examples=200)
    assert report.ok
    assert report.examples == 200
    assert "200 generated examples" in report.summary()


def test_examples_beyond_those_asked_for_after_a_finding_are_said_to_be_so():
    """After a finding Hypothesis shrinks it and looks on for other kinds, so the
    count may pass ``max_examples``: the summary says what the count holds."""
    found = check_shop("checkout_unsafe", single_faults=False, max_examples=30, hash_seeds=())
    assert any(v.found_by.startswith("Hypothesis, shrunk") for v in found.violations)
    assert (f"{found.examples} generated examples, counting those that shrank what was "
            f"found and looked on for other kinds;") in found.summary()
    quiet = check_shop("checkout", max_examples=30)
    assert "30 generated examples; " in quiet.summary()


attaching = sd.Service("Attaching")
attached_ids: list[str] = []


@attaching.handler()
async def slow_job(ctx: sd.Context, minutes: int) -> int:
    await ctx.sleep(timedelta(minutes=minutes))
    return minutes * 10


@attaching.handler()
async def start_and_attach(ctx: sd.Context, minutes: int) -> int:
    handle = ctx.service_send(slow_job, minutes)
    inv = await handle.invocation_id()
    attached_ids.append(inv)  # the bug: plain code, run again by every replay
    return int(await ctx.attach_invocation(inv, type_hint=int))


def attached_once(outcome: sd.Outcome) -> None:
    assert len(attached_ids) <= 1, f"attached {len(attached_ids)} times"


def test_a_fault_at_a_command_named_by_an_id_is_pinned_by_its_target_and_index():
    """An attach is named by the invocation id it attaches to, which no reader
    can follow: the reproducer names its handler and journal index, and runs."""
    report = sd.check(services=[attaching], invoke="Attaching/start_and_attach", input=2,
                      setup=attached_ids.clear, invariant=attached_once, max_examples=0)
    v = report.violations[0]
    assert str(v.fault_plan) == (
        "crash(index=1, phase=before, attempt=1, target=Attaching/start_and_attach)")
    lines = [line for line in report.render().splitlines()
             if "fault plan" in line or "sim.crash" in line or "replay(" in line]
    assert len(lines) == 3 and not any("inv_" in line for line in lines), lines
    again = sd.replay(str(v.fault_plan), seed=v.seed, services=[attaching],
                      invoke="Attaching/start_and_attach", input=2, setup=attached_ids.clear,
                      invariant=attached_once)
    assert again.kinds == ["invariant"]
    sim = sd.Simulation(services=[attaching], faults=v.fault_plan)
    sim.invoke("Attaching/start_and_attach", 2)
    sim.run()
    assert str(sim.fault_plan()) == str(v.fault_plan)


def test_a_runs_closures_are_counted_once_for_its_outcome_account_and_self_check():
    """``RunFacts.closures`` (each closure's runs, by invocation, journal index
    and name) and ``reruns``, counted once off the run log, give the outcome's
    ``step_runs`` that ``Simulation.step_runs`` gives, and the re-runs a
    crash after a step's effect made."""
    from collections import Counter

    from simdurable._check import _explore

    t = _explore.make_target(shop.services, "Shop/checkout", ORDER, shop.externals, None,
                             None, False, None, None, 10_000)
    for plan in (None, sd.FaultPlan((sd.Fault("crash", step="charge", phase="effect-done"),))):
        facts = _explore.execute(t, 0, plan)
        log = facts.step_log
        assert facts.closures == Counter((inv, i, name) for inv, i, name, _, _ in log)
        assert list(facts.closures) == list(dict.fromkeys((inv, i, name)
                                                          for inv, i, name, _, _ in log))
        assert facts.outcome.step_runs == facts.sim.step_runs(facts.handle)
        assert facts.reruns == (0 if plan is None else 1)
        assert facts.outcome.step_runs["charge"] == (1 if plan is None else 2)


def test_an_ended_runs_outcome_reads_its_status_and_records_without_more_parts():
    """``snapshot`` reads an ended invocation's status off its record
    (``ended_status``), as the engine's status part answers, without building
    that part; the run's records are read once for judging (``RunFacts.records``)."""
    from simdurable._check import _explore

    t = _explore.make_target(shop.services, "Shop/checkout", ORDER, shop.externals, None,
                             None, False, None, None, 10_000)
    ended = {}
    for plan in (None, sd.FaultPlan((sd.Fault("terminal", step="charge"),))):
        facts = _explore.execute(t, 0, plan)
        engine = facts.sim.engine
        assert "_status" not in vars(engine)
        ended[facts.outcome.status] = engine.status(facts.handle.id)
        assert facts.records == engine.records() and facts.records is facts.records
    assert ended == {"completed": "completed", "failed": "failed"}
