"""Step values that are not the step's own doing, left out when concurrent
invocations' endings are compared with their one-at-a-time orders, and the
clock reads given again to the invocations run one at a time.

A step is where a handler may be nondeterministic: ``uuid4()``, a clock, the
global random generator, a counter kept in a module. Its value is journaled,
so a replay agrees with it, but another run (a one-at-a-time order of the
same invocations) draws another one: a receipt ``r-<uuid>`` returned or
stored differs in every run, and the global generator's draws go to the
invocations in the order their steps ran, which no durable lock governs.
Neither is a lost update. Such values are found by running the reference run
once more with the global generator seeded otherwise and comparing each
step's stored value, item by item; those items (a receipt's id, not the
amount beside it) are then left out of the comparison, in every run, as a
fake external's receipt ids are.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..runtime._journal import COMPLETION, KIND, NAME, RESULT, RUN, TARGET, Value
from ..runtime._store import stored_journal

# One item of a step's value: the handler ("Service/handler"), the step's
# name and the item's path in its JSON value (() for the whole value).
Path = tuple[str, str, tuple[Any, ...]]

LEFT_OUT = "<a step's own value>"


def _data(result: Any) -> bytes | None:
    """A step completion's stored value (None for a failure)."""
    if isinstance(result, Value):
        return result.data
    if isinstance(result, tuple) and result and isinstance(result[0], bytes):
        return result[0]
    return None


def _leaves(data: bytes) -> dict[tuple[Any, ...], Any]:
    """A JSON value's strings and numbers by their path (a value that is not
    JSON: its text, as one item)."""
    try:
        value = json.loads(data)
    except ValueError:
        return {(): data.decode("utf-8", "replace")}
    out: dict[tuple[Any, ...], Any] = {}
    todo: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while todo:
        path, v = todo.pop()
        if isinstance(v, dict):
            todo += [((*path, k), item) for k, item in v.items()]
        elif isinstance(v, list):
            todo += [((*path, i), item) for i, item in enumerate(v)]
        elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[path] = v
    return out


def _steps(sim: Any) -> dict[tuple[int, str, int], tuple[str, dict[tuple[Any, ...], Any]]]:
    """Every step's stored value, by (the invocation's place among the run's,
    the step's name, how many steps of that name it ran before): its handler
    and its items."""
    out = {}
    for i, rec in enumerate(sim.engine.records()):
        journal = stored_journal(sim.store, rec.id)
        seen: Counter[str] = Counter()
        for entry in journal:
            if entry[KIND] != COMPLETION or not 0 <= entry[TARGET] < len(journal):
                continue
            command = journal[entry[TARGET]]
            data = _data(entry[RESULT])
            if command[KIND] != RUN or data is None:
                continue
            name = command[NAME]
            out[(i, name, seen[name])] = (f"{rec.service}/{rec.handler}", _leaves(data))
            seen[name] += 1
    return out


def unstable_paths(a: Any, b: Any) -> frozenset[Path]:
    """The items of step values that differ between two simulations that
    differ only in what steps draw for themselves."""
    steps_a, steps_b = _steps(a), _steps(b)
    out: set[Path] = set()
    for key in steps_a.keys() & steps_b.keys():
        (handler, leaves_a), (_, leaves_b) = steps_a[key], steps_b[key]
        for path in leaves_a.keys() | leaves_b.keys():
            if leaves_a.get(path) != leaves_b.get(path):
                out.add((handler, key[1], path))
    return frozenset(out)


def drawn_values(sim: Any, paths: frozenset[Path]) -> dict[tuple[str, int], tuple[str, bytes]]:
    """The stored values of ``sim``'s steps that drew for themselves (an item
    of theirs is at one of ``paths``), by (the invocation's id, the step's
    journal index): its name and value, given again to the same invocation at
    the same index when the one-at-a-time orders are run (``Engine.value_pins``).

    Left out (``left_out``), a value drawn is compared nowhere, but a result
    made from it (``f"at {t:.3f}"``, ``int(t * 1000)``) is not the value and
    stays in, different in every run. Given again, it is an input of its
    invocation, as a clock read is (``clock_reads``): what the invocation
    makes of it is then made alike one at a time, and what it makes of state
    another invocation changed is not (a lost update is still one)."""
    steps = {(handler, name) for handler, name, _ in paths}
    return {(rec.id, index): (name, data) for rec, index, name, data in _stored_step_values(sim)
            if (f"{rec.service}/{rec.handler}", name) in steps}


def _stored_step_values(sim: Any) -> Iterator[tuple[Any, int, str, bytes]]:
    """Each stored step value of ``sim``: its invocation's record, the step's
    journal index, its name and its value's data."""
    for rec in sim.engine.records():
        journal = stored_journal(sim.store, rec.id)
        for entry in journal:
            if entry[KIND] != COMPLETION or not 0 <= entry[TARGET] < len(journal):
                continue
            command = journal[entry[TARGET]]
            data = _data(entry[RESULT])
            if command[KIND] == RUN and data is not None:
                yield rec, entry[TARGET], command[NAME], data


def _key(v: Any) -> tuple[str, Any]:
    return (type(v).__name__, v)  # (1, 1.0 and "1" are three values)


def left_out(ending: str, sim: Any, paths: frozenset[Path]) -> str:
    """``ending`` (``concurrent_ending``'s text of ``sim``'s run) with every
    item of state and results that one of ``sim``'s steps drew for itself (at
    ``paths``) replaced by ``LEFT_OUT``."""
    drawn: set[tuple[str, Any]] = set()
    for (_, name, _), (handler, leaves) in _steps(sim).items():
        drawn.update(_key(v) for path, v in leaves.items() if (handler, name, path) in paths)
    texts = sorted((v for t, v in drawn if t == "str"), key=len, reverse=True)

    def mask(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: mask(item) for k, item in v.items()}
        if isinstance(v, list):
            return [mask(item) for item in v]
        if isinstance(v, (str, int, float)) and not isinstance(v, bool) and _key(v) in drawn:
            return LEFT_OUT
        return v

    parsed = json.loads(ending)
    results = []
    for line in parsed["results"]:
        target, sep, value = line.partition(" -> ")
        try:
            shown = json.dumps(mask(json.loads(value)), sort_keys=True)
        except ValueError:  # an error's text, or nothing
            shown = value
            for text in texts:
                shown = shown.replace(text, LEFT_OUT)
        results.append(target + sep + shown)
    return json.dumps({"state": mask(parsed["state"]), "results": sorted(results)},
                      sort_keys=True, default=repr)


# The step ``ctx.time()`` records its read as (``Context.time``).
CLOCK_STEP = "timestamp"


def clock_reads(sim: Any) -> dict[tuple[str, int], float]:
    """What each invocation of ``sim`` read with ``ctx.time()``, by (its id,
    the step's journal index): the time it ran at, which a one-at-a-time
    order shifts (each invocation waits for those before it, and a crashed
    attempt's backoff delays every later one), given to the same invocation
    at the same index when the orders are run again (``Engine.clock_pins``).
    A time read is an input of the invocation, as a receipt id is: what it
    decides from it is then decided alike one at a time, and what it
    decides from state another invocation changed is not."""
    out: dict[tuple[str, int], float] = {}
    for rec, index, name, data in _stored_step_values(sim):
        if name != CLOCK_STEP:
            continue
        try:
            value = json.loads(data)
        except ValueError:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[(rec.id, index)] = value
    return out
