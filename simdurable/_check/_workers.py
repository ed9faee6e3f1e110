"""Warm worker processes: Python processes started once and reused.

Some checks need another Python process: iterating a set of strings follows
the process's hash seed, so only a process with another ``PYTHONHASHSEED``
shows that a replay after a real restart takes another path. Starting one
costs an interpreter and simdurable's imports (a second or more on a busy
machine); a worker is started once per hash seed, on first use, and serves
every later check of the same process. A request names a task of ``TASKS``
and gives its arguments as JSON; the answer comes back as JSON. The pool is
general (any task, any number of workers), so that checks can be spread
over it too. On Linux a check's parts go to workers forked from the checking
process instead (``ForkedWorker``, ``lanes``), which start within milliseconds.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Protocol

# The worker's main loop: one JSON request per line in, one answer per line out.
# Handler output goes to stderr, so that it cannot garble the answers.
# The modules named after the code are imported at once (``WorkerPool.start``).
# The first argument is the pid of the process that started it, or 0 (``die_with``).
_LOOP = r"""
import json, sys
answers = sys.stdout
sys.stdout = sys.stderr
from simdurable._check._workers import die_with, import_hypothesis, serve
if int(sys.argv[1]):
    die_with(int(sys.argv[1]))
if "hypothesis" in sys.argv[2:]:
    import_hypothesis()
for name in sys.argv[2:]:
    __import__(name)
serve(sys.stdin, answers)
"""

TASKS: dict[str, Callable[[Any], Any]] = {}


def task(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Register ``fn`` as a task workers can run (by its name)."""
    TASKS[fn.__name__] = fn
    return fn


def import_hypothesis() -> None:
    """Import Hypothesis without trio's plugin, unless this process uses trio.

    Hypothesis runs every installed plugin as it is imported; trio's (there
    whenever trio is installed, as it is for the dev executor) imports
    ``trio.testing`` and, through it, pytest: about 0.3 s of a command's
    start and of every worker's, to make trio's scheduler deterministic in a
    process that runs no trio. The other plugins run as Hypothesis would run
    them; with ``HYPOTHESIS_NO_PLUGINS`` set, none does.
    """
    if "hypothesis" in sys.modules or "trio" in sys.modules \
            or os.environ.get("HYPOTHESIS_NO_PLUGINS"):
        import hypothesis  # noqa: F401 - as it comes
        return
    os.environ["HYPOTHESIS_NO_PLUGINS"] = "1"
    try:
        import hypothesis  # noqa: F401 - its plugins are run below
    finally:
        del os.environ["HYPOTHESIS_NO_PLUGINS"]
    from importlib.metadata import entry_points

    for entry in entry_points(group="hypothesis"):
        if entry.value.partition(".")[0] == "trio":
            continue
        hook = entry.load()
        if callable(hook):
            hook()


def serve(requests: IO[str], answers: IO[str]) -> None:
    """The worker side: run each request's task, answer with its result or error."""
    for line in requests:
        req = json.loads(line)
        try:
            if req["task"] not in TASKS:  # tasks live in the modules that define them
                __import__(req["module"])
            out: dict[str, Any] = {"ok": TASKS[req["task"]](req["args"])}
        except BaseException as err:  # noqa: BLE001 - the answer carries any failure
            out = {"error": f"{type(err).__name__}: {err}"}
        answers.write(json.dumps(out) + "\n")
        answers.flush()


# Not the user's environment: what a worker sets for itself, and pytest's name of
# the test running now (a new one for every test, which would renew it each time).
OWN_VARIABLES = ("PYTHONHASHSEED", "PYTHONPATH", "PYTEST_CURRENT_TEST")


def user_environ() -> dict[str, str]:
    """This process's environment now, as a new process of the service would have
    it (a worker's is fixed when it starts)."""
    env = dict(os.environ)
    for name in OWN_VARIABLES:
        env.pop(name, None)
    return env


class WorkerError(Exception):
    """A worker could not start, died, or took too long; the message says which."""


