"""The reference run in fresh processes with other hash seeds.

Iterating a set of strings (or a dict built from one) follows the process's
hash seed, which is random per process. In one process every replay agrees;
after a real crash the service restarts in a new process, and the replay
issues its operations in another order: a journal mismatch in production
that no in-process replay can show. So the reference run is repeated in
child processes with fixed ``PYTHONHASHSEED`` values, and their operations are
compared. The services must be importable module globals. The processes are
warm workers (``_workers``), started once and reused by every check.

A process also keeps what earlier invocations left in the user's modules (a
cache of rates, a set of ids seen): a handler that decides by it issues
other operations the first time in a new process than later in the same
one, and a replay after a crash, in either, does not match its journal. So
the reference run is also made in a child forked from a worker with the
user's modules imported anew (as a new service process has them), and again
in that child (as a process that ran it has them), and the two compared.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from typing import IO, Any

from .._codec import received, sent_codec
from ._names import modules_of, name_of
from ._report import Violation
from ._workers import OWN_VARIABLES, WorkerError, fork_piped, pool, task, user_environ

DEFAULT_HASH_SEEDS = (1, 2)


@task
def reference_operations(spec: dict[str, Any]) -> list[list[Any]]:
    """In a worker: the reference run's operations, per invocation."""
    from simdurable._sim import Simulation

    def load(name: str) -> Any:
        module, _, attr = name.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    services = received([load(n) for n in spec["services"]], spec.get("codec"))
    externals = [load(n) for n in spec["externals"]]
    for x in externals:
        x.reset()
    if spec["setup"]:
        load(spec["setup"])()
    sim = Simulation(services, seed=spec["seed"], externals=externals,
                     max_steps=spec["max_steps"])
    handle = sim.invoke(spec["invoke"], spec["input"])
    try:
        if spec.get("world"):
            # What the world does, at the reference run's moments (once the run waits).
            from ._world import WorldDriver, from_dict

            WorldDriver([from_dict(d) for d in spec["world"]]).drive(sim, handle)
        else:
            sim.run()
    finally:
        sim.close()
    # The keys of the effects each invocation's steps applied: a key is meant to
    # be the same on every run of its step, in whichever process it runs.
    keyed: dict[str, list[str]] = {}
    for x in externals:
        for e in x.effects:
            if e.idempotency_key is not None and e.invocation is not None:
                keyed.setdefault(e.invocation, []).append(json.dumps(
                    [e.step, e.journal_index, f"{x.name}.{e.op}", e.idempotency_key]))
    out = []
    for h in sim.invocations():
        journal = sim.journal(h)
        out.append([h.target, [e.describe() for e in journal if e.is_command],
                    [_drawn(e.result) for e in journal
                     if e.kind == "completion" and 0 <= e.target < len(journal)
                     and journal[e.target].kind == "run"],
                    keyed.get(h.id, [])])
    return out


def _drawn(result: Any) -> list[str]:
    """A step's stored value as the strings and numbers it holds, each as it is
    written in a payload's JSON (nothing for a failure)."""
    from ._step_values import _data, _leaves

    data = _data(result)
    if data is None:
        return []
    return [json.dumps(v) for _, v in sorted(_leaves(data).items(), key=lambda kv: repr(kv[0]))]


def _names(objs: Sequence[Any], modules: list[str]) -> list[str] | None:
    out = []
    for obj in objs:
        name = name_of(obj, modules)
        if name is None or "." not in name:
            return None
        out.append(name)
    return out


