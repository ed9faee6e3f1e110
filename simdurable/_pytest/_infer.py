"""The obvious driver of a workflow, for ``pytest --simdurable``.

A workflow's run handler that waits on a durable promise never ends in a
check unless something resolves it. When the workflow has a shared handler
that resolves that promise (the "confirm" beside the "run"), calling it once
the run waits is almost always what the world does; the plugin does that and
says so, and ``[tool.simdurable.world]`` overrides it.
"""

from __future__ import annotations

from typing import Any

from .._check._world import FromEffect, WorldEvent, call, reach
from .._sim import Simulation, parse_target
from ..runtime._errors import SimdurableError
from ..runtime._journal import COMPLETION, PROMISE_GET


def _waited_promises(sim: Simulation, inv_id: str) -> list[str]:
    journal = sim.journal(inv_id)
    done = {e.target for e in journal if e.kind == COMPLETION}
    return [e.name for i, e in enumerate(journal) if e.kind == PROMISE_GET and i not in done]


def infer_world(services: list[Any], invoke: str, value: Any, handler: Any,
                externals: list[Any] | None = None
                ) -> tuple[list[WorldEvent], str | None]:
    """The world for a workflow's run handler (and the sentence saying so), or none."""
    worlds = infer_worlds(services, invoke, value, handler, externals)
    return worlds[0] if worlds else ([], None)


def _sent_strings(externals: list[Any], inv_id: str) -> list[FromEffect]:
    """Each string the run handed a fake external (a mailed link's secret), as
    the world would read it back; the last effect of each operation only."""
    out: list[FromEffect] = []
    for ext in externals:
        last: dict[str, Any] = {}
        for eff in ext.effects:
            if eff.invocation == inv_id:
                last[eff.op] = eff.payload

        def walk(value: Any, path: str, name: str, op: str, depth: int) -> None:
            if isinstance(value, str) and value:
                out.append(FromEffect(name, op, path or None))
            elif isinstance(value, dict) and depth < 3:
                for k, v in value.items():
                    if isinstance(k, str) and "." not in k:
                        walk(v, f"{path}.{k}" if path else k, name, op, depth + 1)

        for op, payload in last.items():
            walk(payload, "", ext.name, op, 0)
    return out[:12]


def infer_worlds(services: list[Any], invoke: str, value: Any, handler: Any,
                 externals: list[Any] | None = None
                 ) -> list[tuple[list[WorldEvent], str]]:
    """Each world to check a workflow's run handler in (and the sentence saying
    so): its driver called with the input built from its type hint, and, for a
    yes/no driver (``approve(ok: bool)``), with the other answer too, so that
    the path taken on "yes" is checked as well as the one on "no".

    A driver taking a string that the run refuses (a secret it drew with
    ``ctx.uuid()`` and mailed) is also called with each string the run handed
    a fake external, read back when the world calls (``world.from_effect``);
    the first one the run accepts is checked first, the refused one after."""
    from ._items import _generated_input

    if getattr(handler, "kind", None) != "workflow":
        return []
    workflow, key, _ = parse_target(invoke)
    svc = next((s for s in services if s.name == workflow), None)
    if svc is None or key is None:
        return []
    try:
        sim = Simulation(services, seed=0)
        run = sim.invoke(invoke, value)
        sim.run()
        # A run that ended without a promise it waited on (a timeout won the
        # select) is driven too: else its path on the promise is never checked.
        ended_alone = run.done
        waited = _waited_promises(sim, run.id)
        if not waited:
            return []
        for name in sorted(svc.handlers):
            shared = svc.handlers[name]
            if shared.kind == "workflow":
                continue
            target = f"{workflow}/{key}/{name}"
            arg = _generated_input(shared)
            args = [arg, not arg] if isinstance(arg, bool) else [arg]
            out = []
            for a in args:
                probe = Simulation(services, seed=0)
                run = probe.invoke(invoke, value)
                if ended_alone:  # before its timeout fires
                    reach(probe, run, call(target, a))
                else:
                    probe.run()
                probe.invoke(target, a)
                probe.run()
                if (run.done and not ended_alone) or \
                        waited[0] not in _waited_promises(probe, run.id):
                    until = " until its timeout" if ended_alone else ""
                    said = (f"call {target}({a!r}) once the run waits (it completes promise "
                            f"{waited[0]!r} that {invoke} waits on{until})")
                    out.append(([call(target, a)], said))
            if out and isinstance(out[0][0][0].value, str) and externals:
                mailed = _mailed_world(services, invoke, value, target, out[0][0][0].value,
                                       externals, ended_alone, waited[0])
                if mailed is not None:
                    out.insert(0, mailed)
            if out:
                return out
    except (SimdurableError, TypeError, ValueError):
        return []
    return []


def _failed(run: Any) -> bool:
    try:
        run.result()
    except Exception:
        return True
    return False


def _probe(services: list[Any], invoke: str, value: Any, target: str, answer: Any,
           externals: list[Any], ended_alone: bool) -> tuple[Any, Simulation]:
    for ext in externals:
        ext.reset()
    probe = Simulation(services, seed=0, externals=externals)
    run = probe.invoke(invoke, value)
    ev = call(target, answer)
    if ended_alone:
        reach(probe, run, ev)
    else:
        probe.run()
    if isinstance(answer, FromEffect):
        answer, problem = answer.value(externals)
        if problem is not None:
            return None, probe
    probe.invoke(target, answer)
    probe.run()
    return run, probe


def _mailed_world(services: list[Any], invoke: str, value: Any, target: str, wrong: str,
                  externals: list[Any], ended_alone: bool, promise: str
                  ) -> tuple[list[WorldEvent], str] | None:
    """The driver answering with what the run sent out, when the built answer
    is refused (the run fails with it) and a sent string is accepted."""
    try:
        run, _ = _probe(services, invoke, value, target, wrong, externals, ended_alone)
        if run is None or not run.done or not _failed(run):
            return None
        for read in _sent_strings(externals, run.id):
            run, _ = _probe(services, invoke, value, target, read, externals, ended_alone)
            if run is not None and run.done and not _failed(run):
                said = (f"call {target}({read.describe()}) once the run waits (it completes "
                        f"promise {promise!r} with the string the run sent out; "
                        f"world.from_effect({read.external!r}, {read.op!r}, {read.field!r}))")
                return [call(target, read)], said
        return None
    finally:
        for ext in externals:
            ext.reset()

