"""Restate's ids, as simdurable needs them to replay Restate's journals.

Code that hands an awakeable's id on (to a call, a send, state) replays only
with the id Restate gave it, which Restate journals nowhere: it is computed
here from the invocation id and the awakeable's signal index.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import Final

from ._core import FIRST_AWAKEABLE_SIGNAL

_BASE62: Final = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base62(text: str, size: int) -> bytes:
    n = 0
    for ch in text:
        n = n * 62 + _BASE62.index(ch)
    return n.to_bytes(size, "little")


def awakeable_id(invocation: str, signal: int) -> str:
    """The id Restate gives the awakeable of signal ``signal`` of ``invocation``:
    ``sign_1`` and, in unpadded URL-safe base64, the invocation id's 24 bytes
    (its partition key and its UUID, each written little-endian in base 62 in
    ``inv_1<11 chars><22 chars>``) and the signal index (4 bytes, big-endian).
    Seen on Restate 1.7.12 with restate-sdk 1.3. Raises ``ValueError`` for an
    id of another shape."""
    body = invocation.removeprefix("inv_")
    if len(body) != 34 or body[0] != "1" or not all(c in _BASE62 for c in body):
        raise ValueError(f"{invocation!r} is not a Restate invocation id of version 1")
    try:
        raw = _base62(body[1:12], 8) + _base62(body[12:], 16) + signal.to_bytes(4, "big")
    except OverflowError:
        raise ValueError(f"{invocation!r} is not a Restate invocation id of version 1"
                         ) from None
    return "sign_1" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def awakeable_ids_of(invocation: str) -> Callable[[int], str] | None:
    """The awakeable ids of ``invocation`` by signal index, if its id is Restate's."""
    try:
        awakeable_id(invocation, FIRST_AWAKEABLE_SIGNAL)
    except ValueError:
        return None
    return functools.partial(awakeable_id, invocation)


