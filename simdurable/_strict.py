"""Strict mode: catch ambient reads made outside a step.

While a handler's own code runs (never while a step's closure runs), a
profile hook watches calls. Anything whose value comes from the world
rather than from the journal (a clock, an RNG, a uuid, an environment
variable, the file system, the process id, an object's address, a call to an
external system) is recorded
as a ``NondeterministicCallError`` with the handler's file and line: on
replay it may return something else. ``AMBIENT`` below is the one table of
such reads; the hook sees them however they were imported (``from time
import time`` included).

It also reads the source of each coroutine of the user's that waits while
a handler runs, once a process: a catch-all ``except`` around the await it
waits at, which does not raise again (``CatchAllError``), would take
restate-sdk's suspension for a failure.
"""

from __future__ import annotations

import ast
import asyncio.coroutines
import builtins
import datetime
import dis
import gc
import genericpath
import inspect
import os
import posixpath
import random
import secrets
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

from ._api.context import Context, _waiting
from ._api.external import FakeExternal
from .runtime._errors import HandlerError, NondeterministicCallError
from .runtime._invocation import Attempt, _outside_us
from .runtime._running import previous_profile, profile_back

# What to use instead, by family of ambient read.
_CLOCK = "use ctx.time()"
_RNG = "use ctx.random()/ctx.uuid()"
_WORLD = "read it in a step (ctx.run_typed), whose result is journaled"
_ADDRESS = "order by a value of the object instead (its name or key)"
_EFFECT = "call it in a step (ctx.run_typed): outside one it runs again on every replay"
_WAIT = "use await ctx.sleep(timedelta(...)), a durable timer"
# Why a read is reported, by what to do instead (a value, unless said here).
_WHY = {_WAIT: "it blocks the process's event loop (every invocation on it) and waits "
               "again in full after every crash and on every replay"}
_VALUE = "its value can change on replay (later, or in another process)"

# The table: (function, how it is reported, what to do instead, the fewest
# positional arguments that make it deterministic). A call with at least that
# many arguments is a pure function (``time.strftime(fmt, t)``); ``None``
# means it is never deterministic.
AMBIENT: list[tuple[Any, str, str, int | None]] = [
    (time.time, "time.time()", _CLOCK, None),
    (time.time_ns, "time.time_ns()", _CLOCK, None),
    (time.monotonic, "time.monotonic()", _CLOCK, None),
    (time.monotonic_ns, "time.monotonic_ns()", _CLOCK, None),
    (time.perf_counter, "time.perf_counter()", _CLOCK, None),
    (time.perf_counter_ns, "time.perf_counter_ns()", _CLOCK, None),
    (time.process_time, "time.process_time()", _CLOCK, None),
    (time.thread_time, "time.thread_time()", _CLOCK, None),
    (time.strftime, "time.strftime() without a time", _CLOCK, 2),
    (time.localtime, "time.localtime() without an argument", _CLOCK, 1),
    (time.gmtime, "time.gmtime() without an argument", _CLOCK, 1),
    (time.ctime, "time.ctime() without an argument", _CLOCK, 1),
    (time.asctime, "time.asctime() without an argument", _CLOCK, 1),
    (datetime.datetime.now, "datetime.now()", _CLOCK, None),
    (datetime.datetime.utcnow, "datetime.utcnow()", _CLOCK, None),
    (datetime.datetime.today, "datetime.today()", _CLOCK, None),
    (datetime.date.today, "date.today()", _CLOCK, None),
    (os.urandom, "os.urandom()", _RNG, None),
    (uuid.uuid1, "uuid.uuid1()", _RNG, None),
    (uuid.uuid4, "uuid.uuid4()", _RNG, None),
    (os.getenv, "os.getenv()", _WORLD, None),
    (os._Environ.__getitem__, "os.environ[...]", _WORLD, None),
    (os._Environ.__iter__, "iterating os.environ", _WORLD, None),
    (os.listdir, "os.listdir()", _WORLD, None),
    (os.scandir, "os.scandir()", _WORLD, None),
    (os.stat, "os.stat()", _WORLD, None),
    (os.lstat, "os.lstat()", _WORLD, None),
    (os.getcwd, "os.getcwd()", _WORLD, None),
    (genericpath.exists, "os.path.exists()", _WORLD, None),
    (genericpath.isfile, "os.path.isfile()", _WORLD, None),
    (genericpath.isdir, "os.path.isdir()", _WORLD, None),
    (genericpath.getmtime, "os.path.getmtime()", _WORLD, None),
    (genericpath.getatime, "os.path.getatime()", _WORLD, None),
    (genericpath.getctime, "os.path.getctime()", _WORLD, None),
    (genericpath.getsize, "os.path.getsize()", _WORLD, None),
    (posixpath.lexists, "os.path.lexists()", _WORLD, None),
    (posixpath.islink, "os.path.islink()", _WORLD, None),
    (os.getpid, "os.getpid()", _WORLD, None),
    (os.getppid, "os.getppid()", _WORLD, None),
    (builtins.id, "id()", _ADDRESS, None),
    (time.sleep, "time.sleep()", _WAIT, None),
    (FakeExternal.apply, "FakeExternal.apply()", _EFFECT, None),
    (FakeExternal.query, "FakeExternal.query()", _EFFECT, None),
]
for _name in ("token_bytes", "token_hex", "token_urlsafe", "randbelow", "choice", "randbits"):
    if hasattr(secrets, _name):
        AMBIENT.append((getattr(secrets, _name), f"secrets.{_name}()", _RNG, None))

