"""Per-request plumbing: request id, body limit, security headers, metrics, access log."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, abort, g, request

access_log = logging.getLogger("flask_app.access")

# An incoming X-Request-ID is kept only if it is short and plain (no log injection).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PROBE_PATHS = frozenset({"/livez", "/readyz", "/metrics"})

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Every answer is live state (health, version, metrics): never cache it.
    "Cache-Control": "no-store",
}


def register(app: Flask) -> None:
    metrics = app.extensions["metrics"]
    log_probes = app.config["LOG_PROBES"]
    limit = app.config["MAX_CONTENT_LENGTH"]

    @app.before_request
    def start() -> None:
        g.start = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        metrics.in_flight.inc()
        g.in_flight = True
        # Refuse an oversized body before anything reads it.
        if limit is not None and (request.content_length or 0) > limit:
            abort(413)

    @app.after_request
    def finish(response):
        response.headers.update(SECURITY_HEADERS)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        started = g.get("start")
        if started is None:  # before_request never ran (e.g. routing failed very early)
            return response
        elapsed = time.perf_counter() - started
        rule = request.url_rule
        route = rule.rule if rule is not None else "<unmatched>"
        metrics.observe(request.method, route, response.status_code, elapsed)
        if log_probes or request.path not in PROBE_PATHS:
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 3),
                    "request_id": g.request_id,
                    "remote_addr": request.remote_addr,
                    "user_agent": request.user_agent.string,
                },
            )
        return response

    @app.teardown_request
    def done(_exc) -> None:
        if g.pop("in_flight", False):
            metrics.in_flight.dec()
