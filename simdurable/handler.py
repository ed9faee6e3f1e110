"""``restate.handler``: a handler as its service describes it."""

from __future__ import annotations

from typing import Any

from ._api.serde import DefaultSerde, MsgspecJsonSerde, PydanticJsonSerde, Serde, is_pydantic
from ._api.service import Handler, HandlerIO, ServiceTag, TypeHint, handler_of
from .entry_codec import JournalValueCodec
from .runtime._errors import TerminalError
from .runtime._retry import InvocationRetryPolicy


def handler_from_callable(wrapper: Any) -> Handler:
    """The ``Handler`` behind a decorated handler function."""
    return handler_of(wrapper)


__all__ = [
    "DefaultSerde", "Handler", "HandlerIO", "InvocationRetryPolicy", "JournalValueCodec",
    "MsgspecJsonSerde", "PydanticJsonSerde", "Serde", "ServiceTag", "TerminalError", "TypeHint",
    "handler_from_callable", "is_pydantic",
]
