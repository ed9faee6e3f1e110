"""What the outside world does during a ``check``: resolve or reject a workflow's
promise or an awakeable, call or send to a handler, let time pass::

    import simdurable as sd
    from simdurable import world

    sd.check(services=[signup], invoke="Signup/ada/run", input="ada@example.com",
             world=[world.resolve_promise("email-link", "s3cret")])

Events happen in the order given: each at its virtual time (``at=``), or,
without one, once the run has nothing else to do. The same events drive every
run ``check`` explores, under every fault plan and schedule.
"""

from ._check._world import (
    WorldError as WorldError,
    WorldEvent as WorldEvent,
    advance as advance,
    call as call,
    from_dict as from_dict,
    parse as parse,
    reject_awakeable as reject_awakeable,
    reject_promise as reject_promise,
    resolve_awakeable as resolve_awakeable,
    resolve_promise as resolve_promise,
    send as send,
)

__all__ = [
    "WorldError", "WorldEvent", "advance", "call", "from_dict", "parse", "reject_awakeable",
    "reject_promise", "resolve_awakeable", "resolve_promise", "send",
]
