"""The outside world of a check: what resolves promises and awakeables, and who
else calls in, while ``check`` explores crashes and schedules around it.

A workflow that waits on a durable promise, or a handler that waits on an
awakeable, never ends on its own; in production someone clicks the link or a
webhook fires. A check says so with world events, applied in the order given:
each at its virtual time (``at``), or, without one, at a moment ``check``
explores. In the fault-free reference run that moment is ``waiting``: once an
invocation waits on the event's promise or awakeable (a call, a send or an
advance: once the run first waits), before virtual time moves on. Other runs
also try ``early`` (at once, before the handler waits: the link is clicked
before the email is sent) and ``late`` (once nothing is left to do, every
timer fired: after the handler's timeout), because in production the world
does not wait for the right moment. ``when=`` pins an event's moment.

The Python API (``simdurable.world``), the CLI (``--world JSON``),
``[tool.simdurable.world]`` and a scenario's ``events`` share one form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from .._loader import read_json
from ..runtime._errors import SimdurableError
from ..runtime._faults import MAX_DURATION, MAX_DURATION_MS, FaultPlanError, parse_duration_ms
from ..runtime._ids import parse_awakeable_id
from ..runtime._journal import KIND, NAME, PROMISE_COMPLETE, PROMISE_GET, PROMISE_PEEK
from ..runtime._store import stored_journal

if TYPE_CHECKING:
    from .._sim import InvocationHandle, Simulation

RESOLVE_PROMISE: Final = "resolve_promise"
REJECT_PROMISE: Final = "reject_promise"
RESOLVE_AWAKEABLE: Final = "resolve_awakeable"
REJECT_AWAKEABLE: Final = "reject_awakeable"
CALL: Final = "call"
SEND: Final = "send"
ADVANCE: Final = "advance"
CANCEL: Final = "cancel"
# When an event without ``at`` happens (see the module docstring).
WAITING: Final = "waiting"
EARLY: Final = "early"
LATE: Final = "late"
MOMENTS: Final = (WAITING, EARLY, LATE)
# ``after-K``: submitted after the first K of the callers at once and before
# the others (on their key, queued between them); one at a time, once K of
# them have ended. ``check`` tries a world call so (``Explore.moment_cases``).
AFTER: Final = "after-"


def after(k: int) -> str:
    """The moment after the first ``k`` callers at once were submitted."""
    return f"{AFTER}{k}"


def after_count(moment: str | None) -> int | None:
    """K of an ``after-K`` moment; None for any other."""
    if moment is None or not moment.startswith(AFTER):
        return None
    k = moment[len(AFTER):]
    return int(k) if k.isdigit() and k[0] != "0" else None


def is_moment(when: Any) -> bool:
    """Whether ``when`` names a moment: one of ``MOMENTS``, or ``after-K``."""
    return isinstance(when, str) and (when in MOMENTS or after_count(when) is not None)
ACTIONS: Final = (RESOLVE_PROMISE, REJECT_PROMISE, RESOLVE_AWAKEABLE, REJECT_AWAKEABLE, CALL,
                  SEND, ADVANCE, CANCEL)


class WorldError(SimdurableError):
    """A world event that names nothing the runs created, or cannot apply."""


@dataclass(frozen=True)
class FromEffect:
    """A value the world does not know in advance: what the app itself handed a
    fake external (the secret of a mailed link, a code drawn with ``ctx.uuid()``
    and sent by SMS), read when the event happens. The person who clicks the
    link copies it from the mail; a fixed value cannot, since each run draws
    its own.

    Attributes:
      external: the fake's name.
      op: the effect's operation; None: any.
      field: a dotted path into the effect's payload ("secret", "link.code");
        None: the whole payload.
    """

    external: str
    op: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"external": self.external}
        if self.op is not None:
            out["op"] = self.op
        if self.field is not None:
            out["field"] = self.field
        return out

    def describe(self) -> str:
        op = f".{self.op}" if self.op else ""
        field = f"[{self.field!r}]" if self.field else ""
        return f"what {self.external}{op} was last given{field}"

    def effect(self, externals: Sequence[Any],
               scopes: Sequence[Collection[str]] = (), scoped: bool = False) -> Any:
        """The last matching effect of the run so far, or None.

        ``scopes``: sets of invocation ids, tried in turn before any effect:
        under concurrent callers each mails its own secret, and the world
        answers one of them with that one's, not with the last mailed.
        ``scoped``: only an effect of one of them (with scopes)."""
        for ext in externals:
            if ext.name == self.external:
                matching = [eff for eff in ext.effects if self.op is None or eff.op == self.op]
                for scope in scopes:
                    for eff in reversed(matching):
                        if eff.invocation in scope:
                            return eff
                if scoped and scopes:
                    return None
                return matching[-1] if matching else None
        return None

    def value(self, externals: Sequence[Any],
              scopes: Sequence[Collection[str]] = ()) -> tuple[Any, str | None]:
        """The value (and None), or None and why it cannot be read (``scopes``:
        as ``effect``'s)."""
        if not any(ext.name == self.external for ext in externals):
            names = ", ".join(sorted(ext.name for ext in externals)) or "none"
            return None, (f"no fake external named {self.external!r} is checked "
                          f"(externals: {names})")
        eff = self.effect(externals, scopes)
        if eff is None:
            op = f" {self.op!r}" if self.op else ""
            return None, f"{self.external} has no{op} effect yet: nothing was sent to read"
        value = eff.payload
        for part in (self.field or "").split(".") if self.field else []:
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None, (f"{self.external}.{eff.op}'s payload has no {self.field!r} "
                              f"(payload: {_short(eff.payload, 80)})")
        return value, None


def from_effect(external: Any, op: str | None = None, field: str | None = None) -> FromEffect:
    """The value a fake external was last given, read when the event happens:
    ``world.call("Signup/ada/click", world.from_effect(mailer, "send", "secret"))``
    answers with the secret the run drew (``ctx.uuid()``) and mailed.
    ``external`` is the ``FakeExternal`` or its name; ``field`` a dotted path
    into the payload (None: the whole payload)."""
    name = external if isinstance(external, str) else getattr(external, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"from_effect: external must be a FakeExternal or its name, "
                        f"not {external!r}")
    if op is not None and not isinstance(op, str):
        raise TypeError(f"from_effect: op must be a string, not {op!r}")
    if field is not None and (not isinstance(field, str) or not field):
        raise TypeError(f"from_effect: field must be a dotted path like \"secret\", "
                        f"not {field!r}")
    return FromEffect(name, op, field)


@dataclass(frozen=True)
class WorldEvent:
    """One thing the outside world does during a check.

    Build them with ``simdurable.world.resolve_promise(...)`` and friends.

    Attributes:
      action: one of ``ACTIONS``.
      name: the promise's name (promise events).
      target: the workflow and key, "Signup/ada" (promise events; default: the
        checked workflow), or the handler to call or send to.
      value: the promise's or awakeable's value, or the call's input.
      message, code: the failure of a reject.
      at_ms: virtual time at which it happens; None: at a moment.
      by_ms: for ``advance``, how far the clock moves.
      when: the moment of an event without ``at_ms`` (one of ``MOMENTS``, or
        ``after-K``: between callers at once, see ``AFTER``);
        None: explored, ``waiting`` in the reference run.
    """

    action: str
    name: str | None = None
    target: str | None = None
    value: Any = None
    message: str = ""
    code: int = 500
    at_ms: int | None = None
    by_ms: int = 0
    when: str | None = None

    def __post_init__(self) -> None:
        inside = _nested_read(self.value)
        if inside is not None:
            raise TypeError(
                f"world.{self.action}: the value holds a from_effect at {inside}; it is read "
                "only as the whole value (the event's input or the promise's value), so it "
                "would reach the handler unread. Read the whole payload (from_effect without "
                "field=) when the handler takes its shape, or give the read as the value")
        if self.when is not None and not is_moment(self.when):
            raise ValueError(f"when must be one of {', '.join(MOMENTS)} or after-K, "
                             f"not {self.when!r}")
        if self.when is not None and self.at_ms is not None:
            raise ValueError("give an event `at` (a virtual time) or `when` (a moment), "
                             "not both")

    @property
    def explored(self) -> bool:
        """Whether ``check`` tries this event at other moments than ``waiting``."""
        return self.at_ms is None and self.when is None

    def pinned(self, moment: str) -> WorldEvent:
        """The same event, always at ``moment``."""
        return self if self.at_ms is not None else replace(self, when=moment)

    def describe(self) -> str:
        if self.at_ms is not None:
            when = f"at {self.at_ms / 1000:g}s"
        elif self.when == EARLY:
            when = "early (at once, before the run waits on it)"
        elif self.when == LATE:
            when = "late (once nothing is left to do, every timer fired)"
        elif (k := after_count(self.when)) is not None:
            when = ("submitted after the first of the callers at once and before the others "
                    "(one at a time: once it had ended)" if k == 1 else
                    f"submitted after the first {k} of the callers at once and before the "
                    f"others (one at a time: once {k} of them had ended)")
        else:
            when = "once the run waits"
        if self.action in (RESOLVE_PROMISE, REJECT_PROMISE):
            of = f" of {self.target}" if self.target else ""
            what = f"promise {self.name!r}{of}"
        elif self.action in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE):
            what = "the awakeable"
        elif self.action == ADVANCE:
            return f"advance the clock by {self.by_ms / 1000:g}s {when}"
        elif self.action == CANCEL:
            return f"cancel the checked invocation {when}"
        else:
            return f"{self.action} {self.target}({_value_text(self.value)}) {when}"
        verb = self.action.split("_", 1)[0]
        outcome = (f" with {_value_text(self.value)}" if verb == "resolve"
                   else f" with {self.code} {self.message!r}")
        return f"{verb} {what}{outcome} {when}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form ``from_dict`` reads (``--world``, pyproject, YAML)."""
        if self.action == ADVANCE:
            out: dict[str, Any] = {ADVANCE: f"{self.by_ms}ms"}
        elif self.action == CANCEL:
            out = {CANCEL: {}}
        else:
            args: dict[str, Any] = {}
            if self.action in (RESOLVE_PROMISE, REJECT_PROMISE):
                args["name"] = self.name
                if self.target:
                    workflow, _, key = self.target.partition("/")
                    args["workflow"], args["key"] = workflow, key
            if isinstance(self.value, FromEffect):
                if self.action in (CALL, SEND):
                    args["target"] = self.target
                args["from_effect"] = self.value.as_dict()
            elif self.action in (CALL, SEND):
                args["target"] = self.target
                args["input"] = self.value
            elif self.action.startswith("resolve"):
                args["value"] = self.value
            else:
                args["message"] = self.message
                args["code"] = self.code
            out = {self.action: args}
        if self.at_ms is not None:
            out["at"] = f"{self.at_ms}ms"
        if self.when is not None:
            out["when"] = self.when
        return out

    def __repr__(self) -> str:
        # Python, not JSON: the reproducers print it as code (None, not null).
        return f"simdurable.world.from_dict({self.as_dict()!r})"


