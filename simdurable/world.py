"""What the outside world does during a ``check``: resolve or reject a workflow's
promise or an awakeable, call or send to a handler, cancel the checked
invocation, let time pass::

    import simdurable as sd
    from simdurable import world

    sd.check(services=[signup], invoke="Signup/ada/run", input="ada@example.com",
             world=[world.resolve_promise("email-link", "s3cret")])

Events happen in the order given: each at its virtual time (``at=``), or,
without one, at a moment ``check`` explores: ``"waiting"`` (once an
invocation waits on the event's promise or awakeable; the fault-free run's
moment), ``"early"`` (at once, before the handler waits) or ``"late"`` (once
nothing is left to do, timers included). ``when=`` pins one. A value the
app drew and sent out (a mailed link's secret) is read from a fake external
when the event happens: ``world.from_effect(mailer, "send", "secret")``. The same events
drive every run ``check`` explores, under every fault plan and schedule.
"""

from ._check._world import (
    EARLY as EARLY,
    LATE as LATE,
    MOMENTS as MOMENTS,
    WAITING as WAITING,
    FromEffect as FromEffect,
    WorldError as WorldError,
    WorldEvent as WorldEvent,
    advance as advance,
    apply as apply,
    call as call,
    cancel as cancel,
    from_dict as from_dict,
    from_effect as from_effect,
    parse as parse,
    reach as reach,
    reject_awakeable as reject_awakeable,
    reject_promise as reject_promise,
    resolve_awakeable as resolve_awakeable,
    resolve_promise as resolve_promise,
    send as send,
)

__all__ = [
    "EARLY", "LATE", "MOMENTS", "WAITING",
    "FromEffect", "WorldError", "WorldEvent", "advance", "apply", "call", "cancel", "from_dict",
    "from_effect", "parse", "reach",
    "reject_awakeable",
    "reject_promise", "resolve_awakeable", "resolve_promise", "send",
]
