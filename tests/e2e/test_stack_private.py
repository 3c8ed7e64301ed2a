"""The local stack is its user's only (issue 24): another local user can neither read nor drive it.

A probe runs under another uid (nobody, through util-linux setpriv) against the running
stack of `make up`: the state folder and stack.json, Redis, etcd, the git remote over HTTP
and as files. The token `make up` prints reads and cannot sync, and a pushed tree's own
`gitops/` package never runs in the remote's hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from gitops.argocd_api import ArgoAPI
from gitops.errors import GitopsError
from harness.stack.argocd_procs import READER
from harness.stack.stack import app_state
from tests.e2e.test_argocd import app, commit_and_push, deploy_revision

pytestmark = pytest.mark.e2e
NOBODY = 65534

PROBE = r"""
import json, socket, ssl, subprocess, sys, urllib.error, urllib.request
a = json.loads(sys.argv[1])
out = {}
def attempt(name, fn):
    try:
        out[name] = "open: " + str(fn())[:120]
    except Exception as exc:
        out[name] = "refused: " + type(exc).__name__ + " " + str(exc)[:120]
attempt("state folder", lambda: __import__("os").listdir(a["state"]))
attempt("stack.json", lambda: open(a["stack_json"]).read())
def redis():
    s = socket.create_connection(("127.0.0.1", a["redis"]), 5)
    s.sendall(b"KEYS *\r\n")
    answer = s.recv(200).decode()
    if answer.startswith("-"):
        raise PermissionError(answer.strip())
    return answer
attempt("redis", redis)
def etcd(scheme):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    url = a["etcd"].replace("https", scheme) + "/v3/kv/range"
    request = urllib.request.Request(url, data=b'{"key": "Lw==", "range_end": "AA=="}')
    tls = context if scheme == "https" else None
    return urllib.request.urlopen(request, timeout=5, context=tls).read()
attempt("etcd https", lambda: etcd("https"))
attempt("etcd http", lambda: etcd("http"))
refs = a["git_url"] + "/info/refs?service=git-receive-pack"
attempt("git http", lambda: urllib.request.urlopen(refs, timeout=5).read())
def git_files():
    env = {"HOME": "/tmp", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(["git", "ls-remote", a["bare"]], capture_output=True, text=True, timeout=30, env=env)
    if r.returncode:
        raise PermissionError(r.stderr.strip()[:120])
    return r.stdout
attempt("git files", git_files)
print(json.dumps(out))
"""


def as_nobody(stack) -> dict[str, str]:
    assert os.geteuid() == 0, "the other-user probe needs root to switch uid (the e2e runs as root)"
    port = int((stack.state / "gitserver.port").read_text())
    args = {
        "state": str(stack.state),
        "stack_json": str(stack.state / "stack.json"),
        "redis": stack.argo.ports["redis"],
        "etcd": stack.plane.etcd_url,
        "git_url": f"http://127.0.0.1:{port}/{stack.bare.name}",
        "bare": str(stack.bare),
    }
    result = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--reset-env",
         "/usr/bin/python3", "-I", "-c", PROBE, json.dumps(args)],
        capture_output=True, text=True, timeout=120, check=False, cwd="/",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_another_local_user_can_neither_read_nor_drive_the_stack(stack):
    found = as_nobody(stack)
    opened = {name: what for name, what in found.items() if what.startswith("open")}
    assert not opened, found
    assert "NOAUTH" in found["redis"] or "Authentication" in found["redis"], found["redis"]
    assert "401" in found["git http"], found["git http"]
    assert oct(stack.state.stat().st_mode & 0o777) == "0o700"
    assert oct((stack.state / "stack.json").stat().st_mode & 0o777) == "0o600"


def test_the_printed_token_reads_and_cannot_sync(stack):
    info = json.loads((stack.state / "stack.json").read_text())
    reader = ArgoAPI(stack.argo.url, info["token"])
    assert info["token"] != stack.api.token
    assert app_state(reader.application(app("dev")))[0] in ("Synced", "OutOfSync")
    with pytest.raises(GitopsError, match=r"403|permission denied"):
        reader.sync(app("dev"))
    session = reader.call("GET", "/api/v1/session/userinfo")
    assert session.get("username") == READER


def test_a_pushed_gitops_package_never_runs_in_the_remote_hook(stack, work):
    marker = stack.state.parent / "hook-ran-pushed-code"
    subprocess.run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=work, check=True)  # others pushed
    package = work / "gitops"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('pushed code ran')\n")
    before = deploy_revision(stack)
    commit_and_push(work, "e2e: a gitops package in the pushed tree")
    stack.procs.until("deploy/local rebuilt", lambda: deploy_revision(stack) != before, 60)
    time.sleep(1)
    assert not marker.exists(), marker.read_text()
    subprocess.run(["git", "rm", "-rq", "gitops"], cwd=work, check=True)
    commit_and_push(work, "e2e: remove the pushed gitops package")
