"""Simulation benchmarks: no peer; the physical limit is plain Python.

* journaled steps per second, fresh and replayed, against the same handler's
  code run without any runtime (plain awaits of plain functions);
* exhaustive single-crash exploration (every step x every fault point);
* ``check`` with strict nondeterminism detection on and off (when it exists);
* a 30-day sleep, 10,000 timers, 10,000 concurrent invocations.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import statistics
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import simdurable as sd
from simdurable.runtime._faults import PHASES
from simdurable.runtime._store import PENDING, MemoryStore

from ._util import Sizes, Table, log, median_per_call, median_timed, timed

# -- the handlers ---------------------------------------------------------------


def work(i: int) -> int:
    return i + 1


def steps_service(n: int) -> sd.Service:
    """``Steps<n>/run``: ``n`` journaled steps in a row, each adds one."""
    svc = sd.Service(f"Steps{n}")

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        for _ in range(n):
            x = await ctx.run_typed("step", work, i=x)
        return x

    return svc


def named_steps_service(n: int, name: str = "Named") -> sd.Service:
    """``Named<n>/run``: steps "step-1" ... "step-<n>", so a crash can name one."""
    svc = sd.Service(f"{name}{n}")
    names = [f"step-{i}" for i in range(1, n + 1)]

    @svc.handler()
    async def run(ctx: sd.Context, x: int) -> int:
        for step in names:
            x = await ctx.run_typed(step, work, i=x)
        return x

    return svc


async def plain_call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    return fn(**kwargs)


def plain_handler(n: int) -> Callable[[int], Coroutine[Any, Any, int]]:
    """The handler's code with no runtime: plain awaits of plain functions."""

    async def run(x: int) -> int:
        for _ in range(n):
            x = await plain_call(work, i=x)
        return x

    return run


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the plain handler awaited something")  # pragma: no cover


# -- 1. steps per second ----------------------------------------------------------


def fresh_run(svc: sd.Service, n: int) -> Callable[[], Any]:
    target = f"{svc.name}/run"

    def go() -> Any:
        sim = sd.Simulation([svc], seed=1)
        h = sim.invoke(target, 0)
        sim.run()
        return h

    return go


def replay_stores(svc: sd.Service, n: int, count: int) -> list[MemoryStore]:
    """Stores holding a finished journal of ``n`` steps, the invocation set back
    to pending: a Simulation over one replays all of it and records the output."""
    sim = sd.Simulation([svc], seed=1)
    h = sim.invoke(f"{svc.name}/run", 0)
    sim.run()
    assert h.result() == n
    rec = sim.store.invocation(h.id)
    assert rec is not None
    journal = sim.journal(h)
    stores = []
    for _ in range(count):
        store = MemoryStore()
        for entry in journal:
            store.append(rec.id, entry)
        store.put_invocation(dataclasses.replace(rec, status=PENDING, result=None))
        stores.append(store)
    return stores


def time_replay(svc: sd.Service, n: int, repeats: int, min_time: float) -> float:
    """Median seconds of one pure replay (a Simulation over a prepared store)."""
    one = fresh_run(svc, n)
    t_fresh = timed(one)[0]
    per_run = max(1, int(min_time / max(t_fresh * 0.3, 1e-6)) + 1)
    results = []
    for _ in range(repeats + 1):  # the first is a warm-up
        stores = replay_stores(svc, n, per_run)
        gc.collect()
        start = time.perf_counter()
        for store in stores:
            sim = sd.Simulation([svc], seed=1, store=store)
            sim.run()
        results.append((time.perf_counter() - start) / per_run)
        rec = sim.store.invocations()[0]
        assert rec.attempts == 2 and rec.status == "completed", rec
    return statistics.median(results[1:])


