"""One API server for the manifest tests, from the shared local-stack module (harness.stack.kube)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from gitops.toolchain import pins
from harness.stack.kube import Cluster, binaries
from harness.stack.kube import ControlPlane as Plane
from harness.stack.procs import Supervisor

ROOT = Path(__file__).resolve().parents[2]


class ControlPlane(Cluster):
    """A single cluster ("e2e") with its own etcd, controllers and kwok nodes, in a temporary folder."""

    procs: Supervisor
    ready_seconds: float

    @classmethod
    def start(cls, cache: Path, timeout: float = 180) -> ControlPlane:
        started = time.monotonic()
        procs = Supervisor(Path(tempfile.mkdtemp(prefix="flask-gitops-e2e-")), tied=True)
        try:
            plane = Plane(procs, binaries(cache, pins()), ["e2e"])
            plane.start(timeout)
        except BaseException:
            procs.stop()
            shutil.rmtree(procs.state, ignore_errors=True)
            raise
        one = plane.clusters["e2e"]
        cluster = cls(one.name, one.port, one.kubeconfig, one.bin)
        cluster.procs = procs
        cluster.ready_seconds = time.monotonic() - started
        return cluster

    def stop(self) -> None:
        self.procs.stop()
        shutil.rmtree(self.procs.state, ignore_errors=True)


def wait(what: str, check, timeout: float = 90, interval: float = 0.5):
    """Poll ``check`` until it returns something true; fail the test with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")