def _nested_read(value: Any, path: str = "") -> str | None:
    """Where a ``FromEffect`` sits inside a container value ("['secret']"), if it does."""
    if isinstance(value, FromEffect):
        return path or None
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        found = _nested_read(v, f"{path}[{k!r}]")
        if found is not None:
            return found
    return None


def _value_text(value: Any) -> str:
    return value.describe() if isinstance(value, FromEffect) else _short(value)


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _when(at: timedelta | float | None, where: str = "at") -> int | None:
    """Milliseconds of a Python-API duration, refused as the JSON form is when it
    is negative, not a duration, or beyond what the virtual clock can reach."""
    if at is None:
        return None
    if isinstance(at, timedelta):
        return _duration(at.total_seconds(), where) if at >= timedelta(0) else \
            _duration(at, where)
    return _duration(at, where)


def _moment(when: str | None) -> str | None:
    if when is not None and not is_moment(when):
        raise ValueError(f"when must be one of {', '.join(repr(m) for m in MOMENTS)} or "
                         f"'after-K', not {when!r}")
    return when


def resolve_promise(name: str, value: Any = None, *, workflow: str | None = None,
                    at: timedelta | None = None, when: str | None = None) -> WorldEvent:
    """Resolve the durable promise ``name`` (of the checked workflow, or of
    ``workflow="Signup/ada"``) at ``at``, or at an explored moment (``when``
    pins one: "waiting", "early" or "late")."""
    return WorldEvent(RESOLVE_PROMISE, name=name, target=workflow, value=value, at_ms=_when(at),
                      when=_moment(when))


