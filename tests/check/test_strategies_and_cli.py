"""The public strategies in users' own ``@given`` tests, and ``simdurable check``."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, find, given, settings, strategies as st

import simdurable as sd
from examples import shop
from simdurable import strategies as sds
from simdurable._cli import main
from tests.corpus.pairs import journal

ORDER = {"item": "book", "amount": 10}


@settings(max_examples=40, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(plan=sds.fault_plans(steps=["charge", "ship"]), chooser=sds.schedules())
def test_the_sound_checkout_survives_any_drawn_plan_and_schedule(plan, chooser):
    assert sd.FaultPlan.parse(str(plan)) == plan
    shop.bank.reset()
    shop.warehouse.reset()
    sim = sd.Simulation(shop.services, faults=plan, chooser=chooser, externals=shop.externals)
    h = sim.invoke("Shop/checkout", ORDER)
    sim.run()
    assert h.done
    assert len(shop.bank.ops("charge")) == 1, str(plan)


def test_a_drawn_plan_shrinks_to_the_one_crash_that_double_charges():
    def double_charges(plan: sd.FaultPlan) -> bool:
        shop.bank.reset()
        sim = sd.Simulation(shop.services, faults=plan, externals=shop.externals)
        sim.invoke("Shop/checkout_unsafe", ORDER)
        sim.run()
        return len(shop.bank.ops("charge")) > 1

    plan = find(sds.fault_plans(steps=["charge"], kinds=["crash"], max_attempt=1),
                double_charges, settings=settings(database=None, derandomize=True,
                                                  max_examples=500, deadline=None))
    assert str(plan) == "crash(step=charge, phase=effect-done, attempt=1)"


def test_strategies_refuse_bad_arguments():
    with pytest.raises(ValueError, match="unknown fault kind"):
        sds.faults(kinds=["explode"])
    with pytest.raises(TypeError, match="list of step names"):
        sds.faults(steps="charge")
    with pytest.raises(ValueError, match="max_faults"):
        sds.fault_plans(max_faults=-1)


def test_cli_check_finds_the_double_charge_and_exits_1(capsys, tmp_path):
    trace = tmp_path / "trace.json"
    status = main(["check", "examples.shop:checkout_unsafe", "--input", json.dumps(ORDER),
                   "--max-examples", "10", "--chrome-trace", str(trace)])
    out = capsys.readouterr().out
    assert status == 1
    assert "duplicate-effect: bank.charge" in out
    assert "--replay 'crash(step=charge, index=2, phase=effect-done, attempt=1)' --seed 0" in out
    assert "pytest --simdurable" not in out
    assert json.loads(trace.read_text())["traceEvents"]


def test_cli_check_refuses_a_chrome_trace_over_a_database_before_checking(capsys, tmp_path):
    # It was overwritten with the trace once the check ended.
    import simdurable as sd

    db = tmp_path / "dev.db"
    with sd.Executor([], db=db):
        pass
    kept = db.read_bytes()
    assert main(["check", "examples.shop:checkout_unsafe", "--input", json.dumps(ORDER),
                 "--max-examples", "10", "--chrome-trace", str(db)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"simdurable check: --chrome-trace {db}: is an SQLite database (a dev-executor "
        "database?), which the trace would overwrite; name another file, like trace.json")
    assert db.read_bytes() == kept


def test_cli_check_passes_a_sound_handler_and_replays_a_plan(capsys):
    assert main(["check", "examples.shop:checkout", "--input", json.dumps(ORDER),
                 "--max-examples", "10"]) == 0
    assert "no violations" in capsys.readouterr().out
    assert main(["check", "examples.shop:checkout", "--input", json.dumps(ORDER),
                 "--replay", "crash(step=charge, phase=effect-done)"]) == 1
    assert "did not reproduce" in capsys.readouterr().out


def test_cli_check_explains_bad_input(capsys):
    assert main(["check", "examples.shop:checkout", "--input", "{oops"]) == 2
    assert "--input is not JSON" in capsys.readouterr().err
    assert main(["check", "examples.shop:nothing", "--input", "1"]) == 2
    assert "has no attribute" in capsys.readouterr().err
    assert main(["check", "examples.shop:reserve", "--input", "1"]) == 2
    assert "give --key" in capsys.readouterr().err
    assert main(["check", "examples.shop:services", "--input", "1"]) == 2
    assert "--invoke is needed" in capsys.readouterr().err


@settings(max_examples=2, database=None, deadline=None, derandomize=True)
@given(amount=st.integers(1, 100))
def test_check_inside_a_given_test_explores_from_a_seed_and_minimizes(amount):
    report = sd.check(services=shop.services, invoke="Shop/checkout_unsafe",
                      input={"item": "book", "amount": amount}, externals=shop.externals,
                      single_faults=False, max_examples=60)
    v = next(v for v in report.violations if v.kind == "duplicate-effect")
    assert "seeded exploration" in v.found_by
    assert len(v.fault_plan) == 1
    assert f'"amount": {amount}' in v.message


twins = [journal.tags_bug, journal.tags_ok]  # two services named Tags
TWINS = "tests.corpus.pairs.journal"


def test_cli_checks_one_twin_of_a_module_that_holds_both(capsys):
    """Before, any target in such a module failed: "two handlers are named Due/check"."""
    args = ["--input", '"d1"', "--max-examples", "0"]
    assert main(["check", f"{TWINS}:tags_bug/label", *args]) == 1
    assert "retry-loop" in capsys.readouterr().out
    assert main(["check", f"{TWINS}:tags_ok/label", *args]) == 0
    assert "no violations" in capsys.readouterr().out
    assert main(["check", f"{TWINS}:tags_label_bug", *args]) == 1  # the function itself
    assert "retry-loop" in capsys.readouterr().out
    assert main(["check", f"{TWINS}:tags_ok/lable", *args]) == 2
    assert ("service Tags has no handler 'lable'; it has: label"
            in capsys.readouterr().err)


def test_cli_says_how_to_name_one_of_two_services_of_one_name(capsys):
    assert main(["check", "tests.check.test_strategies_and_cli:twins", "--invoke", "Tags/label",
                 "--input", '"d1"']) == 2
    err = capsys.readouterr().err
    assert err == ("simdurable check: two handlers are named Tags/label (two services of one "
                   "name would be hosted together): name the one to check as "
                   "module:service/handler, `service` being its variable, like "
                   "tests.check.test_strategies_and_cli:<service>/label\n")
