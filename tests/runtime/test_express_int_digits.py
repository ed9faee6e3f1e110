"""An express step's small int result is written as the plain serde writes it,
from digits made once (``_fast.INT_DIGITS``): the same journal, trace and
result as a step that formats them, or as the general way's."""

from __future__ import annotations

import simdurable as sd
from simdurable.runtime import _fast

svc = sd.Service("Digits")
RESULTS = [0, 7, 1023, 1024, -1, -1024, 10**30, True, False, 5]


def value(i: int) -> int:
    return RESULTS[i]


@svc.handler()
async def run(ctx: sd.Context, x: int) -> list:
    seen = []
    for i in range(len(RESULTS)):
        seen.append(await ctx.run_typed("value", value, i=i))
    return seen


def runs(express: bool) -> tuple:
    sim = sd.Simulation([svc], seed=4)
    sim.engine.steps.express = express
    h = sim.invoke("Digits/run", 0)
    sim.run()
    journal = sim.engine.store._journals[h.id]
    values = [entry[3][0] for entry in journal if entry[0] == "completion"]
    return h.result(), sim.trace(), sim.journal(h), sim.engine.tasks_run, values


def test_the_digits_made_once_are_the_plain_serdes():
    assert len(_fast.INT_DIGITS) == _fast.SMALL_INTS
    assert all(_fast.INT_DIGITS[i] == b"%d" % i for i in range(_fast.SMALL_INTS))


def test_a_small_int_step_writes_the_digits_made_once():
    express, general = runs(True), runs(False)
    assert express[:4] == general[:4]
    assert express[0] == RESULTS
    assert express[4] == [b"0", b"7", b"1023", b"1024", b"-1", b"-1024", b"1" + b"0" * 30,
                          b"true", b"false", b"5"]
    shared = [0 <= result < _fast.SMALL_INTS and data is _fast.INT_DIGITS[result]
              for data, result in zip(express[4], RESULTS, strict=True)]
    assert shared == [True, True, True, False, False, False, False, False, False, True]
