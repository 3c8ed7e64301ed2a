"""Liveness and readiness: two endpoints, two meanings.

/livez  -- the process can serve a request. Checks nothing external, so a slow
           database never gets a healthy pod restarted.
/readyz -- this pod should receive traffic now. 503 while starting, while draining
           after SIGTERM, or while a configured dependency is unreachable.

The kubelet asks every few seconds on every pod, so a probe is answered without
Flask: the middleware calls ``answer`` for GET and HEAD on these two paths (a
quarter of the work of a Flask view). The Flask routes below give the same answers
and keep what Flask adds for other methods (405 with an Allow header).
"""

from __future__ import annotations

import json
import socket
import threading
import time

from flask import Blueprint, Flask, Response, current_app

from .lifecycle import READY

bp = Blueprint("health", __name__)

OK_BODY = b'{"status":"ok"}\n'
PATHS = frozenset({"/livez", "/readyz"})  # what ``answer`` answers


def answer(app: Flask, path: str) -> tuple[int, bytes]:
    """Status and JSON body of the probe at ``path``."""
    if path == "/livez":
        return 200, OK_BODY
    state = app.extensions["lifecycle"].state
    if state != READY:
        return 503, _unavailable(state)
    for check in app.extensions["readiness_checks"]:
        try:
            failure = check()
        except Exception as exc:  # a check that fails by raising still answers 503, not 500
            failure = f"{getattr(check, '__name__', 'check')}: {type(exc).__name__}"
        if failure:
            return 503, _unavailable(failure)
    return 200, OK_BODY


def _unavailable(reason: str) -> bytes:
    return json.dumps({"status": "unavailable", "reason": reason}, separators=(",", ":")).encode() + b"\n"


def _view(path: str) -> Response:
    status, body = answer(current_app, path)
    return Response(body, status=status, mimetype="application/json")


@bp.get("/livez")
def livez():
    return _view("/livez")


@bp.get("/readyz")
def readyz():
    return _view("/readyz")


def tcp_check(target: str, timeout: float):
    """A readiness check that passes when ``host:port`` accepts a TCP connection."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"READINESS_TCP_CHECKS entry {target!r} is not host:port")

    def check() -> str | None:
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return None
        except OSError as exc:
            return f"dependency {target} unreachable: {exc.strerror or exc}"

    check.__name__ = f"tcp_check[{target}]"
    return check


def warmup_check(seconds: int):
    """A readiness check that fails for ``seconds`` after the app was made (a slow start)."""
    until = time.monotonic() + seconds

    def check() -> str | None:
        left = until - time.monotonic()
        return f"warming up ({left:.0f}s left)" if left > 0 else None

    check.__name__ = "warmup"
    return check


# What a readiness self-request sends: a probe path, answered before Flask and not logged.
_SELF_REQUEST = (
    b"GET /livez HTTP/1.1\r\nHost: readiness\r\nUser-Agent: flask-app-readiness\r\nConnection: close\r\n\r\n"
)
# Concurrent /readyz share one self-request; its answer holds this long.
TRAFFIC_CHECK_FRESH = 0.5


def traffic_check(host: str, port: int, timeout: float):
    """A readiness check that passes when the traffic port answers a request within ``timeout``.

    A real request, not a count of connections: it fails whatever keeps the port from
    answering (every thread busy, the accept queue full, a stuck worker), and passes
    again as soon as it answers. One request at a time per process, its answer shared
    for TRAFFIC_CHECK_FRESH seconds, so a burst of probes sends no burst of requests.
    """
    lock = threading.Lock()
    last: list = [float("-inf"), None]

    def ask() -> str | None:
        deadline = time.monotonic() + timeout
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                sock.sendall(_SELF_REQUEST)
                received = b""
                while b"\r\n" not in received:
                    sock.settimeout(max(deadline - time.monotonic(), 0.001))
                    chunk = sock.recv(256)
                    if not chunk:
                        return f"traffic port {port} closed the connection without an answer"
                    received += chunk
        except TimeoutError:
            return f"traffic port {port} did not answer within {timeout:g}s"
        except OSError as exc:
            return f"traffic port {port} unreachable: {exc.strerror or exc}"
        line = received.split(b"\r\n", 1)[0]
        parts = line.split(b" ")
        if len(parts) < 2 or parts[1] != b"200":
            return f"traffic port {port} answered {line[:64]!r}"
        return None

    def check() -> str | None:
        with lock:
            if time.monotonic() - last[0] >= TRAFFIC_CHECK_FRESH:
                last[1] = ask()
                last[0] = time.monotonic()
            return last[1]

    check.__name__ = f"traffic_check[{host}:{port}]"
    return check
