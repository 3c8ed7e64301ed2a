"""Every error is JSON: {"error", "status", "request_id"}; never HTML, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from .middleware import request_id

log = logging.getLogger("flask_app")


def _body(status: int, message: str):
    response = jsonify(error=message, status=status, request_id=request_id())
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = _body(exc.code or 500, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        log.exception("unhandled exception", extra={"request_id": request_id()})
        return _body(500, InternalServerError.description)
