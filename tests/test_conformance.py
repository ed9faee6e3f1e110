"""The conformance driver's own logic without a server, and its CI slice on the
real Restate server (skipped, saying why, where npm or the registries are out of
reach)."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import restate

import conformance.__main__ as conf
import simdurable as sd
from benchmarks._peers import PeerUnavailable
from tests.compat.harness import (
    Advance,
    Call,
    Cancel,
    Case,
    ResolveAwakeables,
    step_runs_of,
)


def test_cases_a_server_cannot_run_in_real_time_are_left_out() -> None:
    assert conf.why_not_feasible(Case("ok", [Call("S/h", 1, result=1),
                                             Advance(timedelta(seconds=2))])) is None
    assert "ResolveAwakeables" in str(conf.why_not_feasible(
        Case("awk", [Call("S/h"), ResolveAwakeables()])))
    assert "Cancel" in str(conf.why_not_feasible(Case("c", [Call("S/h"), Cancel(0)])))
    assert "virtual time" in str(conf.why_not_feasible(
        Case("long", [Call("S/h"), Advance(timedelta(days=1))])))
    assert "status" in str(conf.why_not_feasible(Case("s", [Call("S/h", status="paused")])))


def test_ingress_answers_become_outcomes() -> None:
    assert conf._outcome(200, b'{"a": 1}', {"content-type": "application/json"}) == ("ok", {"a": 1})
    assert conf._outcome(200, b"", {}) == ("ok", None)
    assert conf._outcome(200, b"\x00raw", {"content-type": "application/octet-stream"}) == (
        "ok", b"\x00raw")
    assert conf._outcome(402, b'{"message": "Payment declined.", "code": 402}', {}) == (
        "error", 402, "Payment declined.")


def test_a_server_outcome_that_differs_from_the_case_is_reported() -> None:
    case = Case("c", [Call("Counter/k/add", 1, result={"newValue": 1}),
                      Call("Counter/k/fail", error=(500, "k"))], state={"Counter/k": {"n": 1}})
    same = conf.Observed([("ok", {"newValue": 1}), ("error", 500, "k")], {"Counter/k": {"n": 1}})
    assert conf.compare(case, same) == []
    other = conf.Observed([("ok", {"newValue": 2}), ("error", 409, "k")], {"Counter/k": {}})
    problems = conf.compare(case, other)
    assert len(problems) == 3 and "server gave ('ok', {'newValue': 2})" in problems[0]


def test_closure_runs_that_differ_between_the_sides_are_named() -> None:
    assert conf.step_runs_differ({"S/h/pay": 3}, {"S/h/pay": 3}) == []
    assert conf.step_runs_differ({"S/h/pay": 3, "S/h/ship": 1}, {"S/h/pay": 1}) == [
        "closure runs of S/h/pay: server 3, simulation 1",
        "closure runs of S/h/ship: server 1, simulation 0"]


def test_the_simulation_counts_closure_runs_per_step() -> None:
    """The simulation's side of the comparison: a step failing twice ran three times."""
    tries = [0]
    svc = restate.Service("Flaky")

    @svc.handler()
    async def go(ctx: restate.Context) -> int:
        def flaky() -> int:
            tries[0] += 1
            if tries[0] < 3:
                raise ValueError("not yet")
            return tries[0]
        return await ctx.run_typed("flaky", flaky)

    sim = sd.Simulation(services=[svc], seed=0)
    h = sim.invoke("Flaky/go", None)
    sim.run(until=timedelta(minutes=5))
    assert h.result() == 3
    assert step_runs_of(sim) == {"Flaky/go/flaky": 3}