def reject_promise(name: str, message: str, code: int = 500, *, workflow: str | None = None,
                   at: timedelta | None = None, when: str | None = None) -> WorldEvent:
    """Reject the durable promise ``name`` with a terminal error."""
    return WorldEvent(REJECT_PROMISE, name=name, target=workflow, message=message, code=code,
                      at_ms=_when(at), when=_moment(when))


def resolve_awakeable(value: Any = None, *, at: timedelta | None = None,
                      when: str | None = None) -> WorldEvent:
    """Resolve the awakeable the run waits on (the checked invocation's first)."""
    return WorldEvent(RESOLVE_AWAKEABLE, value=value, at_ms=_when(at), when=_moment(when))


def reject_awakeable(message: str, code: int = 500, *,
                     at: timedelta | None = None, when: str | None = None) -> WorldEvent:
    """Reject the awakeable the run waits on with a terminal error."""
    return WorldEvent(REJECT_AWAKEABLE, message=message, code=code, at_ms=_when(at),
                      when=_moment(when))


def call(target: str, input: Any = None, *, at: timedelta | None = None,
         when: str | None = None) -> WorldEvent:
    """Call another handler ("Signup/ada/confirm") from outside."""
    return WorldEvent(CALL, target=target, value=input, at_ms=_when(at), when=_moment(when))


