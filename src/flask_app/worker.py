"""gunicorn's gthread worker with two changes at the edge (``worker_class`` in gunicorn.conf.py).

1. Probes have a listener and threads of their own. gunicorn binds PROBE_PORT next to
   PORT; connections on it go to a small pool of probe threads instead of the request
   threads, so clients that hold every request thread (slow clients trickling headers,
   a burst of load) never delay the kubelet. The same app answers, so /livez still means
   "this process can serve" and /readyz still reports starting, draining and dependencies.
   A probe connection gets one request and is cut off after PROBE_DEADLINE.
2. Requests gunicorn refuses before the app sees them (malformed request lines and
   headers, size limits, bad framing) get the service's JSON error with its security
   headers and a request id, instead of the HTML page of ``Worker.handle_error``.

Traffic connections are accepted and served by gthread's own code, unchanged: nothing
here runs per request on the traffic port.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import threading
from concurrent import futures

from gunicorn import glogging, util
from gunicorn.http import errors
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.exceptions import default_exceptions

from .middleware import SECURITY_HEADERS, UNMATCHED, json_error, new_request_id

access_log = logging.getLogger("flask_app.access")

PROBE_THREADS = 2
# Far above a probe's own time (milliseconds) and the kubelet's timeouts (1-2 s); only a
# client that stalls mid-request on the probe port ever meets it.
PROBE_DEADLINE = 5.0

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


def _listening_port(listener) -> int | None:
    address = listener.getsockname()
    return address[1] if isinstance(address, tuple) else None


def _cut_off(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)  # the probe thread's blocked read returns at once


class ServiceWorker(ThreadWorker):
    """gthread, plus probe threads on their own listener and JSON error responses."""

    def init_process(self) -> None:
        probe_port = int(os.environ.get("PROBE_PORT") or 0)
        self.probe_sockets = [s for s in self.sockets if probe_port and _listening_port(s) == probe_port]
        self.sockets = [s for s in self.sockets if s not in self.probe_sockets]
        self.probe_pool = futures.ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="probe")
        super().init_process()

    def run(self) -> None:
        for listener in self.probe_sockets:
            util.close_on_exec(listener)
            listener.setblocking(False)
            # Registered once and never paused: probes are answered while the traffic
            # listeners are full, and through the graceful stop until the worker exits.
            self.poller.register(listener, selectors.EVENT_READ, self.accept_probe)
        try:
            super().run()
        finally:
            self.probe_pool.shutdown(wait=False, cancel_futures=True)
            for listener in self.probe_sockets:
                listener.close()

    def accept_probe(self, listener) -> None:
        try:
            sock, address = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                return  # another worker took it
            raise
        self.probe_pool.submit(self.serve_probe, TConn(self.cfg, sock, address, listener.getsockname()))

    def serve_probe(self, conn: TConn) -> None:
        """One request with gthread's own handling, on a probe thread, within PROBE_DEADLINE."""
        watchdog = threading.Timer(PROBE_DEADLINE, _cut_off, (conn.sock,))
        watchdog.daemon = True
        watchdog.start()
        try:
            self.handle(conn)
        finally:
            watchdog.cancel()
            conn.close()

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


class GunicornLogger(glogging.Logger):
    """gunicorn's logger without its access log (``logger_class`` in gunicorn.conf.py).

    The app writes one line per request itself (middleware.py). gunicorn would still
    build every request's access-log fields whenever a logging config is given, only
    for its ``gunicorn.access`` logger to drop them: an eighth of a worker's Python
    time in a profile under load.
    """

    def access(self, resp, req, environ, request_time) -> None:
        return None
