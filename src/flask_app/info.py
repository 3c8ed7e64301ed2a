"""What runs here: `/` for people, `/version` for the promotion check.

Both answers depend only on settings read at start, so their JSON is encoded once
per app (``register``), not on every request.
"""

from __future__ import annotations

import json

from flask import Blueprint, Flask, Response, current_app

bp = Blueprint("info", __name__)


def _json(**fields: object) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


def register(app: Flask) -> None:
    cfg = app.config
    app.extensions["info"] = {
        "/": _json(service=cfg["SERVICE_NAME"], version=cfg["VERSION"], environment=cfg["ENVIRONMENT"]),
        "/version": _json(
            service=cfg["SERVICE_NAME"],
            version=cfg["VERSION"],
            commit=cfg["GIT_SHA"],
            build_date=cfg["BUILD_DATE"],
            image_tag=cfg["IMAGE_TAG"],
            environment=cfg["ENVIRONMENT"],
            pod=cfg["POD_NAME"] or None,
            namespace=cfg["POD_NAMESPACE"] or None,
            node=cfg["NODE_NAME"] or None,
        ),
    }
    app.register_blueprint(bp)


def _answer(path: str) -> Response:
    return Response(current_app.extensions["info"][path], mimetype="application/json")


@bp.get("/")
def index():
    return _answer("/")


@bp.get("/version")
def version():
    return _answer("/version")
