"""``simdurable soak``: seed ranges, shards, a budget, and failures replayed by the plugin."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

import simdurable as sd
from simdurable._check._database import open_database, saved
from simdurable._check._soak import shard_seeds
from simdurable._cli import main

from ..plugin.test_plugin import (  # the plugin's project: it replays what soak saves
    HANDLERS,
    WAITING_TALLY,
)

pytest_plugins = ["pytester"]

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
                                    monkeypatch: pytest.MonkeyPatch, args: list[str],
                                    message: str):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed: import fails
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


@pytest.mark.parametrize("approvals", [1, 2])
def test_soak_checks_an_object_handler_with_a_world_at_once_as_the_plugin_does(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str], approvals: int):
    project.makepyfile(tallymod=WAITING_TALLY.format(kind='kind="shared"'))
    world = ", ".join(["{ resolve_awakeable = { value = true } }"] * approvals)
    project.makefile(".toml", pyproject=PYPROJECT.replace("shopmod", "tallymod")
                     .replace("bank", "ledger").replace(
                         'inputs = { "Shop/pay" = [10], "Shop/pay_unsafe" = [10] }',
                         f'[tool.simdurable.world]\n"Tally/bump" = [{world}]'))
    shared = project.path / "shared-db"
    try:
        code = main(["soak", "--seeds", "0:1", "--max-examples", "5", "--database", str(shared)])
        out = capsys.readouterr().out
        if approvals == 2:  # two callers at once, as the plugin: the lost update is found
            assert code == 1 and "Tally/bump input null seed 0: not-serializable" in out, out
            assert saved(open_database(str(shared)), "Tally/key-1/bump", None, 2)
        else:  # a world for one caller: one at a time, and the summary says why
            assert code == 0 and "no failures" in out, out
            assert ("  note: Tally/key-1/bump: checked one caller at a time, not 2 at once: "
                    "with 2 callers at once and the same world, one never finishes") in out
    finally:
        sys.modules.pop("tallymod", None)


def _summary(out: str, db: Any) -> list[str]:
    """The summary without its timing (seconds and seeds per second) and database."""
    first, *rest = out.replace(str(db), "DB").strip().splitlines()
    return [first.split(" checks in ")[0], *rest]


def test_soak_j_spreads_the_checks_over_workers_with_the_same_summary(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch):
    from simdurable._check import _soak

    # A module name of its own: workers outlive a test and keep what they imported.
    project.makepyfile(soakjmod=HANDLERS)
    project.makefile(".toml", pyproject=PYPROJECT.replace("shopmod", "soakjmod"))
    here: list[int] = []
    check_once = _soak.check_once

    def counted(t: Any, seed: int, *rest: Any) -> Any:
        here.append(seed)
        return check_once(t, seed, *rest)

    monkeypatch.setattr(_soak, "check_once", counted)
    from simdurable._check import _parallel

    monkeypatch.setattr(_parallel, "usable_cores", lambda: 2)  # what -j auto takes
    try:
        outs, dbs = [], []
        for jobs in ("1", "2", "auto"):
            db = project.path / f"db-{jobs}"
            status = main(["soak", "--seeds", "0:4", "--max-examples", "2", "-j", jobs,
                           "--database", str(db)])
            assert status == 1
            outs.append(_summary(capsys.readouterr().out, db))
            dbs.append(saved(open_database(str(db)), "Shop/pay_unsafe", 10, 1))
        assert outs[0] == outs[1] == outs[2]
        assert outs[0][0] == "simdurable soak: 4 seeds x 2 targets (seeds 0:4), 8"
        assert dbs[0] == dbs[1] == dbs[2] and len(dbs[0]) == 1
        assert here == [0, 0, 1, 1, 2, 2, 3, 3]  # jobs=1 only: with -j 2 the workers ran all

        # A worker whose reference run differs from this process's leaves its checks here.
        monkeypatch.setattr(_parallel, "seed_digest", lambda t, seed: f"{os.getpid()} {seed}")
        here.clear()
        db = project.path / "db-3"
        assert main(["soak", "--seeds", "0:4", "--max-examples", "2", "-j", "2",
                     "--database", str(db)]) == 1
        assert _summary(capsys.readouterr().out, db) == outs[0]
        assert here == [0, 0, 1, 1, 2, 2, 3, 3]
    finally:
        sys.modules.pop("soakjmod", None)


def test_soak_j_checks_a_target_the_workers_cannot_import_here_with_a_note(
        capsys: pytest.CaptureFixture[str]):
    from simdurable._check._soak import SoakTarget, soak

    local = sd.Service("Local")

    @local.handler()
    async def hello(ctx: sd.Context, name: str) -> str:
        return await ctx.run_typed("greet", lambda: f"hi {name}")

    class NoDatabase:
        def save(self, key: bytes, value: bytes) -> None:
            raise AssertionError("hello does not fail")

    target = SoakTarget("Local/hello", [local], "Local/hello", "ada", [])
    one = soak([target], range(3), None, 2, 1, True, NoDatabase())
    two = soak([target], range(3), None, 2, 2, True, NoDatabase())
    assert (two.seeds, two.checks, two.failures, two.errors) == (3, 3, [], [])
    assert one.notes == []
    assert two.notes == ["Local/hello ran in one process, not in worker processes: service "
                         "'Local' is not a module global a worker can import (defined inside "
                         "a function?)"]


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis server on a free local port, stopped after the test."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    if not _has_redis():
        pytest.skip("the redis package is not installed (pip install redis)")
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(200):  # up in a few ms; allow for a busy machine
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None:
                    pytest.fail(f"redis-server exited with status {proc.returncode}")
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not answer within 10 seconds")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_failure_soak_saves_to_redis_is_replayed_first_by_the_plugin(
        project: pytest.Pytester, capsys: pytest.CaptureFixture[str], redis_url: str):
    assert main(["soak", "shopmod:pay_unsafe", "--input", "10", "--seeds", "0:2",
                 "--max-examples", "2", "--database", redis_url]) == 1
    assert f"1 failure(s), saved to {redis_url}" in capsys.readouterr().out
    (blob,) = saved(open_database(redis_url), "Shop/pay_unsafe", 10, 1)
    result = project.runpytest("--simdurable", f"--simdurable-database={redis_url}",
                               "simdurable::Shop/pay_unsafe")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*a failure saved in the example database {redis_url} (by simdurable soak) replayed "
        f"first, and it still fails:",
    ])
    # Fixed: it replays without a violation and is deleted from Redis.
    project.makepyfile(shopmod=HANDLERS.replace("key=None", "key=str(ctx.uuid())"))
    sys.modules.pop("shopmod", None)
    project.runpytest("--simdurable", f"--simdurable-database={redis_url}",
                      "simdurable::Shop/pay_unsafe").assert_outcomes(passed=1)
    assert saved(open_database(redis_url), "Shop/pay_unsafe", 10, 1) == []
    assert blob


def test_a_failure_the_database_cannot_save_is_kept_in_the_summary_with_its_blob() -> None:
    """A Redis server that went away mid-campaign raised from ``save`` and ended
    soak with a traceback: the failure it had just found was lost."""
    from examples import shop
    from simdurable._check._soak import SoakTarget, soak

    class GoneDatabase:
        def save(self, key: bytes, value: bytes) -> None:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    target = SoakTarget("Shop/checkout_unsafe", shop.services, "Shop/checkout_unsafe",
                        {"item": "book", "amount": 30}, [shop.bank, shop.warehouse])
    summary = soak([target], range(1), None, 2, 1, True, GoneDatabase())
    (found,) = summary.failures
    assert "(NOT saved, the database failed: ConnectionError: Error 111 connecting" in found
    blob = found.rsplit("--blob ", 1)[1].rstrip(")")
    from simdurable._cli import main

    assert main(["check", "examples.shop:services", "--invoke", "Shop/checkout_unsafe",
                 "--input", '{"item": "book", "amount": 30}', "--externals", "examples.shop:bank",
                 "examples.shop:warehouse", "--blob", blob]) == 1  # the case, kept


def test_a_redis_database_that_cannot_be_reached_is_refused_at_once() -> None:
    if not _has_redis():
        pytest.skip("the redis package is not installed (pip install redis)")
    import socket

    from simdurable._check._database import DatabaseError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatabaseError, match=rf"database 'redis://127.0.0.1:{port}/0': cannot "
                                            "reach it: .*onnection refused"):
        open_database(f"redis://127.0.0.1:{port}/0")
