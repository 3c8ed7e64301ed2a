"""Probes that tell the truth under abuse: the real gunicorn with gunicorn.conf.py, on 127.0.0.1.

The counts are the issue's: 2,100 idle connections on the traffic port made `/` fail for
44 s while /livez and /readyz stayed 200; 8 slow clients on the probe port made /livez
time out, 64 kept it failing. Every assertion is about what answers, not how fast,
beyond the timeouts the Deployment's probes themselves use.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import threading
import time

import pytest

from harness.testing import server as srv
from harness.testing.abuser import closed
from tests.app.test_edge import _probes, _serving

pytestmark = pytest.mark.slow

IDLE = 2100  # idle connections on the traffic port (the count)
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: slow\r\n"


def _probe_timeout(path: str) -> int:
    return next(timeout for _, probe_path, _, timeout in _probes() if probe_path == path)


@pytest.fixture(autouse=True)
def _enough_file_descriptors():
    """The clients' sockets live in this process: raise its soft limit if it is too low for them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE + 512
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"ulimit -n: hard limit {hard} is below the {wanted} descriptors this test holds")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def _clients(port: int, count: int, first: bytes = b"", trickle: bool = False):
    """``count`` connections that send ``first`` and nothing more (or a header line every half
    second with ``trickle``), each replaced by a new one as soon as the server closes it."""
    stop = threading.Event()
    socks: list[socket.socket] = []

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first:
            sock.sendall(first)
        sock.setblocking(False)
        return sock

    def keep_up() -> None:
        line = 0
        while not stop.wait(0.5):
            line += 1
            for i, sock in enumerate(socks):
                try:
                    if sock.recv(1024) == b"":  # closed by the server: come back
                        sock.close()
                        socks[i] = connect()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    sock.close()
                    with contextlib.suppress(OSError):
                        socks[i] = connect()
                    continue
                if trickle:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X-Slow-%d: y\r\n" % line)

    thread = threading.Thread(target=keep_up, daemon=True)
    try:
        for _ in range(count):
            socks.append(connect())
        if trickle or first:
            thread.start()
        time.sleep(0.5)  # the workers accept them
        yield socks
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=10)
        for sock in socks:
            sock.close()


def _wait_closed(socks: list[socket.socket], within: float, allowed: int = 0) -> list[socket.socket]:
    """Those of ``socks`` still open after ``within`` seconds (sooner once at most ``allowed`` are)."""
    open_ = list(socks)
    deadline = time.monotonic() + within
    while len(open_) > allowed and time.monotonic() < deadline:
        open_ = [sock for sock in open_ if not closed(sock)]
        time.sleep(0.1)
    return open_


@pytest.mark.parametrize("slow", [8, 64])
def test_probes_answer_while_slow_clients_hold_the_probe_port(tmp_path, slow):
    """Slow clients trickling header lines, replaced as soon as they are dropped, cannot starve the kubelet."""
    with (
        _serving(tmp_path, WEB_CONCURRENCY="2") as (_, ports),
        _clients(ports["PROBE_PORT"], slow, PARTIAL_HEAD, trickle=True),
    ):
        for _ in range(5):
            for kind, path, _, timeout in _probes():
                try:
                    status, body = srv.get(ports["PROBE_PORT"], path, timeout=timeout)
                except OSError as exc:
                    pytest.fail(f"{kind} {path}: {exc!r} within {timeout}s with {slow} slow clients on the probe port")
                assert status == 200, (kind, body)
            time.sleep(0.3)


def test_probe_connections_beyond_the_cap_are_shed(tmp_path):
    """64 connections that send nothing on the probe port, 4 allowed per worker and a minute to send:
    the oldest are closed as new ones come, and /livez answers."""
    with (
        _serving(tmp_path, WEB_CONCURRENCY="2", PROBE_MAX_CONNECTIONS="4", PROBE_HEAD_TIMEOUT_MS="60000") as (_, ports),
        _clients(ports["PROBE_PORT"], 64) as idle,
    ):
        assert srv.get(ports["PROBE_PORT"], "/livez", timeout=_probe_timeout("/livez"))[0] == 200
        still_open = _wait_closed(idle, within=10, allowed=2 * 4)
        assert len(still_open) <= 2 * 4, f"{len(still_open)} of 64 idle probe connections still open"