class _Process(Protocol):
    """What a worker needs of its process (a ``subprocess.Popen`` or a fork)."""

    @property
    def stdin(self) -> IO[str] | None: ...

    @property
    def stdout(self) -> IO[str] | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class Worker:
    """One Python process with a fixed hash seed, serving requests in order."""

    proc: _Process
    _sent = False  # whether it was ever sent a request
    _buf = b""  # what was read of its answers and not yet taken
    _ended: bool | None = None  # True once its answers' pipe ended

    def __init__(self, hash_seed: int, preload: Sequence[str] = ()) -> None:
        self.hash_seed = hash_seed
        self.path = _import_path()
        self.environ = user_environ()
        env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
        env["PYTHONPATH"] = os.pathsep.join(self.path)
        self._log = tempfile.TemporaryFile(mode="w+")
        # It dies with this process, unless another thread than the main one starts
        # it: the system ties it to the starting thread, which may end before it.
        parent = os.getpid() if threading.current_thread() is threading.main_thread() else 0
        self.proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(parent), *preload],
                                     env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log)

    def send(self, task_name: str, module: str, args: Any) -> None:
        assert self.proc.stdin is not None
        self._sent = True
        try:
            self.proc.stdin.write(json.dumps({"task": task_name, "module": module,
                                              "args": args}) + "\n")
            self.proc.stdin.flush()
        except OSError as err:
            raise WorkerError(f"the worker process stopped: {self._tail() or err}") from err

    def receive(self, timeout: float) -> Any:
        """The next answer, waiting up to ``timeout`` seconds for it to begin."""
        line = self._line(timeout)
        if line is None:
            self.close()
            why = "did not answer in time" if self._ended is None else "stopped"
            raise WorkerError(f"the worker process {why}: {self._tail() or '(no output)'}")
        answer = json.loads(line)
        if "error" in answer:
            raise WorkerError(answer["error"])
        return answer["ok"]

    def has_answer(self) -> bool:
        """Whether a whole answer was read already (a worker may be sent several
        requests at once: ``select`` does not see what this process has buffered)."""
        return b"\n" in self._buf

    def _line(self, timeout: float) -> bytes | None:
        """One answer line, read from the pipe itself (None: none in time, or it ended)."""
        while b"\n" not in self._buf:
            if self._ended is not None:
                return None
            if not self._buf:
                ready, _, _ = select.select([self.fileno()], [], [], timeout)
                if not ready:
                    return None
            # Once an answer begins, the rest of it follows: read until its end.
            chunk = os.read(self.fileno(), 1 << 16)
            if not chunk:
                self._ended = True
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def fileno(self) -> int:
        """The answers' file descriptor, to wait on several workers at once."""
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def alive(self) -> bool:
        """Running, importing from where this process imports, and with the
        environment this process has now: a worker started for another project
        (another ``sys.path``) would not find this one's modules, or would run its
        own stale copies of them; one started before a variable changed would run
        the user's code with the old value (a false alarm where another worker,
        started since, has the new one)."""
        return (self.proc.poll() is None and self.path == _import_path()
                and self.environ == user_environ())

    def close(self) -> None:
        if self.proc.poll() is None:
            if not self._sent:
                # Never used (started ahead for a check that ended first, or failed):
                # it holds nothing, and may still be importing; no need to wait for that.
                self.proc.kill()
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _tail(self) -> str:
        self._log.seek(0)
        lines = self._log.read().strip().splitlines()
        return lines[-1] if lines else ""


