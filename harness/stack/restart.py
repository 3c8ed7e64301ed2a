"""Run a command again whenever it exits, as a kubelet restarts a pod's container.

Beside a kwok cluster, Metrics Server runs as a process in place of the pod kwok does not
run. Like that pod, it exits until Argo CD has synced its RBAC (it cannot read the
requestheader configuration before), and is started again with the kubelet's back-off:
10 s doubling to 5 min is the kubelet's; here 1 s doubling to 10 s, reset once the command
has run for 60 s. The command dies with this process (even on ``kill -9`` of it).

    python -m harness.stack.restart COMMAND [ARG...]
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from harness.stack.procs import _die_with_parent

FIRST_DELAY, MAX_DELAY, RESET_AFTER = 1.0, 10.0, 60.0


def main(argv: list[str] | None = None) -> int:
    command = sys.argv[1:] if argv is None else argv
    if not command:
        print("usage: python -m harness.stack.restart COMMAND [ARG...]", file=sys.stderr)
        return 2
    child: subprocess.Popen | None = None

    def stop(signum, frame):
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = FIRST_DELAY
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command, preexec_fn=_die_with_parent)
        code = child.wait()
        ran = time.monotonic() - started
        delay = FIRST_DELAY if ran > RESET_AFTER else delay
        print(f"restart: {command[0]} exited with {code} after {ran:.0f}s; again in {delay:.0f}s", flush=True)
        time.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)


if __name__ == "__main__":
    sys.exit(main())
