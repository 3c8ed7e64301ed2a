"""The tools validation runs (kustomize, kubeconform, the Argo CD renderer) under a time and memory bound.

A hostile file must cost seconds and a bounded amount of memory, and leave nothing behind:
each tool runs in its own process group with an address-space limit (util-linux
``prlimit``), dies with the thread that started it (``setpriv --pdeathsig KILL``, so
also when gitops itself is killed), and its whole group is killed at the time-out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence

from .errors import GitopsError

# Go programs reserve address space up front: 1 GiB lets kustomize and kubeconform run (about
# 50 MB resident for this repository) and stops a runaway one near 300 MB resident.
MEMORY = 1 << 30
TIMEOUT = 60.0  # seconds: a render of this repository takes well under one


def _wrapper(memory: int) -> list[str]:
    setpriv, prlimit = shutil.which("setpriv"), shutil.which("prlimit")
    if not setpriv or not prlimit:
        raise GitopsError("setpriv and prlimit (util-linux) are needed to bound the tools validation runs", 1)
    return [setpriv, "--pdeathsig", "KILL", prlimit, f"--as={memory}", "--"]


# Belt and braces behind the gate: were a remote to slip past it, a tool's HTTP goes to
# a closed local port and git may use no transport at all. (Go never proxies loopback
# addresses, so the gate, not this, is what keeps 127.0.0.1 unreached.)
OFFLINE_ENV = {
    **{key: "http://127.0.0.1:9" for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")},
    "NO_PROXY": "",
    "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "none",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_SSH_COMMAND": "false",
}


def offline_env() -> dict[str, str]:
    return {**os.environ, **OFFLINE_ENV}


class Exceeded(GitopsError):
    """The tool ran past its time or memory bound (a one-line reason)."""


def run(
    cmd: Sequence[str],
    *,
    what: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
    memory: int = MEMORY,
) -> subprocess.CompletedProcess[str]:
    """``cmd`` bounded; its CompletedProcess, or Exceeded naming ``what`` and the bound it met."""
    # Its own temporary folder, removed with whatever the tool left there (Argo CD's git
    # package leaves a folder per run).
    scratch = tempfile.mkdtemp(prefix="gitops-tool-")
    env = {**(env if env is not None else os.environ), "TMPDIR": scratch}
    try:
        return _run(cmd, what, input, env, timeout, memory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(
    cmd: Sequence[str], what: str, input: str | None, env: dict[str, str], timeout: float, memory: int
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.Popen(
            [*_wrapper(memory), *cmd],
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise GitopsError(f"{what}: cannot start {cmd[0]}: {exc.strerror}", 1) from None
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise Exceeded(f"{what}: stopped after {timeout:g} s (time bound)", 1) from None
    except BaseException:
        _kill(proc)
        raise
    if proc.returncode != 0 and _out_of_memory(err):
        raise Exceeded(f"{what}: stopped at its memory bound ({memory >> 20} MiB of address space)", 1)
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


def _out_of_memory(stderr: str) -> bool:
    text = stderr.lower()
    return "out of memory" in text or "cannot allocate memory" in text or "memoryerror" in text


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
