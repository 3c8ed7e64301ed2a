"""Liveness and readiness: two endpoints, two meanings.

/livez  -- the process can serve a request. Checks nothing external, so a slow
           database never gets a healthy pod restarted.
/readyz -- this pod should receive traffic now. 503 while starting, while draining
           after SIGTERM, or while a configured dependency is unreachable.
"""

from __future__ import annotations

import socket

from flask import Blueprint, Response, current_app, jsonify

from .lifecycle import READY

bp = Blueprint("health", __name__)


OK_BODY = b'{"status":"ok"}\n'


def _ok() -> Response:
    return Response(OK_BODY, mimetype="application/json")


@bp.get("/livez")
def livez():
    return _ok()


@bp.get("/readyz")
def readyz():
    state = current_app.extensions["lifecycle"].state
    if state != READY:
        return jsonify(status="unavailable", reason=state), 503
    for check in current_app.extensions["readiness_checks"]:
        failure = check()
        if failure:
            return jsonify(status="unavailable", reason=failure), 503
    return _ok()


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
