"""Step closures that see a variable the handler rebound after starting them.

A step's closure runs when the handler next waits, not where ``run_typed``
was called (restate-sdk runs it then too). A Python closure reads its free
variables when it runs: ``[ctx.run_typed(f"mail-{u}", lambda: mail(u)) for u
in users]`` awaited together mails the last user once per user, and no fault
is needed to see it. In strict mode each step's closure is wrapped by
``late_binding_check``: it notes the values of the closure's free variables
when the step is started, and before the closure runs compares them with
what it is about to read. A variable rebound in between is reported as a
``LateBindingError`` at the step and the line that started it. A value bound
when the closure is made (a default, ``lambda u=u: ...``, an argument of
``run_typed``, a ``functools.partial``) is not a free variable, and a step
awaited at once runs before the handler can rebind anything: neither is
reported.
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


def free_values(action: Any) -> list[tuple[str, types.CellType, Any]]:
    """The user's free variables ``action`` reads when it runs, with their cells
    and values now: through ``functools.partial``, wrappers that set
    ``__wrapped__`` and bound methods, and into functions those variables hold."""
    out: list[tuple[str, types.CellType, Any]] = []
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(action, 0)]
    while todo:
        fn, depth = todo.pop()
        while id(fn) not in seen:
            seen.add(id(fn))
            if isinstance(fn, functools.partial):
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
    return out


def _same(then: Any, now: Any) -> bool:
    if then is now:
        return True
    try:
        return bool(then == now)
    except Exception:  # noqa: BLE001 - a value without a truthful ==: not the same
        return False


def late_binding_check(action: Callable[..., Any], report: Callable[[HandlerError], None],
                       handler: str, step: str, index: int, source: str | None
                       ) -> Callable[..., Any]:
    """``action``, checking before it runs that its free variables hold what they
    held when the step was started; ``action`` itself when it has none."""
    started = free_values(action)
    if not started:
        return action

    def run(*args: Any, **kwargs: Any) -> Any:
        changed = []
        for name, cell, then in started:
            try:
                now = cell.cell_contents
            except ValueError:
                continue
            if not _same(then, now):
                changed.append((name, then, now))
        if changed:
            # A value rather than a function rebound with it (a helper defined
            # in the loop's body names the loop's variable, not itself).
            name, then, now = next((c for c in changed if not callable(c[2])), changed[0])
            report(LateBindingError(
                f"step \"{step}\" ran with {name}={now!r:.60}, but {name} was "
                f"{then!r:.60} when the handler started it: its closure reads {name} "
                f"when it runs (once the handler waits), and the handler rebound {name} "
                f"in between. Bind the value when starting the step: pass it to run_typed "
                f"(ctx.run_typed({step!r}, fn, {name}={name})) or as a default "
                f"(lambda {name}={name}: ...).",
                handler=handler, step=step, journal_index=index, source=source))
        return action(*args, **kwargs)

    run.__wrapped__ = action  # type: ignore[attr-defined]
    return run
