"""A lone handler whose step a fault may fire at: that step runs as a task
(no step runs in place where a fault may fire), and so does the handler's
resume after it. Alone in the ready list, each is taken the general way
(``Engine.general_task``), the fused runner never built for them; and once an
attempt's replay ends at that step's command (its completion never
journaled), its next step takes the fresh command's class at once. Every run
is the same, event for event, as with the fused runner from the start."""

from __future__ import annotations

from typing import Any

import pytest

import simdurable as sd
from simdurable.runtime import _fast
from simdurable.runtime._faults import AFTER_STORE, BEFORE, EFFECT_DONE, Fault
from simdurable.runtime._tasks import task_runner

svc = sd.Service("Faulted")
# The context's class after each step's await, by attempt (``classes``).
classes: list[list[type]] = []


def add(i: int) -> int:
    return i + 1


@svc.handler()
async def run(ctx: sd.Context, x: int) -> int:
    seen: list[type] = []
    classes.append(seen)
    for i in range(6):
        x = await ctx.run_typed(f"step-{i}", add, i=x)
        seen.append(type(ctx))
    return x


FAULTS = [
    *(Fault("crash", step="step-3", phase=phase, attempt=1)
      for phase in (BEFORE, EFFECT_DONE, AFTER_STORE)),
    Fault("fail", step="step-3", attempt=1),
    Fault("terminal", step="step-3", attempt=1),
]


def _run(fault: Fault, fused: bool) -> tuple[sd.Simulation, Any, list[list[type]]]:
    classes.clear()
    sim = sd.Simulation([svc], seed=3, faults=[fault])
    if fused:
        sim.engine.run_task = task_runner(sim.engine)  # type: ignore[method-assign]
    handle = sim.invoke("Faulted/run", 1)
    sim.run()
    return sim, handle, [list(c) for c in classes]


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_a_faulted_steps_run_is_the_same_as_through_the_fused_runner(fault: Fault) -> None:
    sim, handle, _ = _run(fault, fused=False)
    fused, fused_handle, _ = _run(fault, fused=True)
    assert sim.trace() == fused.trace()
    assert sim.engine.records() == fused.engine.records()
    assert handle.status == fused_handle.status
    assert sim.engine.scheduler.tasks_run == fused.engine.scheduler.tasks_run
    assert sim.engine.scheduler.decisions == fused.engine.scheduler.decisions
    # (the runner never built: ``run_task`` is still the engine's own method)
    assert getattr(sim.engine.run_task, "__self__", None) is sim.engine


@pytest.mark.parametrize("phase", [EFFECT_DONE, "fail"])
def test_the_step_after_a_replay_ended_at_a_pending_command_is_fresh(phase: str) -> None:
    fault = (Fault("fail", step="step-3", attempt=1) if phase == "fail"
             else Fault("crash", step="step-3", phase=phase, attempt=1))
    sim, handle, seen = _run(fault, fused=False)
    assert handle.result() == 7
    first, second = seen
    assert len(first) == 3 and len(second) == 6
    # Attempt 2 replays steps 0-2, then step 3's command alone: its context
    # is the fresh command's from there, before its next step is issued.
    assert second[:3] == [_fast.replay_context] * 3
    assert second[3:] == [_fast.express_context] * 3