def test_without_the_server_it_says_it_skipped(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    def unavailable() -> None:
        raise PeerUnavailable("npm is not installed")

    monkeypatch.setattr(conf, "restate_server_binary", unavailable)
    assert conf.main(["--slice"]) == 0
    assert "SKIPPED" in capsys.readouterr().out


def test_the_slice_is_identical_on_the_real_restate_server() -> None:
    """The real thing, in a child process: restate-server from npm and restate-sdk
    from the registry, installed into the ignored cache on first use."""
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-m", "conformance", "--slice"], cwd=root,
                         capture_output=True, text=True, timeout=900, check=False)
    last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    if "SKIPPED" in last:
        pytest.skip(last)
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert re.search(r"conformance: (\d+) of \1 cases identical", last), last
    assert re.search(r"random programs \(1 seed\(s\), 1 crashed\): (\d+) of \1 objects",
                     last), last
    assert "crashes: 2 of 2 identical" in last, last
    assert re.search(r"crashed random programs :: seed 1001, kill -9 inside failing-\d+: "
                     r"(\d+) of \1 objects equal the oracle +ok +\d+/\d+ +identical", run.stdout)
    # what the server recorded (awakeables, calls, a crash) replays against the same code
    assert re.search(r"replay-journals of the server's journals of the random programs and "
                     r"crashes: ([1-9]\d*) invocation\(s\): \1 replay, 0 diverge, 0 cannot be "
                     r"judged", run.stdout), run.stdout[-2000:]
    # the journals were read from the server's sys_journal and compared
    assert re.search(r"journals: [1-9]\d* the same on both sides, 0 different", run.stdout)
    # closure runs were counted on both sides: the served process and the simulation
    assert re.search(r"a step succeeds after three attempts +ok +3/3 +identical", run.stdout)


# -- seeded random programs ---------------------------------------------------------------
def test_a_seed_gives_the_same_programs_and_the_seeds_use_every_command() -> None:
    from conformance import generated

    assert generated.generate(1) == generated.generate(1) != generated.generate(2)
    kinds: set[str] = set()

    def walk(commands: list[dict[str, object]]) -> None:
        for cmd in commands:
            kinds.add(str(cmd["kind"]))
            if cmd["kind"] == generated.CALL_NEXT_LAYER:
                walk(cmd["program"]["commands"])  # type: ignore[index]

    for seed in range(1, 6):
        for program in generated.generate(seed).values():
            walk(program["commands"])
    every = {v for k, v in vars(generated).items() if k.isupper() and isinstance(v, str)}
    assert kinds == every


def test_the_oracle_counts_increments_from_the_program_text() -> None:
    from conformance import generated

    inc = {"kind": generated.INCREMENT}
    programs = {"a": {"commands": [inc, {"kind": generated.INCREMENT_DELAYED, "ms": 5},
                                   {"kind": generated.CALL_NEXT_LAYER, "key": "b",
                                    "program": {"commands": [
                                        {"kind": generated.FAILING_STEP, "id": 7, "fails": 2},
                                        {"kind": generated.INCREMENT_VIA_AWAKEABLE}]}}]}}
    assert generated.oracle(programs) == (
        {"InterpreterL0/a": 2, "InterpreterL1/b": 1},
        {"InterpreterL1/interpret/failing-7": 3})


def test_the_simulation_meets_the_oracle_and_repeats_itself() -> None:
    for seed in (1, 2):
        first = conf.simulate_generated(seed)
        same, total, problems = conf.compare_generated(seed, first, first)
        assert problems == [] and same == total > 0
        assert conf.simulate_generated(seed) == first  # same seed, same run


def test_a_lost_increment_or_a_rerun_step_is_a_divergence() -> None:
    sim = conf.simulate_generated(3)
    lost = dataclasses.replace(sim, counters={**sim.counters, "InterpreterL0/s3-0": 0})
    rerun = dataclasses.replace(sim, failing_runs={k: v + 1 for k, v in sim.failing_runs.items()})
    same, total, problems = conf.compare_generated(3, lost, sim)
    assert same == total - 1
    assert problems == [f"server: counter of InterpreterL0/s3-0 is 0, the oracle says "
                        f"{sim.counters['InterpreterL0/s3-0']}"]
    assert "simulation: failing steps ran" in conf.compare_generated(3, sim, rerun)[2][0]


# -- crashes --------------------------------------------------------------------------------
def test_the_crash_marker_kills_its_own_process_once(tmp_path: Path) -> None:
    """On the server side the chosen step's closure SIGKILLs its process, once."""
    marker = tmp_path / "crash-at"
    marker.write_text("step-2")
    root = Path(__file__).resolve().parents[1]
    code = "from conformance import crashing; crashing.maybe_crash('{}'); print('alive')"
    env = {**os.environ, "CONFORMANCE_CRASH_FILE": str(marker), "PYTHONPATH": str(root)}
    other = subprocess.run([sys.executable, "-c", code.format("step-1")], env=env,
                           capture_output=True, text=True, check=False)
    assert other.stdout.strip() == "alive" and marker.exists()
    chosen = subprocess.run([sys.executable, "-c", code.format("step-2")], env=env,
                            capture_output=True, text=True, check=False)
    assert chosen.returncode == -signal.SIGKILL and not marker.exists()


