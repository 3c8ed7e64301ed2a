"""The e2e session: one control plane for the API-server tests, one whole stack for the Argo CD tests.

Both are always stopped and their folders removed, whatever happened.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from gitops.toolchain import build_cache, pins, tools_dir
from harness.stack.stack import Stack
from tests.e2e.cluster import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
TIMINGS: dict[str, float] = {}
# What commands printed that the docs quote (the README's promote and rollback sections).
OUTPUTS: list[str] = []
# test_differential.py: cases judged by both gitops validate and the API server, and how many disagreed.
DIFFERENTIAL: dict[str, int] = {}


def pytest_configure(config):
    """SIGTERM (a CI time-out, `kill`) ends the session like Ctrl-C, so every fixture tears down."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def cluster():
    plane = ControlPlane.start(build_cache())
    TIMINGS["control plane start to ready (s)"] = plane.ready_seconds
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def stack():
    """Clusters, Argo CD and the local remote, bootstrapped from this checkout's HEAD."""
    import time

    state = Path(tempfile.mkdtemp(prefix="flask-gitops-stack-")) / "state"
    started = time.monotonic()
    try:
        up = Stack.up(
            state,
            ROOT,
            build_cache(),
            tools_dir() / "bin",
            pins(),
            log=lambda line: None,
            worktree=True,
            tied=True,
            spare=True,
        )
    except BaseException:
        shutil.rmtree(state.parent, ignore_errors=True)  # a failed start leaves no folder behind
        raise
    TIMINGS["stack up to every Application settled (s)"] = time.monotonic() - started
    try:
        yield up
    finally:
        up.down()
        shutil.rmtree(state.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def work(stack):
    """A clone of the local remote's main, as a developer has one (origin = the local remote)."""
    folder = stack.state.parent / "work"
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(stack.bare), str(folder)], check=True)
    return folder


def pytest_terminal_summary(terminalreporter):
    for name, value in TIMINGS.items():
        terminalreporter.write_line(f"e2e: {name}: {value:.1f}")
    for text in OUTPUTS:
        terminalreporter.write_line(text.rstrip())
    if DIFFERENTIAL:
        terminalreporter.write_line(
            f"e2e: differential cases compared (policy vs API server dry run): {DIFFERENTIAL.get('cases', 0)}, "
            f"disagreements: {DIFFERENTIAL.get('disagreements', 0)}"
        )
