"""Identifiers and small encodings shared by the engine, the context and the hosts.

Ids are derived (hashes), never random, so the same scenario names the same
invocations and awakeables in every run; hosts that need unique ids across
databases draw their own.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from ._journal import Completion, Failure, Value

# SHA-256 as CPython computes it itself, where it has its own: for the short
# texts an id hashes it takes 4,800 instructions against OpenSSL's 6,200 (the
# EVP context made, copied for the digest and freed). The same digest.
sha256: Callable[[bytes], Any]
try:
    from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:  # (3.12 names the module ``_sha2``; a build may have neither)
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        from hashlib import sha256


def make_id(prefix: str, *parts: object) -> str:
    """``prefix_`` and 20 hex digits of the SHA-256 of ``parts``."""
    digest = sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return f"{prefix}_{digest[:20]}"


def invocation_id_text(service: str, key: str | None, handler: str) -> bytes:
    """What an invocation's id hashes before its sequence number's digits
    (``hashed_invocation_id``): made once for a handler whose invocations
    differ in that number alone (``HandlerSpec.id_text``)."""
    return f"{service!s}\x1f{key!s}\x1f{handler!s}\x1f".encode()


def hashed_invocation_id(text: bytes, seq: int) -> str:
    """``make_id("inv", service, key, handler, seq)`` for ``text`` made by
    ``invocation_id_text(service, key, handler)``: the same id, with no tuple
    of its parts joined (the digest's first 10 bytes in hex: ``hexdigest()[:20]``
    without the 64 digits)."""
    found: str = "inv_" + sha256(text + b"%d" % seq).digest()[:10].hex()
    return found


def awakeable_id(inv_id: str, index: int) -> str:
    return f"awk_{inv_id.removeprefix('inv_')}_{index}"


def parse_awakeable_id(awk: str) -> tuple[str, int] | None:
    """The owner invocation and journal index of an awakeable id, or None."""
    if not awk.startswith("awk_"):
        return None
    body, _, index = awk[4:].rpartition("_")
    # ASCII digits only, and few: int() takes "١" and refuses 5,000 digits.
    if not body or not (index.isascii() and index.isdigit()) or len(index) > 18:
        return None
    return f"inv_{body}", int(index)


_OWN_INVOCATION_ID = re.compile(r"inv_[0-9a-f]{20}")
# Restate's: ``inv_1``, then the partition key and the UUID in base 62 (11 + 22 characters).
_RESTATE_INVOCATION_ID = re.compile(r"inv_1[0-9a-zA-Z]{33}")
# Restate's awakeable ids: the invocation id's 24 bytes and a 4-byte signal index, in
# unpadded URL-safe base64 (``prom_1`` is the older prefix, which Restate still reads).
_RESTATE_AWAKEABLE_ID = re.compile(r"(?:sign|prom)_1([0-9a-zA-Z_-]{38})")


def is_invocation_id(inv_id: object) -> bool:
    """Whether ``inv_id`` has the shape of an invocation id (this runtime's or Restate's).

    Restate refuses a command naming an id of another shape (error RT0012 or
    RT0017, retried); an id of the right shape naming nothing is accepted."""
    return isinstance(inv_id, str) and bool(_OWN_INVOCATION_ID.fullmatch(inv_id)
                                            or _RESTATE_INVOCATION_ID.fullmatch(inv_id))


def is_awakeable_id(awk: object) -> bool:
    """Whether ``awk`` has the shape of an awakeable id (this runtime's or Restate's)."""
    if not isinstance(awk, str):
        return False
    parsed = parse_awakeable_id(awk)
    if parsed is not None:
        return is_invocation_id(parsed[0])
    restate = _RESTATE_AWAKEABLE_ID.fullmatch(awk)
    if restate is None:
        return False
    try:
        return len(base64.urlsafe_b64decode(restate.group(1) + "==")) == 28
    except (binascii.Error, ValueError):
        return False


def encode_promise(completion: Completion) -> bytes:
    """A promise completion as a command payload: ``R`` + value, or ``J`` + JSON failure."""
    if isinstance(completion, Value):
        return b"R" + completion.data
    return b"J" + json.dumps({"code": completion.code, "message": completion.message}).encode()


def decode_promise(data: bytes) -> Completion:
    if data[:1] == b"R":
        return Value(data[1:])
    payload = json.loads(data[1:] or b"{}")
    return Failure(int(payload.get("code", 500)), str(payload.get("message", "")))