def send(target: str, input: Any = None, *, at: timedelta | None = None,
         when: str | None = None) -> WorldEvent:
    """Send a one-way message to a handler from outside."""
    return WorldEvent(SEND, target=target, value=input, at_ms=_when(at), when=_moment(when))


def cancel(*, at: timedelta | None = None, when: str | None = None) -> WorldEvent:
    """Cancel the checked invocation, as a person pressing "cancel" would: its
    next wait raises ``TerminalError("cancelled", 409)``."""
    return WorldEvent(CANCEL, at_ms=_when(at), when=_moment(when))


def advance(by: timedelta, *, at: timedelta | None = None,
            when: str | None = None) -> WorldEvent:
    """Let virtual time pass (timers fire), as a clock on the wall would."""
    by_ms = _when(by, "advance(by)")
    return WorldEvent(ADVANCE, by_ms=0 if by_ms is None else by_ms, at_ms=_when(at),
                      when=_moment(when))


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*$")

def _duration(value: Any, where: str) -> int:
    """Milliseconds from a JSON duration, refusing what no clock reaches: a
    number beyond ``MAX_DURATION`` (or inf) would overflow the virtual clock."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        if not value * 1000 <= MAX_DURATION_MS:   # also inf and nan
            raise ValueError(f"{where}: {_short(value)} seconds is too long; the limit is "
                             f"{MAX_DURATION}")
        return int(value * 1000)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            try:
                return parse_duration_ms(m.group(1) + m.group(2))
            except FaultPlanError as err:
                raise ValueError(f"{where}: {err}") from None
    raise ValueError(f"{where}: {value!r} is not a duration like 500ms, 5s, 2m, 1h or 1d")


_FIELDS: Final = {
    RESOLVE_PROMISE: ({"name"}, {"value", "from_effect", "workflow", "key"}),
    REJECT_PROMISE: ({"name", "message"}, {"code", "workflow", "key"}),
    RESOLVE_AWAKEABLE: (set(), {"value", "from_effect"}),
    REJECT_AWAKEABLE: ({"message"}, {"code"}),
    CALL: ({"target"}, {"input", "from_effect"}),
    SEND: ({"target"}, {"input", "from_effect"}),
    CANCEL: (set(), set()),
}


def from_dict(data: Mapping[str, Any], where: str = "world event") -> WorldEvent:
    """A world event from its JSON form: ``{"resolve_promise": {"name": "code",
    "value": "1234"}, "at": "1h"}``, ``{"call": {"target": ..., "input": ...}}``,
    ``{"advance": "1h"}``. ``ValueError`` names the field that is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping like {{\"resolve_promise\": "
                         f"{{\"name\": \"code\"}}}}, got {type(data).__name__}")
    actions = [k for k in data if k in ACTIONS]
    unknown = [k for k in data if k not in ACTIONS and k not in ("at", "when")]
    if unknown or len(actions) != 1:
        raise ValueError(f"{where}: an event does exactly one of {', '.join(ACTIONS)} "
                         f"(optionally with `at` or `when`); got "
                         f"{', '.join(map(str, data)) or 'nothing'}")
    action = actions[0]
    at = None if data.get("at") is None else _duration(data["at"], f"{where}.at")
    when = data.get("when")
    if when is not None and not is_moment(when):
        raise ValueError(f"{where}.when: {when!r} is not a moment; expected one of "
                         f"{', '.join(MOMENTS)} or after-K")
    if when is not None and at is not None:
        raise ValueError(f"{where}: give `at` (a virtual time) or `when` (a moment), not both")
    if action == ADVANCE:
        return WorldEvent(ADVANCE, by_ms=_duration(data[ADVANCE], f"{where}.advance"),
                          at_ms=at, when=when)
    args = data[action] or {}
    if not isinstance(args, Mapping):
        raise ValueError(f"{where}.{action}: expected a mapping, got {type(args).__name__}")
    need, may = _FIELDS[action]
    missing = sorted(need - set(args))
    extra = sorted(set(args) - need - may)
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
            ([f"unknown {', '.join(extra)}"] if extra else [])
        raise ValueError(f"{where}.{action}: {'; '.join(parts)} (fields: "
                         f"{', '.join(sorted(need | may))})")
    for text_field in ("name", "target", "message", "workflow", "key"):
        if text_field in args and not isinstance(args[text_field], str):
            raise ValueError(f"{where}.{action}.{text_field}: expected a string, got "
                             f"{args[text_field]!r}")
    code = args.get("code", 500)
    if not isinstance(code, int) or isinstance(code, bool):
        raise ValueError(f"{where}.{action}.code: expected an integer, got {code!r}")
    workflow = None
    if "workflow" in args or "key" in args:
        if not ("workflow" in args and "key" in args):
            raise ValueError(f"{where}.{action}: give both workflow and key, or neither "
                             f"(then the checked workflow's promise)")
        workflow = f"{args['workflow']}/{args['key']}"
    value = args.get("input" if action in (CALL, SEND) else "value")
    if "from_effect" in args:
        value = _from_effect_dict(args, action, f"{where}.{action}")
    if action in (CALL, SEND):
        return WorldEvent(action, target=args["target"], value=value, at_ms=at, when=when)
    return WorldEvent(action, name=args.get("name"), target=workflow, value=value,
                      message=args.get("message", ""), code=code, at_ms=at, when=when)


def _from_effect_dict(args: Mapping[str, Any], action: str, where: str) -> FromEffect:
    """``from_effect: {external, op, field}`` in place of a value or input."""
    given = "input" if action in (CALL, SEND) else "value"
    if given in args:
        raise ValueError(f"{where}: give {given} or from_effect, not both")
    spec = args["from_effect"]
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}.from_effect: expected a mapping like {{\"external\": "
                         f"\"mailer\", \"op\": \"send\", \"field\": \"secret\"}}, "
                         f"got {spec!r}")
    extra = sorted(set(spec) - {"external", "op", "field"})
    if extra or "external" not in spec:
        raise ValueError(f"{where}.from_effect: "
                         + (f"unknown {', '.join(map(str, extra))}" if extra else
                            "missing external")
                         + " (fields: external, field, op)")
    for name in ("external", "op", "field"):
        if name in spec and not (isinstance(spec[name], str) and spec[name]):
            raise ValueError(f"{where}.from_effect.{name}: expected a string, got "
                             f"{spec[name]!r}")
    return FromEffect(spec["external"], spec.get("op"), spec.get("field"))


def parse(text: str, where: str = "--world") -> WorldEvent:
    """A world event from JSON text (``--world``)."""
    return from_dict(read_json(text, where), where)


def bind(events: Sequence[WorldEvent], invoke: str) -> list[WorldEvent]:
    """The events with each promise's workflow filled in from the target;
    ``ValueError`` for a promise event that cannot know its workflow."""
    from .._sim import parse_target

    out = []
    for i, ev in enumerate(events):
        if not isinstance(ev, WorldEvent):
            raise TypeError(f"world[{i}] must be a simdurable.world event, not {ev!r}")
        if ev.action in (RESOLVE_PROMISE, REJECT_PROMISE) and ev.target is None:
            service, key, _ = parse_target(invoke)
            if key is None:
                raise ValueError(f"world[{i}]: {ev.describe()}: {invoke} is not a workflow, "
                                 f"so say whose promise it is: workflow=\"Signup/<id>\"")
            ev = replace(ev, target=f"{service}/{key}")
        out.append(ev)
    return out


def moments_of(events: Sequence[WorldEvent], moments: Sequence[str] | None = None
               ) -> tuple[str, ...]:
    """Each event's moment in a run: ``moments`` (an explored run's draw), else
    the event's own ``when``, else ``waiting`` (events with ``at`` keep theirs)."""
    out = []
    for i, ev in enumerate(events):
        m = moments[i] if moments is not None and i < len(moments) else None
        out.append(m or ev.when or WAITING)
    return tuple(out)


class WorldDriver:
    """Runs a simulation, applying the world's events at their moments."""

    def __init__(self, events: Sequence[WorldEvent],
                 moments: Sequence[str] | None = None, held: Collection[int] = (),
                 release: int | None = None) -> None:
        self.events = list(events)
        self.moments = moments_of(self.events, moments)
        # Events (by index) held until every invocation driven ``until_done`` has
        # ended (the one-at-a-time orders' world calls after the callers): the
        # events after them go on meanwhile, as a call queued behind the callers
        # on a key runs after a read the world made later.
        self.held = held
        # The turn (1-based) in which the held events come, at their moments
        # within it; None: once every turn has ended. A read the world makes
        # of a shared handler comes, at once, while a later caller waits.
        self.release = release
        self._holding: list[int] = []
        self.next = 0
        # Turns of invocations run one at a time so far (``drive`` with
        # ``until_done``): an ``after-K`` event comes once K turns have ended.
        self.turns = 0
        # Events applied between the callers' submissions (``between``).
        self._between: set[int] = set()
        self.problems: list[str] = []
        # Deadlocks of the app's own making that an event would have hidden
        # (see ``Status.queued_resolver``): each a finding of the run.
        self.hidden: list[tuple[str, int, str]] = []

    def drive(self, sim: Simulation, handle: InvocationHandle,
              until_done: Sequence[str] | None = None, own_only: bool = False,
              later: Collection[tuple[str, str | None]] = ()) -> None:
        """Run until every event happened and nothing can progress.

        ``until_done``: stop instead once these invocations have ended (the
        events not yet due stay for a later ``drive``); with ``own_only``, also
        when the events are done, leaving what those invocations set going
        (a delayed send) for later. ``later``: (service, key) of callers still
        to come; an event answering one of them with what it sends out
        (``from_effect``) waits for its turn, as nothing was sent yet."""
        self._drive(sim, handle, until_done, own_only, later)
        if until_done is None:
            return
        # One at a time, an ``after-K`` event comes once K turns have ended,
        # before the next invocation is submitted.
        self.turns += 1
        while self.next < len(self.events):
            i = self.next
            k = after_count(self.moments[i]) if self.events[i].at_ms is None else None
            if k is None or k > self.turns or i in self.held:
                return
            self.next += 1
            self._apply(sim, handle, i)
            sim.run(until=timedelta(milliseconds=sim.engine.now_ms))

    def between(self, sim: Simulation, handle: InvocationHandle, k: int) -> None:
        """Callers at once: apply the ``after-k`` events now, after the first
        ``k`` callers were submitted and before the others."""
        for i, ev in enumerate(self.events):
            if ev.at_ms is None and after_count(self.moments[i]) == k:
                self._between.add(i)
                self._apply(sim, handle, i)

    def _drive(self, sim: Simulation, handle: InvocationHandle,
               until_done: Sequence[str] | None, own_only: bool,
               later: Collection[tuple[str, str | None]]) -> None:
        if self._holding and (until_done is None or (
                self.release is not None and self.turns + 1 >= self.release)):
            for i in self._holding:
                reach(sim, handle, self.events[i], self.moments[i])
                self._apply(sim, handle, i)
            self._holding = []
        while self.next < len(self.events):
            i, ev = self.next, self.events[self.next]
            if i in self._between:
                self.next += 1
                continue
            if later and isinstance(ev.value, FromEffect) and _names(ev) in later:
                break
            if until_done is not None and i in self.held and (
                    self.release is None or self.turns + 1 < self.release):
                self._holding.append(i)
                self.next += 1
                continue
            k = after_count(self.moments[i]) if ev.at_ms is None else None
            if until_done is not None and k is not None and k > self.turns:
                break  # (once K turns have ended: ``drive``)
            if (own_only and until_done is not None and self.moments[i] == LATE
                    and ev.at_ms is None):
                # Late is once nothing is left to do, timers included: what these
                # invocations set going (a delayed send) waits for the later ones,
                # so they end first, unless they wait on the event.
                if not _all_done(sim, until_done):
                    sim.run(stop=lambda: _all_done(sim, until_done))
                if _all_done(sim, until_done):
                    return
            reach(sim, handle, ev, self.moments[i])
            if until_done is not None and _all_done(sim, until_done):
                return  # the event is for a later invocation
            self.next += 1
            self._apply(sim, handle, i)
        if own_only and until_done is not None:
            if not _all_done(sim, until_done):
                sim.run(stop=lambda: _all_done(sim, until_done))
            return
        sim.run()

    def _apply(self, sim: Simulation, handle: InvocationHandle, i: int) -> None:
        ev = self.events[i]
        if ev.action in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE):
            awk = _awakeable_for(sim, handle)
            why = None if awk is None else sim.engine.queued_resolver(awk)
            if why is not None and why not in self.hidden:
                self.hidden.append(why)
        problem = apply(sim, handle, ev)
        if problem is not None:
            self.problems.append(f"world[{i}] ({ev.describe()}): {problem} "
                                 f"(t={sim.now():.3f}s)")


