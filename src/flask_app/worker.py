"""gunicorn's gthread worker, answering the requests gunicorn refuses like the app would.

Requests gunicorn refuses before the app sees them (malformed request lines and
headers, size limits, bad framing) get the service's JSON error with its security
headers and a request id, instead of the HTML page of ``Worker.handle_error``.
Everything else is gthread's own code, unchanged.
"""

from __future__ import annotations

import logging

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import default_exceptions

from .middleware import SECURITY_HEADERS, UNMATCHED, json_error, new_request_id

access_log = logging.getLogger("flask_app.access")

# The status for each request gunicorn refuses, most specific first (the mapping of
# Worker.handle_error; a header the app tried to send is the app's fault).
_REFUSALS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...] = (
    ((errors.InvalidResponseHeader, errors.InvalidResponseHeaderName), 500),
    (errors.LimitRequestLine, 414),
    (errors.LimitRequestHeaders, 431),
    (errors.ExpectationFailed, 417),
    (errors.UnsupportedTransferCoding, 501),
    (errors.ForbiddenProxyRequest, 403),
    (errors.ConfigurationProblem, 500),
    (errors.ParseException, 400),
)


def refusal_status(exc: BaseException) -> int:
    """The HTTP status for an exception gunicorn hands to ``handle_error``."""
    for kinds, status in _REFUSALS:
        if isinstance(exc, kinds):
            return status
    return 500


def error_response(status: int) -> tuple[bytes, str]:
    """A complete HTTP/1.1 JSON error response (it closes the connection) and its request id."""
    request_id = new_request_id()
    started: list = []
    body = b"".join(
        json_error(status, default_exceptions[status].description, request_id, lambda *args: started.extend(args))
    )
    status_line, headers = started
    headers = [*headers, *SECURITY_HEADERS, ("X-Request-ID", request_id), ("Connection", "close")]
    head = f"HTTP/1.1 {status_line}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + body, request_id


class ServiceWorker(ThreadWorker):
    """gthread, with JSON error responses."""

    def handle_error(self, req, client, addr, exc) -> None:
        """Answer a request gunicorn refused like the app answers errors: JSON, same headers."""
        status = refusal_status(exc)
        addr = addr or ("", -1)  # a unix socket
        if status >= 500:
            self.log.exception("Error handling request %s %s", getattr(req, "method", ""), getattr(req, "uri", ""))
        response, request_id = error_response(status)
        access_log.info(
            "request",
            extra={
                "method": getattr(req, "method", None),
                "path": getattr(req, "path", None),
                "route": UNMATCHED,
                "status": status,
                "request_id": request_id,
                "remote_addr": addr[0],
                "error": str(exc),
            },
        )
        try:
            util.write_nonblock(client, response)
        except Exception:
            self.log.debug("Failed to send error message.")