# Calls only reported when made by user code itself: the standard library
# uses ``id()`` for its own bookkeeping (``copy.deepcopy``, ``reprlib``).
_DIRECT_ONLY = {"id()"}

_C_FUNCTIONS: dict[int, tuple[str, str, int | None]] = {}
_PY_CODES: dict[Any, tuple[str, str, int | None]] = {}
# Python functions that are bound methods of one shared instance (secrets'
# SystemRandom): the same code runs for every ``random.Random``, so the hook
# checks the instance, or ``ctx.random().choice`` would be taken for secrets'.
_BOUND_TO: dict[Any, Any] = {}
for _fn, _label, _instead, _pure in AMBIENT:
    _func = getattr(_fn, "__func__", _fn)
    _code = getattr(_func, "__code__", None)
    if _code is None:
        _C_FUNCTIONS[id(_fn)] = (_label, _instead, _pure)
    else:
        _PY_CODES[_code] = (_label, _instead, _pure)
        if getattr(_fn, "__self__", None) is not None:
            _BOUND_TO[_code] = _fn.__self__
_CLASS_METHODS: dict[tuple[type, str], tuple[str, str, int | None]] = {
    (owner, fn.__name__): (label, instead, pure)
    for fn, label, instead, pure in AMBIENT
    if isinstance(owner := getattr(fn, "__self__", None), type)
}
# The same, by the id of the code (each code kept alive by its function in
# ``AMBIENT``): the hook asks at every call, and a code object's own hash is
# computed anew each time, from its bytecode, names and constants.
_PY_CODE_IDS: dict[int, tuple[Any, tuple[str, str, int | None]]] = {
    id(code): (code, found) for code, found in _PY_CODES.items()}
# simdurable's entry points that the hook takes itself off at, at their call
# (``StrictGuard._hook``): in the same table, which the hook asks at every call
# anyway, with this mark. The protocol of such an entry point: ``guard.paused``
# set (by the hook, just now) means it was watched: it clears it at once, does
# its work unwatched, and puts the hook back on its way out
# (``guard.active = True; setprofile(guard.hook)``, in a ``finally``); not set,
# it was not watched, and leaves the hook as it is.
_PAUSE: Final = ("an entry point of simdurable's", "", None)
for _code in (Context.run_typed.__code__, _waiting.__code__):
    _PY_CODE_IDS[id(_code)] = (_code, _PAUSE)
_RANDOM_FILE = random.__file__
_setprofile: Final = sys.setprofile
_CALL_OPS = {dis.opmap[name] for name in ("CALL", "PRECALL") if name in dis.opmap}

