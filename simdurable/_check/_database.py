"""Failures kept in a Hypothesis example database, shared by every machine.

``simdurable soak`` saves each new failure it finds as the case's blob (plan,
seed, schedule) under a key naming the check (target, input, concurrent
invocations); ``pytest --simdurable`` replays the saved cases of each handler
first, and forgets a case that no longer fails, as Hypothesis does. The
database is a directory (``DirectoryBasedExampleDatabase``: a shared volume,
a CI cache) or Redis (``redis://host:port/db``, through Hypothesis's own
``RedisExampleDatabase``, when the ``redis`` package is installed).
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_DATABASE = ".simdurable/examples"


class DatabaseError(ValueError):
    """The database named cannot be opened; the message says why."""


def open_database(spec: str) -> Any:
    """The example database a ``database`` setting names."""
    if spec.startswith(("redis://", "rediss://", "unix://")):
        import importlib

        try:
            redis = importlib.import_module("redis")
        except ImportError:
            raise DatabaseError(f"database {spec!r}: a Redis database needs the redis "
                                f"package (pip install redis)") from None
        from hypothesis.extra.redis import RedisExampleDatabase

        return RedisExampleDatabase(redis.Redis.from_url(spec))
    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(spec)


def case_key(invoke: str, input: Any, concurrent: int) -> bytes:
    """The key a check's failures are kept under."""
    text = json.dumps(["simdurable-case/1", invoke, input, concurrent], sort_keys=True,
                      default=repr)
    return text.encode("utf-8")


def save(db: Any, invoke: str, input: Any, concurrent: int, blob: str) -> None:
    db.save(case_key(invoke, input, concurrent), blob.encode("ascii"))


def saved(db: Any, invoke: str, input: Any, concurrent: int) -> list[str]:
    """The saved cases of a check, in a fixed order."""
    return sorted(v.decode("ascii", "replace") for v in db.fetch(case_key(invoke, input,
                                                                          concurrent)))


def forget(db: Any, invoke: str, input: Any, concurrent: int, blob: str) -> None:
    db.delete(case_key(invoke, input, concurrent), blob.encode("ascii"))