def test_root_and_probes_answer_while_idle_connections_hold_the_traffic_port(tmp_path):
    """2,100 connections that send nothing: `/` still answers, and the probes say so."""
    with (
        _serving(tmp_path, WEB_CONCURRENCY="2") as (server, ports),
        _clients(server.port, IDLE),
    ):
        for _ in range(5):
            try:
                status, body = srv.get(server.port, "/", timeout=2)
            except OSError as exc:
                pytest.fail(f"/ with {IDLE} idle connections: {exc!r}")
            assert status == 200, body
            assert srv.get(ports["PROBE_PORT"], "/readyz", timeout=_probe_timeout("/readyz"))[0] == 200
            assert srv.get(ports["PROBE_PORT"], "/livez", timeout=_probe_timeout("/livez"))[0] == 200


def test_idle_connections_beyond_the_cap_are_shed(tmp_path):
    """With 20 idle connections allowed per worker and a minute to send a request, 2,100 idle
    connections leave at most 40 open: the oldest are closed as new ones come."""
    with (
        _serving(tmp_path, WEB_CONCURRENCY="2", MAX_IDLE_CONNECTIONS="20", REQUEST_HEAD_TIMEOUT="60") as (server, _),
        _clients(server.port, IDLE) as idle,
    ):
        assert srv.get(server.port, "/", timeout=2)[0] == 200
        still_open = _wait_closed(idle, within=10, allowed=2 * 20)
        assert len(still_open) <= 2 * 20, f"{len(still_open)} of {IDLE} idle connections still open"


def _ask_livez(sock: socket.socket) -> bytes:
    """GET /livez on a kept-alive connection: the whole response (its body ends the JSON line)."""
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: kept\r\n\r\n")
    received = b""
    while not received.endswith(b"}\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_connections_without_a_whole_request_are_closed_after_the_timeout(tmp_path):
    """Silent ones and ones trickling header lines alike, 2 s allowed; a kept-alive one is not cut by it."""
    with (
        _serving(tmp_path, WEB_CONCURRENCY="2", REQUEST_HEAD_TIMEOUT="2") as (server, _),
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as kept,
    ):
        assert _ask_livez(kept).startswith(b"HTTP/1.1 200")
        silent = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(50)]
        slow = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(20)]
        try:
            for sock in silent + slow:
                sock.setblocking(False)
            for sock in slow:
                sock.sendall(PARTIAL_HEAD)
            started = time.monotonic()
            open_ = silent + slow
            while open_ and time.monotonic() - started < 6:
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X-Slow: y\r\n")
                open_ = [sock for sock in open_ if not closed(sock)]
                time.sleep(0.25)
            assert not open_, f"{len(open_)} of 70 connections without a whole request still open after 6 s"
            # Kept alive (GUNICORN_KEEPALIVE, 75 s) across the head timeout, and still served.
            assert _ask_livez(kept).startswith(b"HTTP/1.1 200")
        finally:
            for sock in silent + slow:
                sock.close()