_OUR_DIR = os.path.dirname(os.path.abspath(__file__))
_STDLIB_DIR = os.path.dirname(os.__file__)
# What the standard library reads that is not the handler's to journal: what
# it reads only to write out, never back to the handler (the time, process and
# thread a ``logging`` record notes, a rotating log file's size; the source
# line a warning shows, read through ``linecache`` with ``os.stat``), and the
# time-zone database ``zoneinfo`` reads, fixed where the service is deployed,
# as the modules the import system reads are.
_KEPT_OUT = (os.path.join(_STDLIB_DIR, "logging") + os.sep,
             os.path.join(_STDLIB_DIR, "warnings.py"),
             os.path.join(_STDLIB_DIR, "zoneinfo") + os.sep)
# ``traceback``'s functions that print (``format_exc()`` returns the text to
# the handler: its reads are judged).
_TRACEBACK = os.path.join(_STDLIB_DIR, "traceback.py")
_PRINTING = frozenset({"print_exc", "print_exception", "print_tb", "print_stack",
                       "print_last"})
# Third-party logging packages, by their top-level module: a record's time,
# process and thread go into the log, as ``logging``'s do.
_LOGGERS = frozenset({"loguru", "structlog"})


def _not_the_handlers(frame: FrameType | None) -> bool:
    """Whether the call ``frame`` made is one of ``_KEPT_OUT``'s or a logging
    package's (``_LOGGERS``), or made for ``traceback``'s printing (the frames
    looked at are the libraries' and third parties', up to the first of the
    user's own code: a log sink of the user's is judged)."""
    while frame is not None and not user_code(filename := frame.f_code.co_filename):
        if filename.startswith(_KEPT_OUT) or (
                filename == _TRACEBACK and frame.f_code.co_name in _PRINTING):
            return True
        module = frame.f_globals.get("__name__")
        if type(module) is str and module.partition(".")[0] in _LOGGERS:
            return True
        frame = frame.f_back
    return False


_IMPORT_SYSTEM = "<frozen importlib._bootstrap"  # and ``_bootstrap_external``

# Library code whose reads are its own settings, not the handler's: asyncio
# reads ``PYTHONASYNCIODEBUG`` when a handler makes it an event loop
# (``asyncio.gather`` over context futures), a ``handler-error`` of its own;
# blaming the handler's line for an environment variable would mislead.
# (a private function of asyncio's: a Python without it loses only this)
_OWN_SETTINGS = {getattr(f, "__code__", None)
                 for f in [getattr(asyncio.coroutines, "_is_debug_mode", None)]} - {None}


def _library(filename: str) -> bool:
    return filename.startswith((_OUR_DIR, _STDLIB_DIR, "<frozen"))


def user_code(filename: str) -> bool:
    """A file of the user's own code: not simdurable's, the standard library's,
    Hypothesis's, a third-party package's, nor made at run time."""
    return (_outside_us(filename) and not _library(filename)
            and not any(p in filename for p in _THIRD_PARTY))


def _positional_args(frame: FrameType) -> int | None:
    """How many positional arguments the call being made in ``frame`` passes, if known."""
    code = frame.f_code.co_code
    i = frame.f_lasti
    if 0 <= i < len(code) - 1 and code[i] in _CALL_OPS:
        return code[i + 1]
    return None


def _user_frame(frame: FrameType | None) -> FrameType | None:
    # A garbage-collector callback (Hypothesis installs one) runs on top of
    # whatever frame triggered the collection: its calls are not the handler's.
    # The import system's own reads (``os.stat`` of the path entries, for an
    # ``import`` in the handler the first time it runs) are not the handler's
    # either: the module is imported once per process, and what a replay runs
    # does not depend on them; the module's own top-level code is still judged.
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    found = None
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code in _OWN_SETTINGS:
            return None
        filename = frame.f_code.co_filename
        if found is None:
            if filename.startswith(_IMPORT_SYSTEM):
                return None
            if not _library(filename):
                found = frame
        frame = frame.f_back
    return found


def _through(frame: FrameType | None, user: FrameType) -> str:
    """The library function the handler called that made the call, when it did
    not make it itself (``traceback.format_exc()`` reads the source files with
    ``os.stat``): the name it knows, not only the one the library used."""
    entry = None
    while frame is not None and frame is not user:
        entry, frame = frame, frame.f_back
    if entry is None or frame is None:
        return ""
    module = entry.f_globals.get("__name__")
    name = entry.f_code.co_qualname
    if not isinstance(module, str) or name.startswith("<"):
        return ""
    return f", by {module}.{name}()"


