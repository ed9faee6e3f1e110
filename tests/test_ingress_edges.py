"""Keys and inputs at the edge of Restate's ingress, as restate-server 1.7.12 answers them.

Each request below was sent to restate-server 1.7.12 with restate-sdk 1.3.0
handlers of the same shape (2026-12-06); a simulation, an executor and
``serve`` now answer as it did:

=======================================  ==========================================
request                                  restate-server 1.7.12
=======================================  ==========================================
``POST /Obj//get`` (an empty key)        200, the handler's ``ctx.key()`` is ``''``
``POST /Wf//run``                        200: a workflow of key ``''`` ran
``idempotency-key: ""``, sent twice      the same invocation: ``PreviouslyAccepted``
``idempotency-key: ""``, called twice    the first call's result; the handler ran once
``idempotency-key`` on a workflow run    400 "cannot use the idempotency key with
                                         workflow handlers. ..." (an empty one too)
``idempotency-key`` on a shared handler  200
``POST /Wf/k/run/send?delay=1s``         202, with its ``executionTime``: a workflow's
                                         run may be sent delayed
``POST /Svc/ping?delay=1s`` (a call)     400 "cannot use the delay query parameter with
                                         calls. The delay is supported only with sends"
a body for a handler without input       400 "input validation error: Expected body
                                         and content-type to be empty, ..."
=======================================  ==========================================

Before, an empty idempotency key was taken as no key by a simulation (the same
call made twice ran twice) and refused by an executor and ``serve``; an empty
key was refused by ``serve`` and by world events; a simulation and an executor
took an idempotency key on a workflow's run, and a simulation an input for a
handler that takes none.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import simdurable as sd
from simdurable import world

svc = sd.Service("Svc")
obj = sd.VirtualObject("Obj")
wf = sd.Workflow("Wf")
runs: list[str] = []


@svc.handler()
async def ping(ctx: sd.Context) -> str:
    runs.append("ping")
    return "pong"


@obj.handler()
async def inc(ctx: sd.ObjectContext) -> int:
    runs.append(f"inc {ctx.key()!r}")
    n: int = (await ctx.get("n") or 0) + 1
    ctx.set("n", n)
    return n


@wf.main()
async def run(ctx: sd.WorkflowContext, x: int) -> int:
    return x


@wf.handler()
async def peek(ctx: sd.WorkflowSharedContext) -> str:
    return "peek " + ctx.key()


SERVICES = [svc, obj, wf]
WORKFLOW_KEY_REFUSED = ("Wf/k/run is a workflow's run handler: it takes no idempotency_key "
                        "(Restate's ingress: \"cannot use the idempotency key with workflow "
                        "handlers. The handler invocation will already be idempotent by the "
                        "workflow key itself.\")")


def test_an_empty_idempotency_key_is_a_key_in_a_simulation() -> None:
    runs.clear()
    sim = sd.Simulation(SERVICES, seed=1)
    first = sim.invoke("Obj/a/inc", idempotency_key="")
    again = sim.invoke("Obj/a/inc", idempotency_key="")
    other = sim.invoke("Obj/a/inc", idempotency_key="x")
    plain = sim.invoke("Obj/a/inc")
    sent = sim.send("Svc/ping", idempotency_key="")
    sent_again = sim.send("Svc/ping", idempotency_key="")
    sim.run()
    assert again.id == first.id and sent_again.id == sent.id
    assert len({first.id, other.id, plain.id}) == 3
    assert (first.result(), again.result(), other.result(), plain.result()) == (1, 1, 2, 3)
    assert runs.count("inc 'a'") == 3 and runs.count("ping") == 1


def test_an_empty_key_is_a_key() -> None:
    runs.clear()
    sim = sd.Simulation(SERVICES, seed=1)
    a, b = sim.invoke("Obj//inc"), sim.invoke("Obj//inc")
    w = sim.invoke("Wf//run", 7)
    sim.run()
    assert (a.result(), b.result(), w.result()) == (1, 2, 7)
    assert runs == ["inc ''", "inc ''"]
    # a world event may name it too, as a request to the ingress may
    assert world.call("Obj//inc").target == "Obj//inc"
    assert world.from_dict({"send": {"target": "Obj//inc"}}).target == "Obj//inc"
    assert world.resolve_promise("p", 1, workflow="Wf/").target == "Wf/"


def test_a_workflow_run_takes_no_idempotency_key() -> None:
    sim = sd.Simulation(SERVICES, seed=1)
    for key in ("a", ""):
        with pytest.raises(ValueError) as err:
            sim.invoke("Wf/k/run", 1, idempotency_key=key)
        assert str(err.value) == WORKFLOW_KEY_REFUSED
        with pytest.raises(ValueError, match="takes no idempotency_key"):
            sim.send("Wf/k/run", 1, idempotency_key=key)
    peeked = sim.invoke("Wf/k/peek", idempotency_key="p")  # a shared handler takes one
    sim.run()
    assert peeked.result() == "peek k"
    assert [rec.target for rec in sim.invocations()] == ["Wf/k/peek"]


@pytest.mark.parametrize(("given", "shown"), [
    ({"input": 5}, "5"), ({"input": {"a": 1}}, "{'a': 1}"), ({"raw": b"5"}, "raw=b'5'"),
])
def test_an_input_for_a_handler_that_takes_none_is_refused(given: dict[str, object],
                                                           shown: str) -> None:
    sim = sd.Simulation(SERVICES, seed=1)
    with pytest.raises(TypeError) as err:
        sim.invoke("Svc/ping", **given)  # type: ignore[arg-type]
    assert str(err.value) == (
        f"Svc/ping takes no input, but was given {shown} (Restate's ingress refuses a body "
        "for it: \"Expected body and content-type to be empty\")")
    assert sim.invocations() == []
    ok = sim.invoke("Svc/ping", raw=b"")  # an empty body is no input
    sim.run()
    assert ok.result() == "pong"


def test_an_executor_takes_the_same_keys(tmp_path: Path) -> None:
    runs.clear()
    with sd.Executor(SERVICES, db=tmp_path / "x.db") as ex:
        assert ex.call("Obj/a/inc", idempotency_key="", timeout=10) == 1
        assert ex.call("Obj/a/inc", idempotency_key="", timeout=10) == 1
        assert ex.call("Obj//inc", timeout=10) == 1
        with pytest.raises(ValueError) as err:
            ex.call("Wf/k/run", 1, idempotency_key="a", timeout=10)
        assert str(err.value) == WORKFLOW_KEY_REFUSED
        assert len(ex.invocations()) == 2
    assert runs == ["inc 'a'", "inc ''"]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    ex = sd.Executor(SERVICES, db=tmp_path / "dev.db", durability="normal")
    ex.start(port=0)
    try:
        assert ex.url is not None
        yield ex.url
    finally:
        ex.close()


def post(url: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
         ) -> tuple[int, object]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        sent = {"content-type": "application/json"} if body else {}
        conn.request("POST", path, body, {**sent, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_serve_answers_as_the_ingress(url: str) -> None:
    runs.clear()
    empty = {"idempotency-key": ""}
    assert post(url, "/Obj/a/inc", headers=empty) == (200, 1)
    assert post(url, "/Obj/a/inc", headers=empty) == (200, 1)
    assert post(url, "/Obj/a/inc", headers={"idempotency-key": "x"}) == (200, 2)
    status, first = post(url, "/Svc/ping/send", headers=empty)
    status_again, again = post(url, "/Svc/ping/send", headers=empty)
    assert (status, status_again) == (202, 202)
    assert isinstance(first, dict) and isinstance(again, dict)
    assert (first["status"], again) == (
        "Accepted", {"invocationId": first["invocationId"], "status": "PreviouslyAccepted"})
    assert post(url, "/Obj//inc") == (200, 1)
    assert post(url, "/Wf//run", b"3") == (200, 3)
    assert post(url, "/Wf/k/peek", headers={"idempotency-key": "p"}) == (200, "peek k")
    status, delayed = post(url, "/Wf/later/run/send?delay=1ms", b"4")
    assert status == 202 and isinstance(delayed, dict)
    assert delayed["status"] == "Accepted"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000000Z",
                        delayed["executionTime"])
    for key in ("a", ""):
        status, body = post(url, "/Wf/k/run", b"1", {"idempotency-key": key})
        assert isinstance(body, dict)
        assert (status, body["message"]) == (400, (
            "cannot use the idempotency key with workflow handlers. The handler invocation "
            "will already be idempotent by the workflow key itself."))
    assert runs.count("inc 'a'") == 2 and runs.count("inc ''") == 1


def test_an_execution_time_is_written_as_restate_writes_it() -> None:
    from simdurable._live._ingress import execution_time

    assert execution_time(1_796_574_350_580) == "2026-12-06T16:25:50.580000000Z"
    assert execution_time(0) == "1970-01-01T00:00:00.000000000Z"


# -- the same refusals where a user writes the request ---------------------------------


@pytest.mark.parametrize(("line", "field", "message"), [
    ("{target: Wf/k/run, input: 1, idempotency_key: k1}", "idempotency_key",
     "Wf/k/run is a workflow's run handler: it takes no idempotency_key"),
    ("{target: Svc/ping, input: 5}", "input", "Svc/ping takes no input, but was given 5"),
])
def test_a_scenario_names_the_field_the_ingress_refuses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, field: str,
        message: str) -> None:
    # Raised by the simulation, it was a traceback.
    from simdurable._cli import main

    path = tmp_path / "refused.yaml"
    path.write_text("name: refused\nservices: tests.test_ingress_edges:SERVICES\ninvoke:\n"
                    f"  - {line}\nexpect:\n  finished: true\n")
    assert main(["scenario", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4:" in out and f"invoke[0].{field}: {message}" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(("given", "message"), [
    ({"invoke": "Svc/ping", "input": 3}, "check(input=...): Svc/ping takes no input, but was "
                                         "given 3"),
    ({"invoke": "Obj/a/inc", "concurrent": [("Svc/ping", 2)]},
     "check(concurrent=...): Svc/ping takes no input, but was given 2"),
    ({"invoke": "Obj/a/inc", "world": [world.call("Svc/ping", 5)]},
     "check(world[0]: call): Svc/ping takes no input, but was given 5"),
])
def test_check_refuses_an_input_the_ingress_refuses_before_any_run(
        given: dict[str, object], message: str) -> None:
    # Taken, every run stopped on it, deep inside the reference run.
    runs.clear()
    with pytest.raises(TypeError) as err:
        sd.check(SERVICES, max_examples=1, **given)  # type: ignore[arg-type]
    assert str(err.value).startswith(message)
    assert runs == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--invoke", "Svc/ping", "--input", "5"],
     "--input is not a valid input for Svc/ping: the handler takes no input (Restate's "
     "ingress refuses a body for it)"),
    (["--invoke", "Obj/a/inc", "--world", '{"send": {"target": "Svc/ping", "input": [1]}}'],
     "--world #1.send.input is not a valid input for Svc/ping: the handler takes no input"),
])
def test_the_command_line_refuses_it_in_one_line(capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], message: str) -> None:
    from simdurable._cli import main

    assert main(["check", "tests.test_ingress_edges:SERVICES", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("key", ["", "adda"])
def test_a_promise_completed_for_another_key_is_named_where_the_workflow_waits(
        key: str) -> None:
    # An empty or mistyped key is a key: the event reaches another workflow, and
    # the one checked waits for ever. The report says where its promise went.
    from examples import signup

    report = sd.check(signup.services, invoke="Signup/ada/run", input="ada@example.com",
                      externals=signup.externals, max_examples=0, single_faults=False, hash_seeds=(),
                      world=[world.call(f"Signup/{key}/click", "s3cret")])
    assert [v.kind for v in report.violations] == ["stuck"]
    assert report.violations[0].message.endswith(
        f"waits on #3 promise \"email-link\" (a promise 'email-link' was completed by "
        f"Signup/{key}/click (#0), for the key {key!r}, not this workflow's 'ada')")
    right = sd.check(signup.services, invoke="Signup/ada/run", input="ada@example.com",
                     externals=signup.externals, max_examples=0, single_faults=False, hash_seeds=(),
                     world=[world.call("Signup/ada/click", "s3cret")])
    assert right.ok