def _run_spec(services: Sequence[Any], externals: Sequence[Any], setup: Any, invoke: str,
              input: Any, seed: int, max_steps: int,
              world: Sequence[Any] = ()) -> dict[str, Any] | str:
    """The reference run as a worker imports it (by module and name), with the
    world's events as JSON, or why it cannot be sent to one."""
    modules = modules_of(services)
    svc_names = _names(services, modules)
    ext_names = _names(externals, modules)
    setup_name = None if setup is None else name_of(setup, modules)
    if svc_names is None or ext_names is None or (setup is not None and setup_name is None):
        return "the services must be importable module globals"
    try:
        json.dumps(input)
    except (TypeError, ValueError):
        return "the input is not JSON"
    events = [ev.as_dict() for ev in world]
    try:
        json.dumps(events)
    except (TypeError, ValueError):
        return "a world event's value is not JSON"
    try:
        codec = sent_codec(services)
    except ValueError as err:
        return str(err)
    return {"services": svc_names, "externals": ext_names, "setup": setup_name, "codec": codec,
            "invoke": invoke, "input": input, "seed": seed, "max_steps": max_steps,
            "environ": user_environ(), "world": events}


def hash_seed_violation(services: Sequence[Any], externals: Sequence[Any], setup: Any,
                        invoke: str, input: Any, seed: int,
                        hash_seeds: Sequence[int],
                        max_steps: int = 100_000,
                        world: Sequence[Any] = ()) -> Violation | str | None:
    """A violation if the operations differ between hash seeds; a note if it could not run."""
    spec = _run_spec(services, externals, setup, invoke, input, seed, max_steps, world)
    if isinstance(spec, str):
        return f"skipped the fresh-process runs: {spec}"
    try:
        results = pool().run(hash_seeds, "reference_operations", __name__, spec)
    except WorkerError as err:
        return f"the run in a fresh process failed: {err}"
    runs = list(zip(hash_seeds, results, strict=True))
    first_seed, first = runs[0]
    for hs, ops in runs[1:]:
        found = _first_difference(first, ops, f"(PYTHONHASHSEED={first_seed})",
                                  f"(PYTHONHASHSEED={hs})")
        if found is not None:
            target, i, diff = found
            return Violation(
                kind="nondeterminism",
                message=f"the same run issued different operations in processes with "
                        f"different hash seeds (PYTHONHASHSEED={first_seed} and {hs}): the "
                        f"handler iterates a set (or hashes strings) outside a step, so a replay "
                        f"after a real crash, in a new process, takes another path. Iterate "
                        f"sorted(...) instead.",
                handler=target, journal_index=i, journal_diff=diff, seed=seed,
                found_by=f"the reference run repeated in fresh processes "
                         f"(PYTHONHASHSEED={', '.join(map(str, hash_seeds))})",
                hint=f"run the check again with hash_seeds=({first_seed}, {hs}); in one "
                     f"process every replay agrees, so no in-process replay shows it",
            )
    for hs, ops in runs[1:]:
        keys = _key_difference(first, ops)
        if keys is not None:
            target, step, index, effect, mine, theirs = keys
            return Violation(
                kind="duplicate-effect",
                message=f"{effect} was applied by step \"{step}\" with idempotency key "
                        f"{mine} in one process (PYTHONHASHSEED={first_seed}) and {theirs} in "
                        f"another (PYTHONHASHSEED={hs}): the key is not the same on every run "
                        f"of the step, so after a crash at effect-done the retry, in a new "
                        f"process, applies it again. Make the key from the input, ctx.uuid() "
                        f"or a step's result, not from hash() of a string or id()",
                handler=target, step=step, journal_index=index, seed=seed,
                found_by=f"the reference run repeated in fresh processes "
                         f"(PYTHONHASHSEED={', '.join(map(str, hash_seeds))})",
                hint=f"run the check again with hash_seeds=({first_seed}, {hs}); in one "
                     f"process the key is the same on every retry, so no in-process replay "
                     f"shows it",
            )
    return None