class _Fork:
    """A child forked from this process: its pipes, and ``Popen``'s ways to end it."""

    def __init__(self, pid: int, stdin: IO[str], stdout: IO[str]) -> None:
        self.pid = pid
        self.stdin: IO[str] | None = stdin
        self.stdout: IO[str] | None = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        # A worker that was told to stop ends within milliseconds: wait for its
        # end itself where the system says when (a pidfd), else poll for it.
        if self.poll() is None and hasattr(os, "pidfd_open"):
            try:
                fd = os.pidfd_open(self.pid)
            except OSError:
                pass
            else:
                try:
                    select.select([fd], [], [], timeout)
                finally:
                    os.close(fd)
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"fork {self.pid}", timeout or 0.0)
            time.sleep(0.001)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class ForkedWorker(Worker):
    """A worker forked from this process: ready at once, with everything it imported.

    A fresh interpreter spends most of a second on Python and the imports
    (simdurable, Hypothesis, the target) before its first part; a fork has
    them already, so ``-j N`` gains from the first part on, from the shell
    too. It has this process's hash seed, which the parts do not depend on
    (a worker's reference run is compared with this process's anyway); the
    hash-seed runs keep their own fresh processes. A forked worker serves
    one phase of one check, so it never holds state older than the check.
    """

    _sent = True  # ready at once, imports nothing: told to stop, it ends at once

    def __init__(self) -> None:
        self.hash_seed = -1
        self.path = _import_path()
        self._log = tempfile.TemporaryFile(mode="w+")
        # Ends of other workers' pipes that a child must not keep open: a worker
        # sees the end of its requests only when no process holds their writing end.
        others = _pipe_fds()
        for f in (sys.stdout, sys.stderr):
            try:
                if f is not None:
                    f.flush()  # or the child would write what is buffered a second time
            except (OSError, ValueError):
                pass
        log = self._log.fileno()

        def child(requests: IO[str], answers: IO[str]) -> None:  # pragma: no cover - the child
            null = os.open(os.devnull, os.O_RDWR)
            for fd in others:
                os.dup2(null, fd)
            os.dup2(log, 1)  # handler output: to the log, as a worker's
            os.dup2(log, 2)
            sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            serve(requests, answers)

        self.proc = _Fork(*fork_piped(child))
        _FORKED.add(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            super().close()
        finally:
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None and not f.closed:
                    try:
                        f.close()
                    except OSError:
                        pass
            _FORKED.discard(self)


def fork_piped(child: Callable[[IO[str], IO[str]], None]) -> tuple[int, IO[str], IO[str]]:
    """A child process that runs ``child(requests, answers)`` on its ends of two
    new pipes and exits; the child's pid and this process's ends (requests to
    write, answers to read)."""
    requests_in, requests_out = os.pipe()
    answers_in, answers_out = os.pipe()
    parent = os.getpid()
    _prctl()  # (looked up here, not in the child)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; it never returns
        try:
            die_with(parent)
            os.close(requests_out)
            os.close(answers_in)
            child(os.fdopen(requests_in, "r"), os.fdopen(answers_out, "w"))
        finally:
            os._exit(0)
    os.close(requests_in)
    os.close(answers_out)
    return pid, os.fdopen(requests_out, "w"), os.fdopen(answers_in, "r")


_PR_SET_PDEATHSIG = 1
_PRCTL: list[Callable[..., int] | None] = []


def _prctl() -> Callable[..., int] | None:
    """The C library's ``prctl`` (Linux), looked up once; None elsewhere."""
    if not _PRCTL:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                fn = None
        _PRCTL.append(fn)
    return _PRCTL[0]


def die_with(parent: int) -> None:
    """In a child of ``parent``: be killed when it ends (Linux), and end now if it
    has ended already.

    A child hung in a user's code (a loop in a C call, a wait that never ends)
    would otherwise outlive the worker that made it, when a timeout kills the
    worker or the user interrupts the check, and stay behind as a stray
    process; each level of children asks this of its own parent, so the
    whole line goes. Elsewhere a child sees its requests' pipe end instead,
    between requests.
    """
    fn = _prctl()
    if fn is not None:
        fn(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # (ended before it was asked)
            os._exit(1)


# The forked workers open now, whose pipes a later fork must let go of.
_FORKED: set[ForkedWorker] = set()


def _pipe_fds() -> list[int]:
    """This process's ends of every worker's pipes (forked or not)."""
    workers: list[Worker] = list(_FORKED)
    if _POOL is not None:
        workers += list(_POOL._workers.values())
    fds = []
    for w in workers:
        for f in (w.proc.stdin, w.proc.stdout):
            if f is not None and not f.closed:
                fds.append(f.fileno())
    return fds


def can_fork() -> bool:
    """Whether workers can be forked from this process: Linux, and no other thread
    (simdurable's watchdog is stopped for it when idle).

    A thread may hold a lock (the import lock, a logging handler's) that a
    forked child would wait for forever; elsewhere than Linux, system
    libraries are not safe to use after a fork without exec.
    """
    if not sys.platform.startswith("linux"):
        return False
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    if others and (any(t.name != "simdurable-watchdog" for t in others)
                   or not _stop_watchdog()):
        return False
    # Threads started outside Python (a C library's) count too. A thread just
    # joined may still be leaving the system's count for a few microseconds.
    for _ in range(1 + 20 * bool(others)):
        try:
            with open("/proc/self/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[17]) == 1:
                    return True
        except (OSError, ValueError, IndexError):
            return False
        time.sleep(0.001)
    return False


def _stop_watchdog() -> bool:
    """Stop simdurable's own watchdog thread while no budget runs (it starts again
    with the next run, here and in each child)."""
    from .._watchdog import stop_idle

    return stop_idle()


def ready(workers: Sequence[Worker], timeout: float | None = None) -> list[Worker]:
    """The workers with an answer to read, waiting up to ``timeout`` for one (None: no limit)."""
    have = [w for w in workers if w.has_answer()]
    if have or not workers:
        return have
    got, _, _ = select.select(list(workers), [], [], timeout)
    return list(got)


def close_all(workers: Sequence[Worker]) -> None:
    """Tell every worker to stop, then wait for each: they end at the same time."""
    for w in workers:
        if w.proc.stdin is not None and not w.proc.stdin.closed:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
    for w in workers:
        w.close()


@contextmanager
def lanes(jobs: int) -> Iterator[list[Worker]]:
    """``jobs`` workers for one check: forked from this process when it can be (see
    ``ForkedWorker``), else the warm workers of hash seeds 1 to ``jobs``."""
    if not can_fork():
        with pool().reserve(list(range(1, jobs + 1))) as reserved:
            yield reserved
        return
    forked: list[Worker] = []
    try:
        for _ in range(jobs):
            forked.append(ForkedWorker())
        yield forked
    finally:
        close_all(forked)


def _import_path() -> tuple[str, ...]:
    return tuple(p for p in sys.path if p)


class WorkerPool:
    """Workers by hash seed, started on first use and kept until the process exits."""

    def __init__(self) -> None:
        self._workers: dict[int, Worker] = {}
        self._lock = threading.Lock()

    def start(self, hash_seeds: Sequence[int], preload: Sequence[str] = ()) -> None:
        """Start the workers of these hash seeds that are not running, and return at once.

        A cold worker spends a second or so on its interpreter and imports
        (``preload`` too); started as a check begins, that overlaps the
        check's own work instead of delaying its first part or its
        hash-seed runs. Workers in use by another thread are left alone.
        """
        if not self._lock.acquire(blocking=False):
            return
        try:
            for hs in hash_seeds:
                if hs not in self._workers or not self._workers[hs].alive():
                    self._replace(hs, preload)
        finally:
            self._lock.release()

    @contextmanager
    def reserve(self, hash_seeds: Sequence[int]) -> Iterator[list[Worker]]:
        """The workers of these hash seeds, started if need be, for the caller alone.

        If the caller fails (or is interrupted) while holding them, every
        worker is closed: no answer may be left behind for the next request.
        """
        with self._lock:
            for hs in hash_seeds:
                if hs not in self._workers or not self._workers[hs].alive():
                    self._replace(hs)
            try:
                yield [self._workers[hs] for hs in hash_seeds]
            except BaseException:
                self._close_all()
                raise

    def run(self, hash_seeds: Sequence[int], task_name: str, module: str, args: Any,
            timeout: float = 120.0) -> list[Any]:
        """Run one task in the worker of each hash seed, all at once; their results in order.

        Every task resets what it uses (fake externals, ``setup``), so workers
        that served other requests before (parts of a ``check(jobs=N)``) answer
        as fresh ones would.
        """
        with self.reserve(hash_seeds) as workers:
            for w in workers:
                w.send(task_name, module, args)
            return [w.receive(timeout) for w in workers]

    def _replace(self, hash_seed: int, preload: Sequence[str] = ()) -> None:
        old = self._workers.get(hash_seed)
        if old is not None:
            old.close()
        self._workers[hash_seed] = Worker(hash_seed, preload)

    def _close_all(self) -> None:
        for w in self._workers.values():
            w.close()
        self._workers.clear()

    def close(self) -> None:
        with self._lock:
            self._close_all()


_POOL: WorkerPool | None = None


def pool() -> WorkerPool:
    """The process's worker pool (closed when the process exits)."""
    global _POOL
    if _POOL is None:
        _POOL = WorkerPool()
        atexit.register(_POOL.close)
    return _POOL
