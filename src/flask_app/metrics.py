"""Prometheus metrics: request count, latency, in-flight requests, build info.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR is set (see gunicorn.conf.py) and every
worker writes its samples there; /metrics merges them, so totals are correct across
workers. Elsewhere (tests, a single process) the app's own registry is served.
"""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Every label has a bounded set of values, whatever clients send: a series per distinct
# method would let anyone grow /metrics (and each worker's memory) without limit.
# Methods outside RFC 9110 and PATCH share one value, as in OpenTelemetry's conventions;
# routes are templates or "<unmatched>"; statuses are the three digits the app answered.
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})
OTHER_METHOD = "_OTHER"

bp = Blueprint("metrics", __name__)


class _ProcessId:
    """``os.getpid()``, asked once per process and again in every forked child."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        os.register_at_fork(after_in_child=self._refresh)

    def _refresh(self) -> None:
        self.pid = os.getpid()

    def __call__(self) -> int:
        return self.pid


def use_cached_pid() -> None:
    """Multiprocess samples that know their process id without a system call.

    prometheus_client checks the pid on every write, to notice a fork; glibc does not
    cache it, so that is a system call per write, five per request. The id is refreshed
    in each forked child, so a fork is still noticed. Call it before any metric exists
    (gunicorn.conf.py does, in the master), the way prometheus_client's docs set
    ``values.ValueClass``.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and not getattr(values.ValueClass, "_cached_pid", False):
        value_class = values.MultiProcessValue(process_identifier=_ProcessId())
        value_class._cached_pid = True  # once per process: a second class would share the same files
        values.ValueClass = value_class


class Metrics:
    """The metric objects of one app, registered in a registry of its own."""

    def __init__(self, version: str, commit: str, environment: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "http_requests",
            "HTTP requests served, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from request start to response, by method, route template and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "Requests being served right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        build_info = Gauge(
            "app_build_info",
            "Always 1; the labels say which build runs here.",
            ("version", "commit", "environment"),
            registry=self.registry,
            multiprocess_mode="max",
        )
        build_info.labels(version, commit, environment).set(1)
        self._children: dict[tuple[str, str, int], tuple] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # first request of this kind: resolve the labelled series once
            code = str(status)
            children = self._children[key] = (
                self.requests.labels(method, route, code),
                self.latency.labels(method, route, code),
            )
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc_dir:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)


@bp.get("/metrics")
def metrics() -> Response:
    body = current_app.extensions["metrics"].exposition()
    response = Response(body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