def _key_difference(first: list[list[Any]], then: list[list[Any]]
                    ) -> tuple[str, str, int, str, str, str] | None:
    """The first effect whose idempotency key differs between two processes'
    runs whose operations agree: the invocation's target, the step, its journal
    index, the effect and both keys. A key made of what a step stored (a
    ``uuid4()`` drawn in an earlier step) is the same key on a replay, which reads
    the stored value back: such values count as one, as in ``_first_difference``."""
    def keyed(runs: list[list[Any]]) -> list[list[Any]]:
        return [[run[0], run[3] if len(run) > 3 else [], run[2]] for run in runs]

    a_runs, b_runs = keyed(first), keyed(then)
    if all(a[1] == b[1] for a, b in zip(a_runs, b_runs, strict=False)):
        return None
    same_a, same_b = _drawn_alike(a_runs, b_runs)
    for run_a, run_b, a_seen, b_seen in zip(a_runs, b_runs, same_a, same_b, strict=False):
        for x, y, x_seen, y_seen in zip(run_a[1], run_b[1], a_seen, b_seen, strict=False):
            if x_seen == y_seen:
                continue
            step, index, effect, mine = json.loads(x)
            theirs = json.loads(y)
            if theirs[:3] != [step, index, effect]:
                return None  # another effect altogether: not a key's doing
            return str(run_a[0]), str(step), int(index), str(effect), repr(mine), repr(theirs[3])
    return None


def _first_difference(first: list[list[Any]], then: list[list[Any]], first_label: str,
                      then_label: str) -> tuple[str, int, str] | None:
    """Where two runs' operations first differ: the invocation's target, the
    index, and the journal diff up to there (both sides labelled). What steps
    drew for themselves (a ``uuid4()``, a clock, a counter kept in a module) is
    journaled, and a replay reads it back: where the two runs' steps stored
    other values, an operation carrying them is the same operation."""
    if all(run_a[1] == run_b[1] for run_a, run_b in zip(first, then, strict=False)):
        return None
    same_first, same_then = _drawn_alike(first, then)
    for run_a, run_b, a_seen, b_seen in zip(first, then, same_first, same_then, strict=False):
        if a_seen == b_seen:
            continue
        target, a, b = run_a[0], run_a[1], run_b[1]
        i = next((k for k, (x, y) in enumerate(zip(a_seen, b_seen, strict=False)) if x != y),
                 min(len(a), len(b)))
        diff = [f"    #{k:<3} {op}" for k, op in enumerate(a[:i])]
        mine = str(a[i]) if i < len(a) else "(nothing)"
        theirs = str(b[i]) if i < len(b) else "(nothing)"
        width = max(len(mine), len(theirs))  # the two sides in one column
        diff.append(f"  - #{i:<3} {mine:<{width}}   {first_label}")
        diff.append(f"  + #{i:<3} {theirs:<{width}}   {then_label}")
        return str(target), i, "\n".join(diff)
    return None


def _drawn_alike(first: list[list[Any]], then: list[list[Any]]
                 ) -> tuple[list[list[str]], list[list[str]]]:
    """Both runs' operations, with each value a step stored that differs
    between them (an item of the k-th step of an invocation against the same
    item in the other run's) written as one name on both sides."""
    mine: dict[str, str] = {}
    theirs: dict[str, str] = {}
    for run_a, run_b in zip(first, then, strict=False):
        steps_a = run_a[2] if len(run_a) > 2 else []
        steps_b = run_b[2] if len(run_b) > 2 else []
        for a_values, b_values in zip(steps_a, steps_b, strict=False):
            for x, y in itertools.zip_longest(a_values, b_values):
                if x != y and x is not None and y is not None:
                    name = mine.setdefault(x, theirs.get(y, f"<a step's own value "
                                                            f"{len(mine) + 1}>"))
                    theirs.setdefault(y, name)

    def alike(runs: list[list[Any]], names: dict[str, str]) -> list[list[str]]:
        if not names:
            return [list(run[1]) for run in runs]
        found: dict[str, str] = {}
        numbers: set[str] = set()
        for v, name in names.items():
            if v.startswith('"') and len(v) >= 10:
                # a long string (a uuid, a time) also inside a payload's own text,
                # wherever it stands ("order-4f0c...": a uuid may start with a digit)
                found[v[1:-1]] = name
            elif v.startswith('"'):
                found[v] = name  # a short one only as the whole string
            else:
                found[v] = name
                numbers.add(v)
        # (a number only as a whole token: 5 is not the 5 of 15 or 0.5)
        pattern = re.compile("|".join(
            rf"(?<![\w.\-]){re.escape(v)}(?![\w.])" if v in numbers else re.escape(v)
            for v in sorted(found, key=len, reverse=True)))
        return [[pattern.sub(lambda m: found[m.group()], op) for op in run[1]] for run in runs]

    return alike(first, mine), alike(then, theirs)