def bench_steps(sizes: Sizes) -> Table:
    table = Table(
        "sim-steps",
        "Journaled steps per second, one core (goal: >= 200k/s fresh, >= 500k/s replayed)",
        ["steps", "plain Python, us/step", "fresh: us/invocation", "fresh: steps/s",
         "fresh: overhead us/step", "replay: us/invocation", "replay: steps/s",
         "replay: overhead us/step"],
    )
    for n in sizes.steps:
        log(f"  steps/s: {n} steps")
        svc = steps_service(n)
        plain = plain_handler(n)
        t_plain = median_per_call(lambda plain=plain: drive(plain(0)), sizes.repeats,
                                  sizes.min_time)
        t_fresh = median_per_call(fresh_run(svc, n), sizes.repeats, sizes.min_time)
        t_replay = time_replay(svc, n, sizes.repeats, sizes.min_time)
        table.rows.append([
            n,
            t_plain / n * 1e6,
            t_fresh * 1e6,
            n / t_fresh,
            (t_fresh - t_plain) / n * 1e6,
            t_replay * 1e6,
            n / t_replay,
            (t_replay - t_plain) / n * 1e6,
        ])
    table.notes += [
        "An invocation's time covers everything a test pays: building the Simulation, "
        "submitting, running to completion, reading the result (replay: building it over a "
        "store that holds the whole journal, with the invocation pending again).",
        "Each step is `await ctx.run_typed(\"step\", work, i=x)` with `work(i) = i + 1`; "
        "\"plain Python\" is the same loop as `await plain_call(work, i=x)` with "
        "`async def plain_call(fn, **kw): return fn(**kw)`, driven by `coro.send(None)`.",
    ]
    return table


# -- 2. exhaustive single-crash exploration -----------------------------------------


def explore_all_crashes(svc: sd.Service, n: int) -> int:
    """One Simulation per fault point: crash at before/effect-done/after-store of
    every step; each must still return n and store every step once. Returns runs."""
    target = f"{svc.name}/run"
    runs = 0
    for i in range(1, n + 1):
        for point in PHASES:
            sim = sd.Simulation([svc], seed=1)
            sim.crash(after=f"step-{i}", point=point)
            h = sim.invoke(target, 0)
            sim.run()
            if h.result() != n or len(sim.journal(h)) != 2 * n:
                raise AssertionError(f"crash at {point} of step-{i} changed the outcome")
            runs += 1
    return runs


def find_check() -> tuple[Callable[..., Any] | None, str]:
    """``simdurable.check`` where it is exported, else where it is being built."""
    check = getattr(sd, "check", None)
    if check is not None:
        return check, "simdurable.check"
    try:
        from simdurable._check._api import check
    except ImportError:
        return None, ""
    return check, "simdurable._check._api.check (not yet exported by simdurable)"


def check_runner(svc: sd.Service, **kwargs: Any) -> Callable[[], Any] | None:
    check, _ = find_check()
    if check is None:
        return None
    params = inspect.signature(check).parameters
    if any(k not in params for k in kwargs):
        return None

    def go() -> Any:
        return check([svc], f"{svc.name}/run", 0, **kwargs)

    return go


