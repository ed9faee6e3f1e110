"""Steps that read, when they run, what the handler changed after starting them.

A step's closure runs when the handler next waits, not where ``run_typed``
was called (restate-sdk runs it then too). A Python closure reads its free
variables when it runs: ``[ctx.run_typed(f"mail-{u}", lambda: mail(u)) for u
in users]`` awaited together mails the last user once per user, and no fault
is needed to see it. A list handed to a step and cleared by the handler
before the step runs (a batch sent, then emptied for the next) reaches the
step empty; so does a list or an order object the closure holds, changed by
the handler after it started the step. In strict mode each step's closure is
wrapped by ``late_binding_check``: when the step is started it notes the
closure's free variables, and a copy of what can change in place among them
and among the step's arguments (lists, dicts, sets, bytearrays, the standard
library's deques, defaultdicts, OrderedDicts, Counters, arrays, ``queue``'s
and ``asyncio``'s queues, the attributes of objects of the user's own classes
and of ``types.SimpleNamespace`` objects, and the contents and attributes of
the user's subclasses of all those containers, in sets too, deeply); before the closure
first runs it compares them with what it is about to read. A difference is
reported as a ``LateBindingError`` at the step and the line that started it.

Only the handler's changes count. The handler does not run while a step
does, so before each step runs the steps still waiting note what changed
under them (the handler's doing), and after it runs they take a new copy
(what the step itself changed: steps that add to one list, a closure over
an accumulator, are common and meant). A value bound when the closure is
made (a default, ``lambda u=u: ...``, an argument of ``run_typed`` or a
``functools.partial`` that is not changed in place) and a step awaited at
once, which runs before the handler can change anything, are not reported.
"""

from __future__ import annotations

import array
import collections
import functools
import gc
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

from ..runtime._errors import HandlerError
from ..runtime._invocation import _outside_us

# How deep to follow functions held by a closure's variables (a lambda that
# calls a helper defined in the loop body, which reads the loop's variable).
_DEPTH = 2


class LateBindingError(HandlerError):
    """A step's closure read a variable whose value the handler changed after it
    started the step: the step acts on the later value."""

    kind = "late-binding"


# One value a step reads when it runs: its name, the closure's cell holding it
# (None for an argument), the object, and a copy of its contents (the object
# itself when nothing in it can change in place).
_Watched = tuple[str, "types.CellType | None", Any, Any]


# By id, the code of simdurable's own wrappers of a step's action that read
# nothing but the action, their ``__wrapped__`` (each kept alive by its module).
PASS_THROUGH: set[int] = set()


def _read_later(action: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[_Watched]:
    """What the step reads only when it runs: its closure's free variables, and
    the arguments (its own, a partial's, a bound method's object) whose contents
    can change in place."""
    if type(action) is types.FunctionType:
        if action.__closure__ is None:
            # The common case: a module's function, given strings and numbers.
            if "__wrapped__" not in action.__dict__ and _atoms_only(args, kwargs):
                return []
        elif not args and not kwargs and id(action.__code__) in PASS_THROUGH:
            # A restate-sdk step: simdurable's wrapper (it reads nothing but
            # what it wraps) of a ``functools.partial`` of the user's function
            # and its arguments; the same common case one level in.
            given = action.__dict__.get("__wrapped__")
            if type(given) is functools.partial:
                fn = given.func
                if (type(fn) is types.FunctionType and fn.__closure__ is None
                        and "__wrapped__" not in fn.__dict__
                        and _atoms_only(given.args, given.keywords)):
                    return []
    out: list[_Watched] = []
    bound: list[tuple[str, Any]] = [(f"argument {i + 1}", a) for i, a in enumerate(args)]
    bound += list(kwargs.items())
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(action, 0)]
    while todo:
        fn, depth = todo.pop()
        while id(fn) not in seen:
            seen.add(id(fn))
            if isinstance(fn, functools.partial):
                bound += [(f"argument {i + 1}", a) for i, a in enumerate(fn.args)]
                bound += list(fn.keywords.items())
                fn = fn.func
            elif isinstance(fn, types.MethodType):
                if _user_class(type(fn.__self__)):
                    bound.append(("self", fn.__self__))
                fn = fn.__func__
            elif isinstance(fn, types.FunctionType) and fn.__closure__ is not None:
                user = _outside_us(fn.__code__.co_filename)
                for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
                    try:
                        value = cell.cell_contents
                    except ValueError:  # not bound yet: no earlier value to keep
                        continue
                    if user:
                        out.append((name, cell, value, _copy_or_self(value)))
                    if depth < _DEPTH and isinstance(value, (types.FunctionType, functools.partial)):
                        todo.append((value, depth + 1))
                fn = getattr(fn, "__wrapped__", fn)
            else:
                fn = getattr(fn, "__wrapped__", fn)
    for name, value in bound:
        copied = _copy_or_self(value)
        if copied is not value:
            out.append((name, None, value, copied))
    return out