@task
def new_process_operations(spec: dict[str, Any]) -> dict[str, Any]:
    """In a worker: the reference run's operations in a new process, then again in
    it (``{"ok": [first, again]}``); ``{"skipped": why}`` where a child cannot be
    forked. The new process is a child of a process that imported the user's
    modules anew and has run nothing (``_Fresh``), kept for the next checks of the
    same services while their files and the checking process's environment
    stay as they were."""
    from ._workers import can_fork

    if not can_fork():
        return {"skipped": "no child process can be forked here"}
    key = json.dumps([spec["services"], spec["externals"], spec["setup"]])
    fresh = _FRESH.pop(key, None)
    if fresh is not None and not fresh.current(spec.get("environ")):
        fresh.close()
        fresh = None
    if fresh is None:
        fresh = _Fresh(spec)
    try:
        answer = fresh.ask(spec)
    except BaseException:
        fresh.close()
        raise
    if "error" in answer:
        fresh.close()
    else:
        _FRESH[key] = fresh  # the most recent last
        while len(_FRESH) > _KEEP_FRESH:
            _FRESH.pop(next(iter(_FRESH))).close()
    return answer


# A worker's ``_Fresh`` processes, by their services' names; at most a few.
_FRESH: dict[str, _Fresh] = {}
_KEEP_FRESH = 4


class _Fresh:
    """A child of the worker with the user's modules dropped and the services'
    imported again, that runs nothing itself: each request forks it once more
    and the run happens there, so every run starts as in a new service process.
    Importing the modules once, not at every check, is most of what a new
    process costs (compiling them, where no ``.pyc`` files are written)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        def child(requests: IO[str], answers: IO[str]) -> None:  # pragma: no cover - the child
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)  # the worker's requests and answers are not its own
            os.dup2(null, 1)
            for other in _FRESH.values():
                other.forget()
            _serve_fresh(spec, requests, answers)

        self.environ: dict[str, str] | None = spec.get("environ")
        self.pid, self.requests, self.answers = fork_piped(child)
        ready = self._read()
        self.files: dict[str, list[int]] = ready.get("files", {})
        self.error: str | None = ready.get("error")

    def current(self, environ: dict[str, str] | None = None) -> bool:
        """Whether the checking process's environment (``environ``) is the one it
        was made with, and every module file it imported is as it was (size, time):
        a module reads both as it is imported, a step as it runs."""
        if environ != self.environ:
            return False
        for path, stamp in self.files.items():
            try:
                st = os.stat(path)
            except OSError:
                return False
            if [st.st_mtime_ns, st.st_size] != stamp:
                return False
        return True

    def ask(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The runs of ``spec`` in a new child of it."""
        if self.error is not None:
            return {"error": self.error}
        try:
            self.requests.write(json.dumps(spec) + "\n")
            self.requests.flush()
        except OSError as err:
            return {"error": f"the new process is gone: {err}"}
        return self._read()

    def _read(self) -> dict[str, Any]:
        line = self.answers.readline()
        if not line:
            return {"error": "the forked child died without an answer"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def forget(self) -> None:
        """In a child of the worker: let go of this one's pipes."""
        for f in (self.requests, self.answers):
            try:
                os.close(f.fileno())
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        """Ends it: it holds nothing to keep, and may wait for a run that hangs."""
        for f in (self.requests, self.answers):
            try:
                f.close()
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _serve_fresh(spec: dict[str, Any], requests: IO[str], answers: IO[str]) -> None:
    """In the fresh process: import, tell which files, then fork a run per request."""
    from ._workers import can_fork, die_with

    def send(out: dict[str, Any]) -> None:
        answers.write(json.dumps(out) + "\n")
        answers.flush()

    try:
        environ = spec.get("environ")
        if environ is not None:  # (the worker's own variables kept)
            own = {name: os.environ[name] for name in OWN_VARIABLES if name in os.environ}
            os.environ.clear()
            os.environ.update(environ)
            os.environ.update(own)
        _forget_user_modules()
        for name in [*spec["services"], *spec["externals"], *filter(None, [spec["setup"]])]:
            importlib.import_module(name.rpartition(".")[0])
        files = {}
        for path in _user_files():
            st = os.stat(path)
            files[path] = [st.st_mtime_ns, st.st_size]
    except BaseException as err:  # noqa: BLE001 - the answer carries any failure
        send({"error": f"{type(err).__name__}: {err}"})
        return
    send({"files": files})
    for line in requests:
        if not can_fork():
            send({"skipped": "no child process can be forked from a new process here"})
            continue
        read, write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the run's own process: answers through its pipe, never returns
            code = 0
            try:
                die_with(parent)  # (a run hung in the user's code goes with this process)
                os.close(read)
                request = json.loads(line)
                out: dict[str, Any] = {"ok": [reference_operations(request),
                                              reference_operations(request)]}
            except BaseException as err:  # noqa: BLE001 - the answer carries any failure
                out = {"error": f"{type(err).__name__}: {err}"}
            try:
                with os.fdopen(write, "w") as f:
                    f.write(json.dumps(out))
            except BaseException:  # noqa: BLE001 - nothing to tell it to
                code = 1
            os._exit(code)
        os.close(write)
        with os.fdopen(read) as f:  # until it ends, however it ends
            text = f.read()
        os.waitpid(pid, 0)
        try:
            send(json.loads(text))
        except ValueError:
            send({"error": "the forked child died without an answer"})


def _user_modules() -> list[str]:
    """The names of the user's modules (not the standard library's, a package's
    or simdurable's): imported again, they start as a new process has them."""
    from .._strict import user_code

    names = []
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str) and user_code(filename):
            names.append(name)
    return names


