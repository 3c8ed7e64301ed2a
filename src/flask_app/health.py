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
