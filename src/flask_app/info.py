"""What runs here: `/` for people, `/version` for the promotion check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("info", __name__)


@bp.get("/")
def index():
    cfg = current_app.config
    return jsonify(service=cfg["SERVICE_NAME"], version=cfg["VERSION"], environment=cfg["ENVIRONMENT"])


@bp.get("/version")
def version():
    cfg = current_app.config
    return jsonify(
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
