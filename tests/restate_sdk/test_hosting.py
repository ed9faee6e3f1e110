"""restate-sdk services hosted unchanged in the Simulation."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

import pytest

restate = pytest.importorskip("restate")

import simdurable as sd  # noqa: E402
from simdurable._restate import UnsupportedRestateVersion, check_version  # noqa: E402

from . import shop  # noqa: E402


def run(target: str, arg: object = None, **kw: object) -> object:
    sim = sd.Simulation(services=[shop.app], **kw)  # type: ignore[arg-type]
    h = sim.invoke(target, arg)
    sim.run()
    return h.result()


def test_restate_app_and_services_are_hosted_as_they_are() -> None:
    assert run("Greeter/greet", "bob") == "hello bob"
    sim = sd.Simulation(services=[shop.greeter, shop.shop])
    h = sim.invoke("Greeter/greet", "ann")
    sim.run()
    assert h.result() == "hello ann"


def test_restates_own_combinators_bound_at_import_work_on_our_futures() -> None:
    assert run("Shop/combinators") == {
        "same": True, "values": [1, 2], "winner": ["now", 3], "waited": [1, 1],
        "as_completed": 2, "empty": [],
    }


def test_terminal_error_raised_in_a_step_is_caught_as_restates() -> None:
    assert run("Shop/declined") == "caught 402 card declined"


def test_a_step_that_exhausts_its_retries_raises_restates_terminal_error() -> None:
    assert run("Shop/exhausted") == "gave up: ConnectionError('service unavailable')"


def test_calls_by_handler_reference_and_a_failed_call_as_restates_terminal_error() -> None:
    assert run("Shop/calls", "bob") == ["hello bob", [418, "no reason"], True]


def test_a_terminal_error_ending_the_handler_keeps_its_status() -> None:
    with pytest.raises(sd.TerminalError) as info:
        run("Greeter/fail", "because")
    assert (info.value.status_code, info.value.message) == (418, "because")


def test_a_terminal_error_in_the_cause_chain_is_terminal_as_in_restate_sdk() -> None:
    sim = sd.Simulation(services=[shop.app])
    h = sim.invoke("Shop/wrapped_terminal")
    sim.run()
    with pytest.raises(sd.TerminalError, match="inner"):
        h.result()
    assert h.attempts == 1


def test_retryable_error_retry_after_sets_the_next_attempt() -> None:
    shop.attempts.clear()
    sim = sd.Simulation(services=[shop.app])
    h = sim.invoke("Shop/retry_after")
    sim.run()
    assert h.result() == "ok"
    assert sim.now() >= 30  # seconds of virtual time: the handler's delay, not the policy's


def test_pydantic_io_and_step_serdes() -> None:
    receipt = run("Shop/checkout", shop.Order(item="book", amount=12))
    assert isinstance(receipt, shop.Receipt)
    assert (receipt.item, receipt.charged) == ("book", 12)
    # A plain JSON body, as the ingress would receive it, works too.
    assert run("Shop/checkout", {"item": "pen", "amount": 1}).item == "pen"
    assert run("Shop/serdes") == {
        "point": ["Point", 1], "label": "Label", "upper": "SHOUT", "json": {"k": [1]},
        "order": "Order",
    }


def test_handler_io_serdes_a_users_own_and_msgspec() -> None:
    # The input goes through Upper on the way in, the result on the way out.
    assert run("Shop/shout", "hi") == "HI, HI"
    moved = run("Shop/move", shop.Point(1, 2))
    assert isinstance(moved, shop.Point) and (moved.x, moved.y) == (2, 3)
    assert run("Shop/move", {"x": 0, "y": 0}) == shop.Point(1, 1)


def test_virtual_object_state_and_typed_context() -> None:
    sim = sd.Simulation(services=[shop.app])
    sim.invoke("Cart/c1/add", "apple")
    h = sim.invoke("Cart/c1/add", "pear")
    peek = sim.send("Cart/c1/peek", delay=timedelta(seconds=1))
    sim.run()
    assert h.result() == [["apple", "pear"], True, "c1"]
    assert peek.result() == ["apple", "pear"]
    assert sim.state("Cart", "c1") == {"items": ["apple", "pear"]}


def test_workflow_promise() -> None:
    sim = sd.Simulation(services=[shop.app])
    h = sim.invoke("Signup/w1/run", "a@b.c")
    sim.send("Signup/w1/confirm", "1234", delay=timedelta(minutes=5))
    sim.run()
    assert h.result() == "a@b.c confirmed with 1234"


def test_crashes_between_and_inside_steps_do_not_change_the_outcome() -> None:
    clean = run("Shop/combinators")
    plan = [sd.Fault(kind="crash", step="b", phase="effect-done"),
            sd.Fault(kind="crash", step="c", phase="after-store")]
    assert run("Shop/combinators", faults=plan) == clean


def test_check_finds_the_double_charge_and_passes_the_safe_twin() -> None:
    order = shop.Order(item="book", amount=10)
    bad = sd.check(services=[shop.app], invoke="Shop/checkout_unsafe", input=order,
                   externals=[shop.bank], max_examples=60, seed=1)
    assert not bad.ok
    assert "duplicate-effect" in {v.kind for v in bad.violations}
    good = sd.check(services=[shop.app], invoke="Shop/checkout", input=order,
                    externals=[shop.bank], max_examples=60, seed=1)
    assert good.ok, good


def test_options_without_a_counterpart_are_reported() -> None:
    svc = restate.Service("Slow", inactivity_timeout=timedelta(seconds=5))

    @svc.handler()
    async def go(ctx: restate.Context) -> None:
        return None

    with pytest.warns(UserWarning, match="inactivity_timeout"):
        sd.Simulation(services=[svc])


def test_invocation_context_managers_wrap_every_attempt() -> None:
    import contextlib

    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def traced():  # type: ignore[no-untyped-def]
        seen.append("enter")
        yield
        seen.append("exit")

    svc = restate.Service("Traced", invocation_context_managers=[traced])

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        seen.append("body")
        return "ok"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim = sd.Simulation(services=[svc])
    h = sim.invoke("Traced/go")
    sim.run()
    assert h.result() == "ok"
    assert seen == ["enter", "body", "exit"]


def test_an_unsupported_restate_sdk_version_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda name: "0.9.9")
    with pytest.raises(UnsupportedRestateVersion, match="restate-sdk 0.9.9 is installed"):
        check_version()
    svc = restate.Service("Fresh")

    @svc.handler()
    async def go(ctx: restate.Context) -> None:
        return None

    with pytest.raises(UnsupportedRestateVersion, match="0.9.9"):
        sd.Simulation(services=[svc])


def test_cancellation_reaches_the_handler_as_restates_terminal_error() -> None:
    sim = sd.Simulation(services=[shop.app])
    h = sim.invoke("Shop/patient")
    sim.run(until=timedelta(minutes=1))
    sim.cancel(h)
    sim.run()
    assert h.result() == "stopped 409 cancelled"


def test_a_step_raising_retryable_error_retries_after_its_delay() -> None:
    shop.step_tries.clear()
    sim = sd.Simulation(services=[shop.app])
    h = sim.invoke("Shop/busy_step")
    sim.run()
    assert h.result() == "done"
    assert len(shop.step_tries) == 2
    assert sim.now() >= 20


def test_awakeables_resolved_and_rejected_from_outside() -> None:
    sim = sd.Simulation(services=[shop.app])
    yes, no = sim.invoke("Shop/approval"), sim.invoke("Shop/approval")
    sim.run()
    first, second = sim.awakeables()
    sim.resolve_awakeable(first, "ann")
    sim.reject_awakeable(second, "too late")
    sim.run()
    assert sorted([yes.result(), no.result()]) == ["approved by ann", "rejected: too late"]


def test_restates_invocation_retry_policy_is_honoured() -> None:
    sim = sd.Simulation(services=[shop.app])
    h = sim.invoke("Shop/doomed")
    sim.run()
    with pytest.raises(sd.TerminalError):
        h.result()
    assert h.attempts == 2
    assert sim.now() == 3  # one retry, after the policy's initial interval


def test_the_deprecated_run_form() -> None:
    assert run("Shop/legacy_run") == [1, 2]


def test_restates_logger_is_quiet_while_the_handler_replays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = restate.getLogger("replay-test")
    svc = restate.Service("Logged")

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        log.warning("start")
        await ctx.run_typed("a", lambda: 1)
        log.warning("after a")
        await ctx.run_typed("b", lambda: 2)
        log.warning("after b")
        return "ok"

    sim = sd.Simulation(services=[svc], faults=[sd.Fault(kind="crash", step="b",
                                                          phase="after-store")])
    h = sim.invoke("Logged/go")
    with caplog.at_level("WARNING", logger="replay-test"):
        sim.run()
    assert h.result() == "ok" and h.attempts == 2
    # On a Restate server too, the second attempt's replayed lines are dropped.
    assert [r.getMessage() for r in caplog.records] == ["start", "after a", "after b"]


def test_combinators_bound_before_simdurable_was_ever_imported() -> None:
    import subprocess
    import sys
    from pathlib import Path

    program = (
        "import sys\n"
        "from restate import gather, select\n"
        "assert 'simdurable' not in sys.modules\n"
        "import restate, simdurable as sd\n"
        "svc = restate.Service('Early')\n"
        "@svc.handler()\n"
        "async def go(ctx: restate.Context) -> list:\n"
        "    fs = await gather(ctx.run_typed('a', lambda: 1), ctx.run_typed('b', lambda: 2))\n"
        "    return [await f for f in fs] + await select(x=ctx.run_typed('c', lambda: 3))\n"
        "sim = sd.Simulation(services=[svc]); h = sim.invoke('Early/go'); sim.run()\n"
        "print(h.result())\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", program], cwd=root, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1, 2, 'x', 3]"


_meta = restate.Service("Meta")


@_meta.handler()
async def _refuse(ctx: restate.Context, payment: str) -> str:
    raise restate.TerminalError("declined", status_code=402, metadata={"payment": payment})


def _no_stock() -> None:
    raise restate.TerminalError("no stock", 409, metadata={"sku": "lamp"})


@_meta.handler()
async def _caller(ctx: restate.Context, payment: str) -> list[object]:
    caught = []
    try:
        await ctx.service_call(_refuse, arg=payment)
    except restate.TerminalError as err:
        caught.append(err.metadata)
    try:
        await ctx.run_typed("reserve", _no_stock)
    except restate.TerminalError as err:
        await ctx.sleep(timedelta(seconds=1))
        caught.append(err.metadata)
    return caught


@pytest.mark.parametrize("always_suspend", [False, True])
def test_a_terminal_errors_metadata_reaches_who_catches_it_as_on_restate(
        always_suspend: bool) -> None:
    sim = sd.Simulation(services=[_meta], always_suspend=always_suspend)
    h = sim.invoke("Meta/_caller", "p-1")
    sim.run()
    assert h.result() == [{"payment": "p-1"}, {"sku": "lamp"}]
    failed = sim.invoke("Meta/_refuse", "p-2")
    sim.run()
    with pytest.raises(sd.TerminalError) as info:
        failed.result()
    assert info.value.metadata == {"payment": "p-2"}


def test_a_test_catches_a_hosted_handlers_failure_with_restates_terminal_error(
        tmp_path: Path) -> None:
    from restate.exceptions import TerminalError  # as a test written against the app does

    sim = sd.Simulation(services=[_meta])
    failed = sim.invoke("Meta/_refuse", "p-3")
    sim.run()
    with pytest.raises(TerminalError) as info:
        failed.result()
    assert (info.value.status_code, info.value.message) == (402, "declined")
    assert isinstance(info.value, sd.TerminalError)
    with sd.Executor([_meta], db=tmp_path / "dev.db") as ex:
        with pytest.raises(TerminalError, match="declined"):
            ex.call("Meta/_refuse", "p-4", timeout=10)


def test_a_retryable_error_raised_on_every_attempt_names_the_users_line() -> None:
    shop.attempts.clear()
    ok = sd.check(services=[shop.shop], invoke="Shop/retry_after", max_examples=0,
                  setup=shop.attempts.clear, hash_seeds=())
    assert ok.ok, ok.render()
    looping = sd.check(services=[shop.shop], invoke="Shop/always_busy", max_examples=0,
                       hash_seeds=())
    assert looping.kinds == ["retry-loop"]
    v = looping.violations[0]
    assert "raised RetryableError('always busy') at shop.py:" in v.message, v.message
    assert 'raise RetryableError("always busy"' in v.details
    # The class the user raised, not the one simdurable re-raised it as.
    assert v.details.rstrip().endswith("restate.exceptions.RetryableError: always busy"), v.details
