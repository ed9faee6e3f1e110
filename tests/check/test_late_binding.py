"""A step's closure that reads a variable the handler rebound after starting it.

A step's closure runs when the handler next waits; a Python closure reads its
free variables when it runs. Steps started in a loop over a lambda of the
loop's variable, awaited together, all act on the last value (Python's late
binding), with no fault needed. Strict mode notes a closure's free variables
when the step is started and compares them before it runs; the same for what
can change in place among them and among the step's arguments (lists, dicts,
the attributes of the user's own objects), but for what other steps changed.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import random
import types
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest

import simdurable as restate
import simdurable as sd

svc = restate.Service("Late")
mail = sd.FakeExternal("mail")


def welcome(user: str) -> str:
    return str(mail.apply("welcome", {"user": user}, idempotency_key=f"w-{user}")["id"])


@svc.handler()
async def together(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = [ctx.run_typed(f"mail-{user}", lambda: welcome(user)) for user in users]  # noqa: B023
    await restate.gather(*mails)
    return [await m for m in mails]


@svc.handler()
async def one_by_one(ctx: restate.Context, users: list[str]) -> list[str]:
    # Each step awaited at once: it runs before the loop rebinds ``user``.
    return [await ctx.run_typed(f"mail-{user}", lambda: welcome(user))  # noqa: B023
            for user in users]


@svc.handler()
async def bound_early(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = [ctx.run_typed(f"mail-{user}", lambda user=user: welcome(user)) for user in users]
    mails += [ctx.run_typed(f"again-{user}", functools.partial(welcome, user)) for user in users]
    await restate.gather(*mails)
    return [await m for m in mails]


@svc.handler()
async def through_helper(ctx: restate.Context, users: list[str]) -> list[str]:
    mails = []
    for user in users:
        def send() -> str:
            return welcome(user)  # noqa: B023
        mails.append(ctx.run_typed(f"mail-{user}", lambda: send()))  # noqa: B023
    await restate.gather(*mails)
    return [await m for m in mails]


@svc.handler()
async def appends(ctx: restate.Context, users: list[str]) -> int:
    # The closure's list grows between start and run: the step counts users
    # the handler added after starting it.
    seen: list[str] = []
    count = ctx.run_typed("count", lambda: len(seen))
    seen.extend(users)
    return await count


@svc.handler()
async def accumulates(ctx: restate.Context, users: list[str]) -> list[str]:
    # Steps that add to one list, closures over it and arguments: each step
    # changes it under the others, which is what they are for. Quiet.
    sent: list[str] = []
    log: dict[str, list[str]] = {"sent": []}

    def send(user: str, into: dict[str, list[str]]) -> str:
        sent.append(user)
        into["sent"].append(user)
        return welcome(user)

    mails = [ctx.run_typed(f"mail-{user}", send, user=user, into=log) for user in users]
    mails += [ctx.run_typed(f"note-{user}", lambda user=user: sent.append(user) or "")
              for user in users]
    await restate.gather(*mails)
    return sent


async def _add_later(into: list[str], user: str) -> str:
    into.append(user)
    return user


@svc.handler()
async def accumulates_async(ctx: restate.Context, users: list[str]) -> list[str]:
    sent: list[str] = []
    adds = [ctx.run_typed(f"add-{user}", _add_later, into=sent, user=user) for user in users]
    await restate.gather(*adds)
    return sent


@dataclass
class Order:
    id: str
    status: str = "new"
    lines: list[str] = field(default_factory=list)

    def ship(self) -> str:
        return f"{self.id} shipped as {self.status} with {len(self.lines)} line(s)"


@dataclass(slots=True)
class Slotted:
    id: str
    status: str = "new"


def ship(order: Order | Slotted) -> str:
    return f"{order.id}:{order.status}"


@svc.handler()
async def object_changed(ctx: restate.Context, users: list[str]) -> str:
    order = Order("o-1", lines=list(users))
    shipped = ctx.run_typed("ship", ship, order=order)
    order.status = "cancelled"  # the step has not run yet: it ships a cancelled order
    return await shipped


@svc.handler()
async def slotted_changed(ctx: restate.Context, users: list[str]) -> str:
    order = Slotted("o-1")
    shipped = ctx.run_typed("ship", ship, order=order)
    order.status = "cancelled"
    return await shipped


@svc.handler()
async def object_line_added(ctx: restate.Context, users: list[str]) -> str:
    order = Order("o-1")
    shipped = ctx.run_typed("ship", lambda: order.ship())
    order.lines.append("gift")
    return await shipped


@svc.handler()
async def method_object_changed(ctx: restate.Context, users: list[str]) -> str:
    order = Order("o-1")
    shipped = ctx.run_typed("ship", order.ship)
    order.status = "held"
    return await shipped


@svc.handler()
async def object_unchanged(ctx: restate.Context, users: list[str]) -> list[str]:
    order = Order("o-1", lines=list(users))
    shipped = [ctx.run_typed("ship", ship, order=order), ctx.run_typed("again", order.ship),
               ctx.run_typed("lambda", lambda: order.ship())]
    other = Order("o-2", status=order.status)  # read, not changed
    await restate.gather(*shipped)
    return [await s for s in shipped] + [other.id]


@svc.handler()
async def changed_under_two(ctx: restate.Context, users: list[str]) -> list[int]:
    batch = list(users)
    counts = [ctx.run_typed("first", count, batch=batch), ctx.run_typed("second", count,
                                                                        batch=batch)]
    batch.clear()
    await restate.gather(*counts)
    return [await c for c in counts]


def count(batch: list[str]) -> int:
    return len(batch)


@svc.handler()
async def cleared(ctx: restate.Context, users: list[str]) -> int:
    batch = list(users)
    counted = ctx.run_typed("count", count, batch=batch)
    batch.clear()  # the step has not run yet: it counts an empty list
    return await counted


FLAKY: list[int] = []


def pop_once_flaky(queue: list[str]) -> str:
    item = queue.pop()  # the step's own change: its retry sees one item less
    if not FLAKY:
        FLAKY.append(1)
        raise ConnectionError("flaky")
    return item


@svc.handler()
async def retried(ctx: restate.Context, users: list[str]) -> str:
    return await ctx.run_typed("pop", pop_once_flaky, restate.RunOptions(max_attempts=3),
                               queue=list(users))


@svc.handler()
async def fan_out(ctx: restate.Context, n: int) -> int:
    items = list(range(n))
    futures = [ctx.run_typed(f"s{i}", lambda i=i: items[i] * 2) for i in range(n)]
    futures += [ctx.run_typed(f"t{i}", count, batch=items) for i in range(n)]
    await restate.gather(*futures)
    return sum([await f for f in futures])


def problems(handler: str, strict: bool = True) -> list[tuple[str, str | None, str | None, str]]:
    mail.reset()
    FLAKY.clear()
    sim = sd.Simulation(services=[svc], strict=strict, externals=[mail])
    sim.invoke(f"Late/{handler}", ["ann", "bob", "cy"])
    sim.run()
    return [(p.kind, p.step, p.source, p.detail) for p in sim.problems]


def test_steps_started_in_a_loop_and_awaited_together_are_reported_at_the_step():
    found = problems("together")
    line = together.__code__.co_firstlineno + 2
    assert found, "not reported"
    kind, step, source, detail = found[0]
    assert (kind, source) == ("late-binding", f"test_late_binding.py:{line}")
    assert step in ("mail-ann", "mail-bob")
    then = step.removeprefix("mail-")
    assert detail.startswith(f"step \"{step}\" ran with user='cy', but user was '{then}' when")
    assert "lambda user=user: ..." in detail
    assert {s for _, s, _, _ in found} == {"mail-ann", "mail-bob"}  # never the last one


def test_a_step_awaited_at_once_or_a_value_bound_when_started_is_quiet():
    assert problems("one_by_one") == []
    assert problems("bound_early") == []


def test_a_list_the_closure_holds_changed_in_place_before_it_runs_is_reported():
    [(kind, step, source, detail)] = problems("appends")
    assert (kind, step) == ("late-binding", "count")
    assert source == f"test_late_binding.py:{appends.__code__.co_firstlineno + 5}"
    assert detail.startswith("step \"count\" ran with seen=['ann', 'bob', 'cy'], but seen was "
                             "[] when the handler started it: the handler changed seen in place")


def test_what_other_steps_change_is_not_the_handlers_doing():
    # Before, a list handed to two steps and added to by the first was
    # reported under the second.
    assert problems("accumulates") == []
    assert problems("accumulates_async") == []


def test_an_objects_attributes_changed_in_place_are_reported_by_name():
    [(kind, step, _, detail)] = problems("object_changed")
    assert (kind, step) == ("late-binding", "ship")
    assert detail.startswith("step \"ship\" ran with order.status='cancelled', but "
                             "order.status was 'new' when the handler started it: the handler "
                             "changed order in place"), detail
    [(_, _, _, detail)] = problems("slotted_changed")
    assert detail.startswith("step \"ship\" ran with order.status='cancelled', but "
                             "order.status was 'new'"), detail
    [(_, _, _, detail)] = problems("object_line_added")
    assert detail.startswith("step \"ship\" ran with order.lines=['gift'], but order.lines "
                             "was [] when"), detail
    [(_, _, _, detail)] = problems("method_object_changed")
    assert detail.startswith("step \"ship\" ran with self.status='held', but self.status was "
                             "'new' when"), detail


def test_an_object_left_as_it_was_is_quiet():
    assert problems("object_unchanged") == []


def test_every_step_the_handler_changed_a_value_under_is_reported():
    found = problems("changed_under_two")
    # (in the order the schedule ran them)
    assert sorted((k, s) for k, s, _, _ in found) == [("late-binding", "first"),
                                                     ("late-binding", "second")]


def test_a_helper_the_closure_calls_is_followed():
    found = problems("through_helper")
    assert [k for k, *_ in found] == ["late-binding", "late-binding"]
    assert all(" ran with user='cy', but user was " in detail for *_, detail in found)


def test_a_list_changed_in_place_under_a_step_that_has_not_run_is_reported():
    [(kind, step, source, detail)] = problems("cleared")
    assert (kind, step) == ("late-binding", "count")
    assert source == f"test_late_binding.py:{cleared.__code__.co_firstlineno + 3}"
    assert detail.startswith("step \"count\" ran with batch=[], but batch was ['ann', 'bob', "
                             "'cy'] when the handler started it: the handler changed batch in "
                             "place")


def test_a_step_that_changes_its_own_argument_before_a_retry_is_quiet():
    # The retry is a new attempt: the handler starts the step again, with a new list.
    assert problems("retried") == []


def test_an_object_many_waiting_steps_read_is_copied_once_a_look(monkeypatch):
    # A copy for each waiting step before and after every step ran made a
    # fan-out of 300 steps over one list take 10 s: quadratic in the steps.
    from simdurable._api import late

    copies: list[object] = []
    real = late._copy_or_self

    def counted(value: object) -> object:
        copies.append(value)
        return real(value)

    monkeypatch.setattr(late, "_copy_or_self", counted)
    for n in (20, 40):
        copies.clear()
        sim = sd.Simulation(services=[svc], strict=True)
        h = sim.invoke("Late/fan_out", n)
        sim.run()
        assert h.result() == n * (n - 1) + n * n and sim.problems == []
        # once as each step starts, before and after each step runs
        assert len(copies) <= 2 * n + 2 * (2 * n) + 2, (n, len(copies))


def test_only_strict_mode_checks():
    assert problems("together", strict=False) == []


def test_the_check_leaves_traces_and_results_unchanged():
    # The wrapper only reads: the same seed gives the same trace with and without it.
    for seed in random.Random(17).sample(range(10_000), 5):
        runs = []
        for strict in (True, False):
            mail.reset()
            sim = sd.Simulation(services=[svc], strict=strict, externals=[mail], seed=seed)
            h = sim.invoke("Late/together", ["ann", "bob", "cy"])
            sim.run()
            runs.append((h.result(), sim.trace()))
        assert runs[0] == runs[1]


def test_check_finds_it_without_an_invariant():
    report = sd.check(services=[svc], invoke="Late/together", input=["ann", "bob", "cy"],
                      externals=[mail], max_examples=0)
    assert report.kinds == ["late-binding"], report.render()
    assert report.violations[0].found_by == "the fault-free reference run"


def test_an_object_grown_too_big_to_copy_is_compared_again_once_small():
    from simdurable._api import late

    watching = late.Watching()
    batch = ["a"]
    entry = watching.watch(batch, late._copy_or_self(batch))
    batch.extend(["b"] * late._COPY_BUDGET)
    watching.after()
    assert entry.lost  # compared by identity only while it is that big
    batch[1:] = []
    again = watching.watch(batch, late._copy_or_self(batch))
    assert again is entry and not entry.lost and entry.copy == ["a"]
    batch.append("c")
    watching.before()
    assert entry.by_handler == entry.version  # the handler's change, seen


# The standard library's containers, and objects in a set, changed in place
# under a step that has not run: made by kind, changed by kind.
def _size(things: object) -> int:
    if isinstance(things, set):
        return sum(len(t.lines) for t in things)
    if isinstance(things, types.SimpleNamespace):
        return len(things.lines)
    if isinstance(things, (queue.Queue, queue.SimpleQueue, asyncio.Queue)):
        return things.qsize()
    return len(things)  # type: ignore[arg-type]


@dataclass(eq=False)
class Parcel:
    lines: list[str] = field(default_factory=list)


# The user's own subclasses of containers: their contents, not only their
# attributes, are what a step reads.
class Batch(list[str]):
    pass


class Totals(dict[str, int]):
    pass


class Seats(set[str]):
    pass


class Lines(NamedTuple):
    order: str
    items: list[str]


class Labelled(list[str]):
    def __init__(self, label: str, items: list[str]) -> None:
        super().__init__(items)
        self.label = label


class Jobs(queue.SimpleQueue[str]):
    pass


def _container(kind: str) -> object:
    import array
    import collections

    return {
        "deque": lambda: collections.deque(["a", "b"]),
        "defaultdict": lambda: collections.defaultdict(list, {"a": [1]}),
        "OrderedDict": lambda: collections.OrderedDict(a=1, b=2),
        "Counter": lambda: collections.Counter(a=2),
        "array": lambda: array.array("i", [1, 2]),
        "set-of-objects": lambda: {Parcel(["x"])},
        "list-subclass": lambda: Batch(["a", "b"]),
        "dict-subclass": lambda: Totals(a=1),
        "set-subclass": lambda: Seats({"a"}),
        "namedtuple": lambda: Lines("o-1", ["a"]),
        "subclass-attribute": lambda: Labelled("first", ["a"]),
        "SimpleNamespace": lambda: types.SimpleNamespace(lines=["a"]),
        "Queue": lambda: _queue_of_two(queue.Queue()),
        "SimpleQueue": lambda: _queue_of_two(queue.SimpleQueue()),
        "SimpleQueue-subclass": lambda: _queue_of_two(Jobs()),
        "asyncio.Queue": lambda: _queue_of_two(asyncio.Queue()),
        "asyncio.LifoQueue": lambda: _queue_of_two(asyncio.LifoQueue()),
        "asyncio.PriorityQueue": lambda: _queue_of_two(asyncio.PriorityQueue()),
    }[kind]()


def _queue_of_two(q: Any) -> Any:
    q.put_nowait("a")
    q.put_nowait("b")
    return q


def _change(things: object, kind: str) -> None:
    if kind == "deque":
        things.popleft()  # type: ignore[attr-defined]
    elif kind == "defaultdict":
        things["a"].append(2)  # type: ignore[index]
    elif kind == "OrderedDict":
        things.move_to_end("a")  # type: ignore[attr-defined]
    elif kind == "Counter":
        things["a"] += 1  # type: ignore[index]
    elif kind == "array":
        things[0] = 7  # type: ignore[index]
    elif kind == "list-subclass":
        things.clear()  # type: ignore[attr-defined]
    elif kind == "dict-subclass":
        things["a"] = 2  # type: ignore[index]
    elif kind == "set-subclass":
        things.add("b")  # type: ignore[attr-defined]
    elif kind == "namedtuple":
        things.items.append("b")  # type: ignore[attr-defined]
    elif kind == "subclass-attribute":
        things.label = "second"  # type: ignore[attr-defined]
    elif kind == "SimpleNamespace":
        things.lines.append("b")  # type: ignore[attr-defined]
    elif "Queue" in kind:
        things.get_nowait()  # type: ignore[attr-defined]
    else:
        next(iter(things)).lines.append("y")  # type: ignore[call-overload]


stdlib = restate.Service("LateStdlib")


@stdlib.handler()
async def changed_under(ctx: restate.Context, kind: str) -> int:
    things = _container(kind)
    sized = ctx.run_typed("size", _size, things=things)
    _change(things, kind)  # the step has not run yet
    return await sized


@stdlib.handler()
async def changed_after(ctx: restate.Context, kind: str) -> int:
    things = _container(kind)
    size = await ctx.run_typed("size", _size, things=things)  # ran before the change
    _change(things, kind)
    sized = ctx.run_typed("size-again", _size, things=things)
    return size + await sized


STDLIB_KINDS = ["deque", "defaultdict", "OrderedDict", "Counter", "array", "set-of-objects"]
# (Before, each of these passed: a subclass's contents, a namespace and a queue
# were compared by identity or by the attributes alone.)
MORE_KINDS = ["list-subclass", "dict-subclass", "set-subclass", "namedtuple",
              "subclass-attribute", "SimpleNamespace", "Queue", "SimpleQueue",
              "SimpleQueue-subclass", "asyncio.Queue", "asyncio.LifoQueue",
              "asyncio.PriorityQueue"]


def stdlib_problems(handler: str, kind: str) -> list[tuple[str, str | None, str]]:
    sim = sd.Simulation(services=[stdlib], strict=True)
    sim.invoke(f"LateStdlib/{handler}", kind)
    sim.run()
    return [(p.kind, p.step, p.detail) for p in sim.problems]


def test_standard_library_containers_changed_in_place_under_a_step_are_reported():
    for kind in STDLIB_KINDS:
        found = stdlib_problems("changed_under", kind)
        assert [(k, s) for k, s, _ in found] == [("late-binding", "size")], (kind, found)
        assert "the handler changed things in place" in found[0][2], found[0][2]
        assert stdlib_problems("changed_after", kind) == [], kind
    [(_, _, detail)] = stdlib_problems("changed_under", "defaultdict")
    assert detail.startswith("step \"size\" ran with things['a']=[1, 2], but things['a'] was "
                             "[1] when"), detail
    [(_, _, detail)] = stdlib_problems("changed_under", "deque")
    assert detail.startswith("step \"size\" ran with things=deque(['b']), but things was "
                             "deque(['a', 'b']) when"), detail
    [(_, _, detail)] = stdlib_problems("changed_under", "set-of-objects")
    assert detail.startswith("step \"size\" ran with things={Parcel(lines=['x', 'y'])}, but "
                             "things was {Parcel(lines=['x'])} when"), detail


@pytest.mark.parametrize("kind", MORE_KINDS)
def test_subclasses_namespaces_and_queues_changed_in_place_under_a_step_are_reported(kind):
    found = stdlib_problems("changed_under", kind)
    assert [(k, s) for k, s, _ in found] == [("late-binding", "size")], found
    assert "the handler changed things in place" in found[0][2], found[0][2]
    assert stdlib_problems("changed_after", kind) == []


@pytest.mark.parametrize(("kind", "start"), [
    ("list-subclass", "step \"size\" ran with things=Batch([]), but things was "
                      "Batch(['a', 'b']) when"),
    ("dict-subclass", "step \"size\" ran with things['a']=2, but things['a'] was 1 when"),
    ("namedtuple", "step \"size\" ran with things=Lines('o-1', ['a', 'b']), but "
                   "things was Lines('o-1', ['a']) when"),
    ("subclass-attribute", "step \"size\" ran with things.label='second', but "
                           "things.label was 'first' when"),
    ("SimpleNamespace", "step \"size\" ran with things.lines=['a', 'b'], but "
                        "things.lines was ['a'] when"),
    ("SimpleQueue", "step \"size\" ran with things=SimpleQueue(['b']), but "
                    "things was SimpleQueue(['a', 'b']) when"),
    ("asyncio.Queue", "step \"size\" ran with things=Queue(['b']), but "
                      "things was Queue(['a', 'b']) when"),
])
def test_a_subclass_or_namespace_change_is_named_where_it_is(kind, start):
    [(_, _, detail)] = stdlib_problems("changed_under", kind)
    assert detail.startswith(start), detail


class SlottedJobs(queue.SimpleQueue[object]):
    __slots__ = ("owner", "__dict__")


@pytest.mark.parametrize("make", [queue.SimpleQueue, Jobs, SlottedJobs])
def test_a_simple_queue_is_read_in_order_and_left_as_it_was(make):
    from simdurable._api.late import _simple_queue_items

    q = make()
    if isinstance(q, SlottedJobs):
        q.owner = ["not", "an", "item"]
        q.note = ["nor", "this"]
    assert _simple_queue_items(q) == []
    for item in ("a", ["b"], None, "c"):
        q.put(item)
    q.get()
    assert _simple_queue_items(q) == [["b"], None, "c"]
    assert [q.get_nowait() for _ in range(q.qsize())] == [["b"], None, "c"]
    assert _simple_queue_items(q) == []
