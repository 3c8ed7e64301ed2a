"""The gunicorn worker's own answers, without a server (tests/app/test_edge.py runs it for real)."""

from __future__ import annotations

import json

import pytest
from gunicorn.http import errors

from flask_app.middleware import SECURITY_HEADERS
from flask_app.worker import error_response, refusal_status


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.InvalidRequestLine("GARBAGE"), 400),
        (errors.InvalidHeaderName("Fo o"), 400),
        (errors.InvalidChunkSize(b"zz"), 400),
        (errors.LimitRequestLine(5000, 4094), 414),
        (errors.LimitRequestHeaders("too many"), 431),
        (errors.ExpectationFailed("teapot"), 417),
        (errors.UnsupportedTransferCoding("gzip"), 501),
        (errors.ForbiddenProxyRequest("10.0.0.1"), 403),
        (errors.InvalidResponseHeader("X-Bad\n"), 500),
        (RuntimeError("a bug"), 500),
    ],
)
def test_refusal_status_follows_gunicorn(exc, status):
    assert refusal_status(exc) == status


def test_error_response_is_the_service_json_error():
    raw, request_id = error_response(431)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    assert status_line == "HTTP/1.1 431 REQUEST HEADER FIELDS TOO LARGE"
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    assert headers["Connection"] == "close"
    assert headers["X-Request-ID"] == request_id
    for name, value in SECURITY_HEADERS:
        assert headers[name] == value
    error = json.loads(body)
    assert set(error) == {"error", "status", "request_id"}
    assert error["error"] == "One or more header fields exceeds the maximum size."
    assert (error["status"], error["request_id"]) == (431, request_id)
    assert error_response(431)[1] != request_id
