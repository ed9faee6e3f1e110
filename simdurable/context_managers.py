"""``restate.context_managers``: ``contextvar``, a context manager's value by name."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_UNSET: Any = object()


class contextvar(Generic[P, T]):  # noqa: N801 - restate-sdk's name
    """Wraps an async context manager function so that, while it is entered,
    ``.value`` gives what it yielded (and entering yields None)."""

    def __init__(self, func: Callable[P, AbstractAsyncContextManager[T]]) -> None:
        self.func = func
        self._var: contextvars.ContextVar[Any] = contextvars.ContextVar(
            getattr(func, "__name__", "contextvar"), default=_UNSET)

    @property
    def value(self) -> T:
        value = self._var.get()
        if value is _UNSET:
            raise LookupError(f"{getattr(self.func, '__name__', 'contextvar')}.value: the "
                              "context manager is not entered")
        return value  # type: ignore[no-any-return]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AbstractAsyncContextManager[None]:
        return self._entered(self.func(*args, **kwargs))

    @asynccontextmanager
    async def _entered(self, manager: AbstractAsyncContextManager[T]) -> AsyncIterator[None]:
        async with manager as value:
            token = self._var.set(value)
            try:
                yield None
            finally:
                self._var.reset(token)


__all__ = ["contextvar"]
