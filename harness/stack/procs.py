"""Processes of the local stack: started detached, recorded in the state folder, always stoppable.

Every process runs in a session of its own (so a stop reaches its children too) with its
output in ``<state>/logs/<name>.log``. Their process ids are written to
``<state>/pids.json`` as they start, so ``stop`` works from another invocation
(``make down``) as well as from the one that started them (a test's ``finally``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HARNESS_ROOT = str(Path(__file__).resolve().parents[2])  # the checkout that holds harness/


_HANDED_OUT: set[int] = set()  # by this process: never the same port twice


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port on 127.0.0.1 for a server to listen on, below the ephemeral range: a port
    the kernel handed out (bind to port 0) can be taken by any outgoing connection before
    the server binds it (seen: Argo CD's webhook listener, while the real node was busy)."""
    top = max(_ephemeral_start(), 10001)
    for _ in range(200):
        port = random.randrange(10000, top)  # noqa: S311 - not a secret
        if port in _HANDED_OUT:
            continue  # handed out already, and maybe not bound yet by its server
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcessDied(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the process that started it dies (Linux).

    KILL, not TERM: the owner is gone (a test run killed with -9), so nothing waits for a
    graceful stop, and some ignore TERM in that state (an API server whose etcd died first
    waits for it for ever; unshare --fork ignores TERM by design)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class Supervisor:
    """``tied``: the processes die with this one (tests, benchmarks); ``make up`` leaves them running."""

    def __init__(self, state: Path, tied: bool = False):
        self.state = state
        self.tied = tied
        self.logs = state / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def pidfile(self) -> Path:
        return self.state / "pids.json"

    def _record(self) -> None:
        pids = self.recorded(self.state)
        pids.update({name: p.pid for name, p in self.processes.items()})
        tmp = self.pidfile.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids, indent=1))
        tmp.replace(self.pidfile)

    @staticmethod
    def recorded(state: Path) -> dict[str, int]:
        try:
            return json.loads((state / "pids.json").read_text())
        except (OSError, ValueError):
            return {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        try:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd or self.state,
                # The harness is a folder of the checkout, not an installed package: its
                # modules (python -m harness.stack.…) are found from here.
                env={**os.environ, "PYTHONPATH": HARNESS_ROOT, **(env or {})},
                start_new_session=True,
                preexec_fn=_die_with_parent if self.tied else None,
            )
        finally:
            log.close()
        self.processes[name] = process
        self._record()
        return process

    def log(self, name: str, tail: int = 2500) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise ProcessDied(f"{name} exited with {process.returncode}: {self.log(name)}")

    def until(self, what: str, check, timeout: float, interval: float = 0.25, log: str | None = None):
        """Poll ``check`` until it returns something true; fail early if a process died.

        ``timeout`` is for an idle machine: it is scaled (``scaled``) to the load when the wait starts."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            last = check()
            if last:
                return last
            time.sleep(interval)
        detail = self.log(log) if log else repr(last)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}: {detail}")

    @classmethod
    def stop_recorded(cls, state: Path, grace: float = 10) -> int:
        """Stop every process recorded in ``state`` (TERM, then KILL); returns how many ran."""
        pids = cls.recorded(state)
        alive = []
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
                alive.append(pid)
        deadline = time.monotonic() + grace
        for pid in alive:
            while time.monotonic() < deadline and _exists(pid):
                time.sleep(0.05)
            if _exists(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (state / "pids.json").unlink()
        return len(alive)

    def stop(self) -> None:
        self.stop_recorded(self.state)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


def _exists(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return _state(pid) != "Z"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner can read (mode 0600 from the start)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


SCALE_ENV = "STACK_TIMEOUT_SCALE"


def scaled(seconds: float) -> float:
    """``seconds`` (a wait measured on an idle machine) stretched to this machine's load.

    STACK_TIMEOUT_SCALE (a number, at least 1) sets the factor; otherwise it is the
    one-minute load average per core, between 1 and 4: a machine busy with twice its cores
    of work gets twice as long.
    """
    text = os.environ.get(SCALE_ENV, "").strip()
    if text:
        try:
            factor = float(text)
        except ValueError:
            raise RuntimeError(f"{SCALE_ENV}={text!r} is not a number (for example 2)") from None
        if not factor >= 1:
            raise RuntimeError(f"{SCALE_ENV}={text!r} must be 1 or more")
        return seconds * factor
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        load = 1.0
    return seconds * min(4.0, max(1.0, load))


def write_ready_file(path: Path, port: int) -> None:
    """Atomically: a reader sees either no file or the whole port number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
