"""Installing and running the peers: the Restate server, restate-sdk, DBOS.

Everything goes to ``benchmarks/.cache/`` (ignored by git): the npm package
``@restatedev/restate-server`` (which ships the server binary) and a virtual
environment with ``restate-sdk``, ``hypercorn`` and ``dbos``. Nothing is
installed anywhere else. Servers bind 127.0.0.1 only; every process started
here is stopped here (terminate, then kill after a bounded wait).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._util import CACHE, log

RESTATE_SERVER_VERSION = "1.7.12"
# restate-sdk with its serde extra: programs under test use pydantic and msgspec models.
PEER_PACKAGES = ("restate-sdk[serde]==1.3.0", "hypercorn>=0.17", "dbos==3.4.0")
NPM_DIR = CACHE / "npm"
VENV_DIR = CACHE / "peers-venv"
PEERS_DIR = Path(__file__).resolve().parent / "peers"


class PeerUnavailable(Exception):
    """A peer cannot be installed or started here; the reason is the message."""


def _run(cmd: Sequence[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                              check=False, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PeerUnavailable(f"{cmd[0]}: {err}") from None


def restate_server_binary() -> Path:
    """The restate-server binary, installed from npm on first use."""
    found = sorted(NPM_DIR.glob("node_modules/@restatedev/restate-server-*/bin/restate-server"))
    if found:
        return found[0]
    npm = shutil.which("npm")
    if npm is None:
        raise PeerUnavailable("npm is not installed: cannot install @restatedev/restate-server")
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    log(f"installing @restatedev/restate-server@{RESTATE_SERVER_VERSION} into {NPM_DIR}")
    done = _run([npm, "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund",
                 "--ignore-scripts", f"@restatedev/restate-server@{RESTATE_SERVER_VERSION}"],
                timeout=600)
    found = sorted(NPM_DIR.glob("node_modules/@restatedev/restate-server-*/bin/restate-server"))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PeerUnavailable("npm install @restatedev/restate-server failed: " + " / ".join(tail))
    return found[0]


def peers_python() -> Path:
    """The interpreter of the peers' virtual environment, created on first use."""
    python = VENV_DIR / "bin" / "python"
    if python.exists():
        probe = _run([str(python), "-c", "import restate, hypercorn, dbos, pydantic, msgspec"], timeout=120)
        if probe.returncode == 0:
            return python
    log(f"installing {', '.join(PEER_PACKAGES)} into {VENV_DIR}")
    if not python.exists():
        try:
            venv.create(VENV_DIR, with_pip=True)
        except Exception as err:  # noqa: BLE001 - any failure means: no peer
            raise PeerUnavailable(f"cannot create a virtual environment: {err}") from None
    done = _run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], timeout=900)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PeerUnavailable("pip install of the peers failed: " + " / ".join(tail))
    return python


def peer_version(python: Path, dist: str) -> str:
    done = _run([str(python), "-c",
                 f"import importlib.metadata as m; print(m.version({dist!r}))"], timeout=60)
    return done.stdout.strip() or "?"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise PeerUnavailable(f"process {proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise PeerUnavailable(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


class Processes:
    """Processes started by a benchmark; ``stop_all`` ends every one of them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(log_path, "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, cwd=cwd)
        out.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


@contextlib.contextmanager
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.stop_all()


class Client:
    """A keep-alive HTTP/1.1 client for one thread (standard library only)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
                continue
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw.decode("utf-8", "replace")
        raise AssertionError("unreachable")

    def post(self, path: str, body: Any) -> Any:
        status, value = self.request("POST", path, body)
        if status >= 300:
            raise RuntimeError(f"POST {path} -> {status}: {value}")
        return value

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def python_env() -> dict[str, str]:
    """Environment for child interpreters: unbuffered, no user site."""
    return {"PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1"}


def this_python() -> str:
    return sys.executable
