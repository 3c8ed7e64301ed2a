"""flask-app: the service Argo CD deploys. Build it with ``create_app()``."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from . import config, errors, health, info, jsonlog, metrics, middleware
from .lifecycle import Lifecycle
from .middleware import RouteRecordingRequest


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """Application factory: settings from the environment, overridden by ``test_config``."""
    app = Flask(__name__)
    app.request_class = RouteRecordingRequest
    app.config.from_mapping(config.from_env())
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.debug = False  # never: the Werkzeug debugger is remote code execution

    jsonlog.configure(app.config["LOG_LEVEL"])
    app.json.sort_keys = False

    lifecycle = Lifecycle(app.config["DRAIN_FILE"])
    app.extensions["lifecycle"] = lifecycle
    app.extensions["metrics"] = metrics.Metrics(app.config["VERSION"], app.config["GIT_SHA"], app.config["ENVIRONMENT"])
    timeout = app.config["READINESS_CHECK_TIMEOUT"]
    app.extensions["readiness_checks"] = [
        health.tcp_check(target, timeout) for target in app.config["READINESS_TCP_CHECKS"]
    ] + list(app.config.get("READINESS_CHECKS", []))
    if app.config["WARMUP_SECONDS"]:
        app.extensions["readiness_checks"].append(health.warmup_check(app.config["WARMUP_SECONDS"]))

    middleware.register(app, probe=lambda path: health.answer(app, path))
    errors.register(app)
    info.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)

    if not app.config["DEFER_READY"]:
        lifecycle.mark_ready()
    return app
