"""Step results that do not survive the journal, caught where the step is.

A step's result is stored as JSON and the handler gets the JSON back, on
the first run as on a replay or in another process (restate-sdk hands the
handler the decoded value too): a dict with int keys comes back with str keys,
a tuple as a list, a dataclass without a type hint as a dict; a set or a
datetime cannot be stored at all. In strict mode each step's serde is
wrapped by ``LossCheck``, which decodes what it just encoded and reports a
difference as a ``SerializationError`` at the step and the line that ran
it, before it shows up far from its cause (a ``KeyError`` on ``d[1]``, a
tuple compared with a list).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..runtime._errors import SerializationError
from ..runtime._invocation import user_source
from .late import LateBindingError
from .serde import DefaultSerde, Serde

if TYPE_CHECKING:
    from ..runtime._invocation import Attempt
    from .context import Context


def _kind(value: Any) -> str:
    if isinstance(value, dict) and any(not isinstance(k, str) for k in value):
        bad = next(k for k in value if not isinstance(k, str))
        return f"a dict with {type(bad).__name__} keys (they come back as str)"
    if isinstance(value, tuple):
        return "a tuple (it comes back as a list)"
    return f"a {type(value).__name__}"


# JSON serdes (registered where they are defined) whose ``deserialize`` gives
# back what their ``serialize`` made of a str, an int, a float or a bool (a
# NaN aside, which is equal to nothing), when their ``type_hint`` is None,
# that type or no annotation (``_UNANNOTATED``): json.dumps and json.loads with
# nothing in between. Of those
# exact types only: a subclass of either (an IntEnum, a str subclass, a
# serde of the user's) is decoded and compared.
AS_IS_SERDES: set[type] = {DefaultSerde}
_ATOMS: frozenset[type] = frozenset({str, int, float, bool})
# The hint restate-sdk gives a step function without a return annotation (a
# lambda's): not a type its serde recognises, so json.dumps and json.loads.
_UNANNOTATED = inspect.Signature.empty


def as_is(serde: Serde[Any], obj: Any) -> bool:
    """Whether ``serde`` gives ``obj`` back as it is, unread: a str, an int, a
    float or a bool, through a serde of ``AS_IS_SERDES`` typed for it or not at
    all (``LossCheck`` then has nothing to decode and compare)."""
    kind = type(obj)
    if kind in _ATOMS and type(serde) in AS_IS_SERDES:
        hint = serde.type_hint  # type: ignore[attr-defined]
        return hint is None or hint is kind or hint is _UNANNOTATED
    return False


class LossCheck(Serde[Any]):
    """A step's serde that reports values which come back different."""

    def __init__(self, inner: Serde[Any], report: Any, handler: str, step: str, index: int,
                 source: str | None) -> None:
        self.inner = inner
        # (read back as the inner serde reads it: the handler's future decodes
        # through the inner serde's own method, one call, not two)
        self.deserialize = inner.deserialize  # type: ignore[method-assign]
        self._report = report  # report(SerializationError)
        self._handler, self._step, self._index, self._source = handler, step, index, source

    def serialize(self, obj: Any) -> bytes:
        try:
            data = self.inner.serialize(obj)
        except (TypeError, ValueError, OverflowError) as err:
            self._fail(f"step \"{self._step}\" returned {_kind(obj)}, which its serde "
                       f"cannot store ({err}): return JSON data (str, int, float, bool, None, "
                       f"lists, dicts with str keys) or give a serde")
            raise
        if as_is(self.inner, obj):
            return data  # (comes back as it is: nothing to decode and compare)
        try:
            back = self.inner.deserialize(data)
            same = back == obj or obj != obj  # NaN is not equal to itself
        except Exception:  # noqa: BLE001 - a serde that cannot read its own output
            back, same = None, False
        if not same:
            self._fail(f"step \"{self._step}\" returned {_kind(obj)}: it is stored as "
                       f"{data[:60].decode('utf-8', 'replace')} and the handler gets "
                       f"{back!r:.60} instead of {obj!r:.60}, on the first run as on every "
                       f"replay (as from restate-sdk); return what the journal gives back "
                       f"(str keys, lists), or give the step a type hint or a serde")
        return data

    def deserialize(self, buf: bytes) -> Any:  # (each instance's is its inner serde's)
        return self.inner.deserialize(buf)

    def _fail(self, message: str) -> None:
        self._report(SerializationError(message, handler=self._handler, step=self._step,
                                        journal_index=self._index, source=self._source))


