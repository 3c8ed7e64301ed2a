"""The service at the edge: the real gunicorn with gunicorn.conf.py, on 127.0.0.1.

Slow clients must not starve the kubelet's probes, hostile methods must not grow
/metrics, every malformed request gets the same JSON error and headers as any other
error, and a body over the limit gets 413 whether or not its length is declared.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import signal
import socket
import string
import subprocess
import threading
import time

import pytest
import yaml

from flask_app.middleware import SECURITY_HEADERS
from gitops.toolchain import repo_root
from harness.testing import server as srv
from tests.app.test_image import _image_env

ROOT = repo_root()

pytestmark = pytest.mark.slow

DEPLOYMENT = ROOT / "apps" / "flask-app" / "base" / "deployment.yaml"
# The method label's values: the methods of RFC 9110 and PATCH, and one for the rest.
METHOD_LABELS = {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "_OTHER"}


@contextlib.contextmanager
def _serving(tmp_path, **env):
    """A running server and the port behind each port setting of the image."""
    with socket.socket() as held:  # held while the server's own port is picked, so the two differ
        held.bind(("127.0.0.1", 0))
        ports = {"PROBE_PORT": held.getsockname()[1]}
        server = srv.start(tmp_path, PROBE_PORT=str(ports["PROBE_PORT"]), **env)
    ports["PORT"] = server.port
    try:
        server.wait_ready()
        yield server, ports
    finally:
        try:
            server.stop(signal.SIGINT, timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)


def _probes() -> list[tuple[str, str, str, int]]:
    """(kind, path, port setting, timeout) of each probe the Deployment declares."""
    (container,) = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]["containers"]
    numbers = {port["name"]: port["containerPort"] for port in container["ports"]}
    setting = {int(value): name for name, value in _image_env().items() if name.endswith("PORT") and value.isdigit()}
    probes = []
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        http_get = container[kind]["httpGet"]
        number = int(numbers.get(http_get["port"], http_get["port"]))
        probes.append((kind, http_get["path"], setting[number], container[kind]["timeoutSeconds"]))
    return probes


@contextlib.contextmanager
def _slow_clients(port: int, count: int):
    """``count`` connections that send a request head one header line every half second, never ending it."""
    stop = threading.Event()
    socks: list[socket.socket] = []

    def trickle() -> None:
        for line in itertools.count():
            if stop.wait(0.5):
                return
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow-%d: y\r\n" % line)

    thread = threading.Thread(target=trickle, daemon=True)
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(sock)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: slow\r\n")
        thread.start()
        time.sleep(0.5)  # the workers accept them and hand them to their threads
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=5)
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("slow", [8, 256])
def test_probes_answer_while_slow_clients_hold_the_traffic_port(tmp_path, slow):
    """The kubelet's probes, as the Deployment declares them, within their timeouts (2 workers x 2 threads)."""
    with (
        _serving(tmp_path, WEB_CONCURRENCY="2", GUNICORN_THREADS="2") as (server, ports),
        _slow_clients(server.port, slow),
    ):
        for kind, path, setting, timeout in _probes():
            for _ in range(5):
                try:
                    status, _ = srv.get(ports[setting], path, timeout=timeout)
                except OSError as exc:
                    pytest.fail(f"{kind} {path} on {setting}: {exc!r} within {timeout}s with {slow} slow clients")
                assert status == 200, f"{kind} {path}"


def test_a_stalled_connection_on_the_probe_port_is_cut_off(tmp_path):
    with _serving(tmp_path, WEB_CONCURRENCY="1") as (_, ports):
        with socket.create_connection(("127.0.0.1", ports["PROBE_PORT"]), timeout=15) as stalled:
            stalled.sendall(b"GET /livez HTTP/1.1\r\n")
            assert srv.get(ports["PROBE_PORT"], "/livez", timeout=2)[0] == 200
            assert stalled.recv(1024) == b"", "the server closes a request that never ends"
        assert srv.get(ports["PROBE_PORT"], "/readyz", timeout=2)[0] == 200


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    with _serving(tmp_path_factory.mktemp("edge"), WEB_CONCURRENCY="2") as (server, ports):
        yield server, ports


def _metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    samples = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line[len(name) + 1 :].rpartition("} ")
            pairs = (pair.split("=", 1) for pair in labels.split(","))
            samples.append(({key: raw.strip('"') for key, raw in pairs}, float(value)))
    return samples