def _names(ev: WorldEvent) -> tuple[str, str | None] | None:
    """The (service, key) an event's promise or call names, if it names one."""
    from .._sim import parse_target

    if not ev.target:
        return None
    if ev.action in (RESOLVE_PROMISE, REJECT_PROMISE):
        service, _, key = ev.target.partition("/")
        return service, key
    try:
        service, maybe_key, _ = parse_target(ev.target)
    except SimdurableError:
        return None
    return (service, maybe_key) if maybe_key is not None else None


def _all_done(sim: Simulation, ids: Sequence[str]) -> bool:
    from ..runtime._store import COMPLETED

    return all(sim.engine.record(i).status == COMPLETED for i in ids)


def reach(sim: Simulation, handle: InvocationHandle | None, ev: WorldEvent,
          moment: str | None = None) -> None:
    """Run ``sim`` until the moment of ``ev``: its time, or its moment (the
    event's own ``when`` unless ``moment`` is given; ``waiting`` by default).

    It is public as ``simdurable.world.reach``: the programs a report prints
    call it before each event, to replay the event at the moment it had.
    """
    if ev.at_ms is not None:
        if sim.engine.now_ms < ev.at_ms:
            sim.run(until=timedelta(milliseconds=ev.at_ms))
        return
    moment = moment or ev.when or WAITING
    if moment == LATE:
        sim.run()
        return
    if after_count(moment) is not None:
        return  # (at once, it is submitted between the callers: ``WorldDriver.between``)
    if moment == EARLY:
        if ev.action in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE):
            # Not before the awakeable exists: at once after the step creating it.
            if not sim.awakeables():
                sim.run(stop=lambda: bool(sim.awakeables()))
        if isinstance(ev.value, FromEffect):
            # Not before the app sent what the world answers with: at once after.
            read = ev.value

            def mailed() -> bool:
                # (the invocations answered are worked out from every record only
                # once anything matching was sent: the stop is asked after each task)
                return (read.effect(sim.externals) is not None and read.effect(
                    sim.externals, answered(sim, handle, ev), scoped=True) is not None)

            if not mailed():
                sim.run(stop=mailed)
        return
    # waiting: run what is ready now; go on to the next timer only while the
    # event's promise or awakeable is not waited on yet.
    while True:
        sim.run(until=timedelta(milliseconds=sim.engine.now_ms))
        if _awaited(sim, ev) or not sim.engine.advance_time(None):
            return


