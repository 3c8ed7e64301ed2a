"""The local git remote a local Argo CD reads: ``git http-backend`` (CGI) behind a loopback-only HTTP server.

Every bare repository under ``--root`` is served over git's smart HTTP protocol at
``http://127.0.0.1:PORT/<name>.git``, to the user ``gitops`` with the password in
``--password-file`` only (HTTP Basic: 127.0.0.1 is every local user's); clones and
fetches (protocol v0 and v2) and pushes work. git itself speaks
the protocol: this module only turns HTTP requests into CGI invocations and streams the answers back.

    python -m harness.stack.gitserver --root DIR --port 0 --ready-file PATH --password-file PATH
"""

from __future__ import annotations

import argparse
import base64
import hmac
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import unquote, urlsplit

from harness.stack.http import http_url, is_loopback
from harness.stack.procs import write_ready_file

MAX_BODY = 256 * 1024 * 1024  # request bodies (pushes) above this are refused with 413
REMOTE_USER = "gitops"  # http-backend allows receive-pack only for an authenticated user
COPY_SIZE = 64 * 1024
MAX_CGI_HEADERS = 64 * 1024
MAX_CHUNK_LINE = 4096
SHUTDOWN_GRACE = 10.0  # seconds in-flight requests get to finish after SIGTERM/SIGINT


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def log(message: str) -> None:
    sys.stderr.write(f"gitserver: {message}\n")
    sys.stderr.flush()


def base_environment() -> dict[str, str]:
    """The inherited environment minus anything that would point git at another repository or protocol."""
    local = subprocess.run(
        ["git", "rev-parse", "--local-env-vars"], capture_output=True, text=True, check=True
    ).stdout.split()
    drop = {*local, "GIT_PROTOCOL", "GIT_PROJECT_ROOT", "GIT_HTTP_EXPORT_ALL", "PATH_TRANSLATED"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("HTTP_", "CONTENT_"))}


class GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # Argo CD's components fetch in bursts

    def __init__(self, address: tuple[str, int], root: Path, password: str) -> None:
        self.root = root
        self.password = password
        self.env = base_environment()
        self.active: set[subprocess.Popen] = set()
        self.active_lock = threading.Lock()
        super().__init__(address, GitHandler)

    def wait_idle(self, timeout: float) -> None:
        """Let running git processes finish (a push must not be cut in half), then kill the stragglers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.active_lock:
                if not self.active:
                    return
            time.sleep(0.05)
        with self.active_lock:
            for proc in self.active:
                proc.kill()


class GitHTTPServer6(GitHTTPServer):
    address_family = socket.AF_INET6


class GitHandler(BaseHTTPRequestHandler):
    server: GitHTTPServer
    protocol_version = "HTTP/1.1"  # needed for 100-continue; every response still closes the connection
    server_version = "gitops-gitserver"
    sys_version = ""
    timeout = 120  # a stalled client may not hold a thread forever

    status: int = 0
    notes: str = ""  # git http-backend's stderr, folded into the request's log line

    # -- logging: exactly one line per request ----------------------------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.status = int(code) if isinstance(code, int) else 0

    def log_message(self, format: str, *args: Any) -> None:
        log(f"{self.address_string()} {format % args}")

    def log_done(self, started: float) -> None:
        ms = (time.monotonic() - started) * 1000
        notes = f" ({self.notes})" if self.notes else ""
        log(f"{self.address_string()} {self.command} {self.path} {self.status} {ms:.1f}ms{notes}")

    # -- HTTP ---------------------------------------------------------------------------------------------------

    def handle_expect_100(self) -> bool:
        length = self.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > MAX_BODY:
            started = time.monotonic()
            self.reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large\n")
            self.log_done(started)
            return False
        return super().handle_expect_100()

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def authenticate(self) -> None:
        """Every request, reads too, carries the user and the generated password (HTTP Basic)."""
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        expected = self.server.password  # type: ignore[attr-defined]
        good = scheme.lower() == "basic" and user == REMOTE_USER
        if not (hmac.compare_digest(password.encode(), expected.encode()) and good):
            raise BadRequest(HTTPStatus.UNAUTHORIZED, "authentication required")

    def reply(self, status: HTTPStatus, text: str, challenge: bool = False) -> None:
        body = text.encode()
        self.close_connection = True
        self.send_response(status)
        if challenge:
            self.send_header("WWW-Authenticate", 'Basic realm="flask-gitops"')
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def serve(self) -> None:
        started = time.monotonic()
        self.close_connection = True
        try:
            self.authenticate()
            path_info, query = self.split_path()
            with tempfile.TemporaryFile() as body:
                length = self.read_body(body)
                body.seek(0)
                self.run_cgi(path_info, query, body, length)
        except BadRequest as exc:
            try:
                self.reply(exc.status, f"{exc}\n", challenge=exc.status == HTTPStatus.UNAUTHORIZED)
            except OSError:
                self.status = exc.status
        except (BrokenPipeError, ConnectionResetError):
            self.status = self.status or 499  # client went away
        finally:
            self.log_done(started)

    def split_path(self) -> tuple[str, str]:
        raw_path, _, query = self.path.partition("?")
        if "://" in raw_path:  # absolute-form request target
            raw_path = urlsplit(raw_path).path
        path_info = unquote(raw_path)
        if not path_info.startswith("/") or "\0" in path_info or ".." in path_info.split("/"):
            raise BadRequest(HTTPStatus.NOT_FOUND, "not found")
        return path_info, query

    def read_body(self, out: IO[bytes]) -> int | None:
        """Copy the request body (de-chunked) into ``out``; None when the request has none."""
        encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if encoding:
            if encoding != "chunked":
                raise BadRequest(HTTPStatus.NOT_IMPLEMENTED, f"unsupported transfer encoding {encoding!r}")
            return self.read_chunked(out)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return 0 if self.command == "POST" else None
        if not length_header.strip().isdigit():
            raise BadRequest(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        length = int(length_header)
        if length > MAX_BODY:
            raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        self.copy_exactly(out, length, "request body shorter than Content-Length")
        return length

    def copy_exactly(self, out: IO[bytes], size: int, short: str) -> None:
        """Copy ``size`` bytes of the request body to ``out``; a 400 saying ``short`` if it ends first."""
        remaining = size
        while remaining:
            data = self.rfile.read(min(COPY_SIZE, remaining))
            if not data:
                raise BadRequest(HTTPStatus.BAD_REQUEST, short)
            out.write(data)
            remaining -= len(data)

    def read_chunked(self, out: IO[bytes]) -> int:
        total = 0
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE)
            if not line.endswith(b"\n"):
                raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed chunk size") from None
            if size < 0:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed chunk size")
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            self.copy_exactly(out, size, "truncated chunk")
            if self.rfile.readline(MAX_CHUNK_LINE).strip():
                raise BadRequest(HTTPStatus.BAD_REQUEST, "chunk not followed by CRLF")
        while True:  # trailers, up to the empty line
            line = self.rfile.readline(MAX_CHUNK_LINE)
            if not line.endswith(b"\n"):
                raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed chunked trailer")
            if not line.strip():
                return total

    def cgi_environment(self, path_info: str, query: str, length: int | None) -> dict[str, str]:
        host, port = self.server.server_address[:2]
        env = dict(self.server.env)
        env.update(
            GIT_PROJECT_ROOT=str(self.server.root),
            GIT_HTTP_EXPORT_ALL="1",
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_SOFTWARE=self.server_version,
            SERVER_PROTOCOL=self.request_version,
            SERVER_NAME=str(host),
            SERVER_PORT=str(port),
            REQUEST_METHOD=self.command,
            PATH_INFO=path_info,
            QUERY_STRING=query,
            REMOTE_ADDR=self.client_address[0],
            REMOTE_USER=REMOTE_USER,
        )
        if length is not None:
            env["CONTENT_LENGTH"] = str(length)
        optional = {
            "CONTENT_TYPE": "Content-Type",
            "HTTP_CONTENT_ENCODING": "Content-Encoding",
            "HTTP_ACCEPT": "Accept",
            "HTTP_USER_AGENT": "User-Agent",
            "GIT_PROTOCOL": "Git-Protocol",
        }
        for var, header in optional.items():
            value = self.headers.get(header)
            if value:
                env[var] = value.strip()
        return env

    def run_cgi(self, path_info: str, query: str, body: IO[bytes], length: int | None) -> None:
        env = self.cgi_environment(path_info, query, length)
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(
                ["git", "http-backend"],
                stdin=body if length else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=env,
                cwd=self.server.root,
            )
            with self.server.active_lock:
                self.server.active.add(proc)
            stdout = cast(io.BufferedReader, proc.stdout)
            try:
                self.relay(stdout)
            except BaseException:
                proc.kill()
                raise
            finally:
                stdout.close()
                proc.wait()
                with self.server.active_lock:
                    self.server.active.discard(proc)
                errors.seek(0)
                lines = errors.read(MAX_CGI_HEADERS).decode(errors="replace").splitlines()
                self.notes = "; ".join(line.strip() for line in lines if line.strip())

    def relay(self, stdout: io.BufferedReader) -> None:
        """Parse the CGI's headers (``Status:`` included) and stream its body to the client."""
        status, reason, headers = HTTPStatus.OK, "", []
        seen = 0
        while True:
            line = stdout.readline(MAX_CGI_HEADERS)
            seen += len(line)
            if not line.endswith(b"\n") or seen > MAX_CGI_HEADERS:
                raise BadRequest(HTTPStatus.BAD_GATEWAY, "git http-backend gave no valid response")
            text = line.decode("latin-1").rstrip("\r\n")
            if not text:
                break
            name, sep, value = text.partition(":")
            if not sep:
                raise BadRequest(HTTPStatus.BAD_GATEWAY, "git http-backend gave a malformed header")
            name, value = name.strip(), value.strip()
            if name.lower() == "status":
                code, _, reason = value.partition(" ")
                if not code.isdigit():
                    raise BadRequest(HTTPStatus.BAD_GATEWAY, "git http-backend gave a malformed status")
                status = int(code)
            elif name.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                headers.append((name, value))
        self.send_response(status, reason or None)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        while data := stdout.read1(COPY_SIZE):
            self.wfile.write(data)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gitserver", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="directory holding the bare repositories")
    parser.add_argument("--port", required=True, type=int, help="TCP port; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--ready-file", type=Path, help="written with the actual port once the socket listens")
    parser.add_argument(
        "--password-file",
        required=True,
        type=Path,
        help=f"the password every request must give, as user {REMOTE_USER!r} (HTTP Basic); a file only its owner reads",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_loopback(args.host):
        log(f"refusing to bind {args.host!r}: only loopback addresses are allowed")
        return 2
    root = args.root.resolve()
    if not root.is_dir():
        log(f"root {str(args.root)!r} is not a directory")
        return 2
    if not 0 <= args.port <= 65535:
        log(f"port {args.port} out of range")
        return 2
    try:
        password = args.password_file.read_text().strip()
        mode = args.password_file.stat().st_mode & 0o077
    except OSError as exc:
        log(f"--password-file {str(args.password_file)!r}: {exc.strerror}")
        return 2
    if not password or mode:
        log(f"--password-file {str(args.password_file)!r}: empty, or readable by others (chmod 600)")
        return 2
    host = "127.0.0.1" if args.host == "localhost" else args.host
    server_class = GitHTTPServer6 if ":" in host else GitHTTPServer
    try:
        server = server_class((host, args.port), root, password)
    except OSError as exc:
        log(f"cannot listen on {host}:{args.port}: {exc.strerror or exc}")
        return 1

    def stop(signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        port = server.server_address[1]
        if args.ready_file:
            write_ready_file(args.ready_file, port)
        log(f"serving {root} at {http_url(host, port)}<name>.git")
        server.serve_forever(poll_interval=0.2)
        server.wait_idle(SHUTDOWN_GRACE)
    finally:
        server.server_close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