def _atoms_only(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Every argument a string, a number or another value nothing can change in place."""
    atoms = _ATOMS
    for a in args:
        if type(a) not in atoms:
            return False
    for a in kwargs.values():
        if type(a) not in atoms:
            return False
    return True


# What is copied of a value, in all: this many items and attributes, this
# deep. A bigger value is compared by identity only.
_COPY_BUDGET = 1000
_COPY_DEPTH = 12


class _TooBig(Exception):
    pass


def _spend(budget: list[int], items: int) -> None:
    """Take ``items`` from what is left to copy; too big once it runs out."""
    budget[0] -= items
    if budget[0] < 0:
        raise _TooBig


def _copy_attrs(attrs: dict[str, Any], budget: list[int], depth: int) -> dict[str, Any]:
    """A copy of an object's attributes (each copied as ``_copy`` does)."""
    _spend(budget, len(attrs) + 1)
    return {k: _copy(v, budget, depth + 1) for k, v in attrs.items()}


def _copy_or_self(value: Any) -> Any:
    """A copy of what in ``value`` can change in place; ``value`` itself when
    nothing can, or when it is too big to copy."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    try:
        return _copy(value, [_COPY_BUDGET], 0)
    except _TooBig:
        return value


_ATOMS: frozenset[type] = frozenset({str, int, float, bool, type(None), bytes, complex,
                                     types.FunctionType, types.BuiltinFunctionType, type})


class _Attrs:
    """A copy of an object's attributes, compared by class and attributes."""

    __slots__ = ("kind", "attrs")

    def __init__(self, kind: type, attrs: dict[str, Any]) -> None:
        self.kind = kind
        self.attrs = attrs

    def __eq__(self, other: object) -> bool:
        return (type(other) is _Attrs and self.kind is other.kind
                and self.attrs == other.attrs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())
        return f"{self.kind.__name__}({fields})"


def _copy(value: Any, budget: list[int], depth: int) -> Any:
    """``value`` with its lists, dicts, sets, bytearrays, standard-library
    containers and user objects' attributes copied, deeply (``value`` itself if
    it holds none)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if depth > _COPY_DEPTH:
        raise _TooBig
    if kind in (list, dict, set, bytearray, tuple, frozenset):
        _spend(budget, len(value))
        if kind is dict:
            return {k: _copy(v, budget, depth + 1) for k, v in value.items()}
        if kind is list:
            return [_copy(v, budget, depth + 1) for v in value]
        if kind is tuple:
            items = tuple(_copy(v, budget, depth + 1) for v in value)
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        if kind is frozenset:
            return value
        if kind is set and not all(type(v) in _ATOMS for v in value):
            # Its members' contents too (objects of the user's classes hash by
            # identity): by member, as the set holds them; as a set when no
            # member holds anything that can change (tuples of atoms).
            members = [(v, _copy(v, budget, depth + 1)) for v in value]
            if any(c is not v for v, c in members):
                return _Items(set, {id(v): (v, c) for v, c in members})
        return kind(value)  # a set (of hashable, so unchanging, items) or a bytearray
    if kind in _STDLIB:
        return _copy_stdlib(value, kind, budget, depth)
    if _user_class(kind):
        base = _container_base(kind)
        if base is not None:
            return _copy_subclass(value, kind, base, budget, depth)
        attrs = _attributes(value)
        if _simple_queue(kind):  # (its contents are no attribute)
            items = _copy(_simple_queue_items(value), budget, depth + 1)
            return _Subclass(kind, items, _copy_attrs(attrs or {}, budget, depth))
        if attrs is None:
            return value
        return _Attrs(kind, _copy_attrs(attrs, budget, depth))
    if kind is types.SimpleNamespace:
        return _Attrs(kind, _copy_attrs(vars(value), budget, depth))
    # (A module's queues only if it is imported: a value cannot be one otherwise.)
    queues = sys.modules.get("queue")
    if queues is not None:
        if kind in (queues.Queue, queues.LifoQueue, queues.PriorityQueue):
            return _Items(kind, _copy(list(value.queue), budget, depth + 1))
        if kind is queues.SimpleQueue:
            return _Items(kind, _copy(_simple_queue_items(value), budget, depth + 1))
    aio = sys.modules.get("asyncio")
    if aio is not None and kind in (aio.Queue, aio.LifoQueue, aio.PriorityQueue):
        return _Items(kind, _copy(list(value._queue), budget, depth + 1))
    return value


def _simple_queue(kind: type) -> bool:
    queues = sys.modules.get("queue")
    return queues is not None and issubclass(kind, queues.SimpleQueue)


def _simple_queue_items(value: Any) -> list[Any]:
    """What a ``queue.SimpleQueue`` holds, first out first, read without taking
    anything out of it (it offers no other way to look; taking out and putting
    back would reorder it under another thread's ``put``). Its referents end
    with its class, after the list it keeps (3.11, 3.12: the taken ones first)
    or after its items themselves (3.13+); a subclass's attributes come before."""
    size = value.qsize()
    held = gc.get_referents(value)
    items: list[Any] = []
    if held and held[-1] is type(value):
        if sys.version_info < (3, 13):
            kept = held[-2] if len(held) > 1 and type(held[-2]) is list else []
            items = kept[len(kept) - size:] if size else []
        else:
            items = held[-1 - size:-1] if size else []
    if len(items) != size:  # (not as this Python keeps it): compared by identity
        raise _TooBig
    return items


# The containers a user's class may extend, whose contents its instances hold
# beside their attributes (a ``class Batch(list)``: ``batch.clear()`` changes no
# attribute).
_BASES: frozenset[type] = frozenset({list, dict, set, bytearray, tuple, frozenset,
                                     collections.deque, collections.defaultdict,
                                     collections.OrderedDict, collections.Counter})
_BASE_OF: dict[type, type | None] = {}


def _container_base(kind: type) -> type | None:
    """The container a user's class extends (its nearest), or None."""
    try:
        return _BASE_OF[kind]
    except KeyError:
        pass
    base = next((k for k in kind.__mro__ if k in _BASES), None)
    if len(_BASE_OF) > 4096:
        _BASE_OF.clear()  # (classes made at run time)
    _BASE_OF[kind] = base
    return base


def _copy_subclass(value: Any, kind: type, base: type, budget: list[int], depth: int) -> Any:
    """A copy of an object of the user's subclass of a container: its contents,
    copied as its base's are, and its attributes (``value`` itself when neither
    can change, a named tuple of strings and numbers)."""
    plain: Any
    try:
        if base is collections.defaultdict:
            plain = collections.defaultdict(value.default_factory, value)
        else:
            plain = base(value)
    except Exception as err:  # (its own iteration fails): compared by identity
        raise _TooBig from err
    items = _copy(plain, budget, depth + 1)
    attrs = _attributes(value) or {}
    copied = _copy_attrs(attrs, budget, depth)
    if items is plain and base in (tuple, frozenset) and all(
            c is v for c, v in zip(copied.values(), attrs.values(), strict=True)):
        return value
    return _Subclass(kind, items, copied)


class _Subclass:
    """A copy of an object of the user's subclass of a container, compared by
    class, contents and attributes."""

    __slots__ = ("kind", "items", "attrs")

    def __init__(self, kind: type, items: Any, attrs: dict[str, Any]) -> None:
        self.kind = kind
        self.items = items
        self.attrs = attrs

    def __eq__(self, other: object) -> bool:
        return (type(other) is _Subclass and self.kind is other.kind
                and self.items == other.items and self.attrs == other.attrs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        items = self.items
        shown = (", ".join(map(repr, items)) if type(items) is tuple  # (a named tuple's)
                 else repr(items))
        fields = "".join(f", {k}={v!r}" for k, v in self.attrs.items())
        return f"{self.kind.__name__}({shown}{fields})"


# The standard library's containers a handler fills and empties as it goes.
_STDLIB: frozenset[type] = frozenset({collections.deque, collections.defaultdict,
                                      collections.OrderedDict, collections.Counter,
                                      array.array})


class _Items:
    """A copy of a standard-library container's contents, compared by class and
    contents (an ``OrderedDict``'s in order)."""

    __slots__ = ("kind", "items")

    def __init__(self, kind: type, items: Any) -> None:
        self.kind = kind
        self.items = items

    def __eq__(self, other: object) -> bool:
        return (type(other) is _Items and self.kind is other.kind
                and self.items == other.items)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        items = self.items
        if self.kind is set:  # (by the members' copies, in an order of their own)
            return "{" + ", ".join(sorted(repr(c) for _, c in items.values())) + "}"
        if self.kind is collections.OrderedDict:
            items = dict(items)
        return f"{self.kind.__name__}({items!r})"


def _copy_stdlib(value: Any, kind: type, budget: list[int], depth: int) -> Any:
    """A copy of a deque, a defaultdict, an OrderedDict, a Counter or an array."""
    _spend(budget, len(value))
    if kind is array.array:
        return _Items(kind, (value.typecode, value.tobytes()))
    if kind is collections.deque:
        return _Items(kind, [_copy(v, budget, depth + 1) for v in value])
    if kind is collections.OrderedDict:
        return _Items(kind, [(k, _copy(v, budget, depth + 1)) for k, v in value.items()])
    return _Items(kind, {k: _copy(v, budget, depth + 1) for k, v in value.items()})


def _attributes(value: Any) -> dict[str, Any] | None:
    """An object's attributes: its ``__dict__`` and its slots."""
    kind = type(value)
    slots = _SLOTS.get(kind)
    if slots is None:
        names: list[str] = []
        for klass in kind.__mro__:
            declared = klass.__dict__.get("__slots__", ())
            names += [declared] if isinstance(declared, str) else list(declared)
        slots = _SLOTS[kind] = tuple(n for n in names if n not in ("__dict__", "__weakref__"))
    own = getattr(value, "__dict__", None)
    if not slots:
        return dict(own) if type(own) is dict else None
    attrs = dict(own) if type(own) is dict else {}
    for name in slots:
        try:
            attrs[name] = getattr(value, name)
        except AttributeError:  # a slot never set
            pass
    return attrs


_SLOTS: dict[type, tuple[str, ...]] = {}
_USER_CLASSES: dict[type, bool] = {}


def _user_class(kind: type) -> bool:
    """A class defined in the user's code (not the standard library's, a
    third-party package's or simdurable's): its instances are data the user
    means, whose attributes are worth copying."""
    user = _USER_CLASSES.get(kind)
    if user is None:
        from .._strict import user_code

        module = sys.modules.get(kind.__module__)
        filename = getattr(module, "__file__", None)
        user = (isinstance(filename, str) and user_code(filename)
                and not issubclass(kind, (type, BaseException)))
        if len(_USER_CLASSES) > 4096:
            _USER_CLASSES.clear()  # (classes made at run time)
        _USER_CLASSES[kind] = user
    return user


def _same(then: Any, now: Any) -> bool:
    if then is now:
        return True
    try:
        return bool(then == now)
    except Exception:  # noqa: BLE001 - a value without a truthful ==: not the same
        return False


def _where(name: str, then: Any, now: Any, depth: int = 0) -> tuple[str, Any, Any]:
    """Where two copies first differ: ``order.status``, ``batch[0]``, with both
    sides (the whole values when they differ in shape)."""
    if depth < 4:
        if type(then) is _Subclass and type(now) is _Subclass and then.kind is now.kind:
            if not _same(then.items, now.items):
                found = _where(name, then.items, now.items, depth)
                return found if found[0] != name else (name, then, now)
            return _where(name, _Attrs(then.kind, then.attrs), _Attrs(now.kind, now.attrs), depth)
        if type(then) is _Attrs and type(now) is _Attrs and then.kind is now.kind:
            for key in [*then.attrs, *(k for k in now.attrs if k not in then.attrs)]:
                a, b = then.attrs.get(key, _GONE), now.attrs.get(key, _GONE)
                if not _same(a, b):
                    return _where(f"{name}.{key}", a, b, depth + 1)
        elif type(then) is dict and type(now) is dict and then.keys() == now.keys():
            for key in then:
                if not _same(then[key], now[key]):
                    return _where(f"{name}[{key!r}]", then[key], now[key], depth + 1)
        elif (type(then) is _Items and type(now) is _Items and then.kind is now.kind
              and type(then.items) is dict and then.kind is not set):
            found = _where(name, then.items, now.items, depth)
            if found[0] != name:
                return found
        elif type(then) is list and type(now) is list and len(then) == len(now):
            for i, (a, b) in enumerate(zip(then, now, strict=True)):
                if not _same(a, b):
                    return _where(f"{name}[{i}]", a, b, depth + 1)
    return name, then, now


class _Gone:
    def __repr__(self) -> str:
        return "(no such attribute)"


_GONE = _Gone()


class _Entry:
    """One object that waiting steps read, as last looked at: its copy, and a
    version that counts its changes (the handler's last one noted)."""

    __slots__ = ("obj", "copy", "version", "by_handler", "users", "lost")

    def __init__(self, obj: Any, copy: Any) -> None:
        self.obj = obj
        self.copy = copy
        self.version = 0
        self.by_handler = -1  # the version the handler's last change made
        self.users = 0
        self.lost = False  # grown too big to copy: no longer compared

    def look(self, by_handler: bool) -> None:
        if self.lost:
            return
        again = _copy_or_self(self.obj)
        if again is self.obj:
            self.lost = True
        elif not _same(self.copy, again):
            self.version += 1
            self.copy = again
            if by_handler:
                self.by_handler = self.version


# How many functions' wrappers one watch keeps (``Watching.plain_step``).
_LOOKED_MAX = 1024


class Watching:
    """The steps started and not run yet, and the objects they read (one per
    strict simulation). Every object is copied once a look, however many
    steps read it: before a step runs (a change then is the handler's, who
    ran since the last look) and after (the step's own)."""

    __slots__ = ("checks", "entries", "_unpruned", "_looked")

    def __init__(self) -> None:
        self.checks: dict[int, _Check] = {}
        self.entries: dict[int, _Entry] = {}
        self._unpruned = 0  # steps run since the steps of ended attempts were dropped
        # ``_looked_after``'s wrapper of each function ``plain_step`` took, made once
        self._looked: dict[Callable[..., Any], Callable[..., Any]] = {}

    def plain_step(self, action: Callable[..., Any], args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Callable[..., Any] | None:
        """``late_binding_check(action, args, kwargs, ..., self)`` for a step that
        reads nothing later (``_read_later``'s common case: a function of a
        module or a class, not made in the handler, with no closure, given
        strings and numbers), without its report, its other arguments or its
        look at what the function reads: its ``_looked_after`` wrapper, which
        holds nothing but the function and this watch, made once per function
        and shared by its steps. None for any other step (``late_binding_check``
        then). (Only functions made once, at their module's import, are kept:
        a bounded set, none of which can hold a run's objects.)"""
        looked = self._looked.get(action)
        if looked is not None:
            if _atoms_only(args, kwargs):
                return looked
            return None
        if (type(action) is not types.FunctionType or action.__closure__ is not None
                or "<locals>" in action.__qualname__ or "__wrapped__" in action.__dict__
                or not _atoms_only(args, kwargs)):
            return None
        if len(self._looked) >= _LOOKED_MAX:
            self._looked.clear()
        looked = self._looked[action] = _looked_after(action, self)
        return looked

    def watch(self, obj: Any, copy: Any) -> _Entry:
        entry = self.entries.get(id(obj))
        if entry is None:
            entry = self.entries[id(obj)] = _Entry(obj, copy)
        elif entry.lost:  # too big once, small enough again: compared from here
            entry.lost = False
            entry.version += 1
            entry.copy = copy
        elif not _same(entry.copy, copy):
            # changed since the last look, and only the handler ran since
            entry.version += 1
            entry.copy = copy
            entry.by_handler = entry.version
        entry.users += 1
        return entry

    def before(self) -> None:
        """A step is about to run: what changed since the last look is the
        handler's doing. (Now and then, the steps of ended attempts, which
        will never run, are dropped.)"""
        self._unpruned += 1
        if self._unpruned > len(self.checks):
            self._unpruned = 0
            for key, c in list(self.checks.items()):
                if c.attempt is not None and not c.attempt.alive:
                    del self.checks[key]
                    self._release(c)
        for entry in self.entries.values():
            entry.look(by_handler=True)

    def ran(self, check: _Check) -> None:
        """``check``'s step runs: it no longer waits."""
        if self.checks.pop(id(check), None) is not None:
            self._release(check)

    def after(self) -> None:
        """A step has run: what it changed is its own doing."""
        for entry in self.entries.values():
            entry.look(by_handler=False)

    def _release(self, check: _Check) -> None:
        for w in check.watched:
            entry = w[3]
            if entry is not None:
                entry.users -= 1
                if entry.users == 0:
                    del self.entries[id(entry.obj)]


# One value a started step reads: its name, its cell (None for an argument),
# the object, its entry (None when nothing in it can change in place), the
# entry's version and the copy when the step started.
_Read = tuple[str, "types.CellType | None", Any, "_Entry | None", int, Any]


class _Check:
    """One started step's watch over what it reads when it runs."""

    __slots__ = ("watched", "attempt")

    def __init__(self, watched: list[_Read], attempt: Any) -> None:
        self.watched = watched
        self.attempt = attempt

    def changed(self) -> list[tuple[str, Any, Any, bool]]:
        """What the handler changed since the step started: (name, then, now,
        in place)."""
        out = []
        for name, cell, value, entry, version, copied in self.watched:
            if cell is not None:
                try:
                    now = cell.cell_contents
                except ValueError:
                    continue
                if now is not value:
                    if not _same(value, now):
                        out.append((name, value, now, False))
                    continue
            if entry is not None and not entry.lost and entry.by_handler > version:
                label, then, now = _where(name, copied, entry.copy)
                out.append((label, then, now, True))
        return out


def late_binding_check(action: Callable[..., Any], args: tuple[Any, ...],
                       kwargs: dict[str, Any], report: Callable[[HandlerError], None],
                       handler: str, step: str, index: int, source: str | None,
                       watching: Watching | None = None, attempt: Any = None
                       ) -> Callable[..., Any]:
    """``action``, checking before it first runs that what it reads then (its
    free variables, its arguments' contents) holds what it held when the step
    was started, but for what other steps changed. ``watching``: the
    simulation's (every step of it is wrapped, to look before and after it
    runs); ``attempt`` this step's (its check is dropped once it ends). (A
    retry of the step in a later attempt is started again, and noted again.)"""
    if watching is None:
        watching = Watching()
    read = _read_later(action, args, kwargs)
    if not read:
        return _looked_after(action, watching)
    watched: list[_Read] = []
    for name, cell, value, copied in read:
        if copied is value:
            watched.append((name, cell, value, None, 0, value))
        else:
            entry = watching.watch(value, copied)
            watched.append((name, cell, value, entry, entry.version, copied))
    check = _Check(watched, attempt)
    watching.checks[id(check)] = check
    ran = False

    def run(*args: Any, **kwargs: Any) -> Any:
        nonlocal ran
        if ran and not watching.entries:
            return action(*args, **kwargs)  # (nothing to look at)
        watching.before()
        if not ran:  # (run again within the attempt: checked once)
            changed = check.changed()
            watching.ran(check)
            if changed:
                # A value rather than a function rebound with it (a helper defined
                # in the loop's body names the loop's variable, not itself).
                first = next((c for c in changed if not callable(c[2])), changed[0])
                _report(first, report, handler, step, index, source)
        ran = True
        return _run_and_look(action, args, kwargs, watching)

    run.__wrapped__ = action  # type: ignore[attr-defined]
    run._simdurable_action = action  # type: ignore[attr-defined]  # (see _fast.closure_value)
    return run


def _looked_after(action: Callable[..., Any], watching: Watching) -> Callable[..., Any]:
    """``action``, which reads nothing the handler may change, looked after
    while other steps wait: before it runs (the handler's changes) and after
    (its own, through a module's global, say)."""
    def run(*args: Any, **kwargs: Any) -> Any:
        if not watching.entries:
            return action(*args, **kwargs)
        watching.before()
        return _run_and_look(action, args, kwargs, watching)

    run.__wrapped__ = action  # type: ignore[attr-defined]
    run._simdurable_action = action  # type: ignore[attr-defined]  # (see _fast.closure_value)
    return run


def _run_and_look(action: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                  watching: Watching) -> Any:
    """``action`` run, then looked after (an async one once it ends): what it
    changed is its own, not the handler's."""
    try:
        result = action(*args, **kwargs)
    except BaseException:
        watching.after()
        raise
    if isinstance(result, types.CoroutineType) and inspect.iscoroutinefunction(action):
        return _then_look(result, watching)  # (a plain function's coroutine is refused)
    watching.after()
    return result


async def _then_look(coro: Any, watching: Watching) -> Any:
    """An async step's closure, looked after once it ends."""
    try:
        return await coro
    finally:
        watching.after()


def _report(changed: tuple[str, Any, Any, bool], report: Callable[[HandlerError], None],
            handler: str, step: str, index: int, source: str | None) -> None:
    name, then, now, in_place = changed
    if in_place:
        root = name.split(".", 1)[0].split("[", 1)[0]
        how = (f"the handler changed {root} in place after starting the step, and the "
               f"step reads it when it runs (once the handler waits). Pass the step a copy "
               f"(list(...), dict(...), copy.deepcopy(...)) or the values it needs, or make "
               f"a new one instead of changing it.")
    else:
        how = (f"its closure reads {name} when it runs (once the handler waits), "
               f"and the handler rebound {name} in between. Bind the value when "
               f"starting the step: pass it to run_typed (ctx.run_typed({step!r}, fn, "
               f"{name}={name})) or as a default (lambda {name}={name}: ...).")
    report(LateBindingError(
        f"step \"{step}\" ran with {name}={now!r:.60}, but {name} was "
        f"{then!r:.60} when the handler started it: {how}",
        handler=handler, step=step, journal_index=index, source=source))
