"""restate-sdk's names that only make sense against a Restate server.

``import simdurable as restate`` must import every program written for
restate-sdk, so these names exist; each raises ``ServerOnlyError`` saying what
to use here instead, and only when it is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

_INSTEAD = (
    "simdurable runs handlers without a Restate server: use simdurable.Simulation(services) "
    "to invoke them in a test, simdurable.check(...) to search for crash bugs, or "
    "simdurable.Executor / `simdurable serve module:app` for a local HTTP ingress"
)


class ServerOnlyError(RuntimeError):
    """A restate-sdk feature that needs a Restate server was used."""


def _refuse(name: str) -> NoReturn:
    raise ServerOnlyError(f"restate.{name}() needs a Restate server. {_INSTEAD}.")


def create_test_harness(*_args: Any, **_kwargs: Any) -> NoReturn:
    """restate-sdk's test harness starts a Restate server in Docker; use ``Simulation``."""
    _refuse("create_test_harness")


def test_harness(*_args: Any, **_kwargs: Any) -> NoReturn:
    """restate-sdk's test harness starts a Restate server in Docker; use ``Simulation``."""
    _refuse("test_harness")


test_harness.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def create_client(*_args: Any, **_kwargs: Any) -> NoReturn:
    """A client of a Restate server's ingress; use ``Simulation`` or ``Executor``."""
    _refuse("create_client")


def connect(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Connects a service endpoint to a Restate server; use ``simdurable serve``."""
    _refuse("connect")


def with_connection(*_args: Any, **_kwargs: Any) -> NoReturn:
    """Connects a service endpoint to a Restate server; use ``simdurable serve``."""
    _refuse("with_connection")


class ConnectError(Exception):
    """restate-sdk's error of ``connect``; never raised here."""


class HttpError(Exception):
    """restate-sdk's error of its ingress client; never raised here."""

    def __init__(self, status_code: int = 0, body: str = "") -> None:
        super().__init__(f"HTTP {status_code}: {body}")
        self.status_code = status_code
        self.body = body


class RestateClient:
    """restate-sdk's ingress client (abstract there); building one is refused."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        _refuse("RestateClient")


class RestateClientSendHandle:
    """What restate-sdk's ingress client's send returns; building one is refused."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        _refuse("RestateClientSendHandle")


@dataclass
class HarnessEnvironment:
    """What restate-sdk's test harness yields (URLs of a Restate server)."""

    ingress_url: str
    admin_api_url: str
    client: Any

    def __post_init__(self) -> None:
        _refuse("HarnessEnvironment")
