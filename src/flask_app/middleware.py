"""Per-request plumbing as one WSGI middleware around the Flask app.

Request id, body limit, security headers, metrics and the access log cost a few list
operations here, instead of Flask hooks and header objects on every request. The
request class tells it the matched route template through the WSGI environ.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import secrets
import time

from flask import Flask, Request, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Rule

from .health import PATHS as PROBE_ROUTES
from .jsonlog import AccessLog

access_log = AccessLog()

REQUEST_ID_KEY = "flask_app.request_id"
ROUTE_KEY = "flask_app.route"
UNMATCHED = "<unmatched>"
# An incoming X-Request-ID is kept only if it is short and plain (no log injection).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Not logged unless LOG_PROBES: the kubelet's probes (answered here for GET and HEAD,
# see health.py) and Prometheus' scrapes.
PROBE_PATHS = PROBE_ROUTES | {"/metrics"}
_STATUS_LINES = {code: f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in (200, 503)}


class _RequestIds:
    """Unique 32-hex-digit ids: a random per-process prefix and a counter.

    A tenth of the cost of uuid4 (no system call per request); the prefix is drawn
    again in every forked child, so workers never share ids.
    """

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = secrets.token_hex(10)
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFF:012x}"


new_request_id = _RequestIds().next

# The middleware owns these headers; views never set them.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    # Every answer is live state (health, version, metrics): never cache it.
    ("Cache-Control", "no-store"),
)


class Observability:
    """WSGI middleware: everything every request needs, whatever the route."""

    def __init__(self, wsgi_app, metrics, limit: int | None, log_probes: bool, probe=None) -> None:
        self.wsgi_app = wsgi_app
        self.metrics = metrics
        self.limit = limit
        self.log_probes = log_probes
        # probe(path) -> (status, body) for GET/HEAD on PROBE_ROUTES, answered without Flask.
        self.probe = probe

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID")
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else new_request_id()
        environ[REQUEST_ID_KEY] = request_id
        status_line = "500"

        def start(status, headers, exc_info=None):
            nonlocal status_line
            status_line = status
            headers.extend(SECURITY_HEADERS)
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        in_flight = self.metrics.in_flight
        in_flight.inc()
        try:
            if self.limit is not None:
                length = environ.get("CONTENT_LENGTH")
                if length:
                    if length.isdigit() and int(length) > self.limit:  # refused before anything reads it
                        return json_error(413, RequestEntityTooLarge.description, request_id, start)
                elif "HTTP_TRANSFER_ENCODING" in environ:
                    refused = self._read_body(environ, request_id, start)
                    if refused is not None:
                        return refused
            path = environ.get("PATH_INFO")
            if path in PROBE_ROUTES and self.probe is not None and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
                environ[ROUTE_KEY] = path
                return self._answer_probe(environ, path, start)
            return self.wsgi_app(environ, start)
        finally:
            in_flight.dec()
            status = int(status_line[:3])
            elapsed = time.perf_counter() - started
            route = environ.get(ROUTE_KEY, UNMATCHED)
            method = environ.get("REQUEST_METHOD", "")
            self.metrics.observe(method, route, status, elapsed)
            path = environ.get("PATH_INFO", "")
            if self.log_probes or path not in PROBE_PATHS:
                access_log(
                    method,
                    path,
                    route,
                    status,
                    round(elapsed * 1000, 3),
                    request_id,
                    environ.get("REMOTE_ADDR"),
                    environ.get("HTTP_USER_AGENT", ""),
                )

    def _answer_probe(self, environ, path: str, start) -> list[bytes]:
        status, body = self.probe(path)
        start(_STATUS_LINES[status], [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _read_body(self, environ, request_id: str, start) -> list[bytes] | None:
        """Read a body of undeclared length (chunked) up to the limit, so an oversized one gets 413.

        Views that never read the body would otherwise answer 200 to any size. The body
        read stays available to the app. Requests without a body never come here.
        """
        try:
            body = environ["wsgi.input"].read(self.limit + 1)
        except Exception:  # the server's own parse errors (bad chunk sizes, missing terminators) and EOF
            return json_error(400, BadRequest.description, request_id, start)
        if len(body) > self.limit:
            return json_error(413, RequestEntityTooLarge.description, request_id, start)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return None


def json_error(status: int, description: str, request_id: str, start_response) -> list[bytes]:
    """The JSON error errors.py gives inside Flask, for requests refused before Flask sees them."""
    body = json.dumps({"error": description, "status": status, "request_id": request_id}, separators=(",", ":"))
    encoded = body.encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(encoded)))]
    start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
    return [encoded]


class RouteRecordingRequest(Request):
    """A request that leaves its matched route template in the WSGI environ, for metrics and logs.

    Flask sets ``url_rule`` once, when it matches the URL (``Flask.request_class``):
    no hook or context lookup per request. A matched request keeps its route even when
    a ``before_request`` hook answers it (the route is what matched, as OpenTelemetry's
    ``http.route``). Unmatched requests (404/405) never set it and are labelled
    "<unmatched>" by the middleware.
    """

    _url_rule: Rule | None = None

    @property
    def url_rule(self) -> Rule | None:
        return self._url_rule

    @url_rule.setter
    def url_rule(self, rule: Rule | None) -> None:
        self._url_rule = rule
        if rule is not None:
            self.environ[ROUTE_KEY] = rule.rule


def register(app: Flask, probe=None) -> None:
    app.wsgi_app = Observability(
        app.wsgi_app, app.extensions["metrics"], app.config["MAX_CONTENT_LENGTH"], app.config["LOG_PROBES"], probe
    )


def request_id() -> str | None:
    """The current request's id (for error bodies and app logs)."""
    return request.environ.get(REQUEST_ID_KEY)
