"""World events explored at other moments: early (before the handler waits on
them) and late (after its timers fired), without faults and under them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import simdurable as sd
from simdurable import world
from tests.check.test_concurrency import add, counter, get, put

# -- a lost wake-up: the ring that arrives before anyone waits -----------------------
# ``Doorbell/wait`` makes an awakeable, registers it with the ``Door`` object and
# waits; the world rings the door (``Door/d1/ring``). If the ring comes first,
# the buggy door drops it and the waiter waits forever; the correct door keeps it.


def door(name: str, keep_early_ring: bool) -> tuple[sd.VirtualObject, object]:
    obj = sd.VirtualObject(name)

    @obj.handler()
    async def register(ctx: sd.ObjectContext, awakeable_id: str) -> None:
        if await ctx.get("rung"):
            ctx.resolve_awakeable(awakeable_id, "ding")
        else:
            ctx.set("waiter", awakeable_id)

    @obj.handler()
    async def ring(ctx: sd.ObjectContext) -> None:
        waiter = await ctx.get("waiter")
        if waiter is not None:
            ctx.resolve_awakeable(waiter, "ding")
        elif keep_early_ring:
            ctx.set("rung", True)
        # (the buggy door forgets a ring nobody waits for yet)

    return obj, register


def doorbell(name: str, register: object) -> sd.Service:
    svc = sd.Service(name)

    @svc.handler()
    async def wait(ctx: sd.Context, key: str) -> str:
        awakeable_id, heard = ctx.awakeable()
        await ctx.object_call(register, key, awakeable_id)
        return f"heard {await heard}"

    return svc


buggy_door, _buggy_register = door("BuggyDoor", keep_early_ring=False)
buggy_bell = doorbell("BuggyBell", _buggy_register)
good_door, _good_register = door("GoodDoor", keep_early_ring=True)
good_bell = doorbell("GoodBell", _good_register)


def check_bell(bell: str, door_name: str, **kw: object) -> sd.Report:
    services = [buggy_door, buggy_bell] if bell == "BuggyBell" else [good_door, good_bell]
    return sd.check(services=services, invoke=f"{bell}/wait", input="d1",
                    world=[world.call(f"{door_name}/d1/ring")], **kw)  # type: ignore[arg-type]


def test_a_ring_before_the_wait_is_lost_by_the_buggy_door():
    report = check_bell("BuggyBell", "BuggyDoor", max_examples=0)
    assert report.kinds == ["stuck"], report.render()
    v = report.violations[0]
    assert v.found_by.startswith("the world's moments")
    assert v.moments == ["early"]
    assert "the world in this run: call BuggyDoor/d1/ring(null) early" in v.render()
    # The reproducers carry the moment: replay with the pinned world, or the blob.
    assert "'when': 'early'" in v.python_line
    assert "None" in v.python_line and "null" not in v.python_line
    pinned = [world.call("BuggyDoor/d1/ring", when="early")]
    again = sd.replay(v.fault_plan, v.seed, services=[buggy_door, buggy_bell],
                      invoke="BuggyBell/wait", input="d1", world=pinned)
    assert again.kinds == ["stuck"]
    blob = sd.replay(blob=v.blob, services=[buggy_door, buggy_bell], invoke="BuggyBell/wait",
                     input="d1", world=[world.call("BuggyDoor/d1/ring")])
    assert blob.kinds == ["stuck"]
    # The printed program runs and ends the same way: the waiter never hears it.
    namespace: dict[str, object] = dict(globals())
    exec(v.program.replace("import tests.check.test_world_moments\n", "")
         .replace("tests.check.test_world_moments.", ""), namespace)
    assert namespace["h"].status == "waiting"  # type: ignore[attr-defined]


def test_when_the_run_waits_the_buggy_door_works_so_the_reference_alone_misses_it():
    pinned = [world.call("BuggyDoor/d1/ring", when="waiting")]
    report = sd.check(services=[buggy_door, buggy_bell], invoke="BuggyBell/wait",
                      input="d1", world=pinned, max_examples=5)
    assert report.ok, report.render()
    assert report.reference.startswith('returned "heard ding"')
    assert report.moment_runs == 0  # a pinned event is not explored


def test_the_correct_door_keeps_an_early_ring_at_every_moment():
    report = check_bell("GoodBell", "GoodDoor", max_examples=30)
    assert report.ok, report.render()
    assert report.moment_runs == 2
    assert "the world's moments: 2 fault-free runs" in report.render()


def test_hypothesis_draws_the_moment_and_shrinks_to_the_simplest():
    # Without the fault-free moment phase, the generated examples find it too,
    # under faults and schedules, shrunk to the early moment alone.
    t = sd.check.__globals__["make_target"](
        [buggy_door, buggy_bell], "BuggyBell/wait", "d1", (), None, None, True, None,
        timedelta(hours=1), 100_000, [world.call("BuggyDoor/d1/ring")])
    from simdurable._check._explore import Exploration

    ex = Exploration(t, seed=3)
    ex.reference()
    assert not ex.found
    ex.hypothesis(40)
    v = ex.found["stuck"]
    assert v.moments == ["early"] and not v.fault_plan.faults, v.render()


# -- a late answer: the timeout that fires before the world answers -------------------
# The handler asks a person and waits at most 10 minutes. When the answer is late,
# the buggy handler raises a plain exception, retried for ever; the correct one
# ends with a TerminalError.

asker = sd.Service("Asker")


@asker.handler()
async def ask(ctx: sd.Context, careful: bool) -> str:
    _, answer = ctx.awakeable()
    match await sd.select(answer=answer, timeout=ctx.sleep(timedelta(minutes=10))):
        case ["answer", value]:
            return f"answered {value}"
        case _:
            if careful:
                raise sd.TerminalError("no answer within 10 minutes", 408)
            raise TimeoutError("no answer within 10 minutes")


def test_a_late_answer_breaks_the_buggy_handler_and_not_the_correct_one():
    buggy = sd.check(services=[asker], invoke="Asker/ask", input=False, max_examples=0,
                     world=[world.resolve_awakeable("yes")])
    assert buggy.reference.startswith('returned "answered yes"'), buggy.reference
    assert buggy.kinds == ["retry-loop"], buggy.render()
    assert buggy.violations[0].moments == ["late"]
    correct = sd.check(services=[asker], invoke="Asker/ask", input=True, max_examples=20,
                       world=[world.resolve_awakeable("yes")])
    assert correct.ok, correct.render()


def test_the_same_seed_gives_the_same_report():
    a = check_bell("BuggyBell", "BuggyDoor", max_examples=10, seed=5)
    b = check_bell("BuggyBell", "BuggyDoor", max_examples=10, seed=5)
    assert a.to_json() == b.to_json()


def test_moments_in_the_json_form_and_bad_moments():
    ev = world.resolve_promise("p", 1, workflow="W/k", when="late")
    assert world.from_dict(json.loads(json.dumps(ev.as_dict()))) == ev
    assert ev.as_dict()["when"] == "late"
    with pytest.raises(ValueError, match=r"--world.when: 'soon' is not a moment; expected one "
                                         r"of waiting, early, late"):
        world.parse('{"call": {"target": "A/b"}, "when": "soon"}')
    with pytest.raises(ValueError, match="not both"):
        world.parse('{"call": {"target": "A/b"}, "when": "early", "at": "1s"}')
    with pytest.raises(ValueError, match="when must be one of"):
        world.call("A/b", when="never")


# -- the world and concurrent invocations together ------------------------------------
# Two callers each wait for an approval (an awakeable the world resolves), then bump
# a counter: read-then-write loses an update, an atomic add does not.

approvals = sd.Service("Approvals")


@approvals.handler()
async def racy_after_approval(ctx: sd.Context, key: str) -> int:
    _, approved = ctx.awakeable()
    await approved
    n = await ctx.object_call(get, key, None)
    await ctx.object_call(put, key, n + 1)
    return int(n) + 1


@approvals.handler()
async def atomic_after_approval(ctx: sd.Context, key: str) -> int:
    _, approved = ctx.awakeable()
    await approved
    return int(await ctx.object_call(add, key, 1))


def check_approvals(handler: str, max_examples: int) -> sd.Report:
    return sd.check(services=[counter, approvals], invoke=f"Approvals/{handler}", input="a",
                    concurrent=2, max_examples=max_examples, seed=1,
                    world=[world.resolve_awakeable("ok"), world.resolve_awakeable("ok")])


def test_concurrent_callers_while_the_world_approves_find_the_lost_update():
    report = check_approvals("racy_after_approval", 40)
    assert report.kinds == ["not-serializable"], report.render()
    assert report.reference.startswith("returned 1"), report.reference
    assert len(report.concurrent) == 2 and len(report.world) == 2


def test_the_atomic_twin_passes_with_the_world_and_concurrent_callers():
    report = check_approvals("atomic_after_approval", 40)
    assert report.ok, report.render()
    assert report.faults_fired and report.moment_runs == 4


def test_the_cli_prints_a_blob_line_that_replays_the_moment(capsys):
    from simdurable._cli import main

    argv = ["check", "tests.check.test_world_moments:buggy_bell", "--invoke", "BuggyBell/wait",
            "--input", '"d1"', "--max-examples", "0",
            "--world", '{"call": {"target": "BuggyDoor/d1/ring"}}']
    assert main(argv) == 1
    out = capsys.readouterr().out
    line = next(x.strip() for x in out.splitlines()
                if x.strip().startswith("simdurable check tests.check.test_world_moments"))
    assert "--blob" in line and "--replay" not in line
    import shlex

    assert main(shlex.split(line)[1:]) == 1
    assert "the world in this run: call BuggyDoor/d1/ring(null) early" in \
        capsys.readouterr().out
    pinned = ["check", *argv[1:-1], '{"call": {"target": "BuggyDoor/d1/ring"}, "when": "waiting"}']
    assert main(pinned) == 0, capsys.readouterr().out