def test_readyz_turns_503_while_the_traffic_port_cannot_take_a_request_and_back(tmp_path):
    """Every request thread busy (1 worker x 2 threads, 6 requests of 2.5 s): /readyz on the probe port
    says so while /livez stays 200, and /readyz is 200 again once the port answers."""
    with _serving(tmp_path, app="tests.app.slow_wsgi:app", WEB_CONCURRENCY="1", GUNICORN_THREADS="2") as (
        server,
        ports,
    ):
        statuses: list[object] = []
        busy = [
            threading.Thread(target=lambda: statuses.append(srv.get(server.port, "/slow", timeout=30)[0]))
            for _ in range(6)
        ]
        for thread in busy:
            thread.start()
        try:
            time.sleep(0.3)
            status, body = srv.get(ports["PROBE_PORT"], "/readyz", timeout=_probe_timeout("/readyz"))
            assert status == 503, body
            assert "traffic port" in json.loads(body)["reason"]
            assert srv.get(ports["PROBE_PORT"], "/livez", timeout=_probe_timeout("/livez"))[0] == 200
        finally:
            for thread in busy:
                thread.join(timeout=30)
        assert statuses == [200] * 6
        deadline = time.monotonic() + 5
        while (status := srv.get(ports["PROBE_PORT"], "/readyz", timeout=2)[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /" + b"a" * 70_000, 414),  # no line end in 64 KiB
        (b"GET / HTTP/1.1\r\n" + b"X-Big: y\r\n" * 7_000, 431),  # no end of the head in 64 KiB
        # A whole head that ends past the limit, sent at once (one read holds it all): refused too.
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-Big-%d: %s\r\n" % (i, b"y" * 7_900) for i in range(9)) + b"\r\n", 431),
    ],
)
def test_a_head_that_never_ends_within_the_limit_gets_a_json_error(tmp_path, head, status):
    with (
        _serving(tmp_path, WEB_CONCURRENCY="1") as (server, _),
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        with contextlib.suppress(OSError):  # the server may answer and close before it has read it all
            sock.sendall(head)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 %d " % status), received[:200]
        assert b"application/json" in received


def _worker_exceptions(server) -> int:
    return server.log_path.read_text(errors="replace").count("Exception in worker process")


@contextlib.contextmanager
def _fast_tricklers(port: int, count: int, seconds: float):
    """``count`` clients that send a request head one byte every 20 ms, reconnecting when closed."""
    stop = threading.Event()

    def run() -> None:
        socks: list[socket.socket | None] = [None] * count
        try:
            while not stop.is_set():
                for i, sock in enumerate(socks):
                    try:
                        if sock is None:
                            sock = socks[i] = socket.create_connection(("127.0.0.1", port), timeout=2)
                            sock.sendall(PARTIAL_HEAD)
                        sock.sendall(b"X")
                    except OSError:
                        if sock is not None:
                            sock.close()
                        socks[i] = None
                stop.wait(0.02)
        finally:
            for sock in socks:
                if sock is not None:
                    sock.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(seconds)
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def test_evicting_a_connection_whose_bytes_are_already_selected_never_crashes_a_worker(tmp_path):
    """Fast tricklers beyond the caps on both ports: connections are evicted while their read
    event is already selected (or their descriptor reused). No worker exception, no restart."""
    with _serving(tmp_path, WEB_CONCURRENCY="1", PROBE_MAX_CONNECTIONS="4", MAX_IDLE_CONNECTIONS="8") as (
        server,
        ports,
    ):
        with _fast_tricklers(ports["PROBE_PORT"], 40, 4), _fast_tricklers(ports["PORT"], 40, 0):
            pass
        assert srv.get(ports["PORT"], "/livez", timeout=5)[0] == 200
        assert _worker_exceptions(server) == 0, server.log()


def test_clients_that_ask_to_close_and_never_do_do_not_stall_the_probes(tmp_path):
    """`Connection: close` requests whose clients neither read nor close: gthread lingered on
    each (up to 2 s) in the worker's main loop, so /livez timed out. Here they linger in the poller."""
    request = b"GET /livez HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    held: list[socket.socket] = []
    with _serving(tmp_path, WEB_CONCURRENCY="1") as (_, ports):
        try:
            for _ in range(8):
                for _ in range(4):
                    sock = socket.create_connection(("127.0.0.1", ports["PORT"]), timeout=5)
                    sock.sendall(request)
                    held.append(sock)
                for _, path, setting, timeout in _probes():
                    try:
                        status, _ = srv.get(ports[setting], path, timeout=timeout)
                    except OSError as exc:
                        pytest.fail(f"{path}: {exc!r} within {timeout}s while {len(held)} closing clients hang on")
                    assert status == 200
        finally:
            for sock in held:
                sock.close()


def test_a_partial_next_request_read_with_the_last_one_waits_in_the_main_loop(tmp_path):
    """A whole request plus the start of the next in one packet: gthread handed that start to a
    request thread, which waited for the rest for as long as the client held it. Here it waits
    for its head like any other (REQUEST_HEAD_TIMEOUT), and `/` keeps answering."""
    with _serving(tmp_path, WEB_CONCURRENCY="1", REQUEST_HEAD_TIMEOUT="3") as (server, ports):
        holders = [socket.create_connection(("127.0.0.1", ports["PORT"]), timeout=5) for _ in range(6)]
        try:
            for sock in holders:
                sock.sendall(b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost")
            time.sleep(0.5)
            assert srv.get(ports["PORT"], "/", timeout=3)[0] == 200, "a request thread is free"
            for sock in holders:
                sock.settimeout(10)
                received = b""
                with contextlib.suppress(OSError):
                    while chunk := sock.recv(65536):
                        received += chunk
                assert received.count(b"HTTP/1.1 200") == 1, received[:300]  # then closed at the deadline
        finally:
            for sock in holders:
                sock.close()
        assert _worker_exceptions(server) == 0
