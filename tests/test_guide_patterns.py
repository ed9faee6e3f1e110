"""Every pattern of the durable-steps guide, in Python, under the simulator."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.request import urlopen

import pytest

import simdurable as restate
import simdurable as sd


def run_one(svc, target, arg=None, **kw):
    sim = sd.Simulation([svc], seed=kw.pop("seed", 1), **kw)
    h = sim.invoke(target, arg)
    sim.run()
    return sim, h


@dataclass
class User:
    id: str
    name: str


def test_string_dict_list_and_dataclass_results_round_trip_through_the_journal():
    svc = restate.Service("Results")

    def get_user() -> User:
        return User(id="123", name="Alice")

    @svc.handler()
    async def go(ctx: restate.Context) -> dict:
        message = await ctx.run_typed("message", lambda: "Hello, World!")
        user = await ctx.run_typed("user", get_user)
        items = await ctx.run_typed("items", lambda: ["item1", "item2"])
        struct = await ctx.run_typed("struct", lambda: {"id": "1", "n": [1, 2]})
        assert isinstance(user, User)
        return {"message": message, "user": user.name, "items": items, "struct": struct}

    sim, h = run_one(svc, "Results/go")
    assert h.result() == {
        "message": "Hello, World!",
        "user": "Alice",
        "items": ["item1", "item2"],
        "struct": {"id": "1", "n": [1, 2]},
    }
    runs = [e for e in sim.journal(h) if e.kind == "run"]
    assert [e.name for e in runs] == ["message", "user", "items", "struct"]
    completions = [e for e in sim.journal(h) if e.kind == "completion"]
    assert completions[1].result.data == b'{"id": "123", "name": "Alice"}'


def test_void_step_is_journaled_as_empty_and_returns_none():
    svc = restate.Service("Void")
    calls = []

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        out = await ctx.run_typed("webhook", lambda: calls.append(1))
        return f"{out}"

    sim, h = run_one(svc, "Void/go")
    assert h.result() == "None"
    done = [e for e in sim.journal(h) if e.kind == "completion"]
    assert done[0].result.data == b""
    assert calls == [1]


class _Api(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits += 1
        body = json.dumps({"resource": self.path, "hit": type(self).hits}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_api():
    _Api.hits = 0
    server = HTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_call_in_a_step_is_not_repeated_after_a_crash_once_stored(local_api):
    svc = restate.Service("Http")

    def fetch(url: str) -> dict:
        with urlopen(url + "/resource", timeout=5) as resp:
            return json.loads(resp.read())

    @svc.handler()
    async def go(ctx: restate.Context) -> dict:
        data = await ctx.run_typed("fetch", fetch, url=local_api)
        await ctx.sleep(timedelta(seconds=1))
        return data

    sim = sd.Simulation([svc], seed=3)
    sim.crash(after=None, point="before", index=2)  # crash before the sleep is stored
    h = sim.invoke("Http/go")
    sim.run()
    assert h.result() == {"resource": "/resource", "hit": 1}
    assert _Api.hits == 1


def test_sqlite_query_in_a_step(tmp_path):
    db = tmp_path / "users.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table users (id text primary key, name text)")
        conn.execute("insert into users values ('u1', 'Ada')")
    svc = restate.Service("Db")

    def load(user_id: str) -> dict:
        with sqlite3.connect(db) as conn:
            row = conn.execute("select id, name from users where id = ?", (user_id,)).fetchone()
        if row is None:
            raise restate.TerminalError(f"no user {user_id}", 404)
        return {"id": row[0], "name": row[1]}

    @svc.handler()
    async def go(ctx: restate.Context, user_id: str) -> dict:
        return await ctx.run_typed("query", load, user_id=user_id)

    _, h = run_one(svc, "Db/go", "u1")
    assert h.result() == {"id": "u1", "name": "Ada"}
    _, missing = run_one(svc, "Db/go", "nope")
    with pytest.raises(restate.TerminalError) as info:
        missing.result()
    assert (info.value.message, info.value.status_code) == ("no user nope", 404)


def test_terminal_error_in_a_step_stops_retries_and_can_be_caught():
    svc = restate.Service("Term")
    runs = []

    def unrecoverable():
        runs.append(1)
        raise restate.TerminalError("card declined", 400)

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        try:
            await ctx.run_typed("pay", unrecoverable)
        except restate.TerminalError as err:
            return f"compensated: {err.message} ({err.status_code})"
        return "paid"

    sim, h = run_one(svc, "Term/go")
    assert h.result() == "compensated: card declined (400)"
    assert runs == [1]
    assert h.attempts == 1


def test_uncaught_terminal_error_fails_the_invocation_with_its_status():
    svc = restate.Service("Nope")

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        raise restate.TerminalError("nope", 418)

    _, h = run_one(svc, "Nope/go")
    with pytest.raises(restate.TerminalError) as info:
        h.result()
    assert info.value == restate.TerminalError("nope", 418)
    assert h.status == "failed"


def _flaky(times: int, log: list[float], sim_ref: list):
    def fn():
        log.append(sim_ref[0].now())
        if len(log) <= times:
            raise ConnectionError("service unavailable")
        return "ok"

    return fn


def run_clocked(svc, target, ref, **kw):
    """Run ``target``; ``ref`` hands the simulation to the flaky closure, for its clock."""
    sim = sd.Simulation([svc], seed=0, **kw)
    ref.append(sim)
    h = sim.invoke(target)
    sim.run()
    return h


def test_custom_retry_policy_attempt_times_follow_the_backoff():
    svc = restate.Service("Retry")
    log: list[float] = []
    ref: list = []
    fn = _flaky(3, log, ref)

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        opts = restate.RunOptions(
            max_attempts=10,
            initial_retry_interval=timedelta(seconds=1),
            retry_interval_factor=3.0,
        )
        return await ctx.run_typed("flaky", fn, opts)

    h = run_clocked(svc, "Retry/go", ref)
    assert h.result() == "ok"
    assert log == [0.0, 1.0, 4.0, 13.0]  # 1 s, then x3: 3 s, 9 s


def test_default_step_retry_interval_is_50ms_doubling():
    svc = restate.Service("Retry50")
    log: list[float] = []
    ref: list = []
    fn = _flaky(4, log, ref)

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        return await ctx.run_typed("flaky", fn, restate.RunOptions(max_attempts=10))

    h = run_clocked(svc, "Retry50/go", ref)
    assert h.result() == "ok"
    assert log == [0.0, 0.05, 0.15, 0.35, 0.75]


def test_exhausted_retries_become_a_terminal_error_with_the_repr_of_the_last_exception():
    svc = restate.Service("Exhaust")
    log: list[float] = []
    ref: list = []
    fn = _flaky(100, log, ref)

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        try:
            await ctx.run_typed("flaky", fn, restate.RunOptions(max_attempts=3))
        except restate.TerminalError as err:
            return f"{err.status_code}: {err.message}"
        return "unreachable"

    h = run_clocked(svc, "Exhaust/go", ref)
    assert h.result() == "500: ConnectionError('service unavailable')"
    assert log == [0.0, 0.05, 0.15]  # three attempts in all


def test_max_duration_gives_up_on_the_virtual_clock():
    svc = restate.Service("Duration")
    log: list[float] = []
    ref: list = []
    fn = _flaky(100, log, ref)

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        opts = restate.RunOptions(
            max_duration=timedelta(seconds=1), initial_retry_interval=timedelta(milliseconds=100)
        )
        try:
            return await ctx.run_typed("flaky", fn, opts)
        except restate.TerminalError:
            return f"gave up at {len(log)} attempts"

    h = run_clocked(svc, "Duration/go", ref)
    assert log == [0.0, 0.1, 0.3, 0.7, 1.5]
    assert h.result() == "gave up at 5 attempts"


def test_step_without_options_retries_by_the_invocation_policy_then_pauses():
    svc = restate.Service("Inv")
    log: list[float] = []
    ref: list = []
    fn = _flaky(1000, log, ref)

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        return await ctx.run_typed("flaky", fn)

    policy = restate.InvocationRetryPolicy(
        initial_interval=timedelta(seconds=1), max_interval=timedelta(seconds=4), max_attempts=5
    )
    h = run_clocked(svc, "Inv/go", ref, retry_policy=policy)
    assert log == [0.0, 1.0, 3.0, 7.0, 11.0]
    assert h.status == "paused"
    with pytest.raises(sd.NotFinishedError, match="service unavailable"):
        h.result()


def test_restate_default_invocation_policy_is_500ms_doubling_capped_at_60s_70_attempts():
    svc = restate.Service("Defaults")
    log: list[float] = []
    ref: list = []
    fn = _flaky(1000, log, ref)

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        return await ctx.run_typed("flaky", fn)

    h = run_clocked(svc, "Defaults/go", ref)
    assert len(log) == 70
    gaps = [round(b - a, 3) for a, b in zip(log, log[1:], strict=False)]
    assert gaps[:8] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert set(gaps[7:]) == {60.0}
    assert h.status == "paused"


def test_kill_on_max_attempts_fails_the_invocation():
    svc = restate.Service("Kill")

    @svc.handler(invocation_retry_policy=restate.InvocationRetryPolicy(
        max_attempts=2, on_max_attempts="kill"))
    async def go(ctx: restate.Context) -> str:
        raise ValueError("boom")

    _, h = run_one(svc, "Kill/go")
    with pytest.raises(restate.TerminalError, match="boom"):
        h.result()
    assert h.attempts == 2


def test_a_runtime_error_raised_from_a_terminal_error_is_still_retried():
    svc = restate.Service("Cause")
    runs = []

    def fn():
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("wrapped") from restate.TerminalError("inner")
        return "ok"

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        return await ctx.run_typed("s", fn)

    _, h = run_one(svc, "Cause/go")
    assert h.result() == "ok"
    assert len(runs) == 3


def test_uuid_is_a_stable_idempotency_key_across_crashes():
    bank = sd.FakeExternal("bank")
    svc = restate.Service("Pay")
    keys = []

    def charge(key: str) -> str:
        keys.append(key)
        return bank.apply("charge", {"amount": 10}, idempotency_key=key)["id"]

    @svc.handler()
    async def go(ctx: restate.Context) -> str:
        key = str(ctx.uuid())
        return await ctx.run_typed("charge", charge, key=key)

    sim = sd.Simulation([svc], seed=5)
    sim.crash(after="charge", point="effect-done")
    h = sim.invoke("Pay/go")
    sim.run()
    assert h.result() == "bank-1"
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(bank.effects) == 1


def test_random_is_stable_across_replays_and_differs_between_invocations():
    svc = restate.Service("Rand")
    seen = []

    @svc.handler()
    async def go(ctx: restate.Context) -> list:
        values = [ctx.random().random(), ctx.random().randint(0, 10**9), str(ctx.uuid())]
        seen.append(values)
        await ctx.run_typed("step", lambda: None)
        return values

    sim = sd.Simulation([svc], seed=1)
    sim.crash(after="step", point="effect-done")
    a = sim.invoke("Rand/go")
    b = sim.invoke("Rand/go")
    sim.run()
    assert a.result() != b.result()
    runs_of_a = [v for v in seen if v == a.result()]
    assert len(runs_of_a) == 2  # the crashed attempt and the replay drew the same values
