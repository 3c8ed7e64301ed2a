"""Load on a Service: keep-alive requests from a few threads, until told to stop.

    python -m harness.testing.load --url http://10.96.0.12:80/ --stop stop-file --threads 6

Run inside the node's network (``nsenter --net``: a ClusterIP is reachable only there). It
sends requests back to back on persistent connections (a new connection after any error),
and stops when the stop file appears, or after ``--max-seconds`` or ``--max-requests``
(bounded in time, count and memory, whatever the test does). It prints one JSON line:
``{"requests": N, "ok": N, "errors": {"Reason": N}, "seconds": S}``.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import threading
import time
import urllib.parse
from pathlib import Path

MAX_THREADS = 32


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.testing.load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    url = urllib.parse.urlsplit(args.url)
    threads = max(1, min(args.threads, MAX_THREADS))
    lock = threading.Lock()
    counts: collections.Counter = collections.Counter()
    started = time.monotonic()
    done = threading.Event()

    def work() -> None:
        connection = None
        while not done.is_set():
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=5)
                connection.request("GET", url.path or "/")
                response = connection.getresponse()
                response.read(65536)
                outcome = "ok" if response.status == 200 else f"status {response.status}"
            except (OSError, http.client.HTTPException) as error:
                outcome = type(error).__name__
                if connection is not None:
                    connection.close()
                connection = None
            with lock:
                counts["requests"] += 1
                counts[outcome] += 1
        if connection is not None:
            connection.close()

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    while not done.is_set():
        over = time.monotonic() - started > args.max_seconds or counts["requests"] >= args.max_requests
        if over or args.stop.exists():
            done.set()
        time.sleep(0.2)
    for worker in workers:
        worker.join(10)
    errors = {k: v for k, v in counts.items() if k not in ("requests", "ok")}
    print(json.dumps({"requests": counts["requests"], "ok": counts["ok"], "errors": errors,
                      "seconds": round(time.monotonic() - started, 1)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