def _importing_for(frame: FrameType) -> bool:
    """Whether ``frame``, a third party's, runs for an import: for the top
    level of one of the user's modules being imported (a handler's first
    ``import``: pydantic making a model class calls ``id()``), or called by the
    import system itself (an import hook on ``sys.meta_path``: pytest's
    assertion rewriter asks ``os.path.exists`` of the module's file). A module
    is imported once per process, and what a replay runs does not depend on
    it, as with the import system's own reads; what the module's own top-level
    code calls is still judged."""
    if user_code(frame.f_code.co_filename):
        return False
    back = frame.f_back
    while back is not None:
        code = back.f_code
        if user_code(code.co_filename):
            return code.co_name == "<module>"
        if code.co_filename.startswith(_IMPORT_SYSTEM):
            return True
        back = back.f_back
    return False


def _called_from(frame: FrameType) -> str:
    """Where the handler called the helper that made the call, when it was a helper:
    a helper's line alone does not say which of its callers runs it outside a step."""
    top = frame
    back = frame.f_back
    while back is not None and not _library(back.f_code.co_filename):
        top, back = back, back.f_back
    if top is frame:
        return ""
    return (f" (in {frame.f_code.co_name}(), called by {top.f_code.co_name}() at "
            f"{os.path.basename(top.f_code.co_filename)}:{top.f_lineno})")


class CatchAllError(HandlerError):
    """An ``except`` that catches everything around a durable await, and does
    not raise it again: it also catches what ends an attempt (restate-sdk's
    ``SuspendedException`` when the invocation suspends, ``CancelledError``
    when the attempt is torn down), and the handler goes on as if the await
    had returned."""

    kind = "context-misuse"


_CO_COROUTINE = inspect.CO_COROUTINE
# Where a coroutine's frame is (``f_lasti``) as it yields, at its ``return``
# event: the ``YIELD_VALUE``, or from 3.13 on the ``RESUME`` after it (on the
# same line; a ``RESUME`` is otherwise a function's first, in no ``try``).
_YIELD_VALUE = dis.opmap["YIELD_VALUE" if sys.version_info < (3, 13) else "RESUME"]
_THIRD_PARTY = ("site-packages", "dist-packages")
# By coroutine code object: its catch-all ``except`` clauses that do not raise
# again, as (first line, last line of the ``try`` body, the clause's line, the
# clause). Sources are parsed once a process, when the handler first waits.
_CATCH_ALLS: dict[Any, tuple[tuple[int, int, int, str], ...]] = {}
# The same by the id of the code (held, so that its id stays its own), for the
# hook, which asks at every wait without hashing the code. Bounded, as code
# made at run time would fill it.
_SPANS: dict[int, tuple[Any, tuple[tuple[int, int, int, str], ...]]] = {}
_SPANS_MAX = 4096


def _catches_everything(handler: ast.ExceptHandler) -> str | None:
    """``except:`` or ``except BaseException`` (alone or in a tuple), as written."""
    if handler.type is None:
        return "except:"
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for t in types:
        name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else ""
        if name == "BaseException":
            return f"except {ast.unparse(handler.type)}"
    return None


def _reraises(handler: ast.ExceptHandler) -> bool:
    """Whether the clause raises what it caught again (``raise``, ``raise err``)."""
    for node in _own_nodes(handler.body):
        if isinstance(node, ast.Raise) and (
                node.exc is None or (isinstance(node.exc, ast.Name) and handler.name is not None
                                     and node.exc.id == handler.name)):
            return True
    return False


def _own_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of ``body``, not those of functions and classes defined in it."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                      ast.ClassDef)):
                todo.append(child)
    return out