def _key_not_str(value: Any, depth: int = 0) -> Any:
    """The first dict key in ``value`` that is not a str (None if every one is)."""
    if depth > 50:
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return k
            found = _key_not_str(v, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for v in value:
            found = _key_not_str(v, depth + 1)
            if found is not None:
                return found
    return None


def state_key_loss(attempt: Attempt, name: str, value: Any, data: bytes, serde: Serde[Any],
                   index: int) -> None:
    """A state value written with the default serde whose dict keys are not
    all str: JSON stores them as str, and every ``ctx.get`` gives them back so,
    later in this invocation and in every later one, with or without a type
    hint (restate-sdk's default serde reads plain JSON then): ``d[7]`` misses
    what ``d[7] = ...`` wrote (gensyn-ai/rl-swarm#461: a state read back after
    a restart had str keys, and a bet already placed was placed again).
    Tuples are let be: they come back as lists, which unpack and index alike."""
    key = _key_not_str(value)
    if key is None:
        return
    try:
        back: Any = serde.deserialize(data)
    except Exception:  # noqa: BLE001 - a serde that cannot read its own output
        back = None
    attempt.engine.record_misuse(attempt.rec.id, SerializationError(
        f"ctx.set({name!r}, ...) stored a dict with {type(key).__name__} keys ({key!r:.20}): "
        f"JSON keeps them as str, and every ctx.get({name!r}) gives back {back!r:.60} instead "
        f"of {value!r:.60}, in this invocation and the next (as from restate-sdk, whatever "
        f"type hint the read gives), so a lookup by {key!r:.20} finds nothing: store str keys "
        f"(str({key!r:.20})) or give ctx.set a serde that keeps them",
        handler=attempt.handler, journal_index=index, source=user_source(3)))


# Values no change in place can reach: a ``ctx.set`` of one is not watched.
_UNCHANGING = (str, int, float, bool, bytes, type(None))


def watch_set_value(ctx: Context, name: str, value: Any, data: bytes, serde: Serde[Any],
                    index: int) -> None:
    """Strict mode: keep a mutable value ``ctx.set`` stored, to compare with what
    it holds when the handler returns (``state_changed_after_set``); a later
    set or clear of the name replaces or drops it."""
    watched = ctx._set_values
    if type(value) in _UNCHANGING or (
            type(value) is tuple and all(type(v) in _UNCHANGING for v in value)):
        if watched:
            watched.pop(name, None)
        return
    if watched is None:
        watched = ctx._set_values = {}
    watched[name] = (value, data, serde, index, user_source(3))


def state_changed_after_set(ctx: Context) -> None:
    """The handler returned: a value it stored with ``ctx.set`` and changed in
    place afterwards (a list appended to, a dict updated) lost that change.
    ``set`` stores the value as it is when called (restate-sdk serializes it
    into the journal at once), so the next read, in this invocation or a later
    one, has it without the change (eclipse-edc/Connector#5102: an in-memory
    store that handed out its own objects let changes bypass the save)."""
    watched = ctx._set_values or {}
    ctx._set_values = None
    attempt = ctx._attempt
    for name, (value, data, serde, index, source) in watched.items():
        try:
            now: bytes | None = serde.serialize(value)
        except Exception:  # noqa: BLE001 - changed into something no serde can store
            now = None
        if now == data:
            continue
        stored = data.decode("utf-8", "replace")
        attempt.engine.record_misuse(attempt.rec.id, LateBindingError(
            f"ctx.set({name!r}, ...) stored {stored:.60} (#{index}), and the handler changed "
            f"that {type(value).__name__} in place afterwards (it ended as {value!r:.60}): "
            f"set stores the value as it is when called (restate-sdk serializes it at once), "
            f"so the change is lost to every later read of {name!r}, in this invocation and "
            f"the next; call ctx.set({name!r}, ...) after the change",
            handler=attempt.handler, journal_index=index, source=source))
