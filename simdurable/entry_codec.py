"""``restate.entry_codec``: a codec for journal values (encryption, compression).

On a Restate server the codec transforms what the SDK stores. simdurable keeps
its journal in memory (or in the dev executor's SQLite file) and stores values
as the serde made them: ``app(journal_value_codec=...)`` is accepted and not
applied, since a codec that decodes what it encodes changes no handler's
behaviour.
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