def _awaited(sim: Simulation, ev: WorldEvent) -> bool:
    """Whether an invocation waits on what ``ev`` completes (for calls, sends
    and advances: whether no invocation is backing off after a failure, so
    that a crash does not move the world's call earlier in the handler)."""
    if ev.action in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE):
        return bool(sim.awakeables())
    if ev.action not in (RESOLVE_PROMISE, REJECT_PROMISE):
        engine = sim.engine
        return not any(engine.status(rec.id) == "backing-off" for rec in engine.records())
    assert ev.target is not None and ev.name is not None
    service, _, key = ev.target.partition("/")
    # Waited on, or already completed (then applying it says so at once).
    return (bool(sim.engine.promises.waiters.get((service, key, ev.name)))
            or sim.store.promise(service, key, ev.name) is not None)


def _awakeable_for(sim: Simulation, handle: InvocationHandle) -> str | None:
    """The awakeable an awakeable event completes: the checked invocation's
    first still pending, else any invocation's first; None if none is."""
    pending = sim.awakeables()
    own = [a for a in pending if (parse_awakeable_id(a) or ("",))[0] == handle.id]
    choices = own or pending
    return choices[0] if choices else None


def answered(sim: Simulation, handle: InvocationHandle | None,
             ev: WorldEvent) -> list[set[str]]:
    """The invocations an event answers, most closely first, each with what
    they called: those of its promise's workflow or its call's object key,
    the owner of its awakeable, then the checked invocation. A value read
    with ``from_effect`` comes from the first of them that sent one."""
    records = sim.engine.records()
    keyed: set[str] = set()
    names = _names(ev)
    if names is not None:
        keyed = {r.id for r in records if (r.service, r.key) == names}
    elif ev.action in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE) and handle is not None:
        awk = _awakeable_for(sim, handle)
        owner = None if awk is None else (parse_awakeable_id(awk) or (None,))[0]
        keyed = {owner} if owner else set()
    callers = {r.id: r.caller_id for r in records}

    def family(roots: set[str]) -> set[str]:
        out = set(roots)
        for inv in callers:
            seen, up = set(), inv
            while up and up not in out and up not in seen:
                seen.add(up)
                up = callers.get(up, "")
            if up in out:
                out.add(inv)
        return out

    scopes = [family(keyed)] if keyed else []
    if handle is not None:
        scopes.append(family({handle.id}))
    return scopes


