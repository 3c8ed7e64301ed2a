"""The local git remote: real git clients against `python -m harness.stack.gitserver` on 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.stack.gitserver import MAX_BODY, REMOTE_USER
from harness.stack.webhook import github_push_payload

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

GIT_TIMEOUT = 60
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def start(root: Path, workdir: Path, *args: str) -> subprocess.Popen:
    log = (workdir / "gitserver.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "harness.stack.gitserver", "--root", str(root), *args],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    finally:
        log.close()


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    return proc.returncode


PASSWORD = secrets.token_urlsafe(16)


def password_file(folder: Path, mode: int = 0o600) -> Path:
    path = folder / "git-password"
    path.write_text(PASSWORD + "\n")
    path.chmod(mode)
    return path


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    root: Path
    log_path: Path
    password: str = PASSWORD

    def url(self, name: str, password: str | None = None) -> str:
        return f"http://{REMOTE_USER}:{password or self.password}@127.0.0.1:{self.port}/{name}.git"

    def auth(self) -> dict[str, str]:
        token = base64.b64encode(f"{REMOTE_USER}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(autouse=True)
def _git_env(monkeypatch, tmp_path):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    """A bare repository `seed.git` (one commit on main) served on a free port."""
    root = tmp_path / "repos"
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "--quiet", "--initial-branch=main")
    (seed / "README").write_text("seed\n")
    git(seed, "add", "README")
    git(seed, "commit", "--quiet", "-m", "initial")
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(root / "seed.git"))

    ready = tmp_path / "run" / "port"
    proc = start(
        root, tmp_path, "--port", "0", "--ready-file", str(ready), "--password-file", str(password_file(tmp_path))
    )
    log_path = tmp_path / "gitserver.log"
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            if proc.poll() is not None:
                raise AssertionError(f"gitserver exited with {proc.returncode}: {log_path.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"gitserver not ready within 15s: {log_path.read_text()}")
            time.sleep(0.02)
        yield Server(proc, int(ready.read_text()), root, log_path)
    finally:
        stop(proc)


def head(server: Server, name: str = "seed") -> str:
    out = git(server.root, "ls-remote", server.url(name), "refs/heads/main").stdout
    return out.split()[0] if out else ""


def commit_file(repo: Path, name: str, data: bytes, message: str) -> str:
    (repo / name).write_bytes(data)
    git(repo, "add", name)
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def test_clone_push_small_and_large_then_ls_remote(server, tmp_path):
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", server.url("seed"), str(work))
    assert (work / "README").read_text() == "seed\n"

    small = commit_file(work, "small.txt", b"hello\n", "small change")
    git(work, "push", "--quiet", "origin", "main")
    assert head(server) == small

    blob = os.urandom(3 * 1024 * 1024 // 2)  # incompressible, far above http.postBuffer
    large = commit_file(work, "large.bin", blob, "large change")
    trace = {"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"}
    pushed = git(work, "-c", "http.postBuffer=65536", "push", "origin", "main", env=trace)
    assert "transfer-encoding: chunked" in pushed.stderr.lower(), "the large push was not sent chunked"
    assert head(server) == large

    check = tmp_path / "check"
    git(tmp_path, "clone", "--quiet", server.url("seed"), str(check))
    assert (check / "large.bin").read_bytes() == blob
    assert (check / "small.txt").read_bytes() == b"hello\n"

    log = server.log()
    assert "POST /seed.git/git-receive-pack 200" in log
    assert "GET /seed.git/info/refs?service=git-upload-pack 200" in log


def test_protocol_v2_fetch(server, tmp_path):
    reader = tmp_path / "reader"
    writer = tmp_path / "writer"
    git(tmp_path, "-c", "protocol.version=2", "clone", "--quiet", server.url("seed"), str(reader))
    git(tmp_path, "clone", "--quiet", server.url("seed"), str(writer))
    new = commit_file(writer, "v2.txt", b"v2\n", "for the v2 fetch")
    git(writer, "push", "--quiet", "origin", "main")

    fetched = git(reader, "-c", "protocol.version=2", "fetch", "origin", env={"GIT_TRACE_PACKET": "1"})
    assert "version 2" in fetched.stderr, "the server did not answer with protocol v2"
    assert git(reader, "rev-parse", "origin/main").stdout.strip() == new


def test_ten_concurrent_clones(server, tmp_path):
    expected = head(server)

    def clone(i: int) -> str:
        dest = tmp_path / f"clone-{i}"
        git(tmp_path, "clone", "--quiet", server.url("seed"), str(dest))
        return git(dest, "rev-parse", "HEAD").stdout.strip()

    with ThreadPoolExecutor(max_workers=10) as pool:
        heads = list(pool.map(clone, range(10)))
    assert heads == [expected] * 10


def test_missing_repository_is_404(server, tmp_path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/missing.git/info/refs?service=git-upload-pack", headers=server.auth())
        response = conn.getresponse()
        response.read()
        assert response.status == 404
    finally:
        conn.close()
    failed = git(tmp_path, "ls-remote", server.url("missing"), check=False)
    assert failed.returncode != 0
    assert "GET /missing.git/info/refs?service=git-upload-pack 404" in server.log()


def test_oversized_body_is_413_without_reading_it(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", "/seed.git/git-receive-pack")
        conn.putheader("Content-Type", "application/x-git-receive-pack-request")
        conn.putheader("Content-Length", str(MAX_BODY + 1))
        for key, value in server.auth().items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        assert response.status == 413
    finally:
        conn.close()


def test_non_loopback_host_is_refused(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.stack.gitserver",
            "--root",
            str(tmp_path),
            "--port",
            "0",
            "--host",
            "0.0.0.0",
            "--password-file",
            str(password_file(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "0.0.0.0" in result.stderr


def test_sigterm_exits_cleanly(server):
    assert head(server)
    assert stop(server.proc) == 0
    assert server.log().rstrip().endswith("gitserver: stopped")


def test_github_push_payload_matches_served_url():
    before, after = "a" * 40, "b" * 40
    payload = github_push_payload("http://127.0.0.1:8418/gitops.git", "refs/heads/main", before, after)
    assert payload["ref"] == "refs/heads/main"
    assert (payload["before"], payload["after"]) == (before, after)
    assert payload["repository"] == {
        "html_url": "http://127.0.0.1:8418/gitops",
        "clone_url": "http://127.0.0.1:8418/gitops.git",
        "default_branch": "main",
    }
    assert payload["commits"] == [{"id": after, "added": [], "modified": [], "removed": []}]
    without_suffix = github_push_payload("http://127.0.0.1:8418/gitops", "main", before, after)
    assert without_suffix["repository"] == payload["repository"]
    assert github_push_payload("http://127.0.0.1:8418/gitops.git", "main", before, "0" * 40)["commits"] == []
    with pytest.raises(ValueError, match="not an http"):
        github_push_payload("/srv/gitops.git", "main", before, after)


@pytest.mark.parametrize("password", ["", "wrong-password"])
def test_requests_without_the_password_are_refused(server, tmp_path, password):
    """127.0.0.1 is every local user's: reads and pushes need the generated password (issue 24)."""
    before = head(server)
    url = server.url("seed").replace(
        f"{REMOTE_USER}:{server.password}@", f"{REMOTE_USER}:{password}@" if password else ""
    )
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    assert git(tmp_path, "ls-remote", url, env=env, check=False).returncode != 0
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", server.url("seed"), str(work))
    commit_file(work, "evil", b"x", "unreviewed")
    assert git(work, "push", url, "HEAD:refs/heads/main", env=env, check=False).returncode != 0
    assert head(server) == before
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/seed.git/info/refs?service=git-receive-pack")
        response = conn.getresponse()
        response.read()
        assert response.status == 401
        assert response.getheader("WWW-Authenticate", "").startswith("Basic")
    finally:
        conn.close()


def test_a_password_file_others_can_read_is_refused(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.stack.gitserver",
            "--root",
            str(tmp_path),
            "--port",
            "0",
            "--password-file",
            str(password_file(tmp_path, 0o644)),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "readable by others" in result.stderr