def bench_exploration(sizes: Sizes) -> Table:
    table = Table(
        "sim-explore",
        "Exhaustive single-fault exploration (goal: `check`'s single-fault phase of 20 steps <= 20 ms)",
        ["how", "steps", "runs", "wall ms", "ms per run", "growth vs previous",
         "quadratic would be"],
    )

    def add(how: str, n: int, runs: Any, t: float, prev: tuple[int, float] | None) -> None:
        growth = quad = "-"
        if prev is not None:
            growth = f"x{t / prev[1]:.1f}"
            quad = f"x{(n / prev[0]) ** 2:.0f}"
        per_run = t / runs * 1e3 if isinstance(runs, int) and runs else "-"
        table.rows.append([how, n, runs, t * 1e3, per_run, growth, quad])

    prev: tuple[int, float] | None = None
    for n in sizes.explore_steps:
        log(f"  exploration: {n} steps")
        svc = named_steps_service(n)
        t, runs = median_timed(lambda svc=svc, n=n: explore_all_crashes(svc, n), sizes.repeats)
        add("one `Simulation` per crash point", n, runs, t, prev)
        prev = (n, t)
    one = {n: median_per_call(fresh_run(named_steps_service(n, "Ref"), n), sizes.repeats,
                              sizes.min_time) for n in sizes.explore_steps}
    table.notes.append(
        "\"One `Simulation` per crash point\": `sim.crash(after=\"step-i\", point=p)` for each "
        "step i and each p in before / effect-done / after-store, then run and check the "
        "result and the journal. A fault-free run takes "
        + ", ".join(f"{one[n] * 1e3:.2f} ms ({n} steps)" for n in sizes.explore_steps)
        + ". Each crashed run replays the steps before the crash, so the total grows about "
        "quadratically with the steps."
    )
    check, where = find_check()
    if check_runner(named_steps_service(5), max_examples=0, single_faults=True) is None:
        table.notes.append("`check` has no exhaustive single-fault phase in this build: "
                           "not measured.")
        return table
    for self_check in (True, False):
        prev = None
        for n in sizes.explore_steps:
            fn = check_runner(named_steps_service(n, "Chk"), max_examples=0,
                              single_faults=True, self_check=self_check)
            if fn is None:
                continue
            log(f"  check exhaustive: {n} steps, self_check={self_check}")
            try:
                t, report = median_timed(fn, sizes.repeats)
            except Exception as err:  # noqa: BLE001 - a checker bug is reported, not fatal
                table.notes.append(f"`check` exhaustive, {n} steps, self_check={self_check}: "
                                   f"raised {_error(err)}")
                break
            if not report.ok:
                table.notes.append(f"`check` reported violations for {n} steps "
                                   f"(self_check={self_check}): {report.kinds()}")
            add(f"`check(max_examples=0, self_check={self_check})`", n,
                getattr(report, "runs", "?"), t, prev)
            prev = (n, t)
    table.notes.append(
        f"Rows naming `check` time the fault-free reference run plus the exhaustive "
        f"single-fault phase (every fault kind at every fault point, not only crashes), "
        f"through {where}; their runs are as `check` counts them (with `self_check=True`, "
        "the default, the reference run and every run off its path are done twice, and the "
        "reference run again every 25 runs, to check the harness's own determinism)."
    )
    return table


# -- 3. check -----------------------------------------------------------------------


def bench_check(sizes: Sizes) -> Table:
    table = Table(
        "sim-check",
        "`check` with 200 examples of a 5-step handler (goal: <= 0.3 s with strict mode on)",
        ["strict", "phases", "self_check", "examples", "wall s", "examples/s", "report"],
    )
    check, where = find_check()
    if check is None:
        table.notes.append("`check` is not in this build yet: not measured.")
        return table
    svc = named_steps_service(5, "Check")
    n = sizes.check_examples
    warm = check_runner(svc, max_examples=2)  # imports and first-use costs, not timed
    if warm is not None:
        try:
            warm()
        except Exception:  # noqa: BLE001, S110 - a failure shows in the timed rows below
            pass
    variants = ((True, True), (False, True), (False, False))  # (single_faults, self_check)
    for strict in (True, False):
        for single, self_check in variants:
            fn = check_runner(svc, max_examples=n, seed=0, strict=strict, single_faults=single,
                              self_check=self_check)
            phases = ("reference + every single fault + examples" if single
                      else "reference + examples")
            if fn is None:
                table.notes.append("`check` lacks `strict`/`single_faults`/`self_check`: "
                                   "not measured.")
                return table
            log(f"  check: strict={strict}, single_faults={single}, self_check={self_check}")
            try:
                t, report = median_timed(fn, sizes.repeats)
            except Exception as err:  # noqa: BLE001 - a checker bug is reported, not fatal
                table.rows.append(["on" if strict else "off", phases, str(self_check), n, "-",
                                   "-", f"raised {_error(err)}"])
                continue
            kinds = sorted({v.kind for v in getattr(report, "violations", [])})
            table.rows.append([
                "on" if strict else "off", phases, str(self_check), n, t, n / t,
                "ok" if report.ok else "violations: " + ", ".join(kinds),
            ])
    table.notes.append(
        f"Through {where}: `check([svc], \"Check5/run\", 0, max_examples={n}, seed=0, "
        "strict=..., single_faults=..., self_check=...)`, other arguments at their defaults; "
        "the first row of each `strict` setting is the default call. `self_check=True` runs "
        "the reference run and every run off its path twice, and the reference run again "
        "every 25 runs, to check the harness's own determinism. The handler is five steps "
        "with nothing nondeterministic, so any violation reported is a false positive."
    )
    return table


