"""The API servers' egress proxy (harness/stack/egress.py): a real process on Unix sockets,
asked with CONNECT the way kube-apiserver's egress selector asks (HTTPConnect over uds)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.stack.egress import Rule

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                while data := client.recv(4096):
                    client.sendall(b"echo:" + data)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.fixture
def proxy(tmp_path):
    server, port = echo_server()
    direct, fixed = tmp_path / "direct.sock", tmp_path / "fixed.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.stack.egress", f"{direct}=direct:127.0.0.0/8",
         f"{fixed}=to:127.0.0.1:{port}"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not (direct.exists() and fixed.exists()):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the proxy never listened"
        time.sleep(0.05)
    try:
        yield direct, fixed, port
    finally:
        process.terminate()
        process.wait(10)
        server.close()


def connect(path: Path, head: bytes) -> tuple[socket.socket, bytes]:
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(5)
    client.connect(str(path))
    client.sendall(head)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = client.recv(4096)
        if not chunk:
            break
        answer += chunk
    return client, answer


def test_a_connect_the_rule_allows_is_tunnelled(proxy):
    direct, fixed, port = proxy
    for path, authority in ((direct, f"127.0.0.1:{port}"), (fixed, "10.96.0.10:443")):
        client, answer = connect(path, f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        with client:
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            client.sendall(b"ping")
            assert client.recv(100) == b"echo:ping"


@pytest.mark.parametrize(
    ("which", "head"),
    [
        ("direct", b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n"),  # outside the rule's networks
        ("direct", b"CONNECT dev-node:10250 HTTP/1.1\r\n\r\n"),  # a name, not an address
        ("direct", b"CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n"),
        ("direct", b"GET / HTTP/1.1\r\n\r\n"),
        ("fixed", b"CONNECT 10.96.0.10:10250 HTTP/1.1\r\n\r\n"),  # the fixed rule takes port 443 only
        ("fixed", b"CONNECT 10.96.0.10:443\r\n\r\n"),
    ],
)
def test_anything_else_is_refused(proxy, which, head):
    direct, fixed, _ = proxy
    client, answer = connect(direct if which == "direct" else fixed, head)
    with client:
        assert answer.startswith(b"HTTP/1.1 403 "), answer


def test_clients_that_send_nothing_do_not_hold_up_the_others(proxy):
    direct, _, port = proxy
    idle = [socket.socket(socket.AF_UNIX) for _ in range(50)]
    for client in idle:
        client.connect(str(direct))
    client, answer = connect(direct, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    with client:
        assert answer.startswith(b"HTTP/1.1 200 ")
    for client in idle:
        client.close()


def test_a_rule_is_checked_when_the_proxy_starts():
    with pytest.raises(ValueError, match="a rule is"):
        Rule("to:somewhere")
    result = subprocess.run([sys.executable, "-m", "harness.stack.egress", "/tmp/x.sock=bogus"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("egress: ")
