"""Strict mode: catch clocks, RNGs and uuid4 used outside a step.

While a handler's own code runs (never while a step's closure runs), a
profile hook watches calls. A call to ``time.time``, ``datetime.now``, the
module-level ``random`` functions, ``uuid.uuid1``/``uuid4``, ``os.urandom`` or
``secrets`` is recorded as a ``NondeterministicCallError`` with the handler's
file and line: on replay it would return something else. The hook sees calls
however the function was imported (``from time import time`` included).
"""

from __future__ import annotations

import datetime
import gc
import os
import random
import secrets
import sys
import time
import uuid
from types import FrameType
from typing import Any

from .runtime._errors import NondeterministicCallError
from .runtime._invocation import Attempt

_C_FUNCTIONS: dict[int, str] = {
    id(f): name
    for f, name in [
        (time.time, "time.time()"),
        (time.time_ns, "time.time_ns()"),
        (time.monotonic, "time.monotonic()"),
        (time.monotonic_ns, "time.monotonic_ns()"),
        (time.perf_counter, "time.perf_counter()"),
        (time.perf_counter_ns, "time.perf_counter_ns()"),
        (os.urandom, "os.urandom()"),
    ]
}
_CLASS_METHODS: dict[tuple[type, str], str] = {
    (datetime.datetime, "now"): "datetime.now()",
    (datetime.datetime, "utcnow"): "datetime.utcnow()",
    (datetime.datetime, "today"): "datetime.today()",
    (datetime.date, "today"): "date.today()",
}
_PY_CODES: dict[Any, str] = {
    uuid.uuid1.__code__: "uuid.uuid1()",
    uuid.uuid4.__code__: "uuid.uuid4()",
}
for _name in ("token_bytes", "token_hex", "token_urlsafe", "randbelow", "choice", "randbits"):
    _fn = getattr(secrets, _name, None)
    if _fn is not None and hasattr(_fn, "__code__"):
        _PY_CODES[_fn.__code__] = f"secrets.{_name}()"

_OUR_DIR = os.path.dirname(os.path.abspath(__file__))
_STDLIB_DIR = os.path.dirname(os.__file__)


def _user_frame(frame: FrameType | None) -> FrameType | None:
    # A garbage-collector callback (Hypothesis installs one) runs on top of
    # whatever frame triggered the collection: its calls are not the handler's.
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    found = None
    while frame is not None:
        if frame.f_code in callbacks:
            return None
        filename = frame.f_code.co_filename
        if found is None and not filename.startswith(_OUR_DIR) and (
            not filename.startswith(_STDLIB_DIR)
        ):
            found = frame
        frame = frame.f_back
    return found


class StrictGuard:
    """The engine's segment guard: a profile hook around handler code."""

    def __init__(self) -> None:
        self.found: list[NondeterministicCallError] = []
        self._seen: set[tuple[str, str, int]] = set()
        self._attempt: Attempt | None = None
        self._previous: Any = None
        self.active = False  # watching handler code right now

    def enter(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._previous = sys.getprofile()
        self.active = True
        sys.setprofile(self._hook)

    def exit(self) -> None:
        sys.setprofile(self._previous)
        self.active = False
        self._attempt = None

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            name = _C_FUNCTIONS.get(id(arg))
            if name is None:
                owner = getattr(arg, "__self__", None)
                if owner is random._inst:
                    name = f"random.{arg.__name__}()"
                elif isinstance(owner, type):
                    name = _CLASS_METHODS.get((owner, arg.__name__))
            if name is not None:
                self._record(name, frame)
        elif event == "call":
            code = frame.f_code
            name = _PY_CODES.get(code)
            if name is not None:
                self._record(name, frame.f_back)
            elif code.co_filename == random.__file__ and frame.f_locals.get("self") is (
                random._inst
            ):
                self._record(f"random.{code.co_name}()", frame.f_back)

    def _record(self, name: str, frame: FrameType | None) -> None:
        attempt = self._attempt
        user = _user_frame(frame)
        if attempt is None or user is None:
            return
        filename = user.f_code.co_filename
        key = (filename, name.split("(")[0], user.f_lineno)
        if key in self._seen or any(
            s[0] == filename and s[2] == user.f_lineno for s in self._seen
        ):
            self._seen.add(key)
            return
        self._seen.add(key)
        short = os.path.basename(filename)
        self.found.append(
            NondeterministicCallError(
                f"{name} was called outside a step; its value changes on replay. "
                f"Move it into a step (ctx.run_typed) or use ctx.time()/ctx.random()/"
                f"ctx.uuid().",
                handler=attempt.handler,
                journal_index=len(attempt.journal),
                source=f"{short}:{user.f_lineno}",
            )
        )