def _error(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160] if text else ''}"


# -- 4. timers and concurrency -----------------------------------------------------


def timer_service() -> sd.Service:
    svc = sd.Service("Timers")

    @svc.handler()
    async def month(ctx: sd.Context) -> None:
        await ctx.sleep(timedelta(days=30))

    @svc.handler()
    async def nothing(ctx: sd.Context) -> None:
        return None

    @svc.handler()
    async def many(ctx: sd.Context, n: int) -> int:
        # n timers at once, spread over 30 days of virtual time
        sleeps = [ctx.sleep(timedelta(seconds=(i * 7919) % 2_592_000 + 1)) for i in range(n)]
        await sd.gather(*sleeps)
        return n

    return svc


def bench_timers(sizes: Sizes) -> Table:
    table = Table(
        "sim-timers",
        "Timers and concurrency (goal: a 30-day sleep <= 1 ms)",
        ["case", "wall ms", "virtual time", "peak traced memory MiB", "note"],
    )
    svc = timer_service()

    def run(target: str, arg: Any = None) -> Callable[[], Any]:
        def go() -> Any:
            sim = sd.Simulation([svc], seed=1)
            h = sim.invoke(target, arg)
            sim.run()
            h.result()
            return sim

        return go

    log("  timers: 30-day sleep")
    t_month = median_per_call(run("Timers/month"), sizes.repeats, sizes.min_time)
    t_nothing = median_per_call(run("Timers/nothing"), sizes.repeats, sizes.min_time)
    days = run("Timers/month")().now() / 86400
    table.rows.append(["one invocation sleeping 30 days", t_month * 1e3, f"{days:.0f} days",
                       "-", f"a handler that does nothing: {t_nothing * 1e3:.3f} ms"])

    log(f"  timers: {sizes.timers} timers")
    t_many, sim = median_timed(run("Timers/many", sizes.timers), sizes.repeats)
    table.rows.append([f"{sizes.timers:,} timers (one invocation, gather of sleeps)",
                       t_many * 1e3, f"{sim.now() / 86400:.1f} days", "-", "-"])

    log(f"  concurrency: {sizes.concurrent} invocations")
    five = named_steps_service(5, "Conc")

    def concurrent() -> Any:
        sim = sd.Simulation([five], seed=1)
        handles = [sim.invoke(f"{five.name}/run", i) for i in range(sizes.concurrent)]
        sim.run()
        assert all(h.result() == i + 5 for i, h in enumerate(handles))

    t_conc, _ = median_timed(concurrent, sizes.repeats)
    gc.collect()
    tracemalloc.start()
    concurrent()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    t_nogc = _without_gc(concurrent, sizes.repeats)
    table.rows.append([
        f"{sizes.concurrent:,} concurrent invocations of a 5-step handler", t_conc * 1e3, "-",
        peak / 2**20,
        f"{sizes.concurrent * 5 / t_conc:,.0f} steps/s; {t_nogc * 1e3:,.0f} ms with the "
        "garbage collector off",
    ])
    table.notes += [
        "Wall time covers building the Simulation, submitting and running to the end.",
        "Peak memory is what tracemalloc saw (Python allocations) during a separate run "
        "of the same case.",
        "All invocations are submitted before the run, so all are in flight at once: the "
        "seeded scheduler picks the next ready task among all of them.",
    ]
    return table


