"""Steps that read, when they run, what the handler changed after starting them.

A step's closure runs when the handler next waits, not where ``run_typed``
was called (restate-sdk runs it then too). A Python closure reads its free
variables when it runs: ``[ctx.run_typed(f"mail-{u}", lambda: mail(u)) for u
in users]`` awaited together mails the last user once per user, and no fault
is needed to see it. A list handed to a step and cleared by the handler
before the step runs (a batch sent, then emptied for the next) reaches the
step empty. In strict mode each step's closure is wrapped by
``late_binding_check``: it notes the closure's free variables and a copy of
the lists and dicts among its arguments when the step is started, and before
the closure first runs compares them with what it is about to read. A
difference is reported as a ``LateBindingError`` at the step and the line
that started it. A value bound when the closure is made (a default, ``lambda
u=u: ...``, an argument of ``run_typed`` or a ``functools.partial`` that is
not changed in place) and a step awaited at once, which runs before the
handler can change anything, are not reported.
"""

from __future__ import annotations

import functools
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


def _read_later(action: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                ) -> list[tuple[str, types.CellType | None, Any]]:
    """What the step reads only when it runs: its closure's free variables
    (name, cell, value now), and the mutable containers among its arguments and
    a partial's (name, None, a copy now)."""
    out: list[tuple[str, types.CellType | None, Any]] = []
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
                fn = fn.__func__
            elif isinstance(fn, types.FunctionType) and fn.__closure__ is not None:
                user = _outside_us(fn.__code__.co_filename)
                for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
                    try:
                        value = cell.cell_contents
                    except ValueError:  # not bound yet: no earlier value to keep
                        continue
                    if user:
                        out.append((name, cell, value))
                    if depth < _DEPTH and isinstance(value, (types.FunctionType, functools.partial)):
                        todo.append((value, depth + 1))
                fn = getattr(fn, "__wrapped__", fn)
            else:
                fn = getattr(fn, "__wrapped__", fn)
    for name, value in bound:
        budget = [_COPY_BUDGET]
        copied = _copy(value, budget)
        if copied is not value and budget[0] >= 0:
            out.append((name, None, (value, copied)))
    return out


# The containers among a step's arguments (lists, dicts, sets, bytearrays,
# and tuples of them) are copied when it starts, to this many items in all.
_COPY_BUDGET = 1000


def _copy(value: Any, budget: list[int]) -> Any:
    """``value`` with its lists, dicts, sets and bytearrays copied, deeply (``value``
    itself if it holds none)."""
    kind = type(value)
    if kind not in (list, dict, set, bytearray, tuple):
        return value
    budget[0] -= len(value)
    if budget[0] < 0:
        return value
    if kind is dict:
        return {k: _copy(v, budget) for k, v in value.items()}
    if kind is tuple:
        items = tuple(_copy(v, budget) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind is list:
        return [_copy(v, budget) for v in value]
    return kind(value)  # a set (of hashable, so immutable, items) or a bytearray


def _same(then: Any, now: Any) -> bool:
    if then is now:
        return True
    try:
        return bool(then == now)
    except Exception:  # noqa: BLE001 - a value without a truthful ==: not the same
        return False


def late_binding_check(action: Callable[..., Any], args: tuple[Any, ...],
                       kwargs: dict[str, Any], report: Callable[[HandlerError], None],
                       handler: str, step: str, index: int, source: str | None
                       ) -> Callable[..., Any]:
    """``action``, checking before it runs that what it reads then (its free
    variables, the lists and dicts among its arguments) holds what it held when
    the step was started; ``action`` itself when it reads nothing later. (A
    retry of the step is a new attempt: the handler starts the step again, and
    it is noted again.)"""
    started = _read_later(action, args, kwargs)
    if not started:
        return action
    def run(*args: Any, **kwargs: Any) -> Any:
        changed = []
        for name, cell, then in started:
            if cell is None:  # an argument: the same object, changed in place?
                now, then = then
                if not _same(then, now):
                    changed.append((name, then, now, True))
                continue
            try:
                now = cell.cell_contents
            except ValueError:
                continue
            if not _same(then, now):
                changed.append((name, then, now, False))
        if changed:
            # A value rather than a function rebound with it (a helper defined
            # in the loop's body names the loop's variable, not itself).
            name, then, now, in_place = next((c for c in changed if not callable(c[2])),
                                             changed[0])
            if in_place:
                how = (f"the handler changed {name} in place after starting the step, and "
                       f"the step reads it when it runs (once the handler waits). Pass the "
                       f"step a copy ({name}=list(...) or dict(...)), or make a new one "
                       f"instead of changing it.")
            else:
                how = (f"its closure reads {name} when it runs (once the handler waits), "
                       f"and the handler rebound {name} in between. Bind the value when "
                       f"starting the step: pass it to run_typed (ctx.run_typed({step!r}, fn, "
                       f"{name}={name})) or as a default (lambda {name}={name}: ...).")
            report(LateBindingError(
                f"step \"{step}\" ran with {name}={now!r:.60}, but {name} was "
                f"{then!r:.60} when the handler started it: {how}",
                handler=handler, step=step, journal_index=index, source=source))
        return action(*args, **kwargs)

    run.__wrapped__ = action  # type: ignore[attr-defined]
    return run
