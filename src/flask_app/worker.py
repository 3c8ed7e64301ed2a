"""gunicorn's gthread worker with changes at the edge (``worker_class`` in gunicorn.conf.py).

1. Probes have a listener and threads of their own. gunicorn binds PROBE_PORT next to
   PORT; connections on it go to a small pool of probe threads instead of the request
   threads, so clients that hold every request thread (a burst of load) never delay the
   kubelet. The same app answers, so /livez still means "this process can serve" and
   /readyz still reports starting, draining and dependencies, and (on the probe port)
   whether the traffic port answers a request at all (see ``traffic_check``).
   A probe connection gets one request and is cut off after PROBE_DEADLINE.
2. No thread waits for a request head. gthread hands a new connection to a request
   thread at once, and that thread waits for its bytes (5 s, then the connection goes
   back to the poller for the keep-alive time): 2,100 connections that send nothing
   queue ahead of every real request for minutes. Here the main loop reads request
   heads itself, without blocking, on both ports; a connection reaches a thread only
   with its whole head. Each waits at most REQUEST_HEAD_TIMEOUT (PROBE_HEAD_TIMEOUT on
   the probe port) and at most MAX_IDLE_CONNECTIONS (PROBE_MAX_CONNECTIONS) are kept
   per worker: a new connection beyond that closes the oldest idle one, so a flood of
   idle clients costs file descriptors, not service.
3. Requests gunicorn refuses before the app sees them (malformed request lines and
   headers, size limits, bad framing) get the service's JSON error with its security
   headers and a request id, instead of the HTML page of ``Worker.handle_error``.

Once a head is read, requests are parsed and served by gthread's own code, unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import selectors
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent import futures
from functools import partial

from gunicorn import glogging, util
from gunicorn.http import errors
from gunicorn.workers.gthread import _DEFER, STOP_KEEPALIVE_LINGER, TConn, ThreadWorker
from werkzeug.exceptions import default_exceptions

from .health import traffic_check
from .middleware import SECURITY_HEADERS, UNMATCHED, json_error, new_request_id

access_log = logging.getLogger("flask_app.access")

PROBE_THREADS = 2
# Far above a probe's own time (milliseconds) and the kubelet's timeouts (1-2 s); only a
# client that stalls mid-request on the probe port ever meets it.
PROBE_DEADLINE = 5.0
# A request head larger than this is refused (431, or 414 without a line end) rather than
# buffered further: 16 times the usual 4 KiB, far below gunicorn's field limits' product.
HEAD_LIMIT = 64 * 1024
_RECV = 64 * 1024
# util.close_graceful's bounds on a closing connection: how long, and how much is drained.
LINGER = 2.0
LINGER_DRAIN = 64 * 1024


def _setting(name: str, default: float) -> float:
    """A number gunicorn.conf.py checked and exported (the worker reads the environment it was given)."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _head_end(head: bytes | bytearray) -> int | None:
    """Where the whole request head in ``head`` ends (after its empty line), or None while it is not
    whole (gunicorn's parser judges the rest)."""
    ends = [i + len(mark) for mark in (b"\n\r\n", b"\n\n") if (i := head.find(mark)) >= 0]
    return min(ends) if ends else None


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
        self.probe_threads = threading.local()
        # Connections whose request head is not complete yet, oldest first, with their deadline.
        self.heads: OrderedDict[TConn, float] = OrderedDict()
        self.probe_heads: OrderedDict[TConn, float] = OrderedDict()
        self.head_timeout = _setting("REQUEST_HEAD_TIMEOUT", 10)
        self.max_idle = int(_setting("MAX_IDLE_CONNECTIONS", 512))
        self.probe_head_timeout = _setting("PROBE_HEAD_TIMEOUT_MS", 1000) / 1000
        self.probe_max = int(_setting("PROBE_MAX_CONNECTIONS", 16))
        self.stop_linger_until: float | None = None
        # Connections being closed (FIN sent, the client's bytes drained), with their deadline.
        self.lingering: OrderedDict[TConn, float] = OrderedDict()
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        timeout = _setting("READINESS_TRAFFIC_TIMEOUT_MS", 1000) / 1000
        extensions = getattr(self.wsgi, "extensions", None)
        if not (self.probe_sockets and timeout and extensions and "readiness_checks" in extensions):
            return
        host, port = self.sockets[0].getsockname()[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        check = traffic_check(host, port, timeout)
        local = self.probe_threads

        def traffic_port() -> str | None:
            # Only a probe asked on the probe port learns anything: an answer on the traffic
            # port is itself proof that the traffic port takes requests.
            return check() if getattr(local, "serving", False) else None

        traffic_port.__name__ = check.__name__
        extensions["readiness_checks"].append(traffic_port)

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

    # --- accepting: connections wait for their request head in the main loop ----------
    def accepted(self, listener) -> TConn | None:
        """The next connection of ``listener`` (non-blocking), or None when another worker took it."""
        try:
            sock, address = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                return None
            raise
        return TConn(self.cfg, sock, address, listener.getsockname())

    def accept(self, listener) -> None:
        """A traffic connection: read its head here, hand it to a request thread once whole."""
        conn = self.accepted(listener)
        if conn is None:
            return
        self.nr_conns += 1
        while self.heads and len(self.heads) + len(self.keepalived_conns) >= self.max_idle:
            self.drop_head(self.heads, next(iter(self.heads)))  # the oldest that has sent no whole request
        if len(self.heads) + len(self.keepalived_conns) >= self.max_idle:
            self.drop_keepalived()
        self.wait_for_head(conn, self.heads, self.head_timeout, self.enqueue_req)

    def accept_probe(self, listener) -> None:
        conn = self.accepted(listener)
        if conn is None:
            return
        while len(self.probe_heads) >= self.probe_max:
            self.drop_head(self.probe_heads, next(iter(self.probe_heads)))
        self.wait_for_head(conn, self.probe_heads, self.probe_head_timeout, self.submit_probe)

    def on_client_socket_readable(self, conn, client) -> None:
        """A kept-alive connection's next request: its head is read here too (gthread: on a thread)."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.wait_for_head(conn, self.heads, self.head_timeout, self.enqueue_req)

    def wait_for_head(
        self, conn: TConn, table: OrderedDict, timeout: float, serve: Callable[[TConn], None], head: bytes = b""
    ) -> None:
        conn.head = bytearray(head)
        table[conn] = time.monotonic() + timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.read_head, conn, table, serve))
        self.read_head(conn, table, serve, conn.sock)  # often already there: no extra turn of the loop

    def read_head(self, conn: TConn, table: OrderedDict, serve: Callable[[TConn], None], _sock) -> None:
        if conn not in table:
            return  # dropped earlier in this turn of the loop (its event was already selected)
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client left
            self.drop_head(table, conn)
            return
        conn.head += data
        end = _head_end(conn.head)
        if end is not None and end <= HEAD_LIMIT:
            self.release_head(table, conn)
            conn.prefetched = bytes(conn.head)
            conn.head = None
            serve(conn)
        elif end is not None or len(conn.head) > HEAD_LIMIT:
            # However the bytes arrived: a head that ends past the limit is refused too.
            lines = conn.head[: end or len(conn.head)]
            response, _ = error_response(414 if b"\n" not in lines[:HEAD_LIMIT] else 431)
            with contextlib.suppress(OSError):
                conn.sock.send(response)
            self.drop_head(table, conn)

    def release_head(self, table: OrderedDict, conn: TConn) -> bool:
        """Forget ``conn``'s wait for a head; whether it was waiting."""
        if table.pop(conn, None) is None:
            return False
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        return True

    def drop_head(self, table: OrderedDict, conn: TConn) -> None:
        if not self.release_head(table, conn):
            return  # already dropped
        if table is self.heads:
            self.nr_conns -= 1
        conn.close()

    def drop_keepalived(self) -> None:
        """Close the kept-alive connection idle the longest."""
        conn = self.keepalived_conns.popleft()
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_keepalived(self, force: bool = False) -> None:
        """gthread's keep-alive expiry, plus heads past their deadline (all of them once stopping has lingered)."""
        super().murder_keepalived(force)
        now = time.monotonic()
        if not self.alive and self.stop_linger_until is None:
            self.stop_linger_until = now + STOP_KEEPALIVE_LINGER  # a client may be sending its request
        if self.stop_linger_until is not None and now >= self.stop_linger_until:
            force = True
        for table in (self.heads, self.probe_heads):
            while table:
                conn, deadline = next(iter(table.items()))
                if deadline > now and not force:
                    break
                self.drop_head(table, conn)
        while self.lingering and (force or next(iter(self.lingering.values())) <= now):
            self.end_linger(next(iter(self.lingering)))

    # --- the end of a request: gthread's, without blocking the main loop -----------------
    def finish_request(self, conn: TConn, fs) -> None:
        """gthread runs this on the main loop. Two of its paths wait on the client there: a
        connection to close lingers up to 2 s in a blocking read (util.close_graceful), and a
        next request read ahead with the last one goes to a request thread even when its head
        is not whole, so that thread waits for the client. Here the first lingers in the poller
        and the second waits for its head like any other."""
        result = None
        with contextlib.suppress(Exception):  # gthread's own handling of a failed request
            result = fs.result() if not fs.cancelled() else False
        if result is False:
            self.nr_conns -= 1
            self.linger(conn)
            return
        if result and result is not _DEFER and self.alive:
            ahead = conn.parser.unreader.buf.getvalue()
            if ahead and _head_end(ahead) is None:
                conn.parser.unreader.buf = io.BytesIO()
                conn.sock.setblocking(False)
                self.wait_for_head(conn, self.heads, self.head_timeout, self.enqueue_req, head=ahead)
                return
        super().finish_request(conn, fs)

    def linger(self, conn: TConn) -> None:
        """util.close_graceful in the poller: FIN now, then drain until the client closes (2 s at most)."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            util.close(conn.sock)
            return
        while len(self.lingering) >= self.max_idle:
            self.end_linger(next(iter(self.lingering)))
        self.lingering[conn] = time.monotonic() + LINGER
        conn.drained = 0
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.drain, conn))

    def drain(self, conn: TConn, _sock) -> None:
        if conn not in self.lingering:
            return
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained >= LINGER_DRAIN:
            self.end_linger(conn)

    def end_linger(self, conn: TConn) -> None:
        if self.lingering.pop(conn, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        util.close(conn.sock)

    def handle(self, conn: TConn):
        """gthread's handling, fed the head the main loop has read."""
        prefetched = conn.__dict__.pop("prefetched", None)
        if prefetched is not None:
            try:
                conn.init()  # blocking again; the parser (kept-alive connections keep theirs)
            except OSError:
                return False
            conn.parser.unreader.unread(prefetched)
        return super().handle(conn)

    # --- probes ------------------------------------------------------------------------
    def submit_probe(self, conn: TConn) -> None:
        self.probe_pool.submit(self.serve_probe, conn)

    def serve_probe(self, conn: TConn) -> None:
        """One request with gthread's own handling, on a probe thread, within PROBE_DEADLINE."""
        watchdog = threading.Timer(PROBE_DEADLINE, _cut_off, (conn.sock,))
        watchdog.daemon = True
        watchdog.start()
        self.probe_threads.serving = True
        try:
            self.handle(conn)
        finally:
            self.probe_threads.serving = False
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
