"""``import simdurable as restate`` offers restate-sdk 1.3.0's names and submodules,
with restate's behaviour, without restate-sdk installed."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

import simdurable as restate
import simdurable as sd

NAMES = json.loads((Path(__file__).parent / "data" / "restate_sdk_1_3_0_names.json").read_text())

# Public names of restate-sdk that are the machinery of its link to a Restate
# server (its state machine's futures, optional-dependency probes, the helpers
# that build handlers), which programs do not use. Anything else must be here.
NOT_OFFERED = {
    "restate.asyncio": {"AllCompletedUnresolvedFuture", "FirstCompletedUnresolvedFuture",
                        "SingleUnresolvedFuture", "ServerDurableFuture",
                        "ServerInvocationContext"},
    "restate.serde": {"DaciteFromDict", "DaciteToDict", "Msgspec", "MsgspecJsonAPI",
                      "PydanticBaseModel", "try_import_from_dacite", "try_import_msgspec_api",
                      "try_import_pydantic_base_model"},
    "restate.handler": {"Msgspec", "check_state_preload_options", "extract_core_type", "invoke_handler",
                        "make_handler", "update_handler_io_with_input_type_hints",
                        "update_handler_io_with_return_type_hints",
                        "update_handler_io_with_type_hints"},
    "restate.service": {"make_handler"},
    "restate.object": {"make_handler", "check_state_preload_options"},
    "restate.workflow": {"make_handler", "check_state_preload_options"},
    "restate.types": {"extract_core_type"},
}


def ours(module: str) -> str:
    return "simdurable" + module[len("restate"):]


@pytest.mark.parametrize("module", [m for m in NAMES if m != "restate-sdk"])
def test_every_public_name_of_restate_sdk_is_offered(module):
    assert NAMES["restate-sdk"] == "1.3.0"
    mine = importlib.import_module(ours(module))
    left_out = NOT_OFFERED.get(module, set())
    assert left_out <= set(NAMES[module]), "an exclusion names nothing restate-sdk has"
    missing = [n for n in NAMES[module] if n not in left_out and not hasattr(mine, n)]
    assert missing == [], f"{ours(module)} lacks {missing}"


def test_restate_top_level_all_is_in_ours_and_submodules_are_attributes():
    top = set(NAMES["restate"])
    assert top <= set(sd.__all__)
    for module in NAMES:
        if module.startswith("restate."):  # restate.serde is simdurable.serde
            name = module.split(".", 1)[1]
            assert getattr(sd, name) is importlib.import_module(ours(module))


@pytest.mark.parametrize("name", ["create_test_harness", "test_harness", "create_client",
                                  "connect", "with_connection", "RestateClient",
                                  "RestateClientSendHandle"])
def test_server_only_names_import_and_refuse_when_called(name):
    thing = getattr(restate, name)
    with pytest.raises(restate.ServerOnlyError, match=r"needs a Restate server.*Simulation"):
        thing(object())


def test_app_returns_the_services_every_host_accepts():
    greeter = restate.Service("AppGreeter")

    @greeter.handler()
    async def greet(ctx: restate.Context, name: str) -> str:
        return f"hi {name}"

    counter = restate.VirtualObject("AppCounter")

    @counter.handler()
    async def add(ctx: restate.ObjectContext, n: int) -> int:
        total = (await ctx.get("n") or 0) + n
        ctx.set("n", total)
        return total

    app = restate.app(services=[greeter, counter])
    assert list(app) == [greeter, counter]
    for services in (app, [app]):
        sim = sd.Simulation(services, seed=1)
        h = sim.invoke("AppGreeter/greet", "ann")
        c = sim.invoke("AppCounter/k/add", 2)
        sim.run()
        assert (h.result(), c.result()) == ("hi ann", 2)
    report = sd.check(app, invoke="AppCounter/k/add", input=3, max_examples=3)
    assert report.ok
    endpoint = restate.endpoint.Endpoint()
    endpoint.bind(greeter).bind(counter)
    assert list(endpoint.app()) == [greeter, counter]
    with pytest.raises(ValueError, match="two services are named 'AppGreeter'"):
        restate.app([greeter, greeter])
    with pytest.raises(TypeError, match="takes Service, VirtualObject and Workflow"):
        restate.app(["AppGreeter"])


def test_exceptions_module_and_internal_exceptions():
    from simdurable.exceptions import RetryableError, TerminalError, is_internal_exception
    from simdurable.runtime._invocation import Abort

    assert TerminalError is sd.TerminalError and RetryableError is sd.RetryableError
    assert is_internal_exception(Abort()) and is_internal_exception(
        restate.exceptions.SuspendedException())
    assert not is_internal_exception(TerminalError("no"))


class Model:
    """A stand-in for a pydantic model: what PydanticJsonSerde relies on."""

    def __init__(self, x: int) -> None:
        self.x = x

    def model_dump_json(self) -> str:
        return json.dumps({"x": self.x})

    @classmethod
    def model_validate_json(cls, buf: bytes) -> Model:
        return cls(**json.loads(buf))


def test_pydantic_serde_round_trips_a_model():
    serde = restate.serde.PydanticJsonSerde(Model)
    assert serde.serialize(Model(4)) == b'{"x": 4}'
    assert serde.deserialize(b'{"x": 4}').x == 4
    assert serde.serialize(None) == b"" and serde.deserialize(b"") is None
    assert restate.serde.is_pydantic(Model) and not restate.serde.is_pydantic(int)


log_svc = restate.Service("Logs")
logger = restate.getLogger("simdurable.test.swap")


log_runs: list[int] = []


@log_svc.handler()
async def logs(ctx: restate.Context) -> str:
    log_runs.append(1)
    logger.info("before the step")
    await ctx.run_typed("step", lambda: "x")
    logger.info("after the step")
    return "done"


def test_get_logger_drops_what_a_replaying_handler_logs_again(caplog):
    caplog.set_level(logging.INFO, logger="simdurable.test.swap")
    log_runs.clear()
    sim = sd.Simulation([log_svc], seed=1, always_suspend=True)
    sim.crash(after="step", point="after-store")
    h = sim.invoke("Logs/logs")
    sim.run()
    assert h.result() == "done"
    assert len(log_runs) >= 2, "the handler must have replayed for this test to mean anything"
    assert [r.getMessage() for r in caplog.records] == ["before the step", "after the step"]


def test_current_context_is_the_running_handlers():
    svc = restate.Service("Current")
    seen = []

    async def helper() -> bool:
        return restate.extensions.current_context() is not None

    @svc.handler()
    async def who(ctx: restate.Context) -> bool:
        seen.append(restate.extensions.current_context() is ctx)
        await ctx.sleep(timedelta(seconds=1))
        seen.append(restate.extensions.current_context() is ctx)
        return await helper()

    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke("Current/who")
    sim.run()
    assert h.result() is True and seen == [True, True]
    assert restate.extensions.current_context() is None


def test_contextvar_gives_the_value_while_entered():
    asyncio.run(contextvar_gives_the_value_while_entered())


async def contextvar_gives_the_value_while_entered():
    from contextlib import asynccontextmanager

    @restate.extensions.contextvar
    @asynccontextmanager
    async def resource():
        yield "hi"

    with pytest.raises(LookupError):
        _ = resource.value
    async with resource() as got:
        assert got is None and resource.value == "hi"


# A program written for restate-sdk, run with ``restate`` resolved to simdurable
# and restate-sdk not importable: what users of the import swap do.
PROGRAM = '''
from datetime import timedelta

import restate
from restate import (Context, ObjectContext, RestateDurableFuture, Service, VirtualObject,
                     Workflow, WorkflowContext, WorkflowSharedContext, gather, select)
from restate.exceptions import TerminalError
from restate.serde import JsonSerde
from restate.context import RunOptions

logger = restate.getLogger(__name__)
greeter = Service("Greeter")
wf = Workflow("Signup")


def pay(amount: int) -> int:
    if amount < 0:
        raise TerminalError("negative", 400)
    return amount


@greeter.handler()
async def greet(ctx: Context, amounts: list) -> dict:
    futures: list[RestateDurableFuture[int]] = [
        ctx.run_typed(f"pay-{i}", pay, RunOptions(serde=JsonSerde()), amount=a)
        for i, a in enumerate(amounts)]
    done = await gather(*futures)
    out = []
    for f in done:
        try:
            out.append(await f)
        except TerminalError as err:
            out.append(err.status_code)
    who, _ = await select(timer=ctx.sleep(timedelta(seconds=1)), never=ctx.awakeable()[1])
    logger.info("greeted")
    return {"out": out, "first": who}


@wf.main()
async def run(ctx: WorkflowContext) -> str:
    return await ctx.promise("link")


@wf.handler()
async def click(ctx: WorkflowSharedContext, link: str) -> None:
    ctx.promise("link").resolve(link)


app = restate.app([greeter, wf])
'''

RUNNER = '''
import importlib.abc, sys

class NoRestateSdk(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "restate" or name.startswith("restate."):
            raise ImportError("restate-sdk is not installed here")

sys.meta_path.insert(0, NoRestateSdk())
import simdurable
simdurable.install_as_restate()
import program
sim = simdurable.Simulation(program.app, seed=3)
g = sim.invoke("Greeter/greet", [5, -1, 7])
r = sim.invoke("Signup/ann/run")
sim.run(until=10)
c = sim.invoke("Signup/ann/click", "https://x")
sim.run()
print(g.result(), r.result(), c.result())
'''


def test_install_as_restate_refuses_once_restate_sdk_is_imported(monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "restate", types.ModuleType("restate"))
    with pytest.raises(RuntimeError, match="restate-sdk is already imported"):
        sd.install_as_restate()


def test_a_restate_sdk_program_runs_unchanged_without_restate_sdk(tmp_path):
    (tmp_path / "program.py").write_text(textwrap.dedent(PROGRAM))
    (tmp_path / "runner.py").write_text(textwrap.dedent(RUNNER))
    done = subprocess.run([sys.executable, "runner.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == (
        "{'out': [5, 400, 7], 'first': 'timer'} https://x None")


flow = restate.Workflow("Flow")


@flow.main()
async def flow_run(ctx: restate.WorkflowContext) -> str:
    return await ctx.promise("go")


@flow.handler()
async def go_without_awaiting(ctx: restate.WorkflowSharedContext, value: str) -> None:
    ctx.promise("go").resolve(value)  # acts when called, as in restate-sdk


@flow.handler()
async def refuse_without_awaiting(ctx: restate.WorkflowSharedContext) -> None:
    ctx.promise("go").reject("no", 418)


@flow.handler()
async def resolve_twice(ctx: restate.WorkflowSharedContext) -> list:
    await ctx.promise("go").resolve("first")
    try:
        await ctx.promise("go").resolve("second")
    except restate.TerminalError as err:
        return ["refused", err.status_code]
    return ["accepted"]


def test_a_promise_resolves_or_rejects_when_called_not_when_awaited():
    sim = sd.Simulation([flow], seed=1)
    run = sim.invoke("Flow/a/flow_run")
    sim.invoke("Flow/a/go_without_awaiting", "yes")
    sim.run()
    assert run.result() == "yes"

    sim = sd.Simulation([flow], seed=1)
    run = sim.invoke("Flow/b/flow_run")
    sim.invoke("Flow/b/refuse_without_awaiting")
    sim.run()
    with pytest.raises(sd.TerminalError, match="no"):
        run.result()


def test_awaiting_a_promise_completion_tells_whether_it_was_already_completed():
    sim = sd.Simulation([flow], seed=1)
    h = sim.invoke("Flow/c/resolve_twice")
    sim.run()
    assert h.result()[0] == "refused"


scoped = restate.Service("Scoped")


@scoped.handler()
async def echo(ctx: restate.Context, x: int) -> int:
    req = ctx.request()
    assert req.scope is None and req.limit_key is None
    assert not req.attempt_finished_event.is_set()
    return x


@scoped.handler()
async def via_scope(ctx: restate.Context, x: int) -> list:
    s = ctx.scope("tenant-1")
    a = await s.service_call(echo, x, limit_key="tenant-1/user.42")
    s.service_send(echo, x + 1)
    b = await ctx.generic_call("Scoped", "echo", b"7", scope="tenant-1", limit_key="t")
    return [a, int(b)]


@scoped.handler()
async def bad_scope(ctx: restate.Context) -> None:
    ctx.scope("no spaces allowed")


@scoped.handler()
async def limit_without_scope(ctx: restate.Context) -> None:
    ctx.generic_send("Scoped", "echo", b"1", limit_key="t")


def test_scoped_calls_run_as_calls_without_a_scope():
    sim = sd.Simulation([scoped], seed=1)
    h = sim.invoke("Scoped/via_scope", 5)
    sim.run()
    assert h.result() == [5, 7]
    assert [e.kind for e in sim.journal(h) if e.kind in ("call", "send")] == [
        "call", "send", "call"]


@pytest.mark.parametrize(("handler", "message"), [
    ("bad_scope", "the scope 'no spaces allowed' must be 1 to 36 characters"),
    ("limit_without_scope", "takes a limit_key only within a scope"),
])
def test_bad_scopes_and_limit_keys_are_refused(handler, message):
    sim = sd.Simulation([scoped], seed=1)
    h = sim.invoke(f"Scoped/{handler}")
    sim.run()
    with pytest.raises(sd.HandlerError, match=message):
        h.result()


def test_default_serde_stores_and_rebuilds_msgspec_structs():
    msgspec = pytest.importorskip("msgspec")

    class Greeting(msgspec.Struct):
        message: str
        count: int = 1

    serde = restate.serde.DefaultSerde(Greeting)
    assert json.loads(serde.serialize(Greeting("hi"))) == {"message": "hi", "count": 1}
    assert serde.deserialize(b'{"message":"hi","count":2}') == Greeting("hi", 2)
    own = restate.serde.MsgspecJsonSerde(Greeting)
    assert own.deserialize(own.serialize(Greeting("yo"))) == Greeting("yo")


def test_retry_policy_fields_left_none_take_the_defaults_as_in_restate_sdk():
    policy = restate.retry_policy.InvocationRetryPolicy(
        initial_interval=None, exponentiation_factor=None, max_interval=None,
        max_attempts=3, on_max_attempts=None)
    backoff = policy.backoff()
    assert (policy.on_max_attempts, backoff.initial_ms, backoff.factor,
            backoff.max_interval_ms, backoff.max_attempts) == ("pause", 500, 2.0, 60_000, 3)


CLI_RUNNER = '''
import importlib.abc, sys

class NoRestateSdk(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "restate" or name.startswith("restate."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoRestateSdk())
from simdurable._cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_the_cli_loads_a_restate_sdk_program_without_restate_sdk(tmp_path):
    """`simdurable check`/`scenario`/`serve` and `[tool.simdurable] services` load a
    module that does `import restate` with the import swap when restate-sdk is absent,
    as a conftest.py calling install_as_restate() would."""
    (tmp_path / "program.py").write_text(textwrap.dedent(PROGRAM))
    (tmp_path / "runner.py").write_text(CLI_RUNNER)
    done = subprocess.run(
        [sys.executable, "runner.py", "check", "program:app", "--invoke", "Greeter/greet",
         "--input", "[5, -1, 7]", "--replay", ""],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    # the fault-free case replayed: it loads, runs, and finds nothing to reproduce
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the case 'no faults' with seed 0 ran without a violation" in done.stdout