def catch_alls(code: Any) -> tuple[tuple[int, int, int, str], ...]:
    """The catch-all ``except`` clauses of a coroutine's own code that do not
    raise again, with the lines of their ``try`` bodies; none if its source
    cannot be read."""
    found = _CATCH_ALLS.get(code)
    if found is not None:
        return found
    found = ()
    try:
        lines, start = inspect.getsourcelines(code)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        tree = None
    if tree is not None and tree.body and isinstance(tree.body[0], ast.AsyncFunctionDef):
        offset = start - 1
        clauses = []
        for node in _own_nodes(tree.body[0].body):
            if not isinstance(node, ast.Try):
                continue
            first = node.body[0].lineno + offset
            last = (node.body[-1].end_lineno or node.body[-1].lineno) + offset
            for handler in node.handlers:
                clause = _catches_everything(handler)
                if clause is not None and not _reraises(handler):
                    clauses.append((first, last, handler.lineno + offset, clause))
        found = tuple(sorted(clauses))
    _CATCH_ALLS[code] = found
    return found


def code_spans(code: Any) -> tuple[tuple[int, int, int, str], ...]:
    """The catch-all clauses of a coroutine's code (``catch_alls``, for the
    user's code only), worked out once a code object and kept in ``_SPANS``
    by its id, which both guards read first."""
    spans = _CATCH_ALLS.get(code)
    if spans is None:
        filename = code.co_filename
        user = not _library(filename) and not any(p in filename for p in _THIRD_PARTY)
        spans = catch_alls(code) if user else _CATCH_ALLS.setdefault(code, ())
    if len(_SPANS) >= _SPANS_MAX:
        _SPANS.clear()
    _SPANS[id(code)] = (code, spans)
    return spans


