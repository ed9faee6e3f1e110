"""A ``BaseException`` that is not an ``Exception`` raised by a user's handler,
step or import (``sys.exit()``, a class of the user's own): restate-sdk does
not catch it, so on Restate the attempt ends without an answer and is retried.
The simulation stops with an error naming the user's line (``not_an_exception``);
a live executor fails the attempt instead (``attempt_failure``).
"""

from __future__ import annotations

import os
from types import TracebackType

from .runtime._errors import HandlerError, NotAnExceptionError
from .runtime._running import user_frames


def not_an_exception(err: BaseException, stopping: str = "The simulation stops here."
                     ) -> HandlerError | None:
    """The error a run stops with when a handler or a step raised a
    ``BaseException`` that is not an ``Exception`` (``SystemExit`` from
    ``sys.exit()``, a class of the user's own): restate-sdk does not catch it,
    so on a Restate server the attempt ends without an answer and is retried
    from its journal, again and again. No outcome of this run would mean
    anything after it. None when the user's code is not to blame (see
    ``base_exception_raised``)."""
    raised = base_exception_raised(err)
    if raised is None:
        return None
    what, source = raised
    return HandlerError(
        f"{what}, a BaseException that is not an "
        f"Exception. restate-sdk does not catch it: on a Restate server the attempt ends "
        f"without an answer and the invocation is retried from its journal, again and "
        f"again (sys.exit() ends the whole service process). {stopping} "
        f"Raise an Exception instead (a TerminalError to fail the invocation for good).",
        source=source,
    )


def base_exception_raised(err: BaseException) -> tuple[str, str] | None:
    """What raised ``err``, a ``BaseException`` that is not an ``Exception``, in
    words, and the user's ``file.py:line`` to blame (``_blamed``); None when
    the user's code is not to blame."""
    found = _blamed(err)
    if found is None:
        return None
    blamed, last = found
    try:
        shown = repr(err)
    except Exception:  # noqa: BLE001 - a repr that fails itself
        shown = f"{type(err).__name__}(...)"
    if isinstance(err, SystemExit):
        shown = f"SystemExit({err.code!r}) (sys.exit())"
    frames = user_frames(err)
    inside = f" (in {frames[0].name})" if frames else ""
    source = f"{os.path.basename(blamed.tb_frame.f_code.co_filename)}:{blamed.tb_lineno}"
    if blamed is last:
        return f"the handler's code{inside} raised {shown:.120}", source
    code = last.tb_frame.f_code
    module = last.tb_frame.f_globals.get("__name__")
    module = module if type(module) is str else os.path.basename(code.co_filename)
    return (f"the handler's code{inside} called into {module}, whose {code.co_qualname}() "
            f"raised {shown:.120}", source)


def _blamed(err: BaseException) -> tuple[TracebackType, TracebackType] | None:
    """The traceback entry of the user's line to blame for ``err`` and the
    innermost one: the line that raised it when it is the user's own; for
    ``SystemExit`` raised inside a library (``argparse`` on bad arguments, a
    package's ``sys.exit()``), the user's line that called into the library.
    None otherwise: a library's own BaseException ends a test case so
    (Hypothesis's, pytest's), and a traceback through no user code blames no one."""
    from ._strict import user_code

    tb = err.__traceback__
    last = blamed = None
    while tb is not None:
        if user_code(tb.tb_frame.f_code.co_filename):
            blamed = tb
        last, tb = tb, tb.tb_next
    if last is None or blamed is None or (blamed is not last and not isinstance(err, SystemExit)):
        return None
    return blamed, last


def attempt_failure(err: BaseException) -> NotAnExceptionError:
    """The failure of a live attempt whose handler or step raised ``err``, a
    ``BaseException`` that is not an ``Exception``: what Restate does with it
    (the attempt ends, the invocation is retried), said with the user's line.
    Its traceback ends at that line, which the retry then names."""
    raised = base_exception_raised(err)
    what = (raised[0] if raised is not None
            else f"the handler's code raised {type(err).__name__}")
    found = _blamed(err)
    tb = err.__traceback__
    if found is not None:  # up to the user's line, without the library's frames under it
        kept = []
        while tb is not None:
            kept.append(tb)
            if tb is found[0]:
                break
            tb = tb.tb_next
        tb = None
        for entry in reversed(kept):
            tb = TracebackType(tb, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    failure = NotAnExceptionError(
        f"{what}, a BaseException that is not an Exception: as on Restate (whose SDK does "
        f"not catch it), the attempt ends and the invocation is retried from its journal; "
        f"raise an Exception instead")
    failure.__cause__ = err
    return failure.with_traceback(tb)