def _without_gc(fn: Callable[[], Any], repeats: int) -> float:
    gc.collect()
    gc.disable()
    try:
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
            gc.enable()
            gc.collect()
            gc.disable()
        return statistics.median(runs)
    finally:
        gc.enable()


# -- the crash scenario compared with a real Restate deployment ---------------------


def crash_scenario() -> Callable[[], Any]:
    """The crash the Restate benchmark provokes (the service process dies inside
    step 3 of 5), tested in simulation: crash, retry, replay, check the result."""
    svc = named_steps_service(5, "Crash")

    def go() -> Any:
        sim = sd.Simulation([svc], seed=1)
        sim.crash(after="step-3", point="effect-done")
        h = sim.invoke(f"{svc.name}/run", 0)
        sim.run()
        if h.result() != 5 or h.attempts != 2:
            raise AssertionError("the crash scenario did not crash and recover")
        return h

    return go


# -- where the time goes --------------------------------------------------------------


def _where(path: str) -> str:
    """A profile entry's file, as a short label: simdurable module, stdlib module, or other."""
    if path.startswith("~") or path.startswith("<"):
        return "builtins (C)"
    parts = path.replace("\\", "/").split("/")
    if "simdurable" in parts:
        return "simdurable/" + "/".join(parts[parts.index("simdurable") + 1:])
    if "benchmarks" in parts:
        return "the handler and its step (benchmark code)"
    return f"stdlib {parts[-1]}" if "python3" in path else parts[-1]


def profile_split(fn: Callable[[], Any], top: int = 7) -> list[tuple[str, float]]:
    """Share of profiled (own) time per source file while ``fn`` runs."""
    import cProfile
    import pstats

    gc.collect()
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    by_file: dict[str, float] = {}
    for (path, _, _), (_, _, tottime, _, _) in stats.items():
        label = _where(path)
        by_file[label] = by_file.get(label, 0.0) + tottime
    total = sum(by_file.values()) or 1.0
    ranked = sorted(by_file.items(), key=lambda kv: -kv[1])
    shown = [(k, v / total) for k, v in ranked[:top]]
    rest = sum(v for _, v in ranked[top:]) / total
    return shown + ([("everything else", rest)] if rest > 0 else [])


def bench_profile(sizes: Sizes) -> Table:
    n = max(sizes.steps)
    table = Table(
        "sim-profile",
        f"Where the time goes (cProfile, own time per source file, {n}-step handler)",
        ["case", "share of time, by file"],
    )
    svc = steps_service(n)
    reps = 3 if sizes.name == "full" else 1

    def fresh() -> None:
        go = fresh_run(svc, n)
        for _ in range(reps):
            go()

    stores = replay_stores(svc, n, reps)

    def replay() -> None:
        for store in stores:
            sd.Simulation([svc], seed=1, store=store).run()

    explore_n = 20 if 20 in sizes.explore_steps else min(sizes.explore_steps)
    named = named_steps_service(explore_n, "Prof")
    cases: list[tuple[str, Callable[[], Any]]] = [
        (f"fresh run, {n} steps", fresh),
        (f"pure replay, {n} steps", replay),
        (f"exhaustive crash exploration, {explore_n} steps",
         lambda: explore_all_crashes(named, explore_n)),
    ]
    for label, fn in cases:
        log(f"  profile: {label}")
        split = profile_split(fn)
        table.rows.append([label, "; ".join(f"{k} {v:.0%}" for k, v in split)])
    table.notes.append(
        "The profiler slows everything down several times; the shares, not the times, are "
        "the point. Own time only: a function's callees count for their own files."
    )
    return table


def run(sizes: Sizes) -> list[Table]:
    return [bench_steps(sizes), bench_exploration(sizes), bench_check(sizes),
            bench_timers(sizes), bench_profile(sizes)]
