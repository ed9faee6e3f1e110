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
import os
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

        try:
            client = redis.Redis.from_url(spec)
            # Reached at once: a server found unreachable only when a failure is
            # saved, after hours of soaking, would lose it.
            client.ping()
        except Exception as err:  # noqa: BLE001 - any failure to reach it is told
            raise DatabaseError(f"database {spec!r}: cannot reach it: {err}") from None
        return RedisExampleDatabase(client)
    if "://" in spec:
        raise DatabaseError(f"database {spec!r}: not a directory nor a redis:// URL")
    _check_directory(spec)
    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(spec)


def _check_directory(spec: str) -> None:
    """Refuse at once a directory database that could never be written: found
    only when a failure is saved, after hours of soaking, it would be lost."""
    if not spec.strip():
        raise DatabaseError("database '': empty; name a directory or a redis:// URL")
    path = os.path.abspath(spec)
    if os.path.exists(path) and not os.path.isdir(path):
        raise DatabaseError(f"database {spec!r}: is a file, not a directory")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise DatabaseError(f"database {spec!r}: {parent} is a file, so the directory "
                            f"cannot be made")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DatabaseError(f"database {spec!r}: {parent} cannot be written")


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
