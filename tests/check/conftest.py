"""Fixtures of the check tests."""

from __future__ import annotations

from typing import Any

import pytest

from simdurable._check import _explore


@pytest.fixture
def terminal_error_asks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times check looks for a TerminalError in a handler's frames
    (``_explore._terminal_error_in_hand``, once a command a recorder asks
    about): a one-item list, counted from the test's start."""
    asked = [0]
    in_hand = _explore._terminal_error_in_hand

    def counted(frame: Any) -> bool:
        asked[0] += 1
        return in_hand(frame)

    monkeypatch.setattr(_explore, "_terminal_error_in_hand", counted)
    return asked