def _user_files() -> list[str]:
    """The files of the user's modules imported now."""
    files = (getattr(sys.modules[name], "__file__", None) for name in _user_modules())
    return sorted({f for f in files if isinstance(f, str) and os.path.exists(f)})


def _forget_user_modules() -> None:
    """Drop the user's modules: imported again, they start as a new process has them."""
    for name in _user_modules():
        del sys.modules[name]


def process_state_violation(services: Sequence[Any], externals: Sequence[Any], setup: Any,
                            invoke: str, input: Any, seed: int, hash_seed: int,
                            max_steps: int = 100_000,
                            world: Sequence[Any] = ()) -> Violation | str | None:
    """A violation if the reference run issues other operations the first time in
    a new process than the second time in it; a note if it could not run."""
    spec = _run_spec(services, externals, setup, invoke, input, seed, max_steps, world)
    if isinstance(spec, str):
        return f"skipped the new-process runs: {spec}"
    try:
        [answer] = pool().run([hash_seed], "new_process_operations", __name__, spec)
    except WorkerError as err:
        return f"the run in a new process failed: {err}"
    if "ok" not in answer:
        return f"skipped the new-process runs: {answer.get('skipped') or answer.get('error')}"
    first, again = answer["ok"]
    found = _first_difference(first, again, "(the first run in a new process)",
                              "(the next run in the same process)")
    if found is None:
        return None
    target, i, diff = found
    return Violation(
        kind="nondeterminism",
        message="the same run issued different operations the first time in a new process "
                "and the next time in the same process: the handler decides by what an "
                "earlier invocation left in the process (a module-level cache, a set of ids "
                "seen, a counter), so a replay after a crash, in a process that ran it before "
                "or in a new one, takes another path than its journal. Keep what decides in "
                "the journal (a step's result, the object's state) instead.",
        handler=target, journal_index=i, journal_diff=diff, seed=seed,
        found_by="the reference run in a new process, then again in the same process",
        hint="a setup that empties the module's cache before each run makes the check's own "
             "replays show it too; in a process already warm every replay agrees",
    )