def test_the_simulation_reruns_the_crashed_step_only() -> None:
    sim = conf.simulate_crash("step-2")
    assert sim.crashed and sim.step_runs == {
        "Crashy/run/step-1": 1, "Crashy/run/step-2": 2, "Crashy/run/step-3": 1}
    assert conf.compare_crash("step-2", sim, sim) == []


def test_a_crash_that_did_not_happen_or_a_stored_step_run_again_is_a_divergence() -> None:
    sim = conf.simulate_crash("step-1")
    no_crash = dataclasses.replace(sim, crashed=False,
                                   step_runs={**sim.step_runs, "Crashy/run/step-1": 1})
    assert conf.compare_crash("step-1", no_crash, sim) == [
        "server: the crash in step-1 did not happen",
        f"server: closures ran {no_crash.step_runs}, not {sim.step_runs}"]
    rerun = dataclasses.replace(sim, step_runs={**sim.step_runs, "Crashy/run/step-3": 2})
    assert conf.compare_crash("step-1", sim, rerun)[0].startswith("simulation: closures ran")


def test_a_crash_inside_a_random_program_reruns_the_crashed_step_only() -> None:
    """The simulation crashes where the server is killed: in the run of the chosen
    failing step's closure that succeeds; that step runs once more than the
    oracle says, the rest as it says, and every counter equals the oracle."""
    step = conf.crash_step(1001)
    assert step is not None and conf.crash_seed_list(2)[0] == (1001, step)
    plain = conf.simulate_generated(1001)
    crashed = conf.simulate_generated(1001, step)
    assert crashed.crashed and not plain.crashed
    assert crashed.failing_runs == {**plain.failing_runs, step: plain.failing_runs[step] + 1}
    assert conf.compare_generated(1001, crashed, crashed, step)[2] == []
    assert conf.simulate_generated(1001, step) == crashed  # same seed, same run
    # a side where the crash did not happen, or the step's lost run was not made again
    assert conf.compare_generated(1001, plain, crashed, step)[2] == [
        f"server: the crash in {step} did not happen",
        f"server: failing steps ran {plain.failing_runs}, the oracle says "
        f"{crashed.failing_runs}"]


def test_failing_steps_count_their_runs_across_a_kill(tmp_path: Path) -> None:
    """On the server the failing steps' runs are counted in a file, so that a step
    killed in the run that succeeds succeeds when Restate retries it."""
    marker, runs = tmp_path / "crash-at", tmp_path / "failures.log"
    marker.write_text("failing-7")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "CONFORMANCE_CRASH_FILE": str(marker), "PYTHONPATH": str(root),
           "CONFORMANCE_FAILURES_FILE": str(runs)}
    code = ("from conformance import generated\n"
            "try:\n    print(generated._fail_first(7, 1))\n"
            "except ValueError as err:\n    print(err)")
    outs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=False) for _ in range(3)]
    assert outs[0].stdout.strip() == "attempt 1 of step 7 fails"
    assert outs[1].returncode == -signal.SIGKILL and not marker.exists()
    assert outs[2].stdout.strip() == "done-7"
    assert runs.read_text().split() == ["7", "7", "7"]


# -- journals ---------------------------------------------------------------------------------
def test_a_journal_is_compared_by_its_commands_in_order() -> None:
    sim = conf.simulate_crash("step-2")
    assert sim.journal == (["run step-1", "set done", "run step-2", "set done", "run step-3",
                            "set done"], "")  # the completions are left out


def test_journals_that_differ_are_named_at_the_first_different_command() -> None:
    tally = conf.JournalTally()
    assert tally.compare("call #0", (["run a", "set k"], ""), ["run a", "set k"]) == []
    assert tally.compare("call #1", (["run a", "set k"], ""), ["run a", "run b"]) == [
        "journal of call #1: command #1 is set k on the server, run b in the simulation"]
    assert tally.compare("call #2", (["run a"], ""), ["run a", "sleep "])[0].endswith(
        "command #1 is missing on the server, sleep  in the simulation")
    # cut short at ctx.awakeable(), which journals no command on Restate: the prefix counts
    assert tally.compare("call #3", (["run a"], "entry #3: no counterpart"),
                         ["run a", "awakeable sim-1", "run b"]) == []
    assert tally.compare("call #4", (["set x"], "entry #3: no counterpart"),
                         ["awakeable sim-1", "run a"]) != []
    # ctx.awakeable() journals no command on Restate: the simulation's is left out
    assert tally.compare("call #5", (["run a"], ""), ["awakeable sim-2", "run a"]) == []
    assert (tally.same, tally.differ, tally.unjudged) == (2, 3, 1)


