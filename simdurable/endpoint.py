"""``restate.endpoint``: ``app(...)``, the services a deployment serves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._api.service import App, Service, VirtualObject, Workflow
from .entry_codec import JournalValueCodec


class Endpoint:
    """restate-sdk's builder of an app: ``bind`` services, then ``app()``.

    The protocol and identity keys concern the link to a Restate server and
    are kept but unused here; the journal value codec is checked as Restate
    uses it (``simdurable._codec``).
    """

    def __init__(self) -> None:
        self.services: list[Any] = []
        self.protocol: str | None = None
        self.identity_keys: list[str] = []
        self.journal_value_codec: Any = None

    def bind(self, *services: Any) -> Endpoint:
        self.services.extend(services)
        return self

    def streaming_protocol(self) -> Endpoint:
        self.protocol = "bidi"
        return self

    def request_response_protocol(self) -> Endpoint:
        self.protocol = "request_response"
        return self

    def identity_key(self, identity_key: str) -> Endpoint:
        self.identity_keys.append(identity_key)
        return self

    def set_journal_value_codec(self, codec_or_provider: Any) -> Endpoint:
        self.journal_value_codec = codec_or_provider
        return self

    def app(self) -> App:
        made = App(self.services)
        made.journal_value_codec = self.journal_value_codec
        return made


def app(
    services: Iterable[Any],
    protocol: str | None = None,
    identity_keys: list[str] | None = None,
    journal_value_codec: Any = None,
) -> App:
    """The services of one deployment, as ``restate.app(...)`` makes them.

    Hand the result to ``Simulation``, ``check``, the pytest plugin's
    ``services`` or ``simdurable serve module:app``.
    """
    if protocol not in (None, "bidi", "request_response"):
        raise ValueError(f"app(): protocol must be 'bidi' or 'request_response', not "
                         f"{protocol!r}")
    endpoint = Endpoint().bind(*services)
    for key in identity_keys or ():
        endpoint.identity_key(key)
    endpoint.set_journal_value_codec(journal_value_codec)
    return endpoint.app()


__all__ = ["App", "Endpoint", "JournalValueCodec", "Service", "VirtualObject", "Workflow", "app"]
