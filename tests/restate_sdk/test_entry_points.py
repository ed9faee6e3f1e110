"""restate-sdk apps through every entry point: CLI, plugin, scenarios, executor."""

from __future__ import annotations

import http.client
import json
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("restate")

import restate  # noqa: E402

import simdurable as sd  # noqa: E402
from simdurable._cli import main  # noqa: E402
from simdurable._scenario import load_scenario, run_scenario  # noqa: E402

from . import shop  # noqa: E402

pytest_plugins = ["pytester"]

ORDER = json.dumps({"item": "book", "amount": 30})


def test_simdurable_check_on_a_restate_handler_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tests.restate_sdk.shop:checkout_unsafe", "--input", ORDER,
                 "--max-examples", "10"]) == 1
    out = capsys.readouterr().out
    assert "duplicate-effect: bank.charge" in out
    assert "shop.py:" in out  # the user's source line, not restate-sdk's wrapper
    assert main(["check", "tests.restate_sdk.shop:checkout", "--input", ORDER,
                 "--max-examples", "10"]) == 0


@pytest.mark.parametrize(("argv", "message"), [
    (["tests.restate_sdk.shop:checkout", "--input", '{"item": "book", "amount": "x"}'],
     "--input is not a valid input for Shop/checkout: amount: Input should be a valid "
     'integer, unable to parse string as an integer (got "x")'),
    (["tests.restate_sdk.shop:greet", "--input", "7"],
     "--input is not a valid input for Greeter/greet: the input is a JSON number, 7, but the "
     "handler takes str"),
    (["tests.restate_sdk.shop:greet"],
     "--input is not a valid input for Greeter/greet: the input is JSON null, but the handler "
     "takes str (give the input with --input, as JSON)"),
])
def test_check_refuses_an_input_the_handler_cannot_take(
        capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    # It used to check the handler failing on that input in every run: "no violations".
    assert main(["check", *argv, "--max-examples", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"simdurable check: {message}\n"


@pytest.mark.parametrize(("target", "message"), [
    ("tests.restate_sdk.shop:app/greet",
     "'app' is an app, not a service: name the handler with --invoke, like simdurable check "
     "tests.restate_sdk.shop:app --invoke \"Greeter/greet\""),
    ("tests.restate_sdk.shop:app/add",
     "like simdurable check tests.restate_sdk.shop:app --invoke \"Cart/<key>/add\""),
    ("tests.restate_sdk.shop:app/nope",
     "--invoke \"Service/handler\" (none of its services has a handler 'nope')"),
    ("examples.shop:services/checkout",
     "'services' is a list of services, not a service: name the handler with --invoke, like "
     "simdurable check examples.shop:services --invoke \"Shop/checkout\""),
])
def test_a_handler_named_under_an_app_or_a_list_is_given_its_invoke(
        capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    # It said "'app' is a function, not a service", with no way to name the handler.
    assert main(["check", target, "--input", '"x"', "--max-examples", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simdurable check: {target!r}: ") and message in err, err


def test_simdurable_check_on_a_restate_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tests.restate_sdk.shop:app", "--invoke", "Cart/c1/add",
                 "--input", '"pear"', "--max-examples", "5"]) == 0
    assert "Cart/c1/add" in capsys.readouterr().out


class _Reversed(restate.JournalValueCodec):
    """A codec as an app that encrypts its journal has one."""

    def encode(self, data: bytes) -> bytes:
        return data[::-1]

    async def decode(self, data: bytes) -> bytes:
        return data[::-1]


class _SyncDecode(_Reversed):
    def decode(self, data: bytes) -> bytes:  # type: ignore[override]
        return data[::-1]


coded = restate.app([shop.greeter, shop.cart], journal_value_codec=_Reversed())


def test_an_app_with_a_journal_value_codec_is_hosted(capsys: pytest.CaptureFixture[str]) -> None:
    # It was refused ("journal_value_codec=... is not supported"), though simdurable's
    # own app(...) accepts one; the codec is checked as restate-sdk uses it.
    sim = sd.Simulation(services=[coded])
    h = sim.invoke("Cart/c1/add", "pear")
    sim.run()
    assert h.result() == [["pear"], True, "c1"]
    assert main(["check", f"{__name__}:coded", "--invoke", "Cart/c1/add",
                 "--input", '"pear"', "--max-examples", "5"]) == 0


def test_a_codec_whose_decode_is_not_async_is_named() -> None:
    # restate-sdk awaits decode: a plain one fails there with TypeError.
    sim = sd.Simulation(services=[restate.app([shop.cart], journal_value_codec=_SyncDecode())])
    sim.invoke("Cart/c1/add", "pear")
    with pytest.raises(sd.SerializationError, match="decode returned bytes, not an awaitable"):
        sim.run()


SCENARIO = """\
services: tests.restate_sdk.shop:app
externals: [tests.restate_sdk.shop:bank]
seed: 3
invoke:
  - target: Shop/{handler}
    input: {{item: book, amount: 10}}
  - target: Cart/c1/add
    input: apple
    expect: {{result: [[apple], true, c1]}}
faults:
  - {{kind: crash, step: charge, phase: effect-done}}
expect:
  effects: {{bank: {{charge: 1}}}}
"""


def test_a_yaml_scenario_over_a_restate_app(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(handler="checkout"))
    assert run_scenario(load_scenario(path)).ok
    path.write_text(SCENARIO.format(handler="checkout_unsafe"))
    result = run_scenario(load_scenario(path))
    assert not result.ok
    assert "charge" in result.render()


PLUGIN_APP = '''
import restate
from simdurable import FakeExternal

bank = FakeExternal("bank")
shop = restate.Service("Shop")


def charge(amount: int, key: str | None) -> str:
    return bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"]


@shop.handler()
async def pay(ctx: restate.Context, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=str(ctx.uuid()))


@shop.handler()
async def pay_unsafe(ctx: restate.Context, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=None)


app = restate.app([shop])
'''


def test_pytest_simdurable_over_a_restate_app(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shopmod=PLUGIN_APP)
    pytester.makefile(".toml", pyproject=textwrap.dedent('''
        [tool.pytest.ini_options]
        pythonpath = ["."]
        addopts = "-p no:cacheprovider -p no:hypothesispytest"

        [tool.simdurable]
        services = ["shopmod:app"]
        externals = ["shopmod:bank"]
        max_examples = 10
        [tool.simdurable.inputs]
        "Shop/pay" = [10]
        "Shop/pay_unsafe" = [10]
    '''))
    result = pytester.runpytest("--simdurable", "-p", "no:xdist")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*Shop/pay_unsafe*"])
    # The reproducers name the user's own service, so that they can be pasted back.
    out = result.stdout.str()
    assert "sim = sd.Simulation(services=[shopmod.shop], seed=0, externals=[shopmod.bank]" in out
    assert "services=[shopmod.shop], invoke='Shop/pay_unsafe'" in out
    assert "<Service" not in out


def _request(url: str, method: str, path: str, body: str | None = None) -> tuple[int, object]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body.encode() if body else None,
                     headers={"content-type": "application/json"} if body else {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(raw) if raw else None


def test_the_executor_serves_a_restate_app_over_http(tmp_path: Path) -> None:
    ex = sd.Executor([shop.app], db=tmp_path / "dev.db")
    ex.start(port=0)
    try:
        assert ex.url is not None
        status, body = _request(ex.url, "POST", "/Shop/checkout", ORDER)
        assert status == 200
        assert isinstance(body, dict) and body["item"] == "book" and body["charged"] == 30
        assert _request(ex.url, "POST", "/Shop/declined")[1] == "caught 402 card declined"
        assert _request(ex.url, "POST", "/Cart/c9/add", '"fig"')[1] == [["fig"], True, "c9"]
        status, body = _request(ex.url, "POST", "/Greeter/fail", '"why"')
        assert status == 418 and isinstance(body, dict) and body["message"] == "why"
        status, _ = _request(ex.url, "POST", "/Shop/checkout", '{"item": 1}')
        assert status == 400  # the pydantic model refuses the body, as restate's ingress
        # restate's own JSON serde is judged by the type hint, as simdurable's is (a
        # number for `name: str` used to be taken, and fail on every attempt)
        before = len(ex.invocations())
        status, body = _request(ex.url, "POST", "/Greeter/greet", "7")
        assert status == 400 and isinstance(body, dict)
        assert body["message"] == ("the body is not a valid input for Greeter/greet: the body "
                                   "is a JSON number, 7, but the handler takes str")
        assert len(ex.invocations()) == before
    finally:
        ex.close()
