"""``pytest --simdurable --simdurable-journals=PATH``: one item per recorded invocation.

Each item replays one invocation's journal against the configured services as
they are now (``simdurable._replay``) and fails, with the divergence, when it
does not replay, or with the reason when it cannot be judged. So a CI step
that runs it refuses a deploy that would break invocations in flight. A
source that cannot be read, or services that cannot be loaded, is one failing
item saying so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .._replay import CANNOT_JUDGE, DIVERGES, JournalSourceError, RecordedInvocation
from .._replay._core import Replayer
from .._replay._sources import load
from ._items import PROPERTY, ConfigErrorItem, SimdurableFailure, _repr_failure


class JournalItem(pytest.Item):
    """Replays one recorded invocation against the current code."""

    def __init__(self, *, replayer: Replayer, recorded: RecordedInvocation, source: str,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.replayer = replayer
        self.recorded = recorded
        self.source = source

    def runtest(self) -> None:
        result = self.replayer.replay(self.recorded)
        self.user_properties.append((PROPERTY, {"kind": "journal", "verdict": result.verdict}))
        if result.verdict == DIVERGES:
            raise SimdurableFailure(
                f"the current code does not replay this journal recorded in {self.source}; "
                "deployed, it would break this invocation (Restate's error 570):\n"
                + result.describe())
        if result.verdict == CANNOT_JUDGE:
            raise SimdurableFailure(
                f"this journal recorded in {self.source} cannot be replayed against the "
                "current code:\n" + result.describe())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        return _repr_failure(self, excinfo) or super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return Path(self.source), None, f"journal of {self.recorded.record.target} " \
                                        f"({self.recorded.id})"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:/-]+", "_", text)


def journal_items(session: pytest.Session, services: list[Any] | str,
                  sources: list[str], origin: str = "--simdurable-journals") -> list[pytest.Item]:
    """The items of every source; ``services`` is an error message when they did not load.
    ``origin`` says where the sources were named, for the error messages."""
    items: list[pytest.Item] = []

    def error(name: str, message: str) -> None:
        items.append(ConfigErrorItem.from_parent(
            session, name=name, nodeid=f"simdurable::{name}", message=message))

    if isinstance(services, str):
        error("journals", f"{origin}: {services}")
        return items
    try:
        replayer = Replayer(services)
    except (TypeError, ValueError) as err:
        error("journals", f"{origin}: the configured services: {err}")
        return items
    root = session.config.rootpath
    for source in sources:
        path = Path(source) if Path(source).is_absolute() else root / source
        shown = source
        try:
            recorded, _ = load(str(path) if not source.startswith(("http://", "https://"))
                               else source)
        except JournalSourceError as err:
            error(f"journals:{_safe(shown)}", f"{origin}: {err}")
            continue
        for inv in recorded:
            name = f"journal:{_safe(shown)}::{_safe(inv.record.target)}::{inv.id}"
            items.append(JournalItem.from_parent(
                session, name=name, nodeid=f"simdurable::{name}", replayer=replayer,
                recorded=inv, source=shown))
    return items
