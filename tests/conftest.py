"""Shared fixtures: the pallets-tutorial pair (app, client) and a clean environment."""

from __future__ import annotations

import os

import pytest

from flask_app import create_app

# Variables the service or gunicorn.conf.py read; none may leak in from the caller.
APP_ENV_VARS = (
    "APP_NAME",
    "APP_ENV",
    "APP_VERSION",
    "GIT_SHA",
    "BUILD_DATE",
    "IMAGE_TAG",
    "POD_NAME",
    "POD_NAMESPACE",
    "NODE_NAME",
    "LOG_LEVEL",
    "LOG_PROBES",
    "MAX_CONTENT_LENGTH",
    "READINESS_TCP_CHECKS",
    "READINESS_CHECK_TIMEOUT_MS",
    "DRAIN_FILE",
    "PORT",
    "HOST",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GRACEFUL_TIMEOUT",
    "DRAIN_SECONDS",
    "PROMETHEUS_MULTIPROC_DIR",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_TIMEOUT",
    "GUNICORN_WORKER_CONNECTIONS",
    "PROBE_PORT",
    "REQUEST_HEAD_TIMEOUT",
    "MAX_IDLE_CONNECTIONS",
    "PROBE_HEAD_TIMEOUT_MS",
    "PROBE_MAX_CONNECTIONS",
    "READINESS_TRAFFIC_TIMEOUT_MS",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("FLASK_") or name in APP_ENV_VARS:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
