"""Step results that do not survive the journal, caught where the step is.

A step's result is stored as JSON and the handler gets the JSON back, on
the first run as on a replay or in another process (restate-sdk hands the
handler the decoded value too): a dict with int keys comes back with str keys,
a tuple as a list, a dataclass without a type hint as a dict; a set or a
datetime cannot be stored at all. In strict mode each step's serde is
wrapped by ``LossCheck``, which decodes what it just encoded and reports a
difference as a ``SerializationError`` at the step and the line that ran
it, before it shows up far from its cause (a ``KeyError`` on ``d[1]``, a
tuple compared with a list).
"""

from __future__ import annotations

from typing import Any

from ..runtime._errors import SerializationError
from .serde import Serde


def _kind(value: Any) -> str:
    if isinstance(value, dict) and any(not isinstance(k, str) for k in value):
        bad = next(k for k in value if not isinstance(k, str))
        return f"a dict with {type(bad).__name__} keys (they come back as str)"
    if isinstance(value, tuple):
        return "a tuple (it comes back as a list)"
    return f"a {type(value).__name__}"


class LossCheck(Serde[Any]):
    """A step's serde that reports values which come back different."""

    def __init__(self, inner: Serde[Any], report: Any, handler: str, step: str, index: int,
                 source: str | None) -> None:
        self.inner = inner
        self._report = report  # report(SerializationError)
        self._handler, self._step, self._index, self._source = handler, step, index, source

    def serialize(self, obj: Any) -> bytes:
        try:
            data = self.inner.serialize(obj)
        except (TypeError, ValueError, OverflowError) as err:
            self._fail(f"step \"{self._step}\" returned {_kind(obj)}, which its serde "
                       f"cannot store ({err}): return JSON data (str, int, float, bool, None, "
                       f"lists, dicts with str keys) or give a serde")
            raise
        try:
            back = self.inner.deserialize(data)
            same = back == obj or obj != obj  # NaN is not equal to itself
        except Exception:  # noqa: BLE001 - a serde that cannot read its own output
            back, same = None, False
        if not same:
            self._fail(f"step \"{self._step}\" returned {_kind(obj)}: it is stored as "
                       f"{data[:60].decode('utf-8', 'replace')} and the handler gets "
                       f"{back!r:.60} instead of {obj!r:.60}, on the first run as on every "
                       f"replay (as from restate-sdk); return what the journal gives back "
                       f"(str keys, lists), or give the step a type hint or a serde")
        return data

    def deserialize(self, buf: bytes) -> Any:
        return self.inner.deserialize(buf)

    def _fail(self, message: str) -> None:
        self._report(SerializationError(message, handler=self._handler, step=self._step,
                                        journal_index=self._index, source=self._source))
