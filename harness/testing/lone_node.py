"""A real node alone (one API server, no Argo CD) running one pod, for the containment test.

    python -m harness.testing.lone_node STATE_DIR

Prints ``READY <kubeconfig>`` once the pod runs, then waits to be killed. Every process it
starts is tied to it: a ``kill -9`` of this one must leave nothing on the host (the test
checks that).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gitops.toolchain import build_cache, pins
from harness.stack import image, kube, node
from harness.stack.procs import Supervisor

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "sleeper", "namespace": "default"},
    "spec": {"containers": [{"name": "sleeper", "image": image.PAUSE, "imagePullPolicy": "Never"}]},
}


def main(argv: list[str]) -> int:
    state = Path(argv[0])
    state.mkdir(parents=True, mode=0o700)
    procs = Supervisor(state, tied=True)
    plane = kube.ControlPlane(procs, kube.binaries(build_cache(), pins()), ["dev"], real_node="dev")
    plane.start()
    real = node.RealNode(procs, plane.clusters["dev"], node.binaries(build_cache(), pins()), plane.pki)
    real.start([image.pause(build_cache(), state / "images")])
    dev = plane.clusters["dev"]
    dev.apply_json(POD)
    procs.until("the pod running", lambda: (dev.maybe_get("pod", "sleeper") or {}).get("status", {}).get("phase")
                == "Running", 120)  # fmt: skip
    print(f"READY {dev.kubeconfig} {real.pid}", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
