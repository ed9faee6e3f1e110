"""``built_on_use``: a part of the runtime made when first read, then kept.

A simulation builds its engine for every run (``check`` for every example),
and most runs never touch some parts: the promises of a run without
workflows or awakeables, the recovery of a run that never restarts, the key
locks of services without objects. Each such part is an attribute whose
first read builds it (from parts its owner already holds) and stores it as
the owner's own attribute, where every later read finds it. Unlike
``functools.cached_property`` (3.11), no lock is taken.

An owner whose class has a ``lazily_built`` attribute (False) gets its own
``lazily_built = True`` once such a part is built: an engine is taken again
for the next simulation only while none of its parts was (``Engine.renew``).
Such an owner also sets its own ``lazily_built = False`` in ``__init__``: a
read of the class's attribute through an instance is never specialised by
the interpreter, and the engine's reuse test reads it every simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class BuiltOnUse(Generic[_T]):
    """A descriptor: ``build(owner)`` at the first read of the attribute, then
    the attribute itself (so tests can tell a part built from one never
    needed: ``name in vars(owner)``). Its own read is never specialised by
    the interpreter (a descriptor of the same name is on the class): a part
    read at every step or task is a plain attribute instead."""

    def __init__(self, build: Callable[[Any], _T]) -> None:
        self.build = build
        self.name = ""
        self.marks = False

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.marks = hasattr(owner, "lazily_built")

    def __get__(self, obj: Any, owner: type | None = None) -> _T:
        if obj is None:  # pragma: no cover - read on the class
            raise AttributeError(self.name)
        # (stored by ``setattr``, not into ``obj.__dict__``: asking for the
        # ``__dict__`` makes a real dict of the instance's attributes, which
        # keeps the interpreter from specialising every later read of any of
        # them: a crowd's scheduler, its chooser built so, cost 50,000
        # instructions more an invocation, ``benchmarks.cg_invocation crowd``)
        part = self.build(obj)
        setattr(obj, self.name, part)
        if self.marks:
            obj.lazily_built = True
        return part


def own_keys(owner: type, *names: str) -> None:
    """Put the names of ``owner``'s parts built on use (and ``names``, other
    attributes its instances get only later) into the keys its instances
    share, once, at import. The interpreter (3.11) gives a class's shared
    keys a budget that each new instance shrinks (down to one more name):
    a name first set on an instance once it is spent makes that instance's
    attributes a real dict, its every later attribute read unspecialised
    (as ``__dict__`` does, see ``BuiltOnUse.__get__``), and so for every
    later instance that gets it: which depends on how many instances the
    process made before, and which name came first (a crowd's runner set
    after a dozen one-invocation simulations, ``Engine.run_task``). Names
    set on one throwaway instance take their keys while there is room."""
    probe: object = object.__new__(owner)
    for name in (*(n for n, v in vars(owner).items() if type(v) is BuiltOnUse), *names):
        object.__setattr__(probe, name, None)
