"""The obvious driver of a workflow, for ``pytest --simdurable``.

A workflow's run handler that waits on a durable promise never ends in a
check unless something resolves it. When the workflow has a shared handler
that resolves that promise (the "confirm" beside the "run"), calling it once
the run waits is almost always what the world does; the plugin does that and
says so, and ``[tool.simdurable.world]`` overrides it.
"""

from __future__ import annotations

from typing import Any

from .._check._world import WorldEvent, call, reach
from .._sim import Simulation, parse_target
from ..runtime._errors import SimdurableError
from ..runtime._journal import COMPLETION, PROMISE_GET


def _waited_promises(sim: Simulation, inv_id: str) -> list[str]:
    journal = sim.journal(inv_id)
    done = {e.target for e in journal if e.kind == COMPLETION}
    return [e.name for i, e in enumerate(journal) if e.kind == PROMISE_GET and i not in done]


def infer_world(services: list[Any], invoke: str, value: Any, handler: Any
                ) -> tuple[list[WorldEvent], str | None]:
    """The world for a workflow's run handler (and the sentence saying so), or none."""
    worlds = infer_worlds(services, invoke, value, handler)
    return worlds[0] if worlds else ([], None)


def infer_worlds(services: list[Any], invoke: str, value: Any, handler: Any
                 ) -> list[tuple[list[WorldEvent], str]]:
    """Each world to check a workflow's run handler in (and the sentence saying
    so): its driver called with the input built from its type hint, and, for a
    yes/no driver (``approve(ok: bool)``), with the other answer too, so that
    the path taken on "yes" is checked as well as the one on "no"."""
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
            if out:
                return out
    except (SimdurableError, TypeError, ValueError):
        return []
    return []
