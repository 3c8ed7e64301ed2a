"""The image's contract, tested without a Docker engine.

The GitHub workflow builds and smoke-tests the real image; here we check what the
Dockerfile promises and run the same command, as the same numeric user, with the
same environment, on a read-only root filesystem with a writable tmpfs as TMPDIR.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

from gitops.toolchain import repo_root
from harness.testing import server as srv

ROOT = repo_root()

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in _final_stage():
        if keyword == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def test_every_base_is_pinned_by_digest_with_its_tag():
    """Every stage starts FROM the BASE build argument, whose default is pinned by tag and digest
    (the local stack passes a base of its own: harness/stack/image.py)."""
    instructions = _instructions()
    bases = [rest for kw, rest in instructions if kw == "FROM"]
    assert len(bases) >= 2, "multi-stage build"
    for base in bases:
        assert re.fullmatch(r"\$\{BASE\} AS \w+", base), base
    first_from = min(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    defaults = [
        rest.partition("=")[2] for kw, rest in instructions[:first_from] if kw == "ARG" and rest.startswith("BASE=")
    ]
    assert len(defaults) == 1, "one ARG BASE=... before the first FROM"
    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", defaults[0]), defaults[0]


def test_runs_as_numeric_non_root_user():
    users = [rest for kw, rest in _final_stage() if kw == "USER"]
    assert users, "final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) >= 10000
    assert gid.isdigit()
    assert int(gid) != 0


def test_cmd_is_the_same_command_as_make_run():
    cmd = json.loads(next(rest for kw, rest in _final_stage() if kw == "CMD"))
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n\t(.+)$", makefile, re.M).group(1)
    make_cmd = shlex.split(recipe.replace("exec ", "").replace("$(BIN)/", ""))
    assert cmd == make_cmd == ["gunicorn", "--config", "gunicorn.conf.py", "flask_app.wsgi:app"]


def test_build_args_become_env_and_labels():
    final = _final_stage()
    args = {rest.split("=")[0] for kw, rest in final if kw == "ARG"}
    assert {"VERSION", "GIT_SHA", "BUILD_DATE", "IMAGE_TAG"} <= args
    env = _image_env()
    assert env["APP_VERSION"] == "${VERSION}"
    assert env["GIT_SHA"] == "${GIT_SHA}"
    assert env["BUILD_DATE"] == "${BUILD_DATE}"
    labels = " ".join(rest for kw, rest in final if kw == "LABEL")
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.revision="${GIT_SHA}"' in labels


def test_exposes_the_traffic_and_probe_ports():
    env = _image_env()
    exposed = [rest.split() for kw, rest in _final_stage() if kw == "EXPOSE"]
    assert exposed == [[env["PORT"], env["PROBE_PORT"]]]
    healthcheck = next(rest for kw, rest in _final_stage() if kw == "HEALTHCHECK")
    assert f"127.0.0.1:{env['PROBE_PORT']}/livez" in healthcheck


def test_final_stage_copies_only_runtime_files():
    copies = [rest for kw, rest in _final_stage() if kw == "COPY"]
    sources = [c.split()[-2] for c in copies]
    assert sources == ["/opt/venv", "gunicorn.conf.py", "src/flask_app"]
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "*"
    for path in ("gunicorn.conf.py", "requirements/runtime.txt", "src/flask_app/"):
        assert f"!{path}" in ignore


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux mount namespaces")
def test_image_command_runs_as_its_user_on_read_only_root(tmp_path):
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.fail("util-linux (unshare, setpriv) is required for this test")
    uid, _, gid = next(rest for kw, rest in _final_stage() if kw == "USER").partition(":")
    env = _image_env()
    env.update({"APP_VERSION": "1.2.3", "GIT_SHA": "feedbee", "BUILD_DATE": "2026-11-26"})
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PATH"] = f"{srv.GUNICORN.parent}:/usr/bin:/bin"
    # /mnt becomes a private tmpfs: TMPDIR lives there (the pod's emptyDir at /tmp; not
    # /tmp itself, since this checkout may live under /tmp).
    env["TMPDIR"] = "/mnt/tmp"
    cmd = json.loads(next(rest for kw, rest in _final_stage() if kw == "CMD"))
    inner = " ".join(shlex.quote(part) for part in cmd)
    # This machine's Python may live under /root (mode 0700), where the image's user
    # cannot reach it; in the image it lives under /usr/local. Re-expose only it.
    expose = ""
    base = shlex.quote(sys.base_prefix)
    if sys.base_prefix.startswith("/root/"):
        expose = (
            f"mkdir /mnt/base && mount --bind {base} /mnt/base && mount -t tmpfs -o mode=755 tmpfs /root && "
            f"mkdir -p {base} && mount --bind /mnt/base {base} && mount -o remount,ro /root && "
        )
    script = (
        "mount --make-rprivate / && mount -t tmpfs -o mode=755 tmpfs /mnt && "
        "mkdir -m 1777 /mnt/tmp && " + expose + "mount -o remount,bind,ro / && "
        f"exec setpriv --reuid={uid} --regid={gid} --clear-groups --inh-caps=-all "
        f"--bounding-set=-all env HOME=/nonexistent HOST=127.0.0.1 PORT={{port}} PROBE_PORT={{probe_port}} {inner}"
    )
    port = probe_port = srv.free_port()
    while probe_port == port:
        probe_port = srv.free_port()
    server = srv.start(
        tmp_path,
        command=["unshare", "--mount", "sh", "-c", script.format(port=port, probe_port=probe_port)],
        **env,
    )
    server.port = port
    try:
        server.wait_ready()
        assert srv.get(probe_port, "/livez")[0] == 200
        status, body = srv.get(port, "/version")
        assert status == 200
        assert json.loads(body)["version"] == "1.2.3"
        assert json.loads(body)["commit"] == "feedbee"
        owner = subprocess.run(
            ["ps", "-o", "uid=", "-p", str(server.process.pid)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert owner == uid
    finally:
        assert server.stop(signal.SIGINT) == 0, server.log()