def test_ids_are_left_out_of_the_commands() -> None:
    from simdurable.runtime._journal import ATTACH, Entry

    entries = [Entry(ATTACH, "inv_1iPBsI6RKsny4iE1pToeplM4FwYbEnNcFy"),
               Entry("resolve_signal", "inv_7dfbbb9247f0438fb4db/approval")]
    assert conf.journal_commands(entries) == ["attach_invocation inv_*",
                                              "resolve_signal inv_*/approval"]


def test_the_journals_of_callees_are_compared_too() -> None:
    """A call's callee and the callee's own sends are followed on both sides; a
    difference deep down is named by the path of commands that reach it."""
    leaf = conf.Tree((["run x"], ""))
    sim = conf.Tree((["set a", "call S/h"], ""), [
        ("call S/h", conf.Tree((["run y", "send T/k/h"], ""), [("send T/k/h", leaf)]))])
    tally = conf.JournalTally()
    assert tally.compare_tree("call #0", sim, sim) == []
    assert (tally.same, tally.nested) == (3, 2)
    other = conf.Tree((["set a", "call S/h"], ""), [
        ("call S/h", conf.Tree((["run y", "send T/k/h"], ""),
                               [("send T/k/h", conf.Tree((["run z"], "")))]))])
    assert tally.compare_tree("call #1", other, sim) == [
        "journal of call #1 > call S/h > send T/k/h: command #0 is run z on the server, "
        "run x in the simulation"]
    # a callee still running on the server is compared up to where its journal ends
    running = conf.Tree((["set a", "call S/h"], ""), [
        ("call S/h", conf.Tree((["run y"], "still running when read")))])
    assert tally.compare_tree("call #2", running, sim) == []


def test_the_simulation_side_follows_calls_and_sends_to_every_layer() -> None:
    """The random programs call the next layer and send to helpers that send back:
    their trees reach the callees' journals, three layers down."""
    run = conf.simulate_generated(1)

    def depth(tree: conf.Tree) -> int:
        return 1 + max((depth(child) for _, child in tree.children), default=0)

    assert max(depth(t) for t in run.journals) >= 3
    first = run.journals[0]
    assert [c for c, _ in first.children] == [
        c for c in first.commands[0] if c.startswith(("call ", "send "))]
    assert any(child.commands[0] for _, child in first.children)  # the callees' journals


def test_awakeable_ids_are_left_out_of_the_commands() -> None:
    from simdurable.runtime._journal import Entry

    entries = [Entry("resolve_awakeable", "sign_18einq1M1VXcBokF3Yb-MRFv9_G3h748LAAAAEQ"),
               Entry("reject_awakeable", "awk_5f5047ead486d6b0ea8b_2")]
    assert conf.journal_commands(entries) == ["resolve_awakeable awk_*",
                                              "reject_awakeable awk_*"]


def test_a_callee_its_caller_cancelled_is_compared_up_to_the_shorter_journal() -> None:
    """Where a cancellation reaches a callee is a race: before it started in the
    simulation, in its sleep on the server; both are right."""
    from simdurable.runtime._journal import CALL, CANCEL, Entry

    caller = [Entry(CALL, "S/slow", ref="inv_b"), Entry(CANCEL, "inv_b")]
    sim = conf.sim_tree({"inv_a": caller, "inv_b": []}, caller)
    assert sim.children[0][1].cancelled
    server = conf.Tree(sim.commands, [("call S/slow", conf.Tree((["sleep "], ""),
                                                                 cancelled=True))])
    tally = conf.JournalTally()
    assert tally.compare_tree("call #0", server, sim) == []
    assert (tally.same, tally.unjudged) == (1, 1)
    # not cancelled: the same journals differ
    server.children[0][1].cancelled = sim.children[0][1].cancelled = False
    assert tally.compare_tree("call #1", server, sim) == [
        "journal of call #1 > call S/slow: command #0 is sleep  on the server, "
        "missing in the simulation"]