def test_metrics_stay_bounded_whatever_the_methods(edge):
    server, _ = edge
    letters = itertools.product(string.ascii_uppercase, repeat=4)
    methods = ["".join(method) for method in itertools.islice(letters, 2000)]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for method in methods:
            conn.request(method, "/")
            conn.getresponse().read()
    finally:
        conn.close()
    status, body = srv.get(server.port, "/metrics")
    assert status == 200
    text = body.decode()
    samples = _metric_samples(text, "http_requests_total")
    assert {labels["method"] for labels, _ in samples} <= METHOD_LABELS
    assert sum(value for labels, value in samples if labels["method"] == "_OTHER") == len(methods)
    assert len(body) < 64 * 1024, f"/metrics is {len(body)} bytes"


def _request(line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    return line + b"\r\nHost: edge\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


_CHUNKED = b"Transfer-Encoding: chunked"
# Requests gunicorn or the app must refuse. Each gets a JSON error with the usual headers.
MALFORMED = {
    "garbage-line": b"GARBAGE\r\n\r\n",
    "method-only": b"GET\r\n\r\n",
    "http-0.9": b"GET /\r\n\r\n",
    "extra-token": _request(b"GET / HTTP/1.1 extra"),
    "version-2.0": _request(b"GET / HTTP/2.0"),
    "version-9.9": _request(b"GET / HTTP/9.9"),
    "version-0.9": _request(b"GET / HTTP/0.9"),
    "bad-protocol": _request(b"GET / HTTX/1.1"),
    "version-without-dot": _request(b"GET / HTTP/11"),
    "lowercase-method": _request(b"get / HTTP/1.1"),
    "short-method": _request(b"GE / HTTP/1.1"),
    "long-method": _request(b"G" * 25 + b" / HTTP/1.1"),
    "hash-in-method": _request(b"GE#T / HTTP/1.1"),
    "digit-method": _request(b"1GET / HTTP/1.1"),
    "unknown-method": _request(b"FROB / HTTP/1.1"),
    "double-space": _request(b"GET  / HTTP/1.1"),
    "leading-space": _request(b" GET / HTTP/1.1"),
    "tab-separator": _request(b"GET\t/ HTTP/1.1"),
    "nul-in-target": _request(b"GET /\x00 HTTP/1.1"),
    "space-in-target": _request(b"GET /a b HTTP/1.1"),
    "bad-absolute-target": _request(b"GET http://[::1 HTTP/1.1"),
    "asterisk-target": _request(b"GET * HTTP/1.1"),
    "non-utf8-target": _request(b"GET /\xff\xfe HTTP/1.1"),
    "bad-percent-escape": _request(b"GET /%zz HTTP/1.1"),
    "absolute-form-unknown": _request(b"GET http://example.com/nope HTTP/1.1"),
    "target-too-long": _request(b"GET /" + b"a" * 5000 + b" HTTP/1.1"),
    "bare-cr-in-line": b"GET / HTTP/1.1\rHost: edge\r\n\r\n",
    "unexpected-proxy-line": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n" + _request(b"GET / HTTP/1.1"),
    "h2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "connect": _request(b"CONNECT example.com:443 HTTP/1.1"),
    "no-host-http-1.1": b"GET /nope HTTP/1.1\r\n\r\n",
    "two-hosts": _request(b"GET / HTTP/1.1", b"Host: other"),
    "header-without-colon": _request(b"GET / HTTP/1.1", b"Foo"),
    "space-in-header-name": _request(b"GET / HTTP/1.1", b"Fo o: bar"),
    "space-before-colon": _request(b"GET / HTTP/1.1", b"Foo : bar"),
    "empty-header-name": _request(b"GET / HTTP/1.1", b": bar"),
    "at-in-header-name": _request(b"GET / HTTP/1.1", b"Fo@o: bar"),
    "non-ascii-header-name": _request(b"GET / HTTP/1.1", b"F\xf6o: bar"),
    "nul-in-header-value": _request(b"GET / HTTP/1.1", b"Foo: a\x00b"),
    "cr-in-header-value": _request(b"GET / HTTP/1.1", b"Foo: a\rb"),
    "obsolete-line-folding": _request(b"GET / HTTP/1.1", b"Foo: a", b" b"),
    "too-many-header-fields": _request(b"GET / HTTP/1.1", *[b"X-%d: y" % i for i in range(120)]),
    "header-field-too-large": _request(b"GET / HTTP/1.1", b"X-Big: " + b"a" * 9000),
    "scheme-headers-disagree": _request(b"GET / HTTP/1.1", b"X-Forwarded-Proto: https", b"X-Forwarded-Ssl: off"),
    "expect-unknown": _request(b"POST / HTTP/1.1", b"Expect: teapot", b"Content-Length: 1", body=b"x"),
    "content-length-not-a-number": _request(b"POST / HTTP/1.1", b"Content-Length: abc"),
    "content-length-negative": _request(b"POST / HTTP/1.1", b"Content-Length: -1"),
    "content-length-plus": _request(b"POST / HTTP/1.1", b"Content-Length: +1", body=b"x"),
    "content-length-twice-differing": _request(
        b"POST / HTTP/1.1", b"Content-Length: 1", b"Content-Length: 2", body=b"xx"
    ),
    "content-length-list": _request(b"POST / HTTP/1.1", b"Content-Length: 1, 1", body=b"x"),
    "content-length-over-limit": _request(b"POST / HTTP/1.1", b"Content-Length: 2000000"),
    "content-length-and-chunked": _request(b"POST / HTTP/1.1", b"Content-Length: 3", _CHUNKED, body=b"0\r\n\r\n"),
    "transfer-coding-gzip": _request(b"POST / HTTP/1.1", b"Transfer-Encoding: gzip"),
    "transfer-coding-identity": _request(b"POST / HTTP/1.1", b"Transfer-Encoding: identity"),
    "chunked-twice": _request(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n"),
    "chunked-not-last": _request(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"),
    "chunked-on-http-1.0": _request(b"POST / HTTP/1.0", _CHUNKED, body=b"0\r\n\r\n"),
    "chunk-size-not-hex": _request(b"POST / HTTP/1.1", _CHUNKED, body=b"zz\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-negative": _request(b"POST / HTTP/1.1", _CHUNKED, body=b"-5\r\nhello\r\n0\r\n\r\n"),
    "chunk-without-terminator": _request(b"POST / HTTP/1.1", _CHUNKED, body=b"5\r\nhelloXX0\r\n\r\n"),
    "chunk-extension-with-nul": _request(b"POST / HTTP/1.1", _CHUNKED, body=b"5;\x00\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-huge": _request(b"POST / HTTP/1.1", _CHUNKED, body=b"f" * 40 + b"\r\nx\r\n0\r\n\r\n"),
    "json-body-on-a-probe": _request(
        b"POST /livez HTTP/1.1", b"Content-Type: application/json", b"Content-Length: 1", body=b"{"
    ),
}


def _exchange(port: int, *parts: bytes) -> bytes:
    """Send ``parts`` from a second thread (the server may answer before reading them all); read to EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:

        def send() -> None:
            with contextlib.suppress(OSError):
                for part in parts:
                    sock.sendall(part)
                sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        received = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received.append(chunk)
        sender.join(timeout=10)
        return b"".join(received)


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _assert_json_error(raw: bytes, status: int | None = None) -> int:
    assert raw, "no response"
    code, headers, body = _parse(raw)
    assert 400 <= code < 600 if status is None else code == status
    assert headers["content-type"] == "application/json", body[:200]
    for name, value in SECURITY_HEADERS:
        assert headers.get(name.lower()) == value, name
    error = json.loads(body)
    assert set(error) == {"error", "status", "request_id"}
    assert error["status"] == code
    assert error["request_id"] == headers["x-request-id"]
    return code


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_gets_a_json_error_with_the_usual_headers(edge, name):
    server, _ = edge
    _assert_json_error(_exchange(server.port, MALFORMED[name]))


def _chunked(size: int, piece: int = 64 * 1024) -> list[bytes]:
    full, rest = divmod(size, piece)
    chunks = [b"%x\r\n%s\r\n" % (piece, b"x" * piece)] * full
    if rest:
        chunks.append(b"%x\r\n%s\r\n" % (rest, b"x" * rest))
    return [*chunks, b"0\r\n\r\n"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_chunked_body_over_the_limit_gets_413(edge, method):
    server, _ = edge
    head = _request(f"{method} / HTTP/1.1".encode(), _CHUNKED)
    _assert_json_error(_exchange(server.port, head, *_chunked(2 * 1024 * 1024)), status=413)


def test_chunked_body_within_the_limit_is_served(edge):
    server, _ = edge
    head = _request(b"GET / HTTP/1.1", _CHUNKED, b"Connection: close")
    status, _, body = _parse(_exchange(server.port, head, *_chunked(100 * 1024)))
    assert status == 200
    assert json.loads(body)["service"] == "flask-app"
