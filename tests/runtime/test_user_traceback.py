"""A report's traceback ends with the exception the user's code raised."""

from __future__ import annotations

from simdurable.runtime._running import user_traceback


class Theirs(Exception):
    pass


class Ours(Exception):
    pass


def _raise_theirs() -> None:
    raise Theirs("busy")


def test_an_exception_re_raised_with_the_users_traceback_shows_the_users_class() -> None:
    try:
        try:
            _raise_theirs()
        except Theirs as err:
            raise Ours("busy").with_traceback(err.__traceback__) from err
    except Ours as ours:
        text = user_traceback(ours)
    assert text.endswith("test_user_traceback.Theirs: busy"), text
    assert 'raise Theirs("busy")' in text


def test_an_exception_raised_from_another_shows_its_own_class() -> None:
    try:
        try:
            _raise_theirs()
        except Theirs as err:
            raise Ours("wrapped") from err
    except Ours as ours:
        text = user_traceback(ours)
    assert text.endswith("test_user_traceback.Ours: wrapped"), text