def apply(sim: Simulation, handle: InvocationHandle, ev: WorldEvent) -> str | None:
    """Apply one event; what went wrong, if it could not apply.

    It is public as ``simdurable.world.apply``: the programs a report prints
    call it for an event whose value is read with ``from_effect``."""
    if isinstance(ev.value, FromEffect):
        value, problem = ev.value.value(sim.externals, answered(sim, handle, ev))
        if problem is not None:
            return problem
        ev = replace(ev, value=value)
    if ev.action in (RESOLVE_PROMISE, REJECT_PROMISE):
        assert ev.name is not None and ev.target is not None  # bound and validated
        workflow, _, key = ev.target.partition("/")
        if ev.action == RESOLVE_PROMISE:
            done = sim.resolve_promise(workflow, key, ev.name, ev.value)
        else:
            done = sim.reject_promise(workflow, key, ev.name, ev.message, ev.code)
        return None if done else f"promise {ev.name!r} of {ev.target} was already completed"
    if ev.action in (RESOLVE_AWAKEABLE, REJECT_AWAKEABLE):
        awk = _awakeable_for(sim, handle)
        if awk is None:
            return ("no invocation waits on an awakeable: no run created one that is still "
                    "pending")
        if ev.action == RESOLVE_AWAKEABLE:
            sim.resolve_awakeable(awk, ev.value)
        else:
            sim.reject_awakeable(awk, ev.message, ev.code)
        return None
    if ev.action == CANCEL:
        if handle.done:
            return "the checked invocation had already ended"
        sim.cancel(handle)
        return None
    if ev.action in (CALL, SEND):
        assert ev.target is not None
        if ev.action == CALL:
            sim.invoke(ev.target, ev.value)
        else:
            sim.send(ev.target, ev.value)
        return None
    sim.run(until=timedelta(milliseconds=sim.engine.now_ms + ev.by_ms))
    return None


def unknown_promises(sim: Simulation, events: Sequence[WorldEvent]) -> list[str]:
    """Promise events naming a promise no invocation of the run ever used."""
    used: set[tuple[str, str]] = set()
    for rec in sim.engine.records():
        if rec.key is None:
            continue
        for e in stored_journal(sim.store, rec.id):
            if e[KIND] in (PROMISE_GET, PROMISE_PEEK, PROMISE_COMPLETE):
                used.add((f"{rec.service}/{rec.key}", e[NAME]))
    out = []
    for i, ev in enumerate(events):
        if ev.action in (RESOLVE_PROMISE, REJECT_PROMISE) and (ev.target, ev.name) not in used:
            names = sorted(f"{t}:{n}" for t, n in used)
            out.append(f"world[{i}] ({ev.describe()}) names a promise no run created "
                       f"(promises used: {', '.join(names) or 'none'})")
    return out
