"""Identifiers and small encodings shared by the engine, the context and the hosts.

Ids are derived (hashes), never random, so the same scenario names the same
invocations and awakeables in every run; hosts that need unique ids across
databases draw their own.
"""

from __future__ import annotations

import hashlib
import json

from ._journal import Completion, Failure, Value


def make_id(prefix: str, *parts: object) -> str:
    """``prefix_`` and 20 hex digits of the SHA-256 of ``parts``."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return f"{prefix}_{digest[:20]}"


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
