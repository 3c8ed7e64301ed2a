"""What runs here: `/` for people, `/version` for the promotion check.

Both answers depend only on settings read at start, so their JSON is encoded once
per app (``register``), and each view answers its bytes: no lookup per request.
"""

from __future__ import annotations

import json

from flask import Flask, Response


def _json(**fields: object) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


def _view(body: bytes):
    def view() -> Response:
        return Response(body, mimetype="application/json")

    return view


def register(app: Flask) -> None:
    cfg = app.config
    index = _json(service=cfg["SERVICE_NAME"], version=cfg["VERSION"], environment=cfg["ENVIRONMENT"])
    version = _json(
        service=cfg["SERVICE_NAME"],
        version=cfg["VERSION"],
        commit=cfg["GIT_SHA"],
        build_date=cfg["BUILD_DATE"],
        image_tag=cfg["IMAGE_TAG"],
        environment=cfg["ENVIRONMENT"],
        pod=cfg["POD_NAME"] or None,
        namespace=cfg["POD_NAMESPACE"] or None,
        node=cfg["NODE_NAME"] or None,
    )
    app.add_url_rule("/", "index", _view(index), methods=["GET"])
    app.add_url_rule("/version", "version", _view(version), methods=["GET"])
