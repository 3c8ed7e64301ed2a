"""Requests through a Service, sampled at a fixed pace, for as long as a release takes.

    python -m harness.testing.sampler --url http://10.96.0.12/ --out samples.jsonl --stop stop-file

Run inside the node's network (``nsenter --net``: a ClusterIP is reachable only there).
One JSON line per request: ``{"t": seconds since start, "status": 200}`` or ``{"t": ...,
"error": "..."}``. It stops when the stop file appears, or after ``--max-seconds`` and
``--max-requests`` (bounded in time and count, whatever the test does).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from pathlib import Path


def sample(url: str, timeout: float) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a test's own URL
            response.read(65536)
            return {"status": response.status}
    except urllib.error.HTTPError as error:
        return {"status": error.code}
    except OSError as error:
        return {"error": f"{type(error).__name__}: {error}"[:200]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.testing.sampler")
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--max-requests", type=int, default=20000)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with args.out.open("w") as out:
        for _ in range(args.max_requests):
            now = time.monotonic() - started
            if now > args.max_seconds or args.stop.exists():
                break
            out.write(json.dumps({"t": round(now, 3), **sample(args.url, args.timeout)}) + "\n")
            out.flush()
            time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
