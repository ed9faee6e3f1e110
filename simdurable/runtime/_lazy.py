"""``built_on_use``: a part of the runtime made when first read, then kept.

A simulation builds its engine for every run (``check`` for every example),
and most runs never touch some parts: the promises of a run without
workflows or awakeables, the recovery of a run that never restarts, the key
locks of services without objects. Each such part is an attribute whose
first read builds it (from parts its owner already holds) and stores it in
the owner's ``__dict__``, where every later read finds it as a plain
attribute. Unlike ``functools.cached_property`` (3.11), no lock is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class BuiltOnUse(Generic[_T]):
    """A descriptor: ``build(owner)`` at the first read of the attribute, then
    the attribute itself (so tests can tell a part built from one never
    needed: ``name in vars(owner)``)."""

    def __init__(self, build: Callable[[Any], _T]) -> None:
        self.build = build
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> _T:
        if obj is None:  # pragma: no cover - read on the class
            raise AttributeError(self.name)
        part = obj.__dict__[self.name] = self.build(obj)
        return part