class StrictGuard:
    """The engine's segment guard: a profile hook around handler code."""

    def __init__(self) -> None:
        self.found: list[HandlerError] = []
        self._seen: set[tuple[str, str, int]] = set()
        # the attempt whose code is watched (to ``enter`` again with after a
        # stretch of simdurable's own code, ``exit`` between)
        self.attempt: Attempt | None = None
        # The profile function set before ``enter`` (put back by ``exit``), and
        # the hook, bound once. A stretch of simdurable's own code called by the
        # handler (a step's bookkeeping) pauses the hook in line, without
        # ``exit`` and ``enter``: ``active = False; sys.setprofile(previous)``,
        # then ``active = True; sys.setprofile(hook)``, the attempt unchanged.
        # Each call the hook sees while it is set costs a call of ``_hook``
        # (a call of ``exit`` is two: its own and ``setprofile``'s).
        self.previous: Any = None
        # A profiler written in C (cProfile's) that was on before ``enter``:
        # ``sys.getprofile()`` gives its object, which ``sys.setprofile`` cannot
        # take back, so ``previous`` is None and ``exit`` enables it again.
        self.outer: Any = None
        self.hook: Any = self._hook
        self.active = False  # watching handler code right now
        # The hook took itself off at the call of an entry point of
        # simdurable's (``_PAUSE``), which has not taken this note yet.
        self.paused = False
        # The steps started and not run yet, and what they read that the
        # handler may change first (``_api/late.py``'s ``Watching``): one for
        # every invocation of the simulation, made at its first step.
        self.late: Any = None
        # What a fresh step awaited at once binds of its engine's ``Steps``
        # (``_api.context._strict_fresh``): that ``Steps``, then ``_fast.step_parts``.
        self.step_parts: tuple[Any, ...] | None = None

    def enter(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.previous = previous_profile(self, sys.getprofile())
        self.active = True
        sys.setprofile(self.hook)

    def exit(self) -> None:
        sys.setprofile(self.previous)
        self.active = self.paused = False
        self.attempt = None
        if self.outer is not None:
            profile_back(self.outer)
            self.outer = None

    def unwatched(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with the hook off, back on after it: for
        simdurable's own bookkeeping of a handler, where no code of the user's
        runs (a command issued, a wait's state, a hosted context's sleeps)."""
        if not self.active:  # (from a step's function: nothing is watched)
            return fn(*args, **kwargs)
        attempt = self.attempt
        self.exit()
        try:
            return fn(*args, **kwargs)
        finally:
            self.enter(attempt)  # type: ignore[arg-type]

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        # (by how often each comes: returns, calls, then C calls; a C call's
        # return, the rest, asks nothing)
        if event == "return":
            code = frame.f_code
            if code.co_flags & _CO_COROUTINE and code.co_code[frame.f_lasti] == _YIELD_VALUE:
                self._waits_at(frame, code)
        elif event == "call":
            code = frame.f_code
            known = _PY_CODE_IDS.get(id(code))
            if known is not None:
                if known[1] is _PAUSE:
                    # An entry point of simdurable's, which puts the hook back
                    # on its way out: off from here (a call made in the hook is
                    # no event), none of its calls seen.
                    _setprofile(self.previous)
                    self.active = False
                    self.paused = True
                    return
                self.called(frame, code, known[1])
            elif code.co_filename == _RANDOM_FILE and frame.f_locals.get("self") is (
                random._inst
            ):
                self._record(f"random.{code.co_name}()", _RNG, frame.f_back)
        elif event == "c_call":
            found = _C_FUNCTIONS.get(id(arg))
            if found is None:
                owner = getattr(arg, "__self__", None)
                if owner is random._inst:
                    found = (f"random.{arg.__name__}()", _RNG, None)
                elif isinstance(owner, type):
                    found = _CLASS_METHODS.get((owner, arg.__name__))
            if found is not None:
                self._judge(found, frame, frame)

    def called(self, frame: FrameType, code: Any, found: tuple[str, str, int | None]) -> None:
        """A Python function of ``AMBIENT`` started, in ``frame``: judged where it
        is its own (a method bound to one instance, ``_BOUND_TO``: that instance's)."""
        bound = _BOUND_TO.get(code)
        if bound is None or frame.f_locals.get("self") is bound:
            self._judge(found, frame.f_back, None)

    def _waits_at(self, frame: FrameType, code: Any) -> None:
        """A coroutine of the handler's waits at its current line: record the
        catch-all ``except`` clauses whose ``try`` holds that line (the handler's
        own, or a helper's it awaits)."""
        known = _SPANS.get(id(code))
        spans = known[1] if known is not None and known[0] is code else code_spans(code)
        attempt = self.attempt
        if not spans or attempt is None:
            return
        line = frame.f_lineno
        for first, last, at, clause in spans:
            key = (code.co_filename, "except", at)
            if not first <= line <= last or key in self._seen:
                continue
            self._seen.add(key)
            self.found.append(CatchAllError(
                f"`{clause}` around the await at line {line} catches what ends an attempt "
                f"too, and does not raise it again: on Restate, restate-sdk's "
                f"SuspendedException when the invocation suspends there (a BaseException, as "
                f"asyncio's CancelledError when an attempt is torn down), and "
                f"{code.co_name}() goes on as if the await had returned. Catch TerminalError "
                f"(or Exception) instead, or end the clause with `raise`.",
                handler=attempt.handler,
                source=f"{os.path.basename(code.co_filename)}:{at}",
            ))

    def _judge(self, found: tuple[str, str, int | None], caller: FrameType | None,
               c_caller: FrameType | None) -> None:
        label, instead, pure = found
        if caller is None:
            return
        if label in _DIRECT_ONLY and _library(caller.f_code.co_filename):
            return
        if _not_the_handlers(caller):
            return
        if pure is not None:
            # Only a C call's arguments can be counted (its caller is at the CALL).
            n = _positional_args(c_caller) if c_caller is not None else None
            if n is None or n >= pure:
                return
        self._record(label, instead, caller)

    def _record(self, name: str, instead: str, frame: FrameType | None) -> None:
        attempt = self.attempt
        user = _user_frame(frame)
        if attempt is None or user is None or _importing_for(user):
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
                f"{name} was called outside a step{_through(frame, user)}{_called_from(user)}; "
                f"{_WHY.get(instead, _VALUE)}: {instead}.",
                handler=attempt.handler,
                journal_index=len(attempt.journal),
                source=f"{short}:{user.f_lineno}",
            )
        )


# The guard strict mode makes: on 3.12 and later, the one on ``sys.monitoring``
# (``_strict_monitoring``), where each ``sys.setprofile`` on or off instruments
# code anew; this profile hook on 3.11, or when no tool id is free.
new_guard: Callable[[], StrictGuard] = StrictGuard
if sys.version_info >= (3, 12):
    from . import _strict_monitoring

    new_guard = _strict_monitoring.make_guard
