"""``restate.entry_codec``: a codec for journal values (encryption, compression).

On a Restate server the codec transforms what the SDK stores. simdurable keeps
its journal as the serde made the values, and a simulation of an
``app(journal_value_codec=...)`` checks that the codec gives back every value
it stores, as a handler on Restate would read it (``simdurable._codec``).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable


class JournalValueCodec(abc.ABC):
    """Transforms journal values after serialization and before deserialization."""

    @abc.abstractmethod
    def encode(self, buf: bytes) -> bytes:
        """The stored form of ``buf``."""

    @abc.abstractmethod
    async def decode(self, buf: bytes) -> bytes:
        """``buf`` back from its stored form."""


JournalValueCodecProvider = Callable[[], Awaitable[JournalValueCodec]]

__all__ = ["JournalValueCodec", "JournalValueCodecProvider"]
