"""Start the real service under gunicorn with the repository's gunicorn.conf.py."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gitops.toolchain import repo_root

GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET on a fresh connection (no keep-alive), like a probe or a new client."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    started: float
    log_path: Path

    def wait_ready(self, timeout: float = 15.0) -> float:
        """Seconds from process start to the first 200 on /readyz."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {self.log()}")
            try:
                status, _ = get(self.port, "/readyz", timeout=1)
                if status == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.01)
        raise TimeoutError(f"not ready within {timeout}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start(tmp_path: Path, app: str = "flask_app.wsgi:app", command: list[str] | None = None, **env: str) -> Server:
    """Run gunicorn like `make run` does, on 127.0.0.1 and a free port."""
    root = repo_root()
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environ = {key: value for key, value in os.environ.items() if key not in {"PROMETHEUS_MULTIPROC_DIR", "DRAIN_FILE"}}
    environ.update({"HOST": "127.0.0.1", "PORT": str(port), "TMPDIR": str(tmp_path)})
    environ.update(env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), environ.get("PYTHONPATH")]))
    log_path = tmp_path / f"server-{port}.log"
    cmd = command or [str(GUNICORN), "--config", str(root / "gunicorn.conf.py"), app]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, cwd=root, env=environ, stdout=log, stderr=subprocess.STDOUT)
    return Server(process, port, time.monotonic(), log_path)
