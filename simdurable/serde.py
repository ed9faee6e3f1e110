"""``restate.serde``: how values become bytes in the journal and back."""

from __future__ import annotations

from ._api.serde import (
    BytesSerde,
    DefaultSerde,
    JsonSerde,
    MsgspecJsonSerde,
    PydanticJsonSerde,
    Serde,
    is_pydantic,
)

__all__ = [
    "BytesSerde", "DefaultSerde", "JsonSerde", "MsgspecJsonSerde", "PydanticJsonSerde", "Serde",
    "is_pydantic",
]
