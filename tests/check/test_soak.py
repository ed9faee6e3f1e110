"""``simdurable soak``: seed ranges, shards, a budget, and failures replayed by the plugin."""

from __future__ import annotations

import sys

import pytest

from simdurable._check._database import open_database, saved
from simdurable._check._soak import shard_seeds
from simdurable._cli import main

pytest_plugins = ["pytester"]

HANDLERS = '''
import simdurable as sd

bank = sd.FakeExternal("bank")
shop = sd.Service("Shop")


def charge(amount, key):
    return bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"]


@shop.handler()
async def pay(ctx: sd.Context, amount: int) -> str:
    key = str(ctx.uuid())
    return await ctx.run_typed("charge", charge, amount=amount, key=key)


@shop.handler()
async def pay_unsafe(ctx: sd.Context, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=None)


services = [shop]
'''

PYPROJECT = '''
[tool.pytest.ini_options]
pythonpath = ["."]
addopts = "-p no:cacheprovider -p no:hypothesispytest"

[tool.simdurable]
services = ["shopmod:services"]
externals = ["shopmod:bank"]
inputs = { "Shop/pay" = [10], "Shop/pay_unsafe" = [10] }
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(shopmod=HANDLERS)
    pytester.makefile(".toml", pyproject=PYPROJECT)
    monkeypatch.chdir(pytester.path)
    monkeypatch.syspath_prepend(str(pytester.path))
    yield pytester
    sys.modules.pop("shopmod", None)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_partition_the_seed_range(n: int):
    seeds = range(5, 30)
    shards = [list(shard_seeds(seeds, i, n)) for i in range(1, n + 1)]
    assert sorted(s for shard in shards for s in shard) == list(seeds)
    assert all(shard for shard in shards)  # no shard left idle when there are seeds


def test_a_shard_runs_its_seeds_only(project: pytest.Pytester,
                                     capsys: pytest.CaptureFixture[str]):
    assert main(["soak", "shopmod:pay", "--input", "10", "--seeds", "0:5", "--shard", "2/2",
                 "--max-examples", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 seeds x 1 targets (seeds 0:5, shard 2/2), 2 checks" in out
    assert "no failures" in out


def test_the_budget_stops_the_campaign(project: pytest.Pytester,
                                       capsys: pytest.CaptureFixture[str]):
    assert main(["soak", "shopmod:pay", "--input", "10", "--seeds", "0:1000",
                 "--budget", "0.001s", "--max-examples", "2"]) == 0
    assert "stopped by the budget after 1 of 1000 seeds" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "5:5"], "--seeds must be A:B with 0 <= A < B, not '5:5'"),
    (["--shard", "3/2"], "--shard must be I/N with 1 <= I <= N, not '3/2'"),
    (["--budget", "soon"], "--budget must be a duration like 90, 90s, 15m or 2h"),
    (["--database", "redis://localhost:1/0"], "a Redis database needs the redis package"),
])
def test_bad_arguments_are_one_line(project: pytest.Pytester, capsys: pytest.CaptureFixture[str],
                                    args: list[str], message: str):
    if "redis" in message and _has_redis():
        pytest.skip("the redis package is installed here: the URL is accepted")
    assert main(["soak", "shopmod:pay", "--input", "10", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _has_redis() -> bool:
    import importlib.util

    return importlib.util.find_spec("redis") is not None


def test_a_failure_found_by_soak_is_replayed_first_by_the_plugin(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str]):
    # The configured handlers, from pyproject.toml; failures to a shared directory.
    shared = project.path / "shared-db"
    assert main(["soak", "--seeds", "0:3", "--max-examples", "2",
                 "--database", str(shared)]) == 1
    out = capsys.readouterr().out
    assert "3 seeds x 2 targets" in out
    assert "Shop/pay_unsafe input 10 seed 0: duplicate-effect" in out
    (blob,) = saved(open_database(str(shared)), "Shop/pay_unsafe", 10, 1)
    # Saved once per kind, not once per seed that found it.
    assert out.count("duplicate-effect") == 1
    result = project.runpytest("--simdurable", f"--simdurable-database={shared}",
                               "simdurable::Shop/pay_unsafe")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*a failure saved in the example database * (by simdurable soak) replayed first, "
        "and it still fails:",
        "*duplicate-effect*",
    ])
    # Fixed: the case replays without a violation and is forgotten.
    project.makepyfile(shopmod=HANDLERS.replace("key=None", "key=str(ctx.uuid())"))
    sys.modules.pop("shopmod", None)
    result = project.runpytest("--simdurable", f"--simdurable-database={shared}",
                               "simdurable::Shop/pay_unsafe")
    result.assert_outcomes(passed=1)
    assert saved(open_database(str(shared)), "Shop/pay_unsafe", 10, 1) == []
    assert blob


WALLET = '''
import simdurable as sd

bank = sd.FakeExternal("bank")
wallet = sd.VirtualObject("Wallet")


def charge(amount, key):
    return bank.apply("charge", {"amount": amount}, idempotency_key=key)["id"]


@wallet.handler()
async def pay_unsafe(ctx: sd.ObjectContext, amount: int) -> str:
    return await ctx.run_typed("charge", charge, amount=amount, key=None)


services = [wallet]
'''


def test_a_failure_soak_finds_on_an_object_handler_is_replayed_first_by_the_plugin(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str]):
    # The plugin checks an object handler with two invocations at once on its key;
    # soak must check (and key the saved case) the same way for the plugin to find it.
    project.makepyfile(walletmod=WALLET)
    project.makefile(".toml", pyproject=PYPROJECT.replace("shopmod", "walletmod")
                     .replace('inputs = { "Shop/pay" = [10], "Shop/pay_unsafe" = [10] }',
                              'inputs = { "Wallet/pay_unsafe" = [10] }'))
    shared = project.path / "shared-db"
    try:
        assert main(["soak", "walletmod:pay_unsafe", "--key", "key-1", "--input", "10",
                     "--seeds", "0:1", "--max-examples", "2", "--database", str(shared)]) == 1
        assert "Wallet/key-1/pay_unsafe input 10 seed 0: duplicate-effect" in \
            capsys.readouterr().out
        assert saved(open_database(str(shared)), "Wallet/key-1/pay_unsafe", 10, 2)
        result = project.runpytest("--simdurable", f"--simdurable-database={shared}",
                                   "simdurable::Wallet/pay_unsafe")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "*a failure saved in the example database * (by simdurable soak) replayed first, "
            "and it still fails:",
        ])
    finally:
        sys.modules.pop("walletmod", None)
