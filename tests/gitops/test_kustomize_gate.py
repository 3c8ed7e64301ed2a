"""kustomize never reaches the network and never leaves the repository (GO125, GO126).

A TCP listener on 127.0.0.1 stands in for every remote: the remote entries point at it,
and HTTP(S)_PROXY points at it, so a fetch from github.com would reach it too. It must
see zero connections. A control run of the bare kustomize binary shows it would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops.cli import main
from gitops.errors import GitopsError
from gitops.kustomize import build, offline_env
from gitops.toolchain import tool

pytestmark = pytest.mark.slow


class Listener:
    """Counts TCP connections to 127.0.0.1:port (and answers none of them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener(monkeypatch) -> Iterator[Listener]:
    server = Listener()
    proxy = f"http://127.0.0.1:{server.port}"
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(key, proxy)
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(key, raising=False)
    yield server
    server.close()


REMOTE_FORMS = {
    "http": "http://127.0.0.1:{port}/deployment.yaml",
    "https": "https://127.0.0.1:{port}/deployment.yaml",
    "git-over-http": "git::http://127.0.0.1:{port}/org/repo.git//base?ref=main",
    "http-git-repository": "http://127.0.0.1:{port}/org/repo.git//base",
    "ssh": "ssh://git@127.0.0.1:{port}/org/repo.git",
    "scp-like": "git@127.0.0.1:org/repo.git",
    "github-no-scheme": "github.com/example-org/flask-gitops/apps/flask-app/base?ref=v1.0.0",
    "github-https": "https://github.com/example-org/flask-gitops//apps/flask-app/base?ref=main",
    "ref-query": "example-org/flask-gitops/base?ref=main",
    "gh-shorthand": "gh:example-org/flask-gitops",
    "file-url": "file:///etc",
}


def add(path: Path, field: str, value: str) -> None:
    """Append ``value`` to the list ``field`` of a kustomization (adding the field when missing)."""
    text = path.read_text()
    if f"\n{field}:\n" in text:
        text = text.replace(f"\n{field}:\n", f"\n{field}:\n  - {value}\n", 1)
    else:
        text += f"{field}:\n  - {value}\n"
    path.write_text(text)


def validate(repo: Path, *targets: str, capsys) -> tuple[int, list[str]]:
    code = main(["-C", str(repo), "validate", *(str(repo / t) for t in targets)])
    out = capsys.readouterr().out.splitlines()
    return code, out[:-1]


@pytest.mark.parametrize("field", ["resources", "components", "bases"])
@pytest.mark.parametrize("form", sorted(REMOTE_FORMS))
def test_remote_entries_are_refused_before_kustomize_runs(repo, listener, capsys, form, field):
    value = REMOTE_FORMS[form].format(port=listener.port)
    add(repo / "clusters/dev/kustomization.yaml", field, value)
    code, lines = validate(repo, "clusters/dev", capsys=capsys)
    assert code == 1
    assert [line.split(": ")[0] for line in lines] == ["GO125 clusters/dev/kustomization.yaml"], lines
    assert f": Kustomization: {field}[0]: '{value}' is " in lines[0]
    assert listener.connections == 0


def test_a_remote_deep_in_the_tree_blocks_every_target_that_reaches_it(repo, listener, capsys):
    add(repo / "apps/flask-app/base/kustomization.yaml", "resources", f"http://127.0.0.1:{listener.port}/x.yaml")
    code, lines = validate(repo, capsys=capsys)
    assert code == 1
    assert lines == [
        f"GO125 apps/flask-app/base/kustomization.yaml: Kustomization: resources[0]: "
        f"'http://127.0.0.1:{listener.port}/x.yaml' is a URL; only files in the repository are built"
    ]
    assert listener.connections == 0


def test_every_command_that_builds_is_gated(repo, listener, capsys):
    add(repo / "clusters/prod-eu/kustomization.yaml", "resources", "github.com/example-org/flask-gitops?ref=v1")
    with pytest.raises(GitopsError, match=r"not built: GO125 clusters/prod-eu/kustomization.yaml: .*resources\[0\]"):
        build(repo / "clusters/prod-eu")
    assert main(["-C", str(repo), "render", "--out", str(repo / "build")]) == 1
    assert "GO125 clusters/prod-eu/kustomization.yaml" in capsys.readouterr().err
    assert listener.connections == 0


def test_the_listener_sees_kustomize_when_nothing_gates_it(repo, listener):
    """The control: the bare kustomize binary does fetch, so zero above means refused, not unobserved."""
    add(repo / "clusters/dev/kustomization.yaml", "resources", f"http://127.0.0.1:{listener.port}/x.yaml")
    subprocess.run(
        [tool("kustomize"), "build", str(repo / "clusters/dev")], capture_output=True, timeout=60, check=False
    )
    assert listener.connections >= 1


@pytest.mark.parametrize(
    "form", ["git::http://127.0.0.1:{port}/org/repo.git//base?ref=main", "ssh://git@127.0.0.1:{port}/org/repo.git"]
)
def test_kustomize_runs_with_git_transports_off_even_past_the_gate(repo, listener, form):
    """Behind the gate: the environment kustomize runs in allows git no transport at all."""
    add(repo / "clusters/dev/kustomization.yaml", "resources", form.format(port=listener.port))
    result = subprocess.run(
        [tool("kustomize"), "build", str(repo / "clusters/dev")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=offline_env(),
    )
    assert result.returncode != 0
    assert listener.connections == 0


@pytest.fixture
def outside(tmp_path) -> Path:
    """A kustomization and a patch outside the repository copy."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources:\n  - configmap.yaml\n")
    (folder / "configmap.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n")
    (folder / "patch.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: flask-app\n")
    return folder


OUTSIDE_CASES = {
    # name: (how the dev cluster's kustomization reaches outside, the field)
    "dot-dot": (
        lambda repo, out: add(repo / "clusters/dev/kustomization.yaml", "resources", "../../../outside"),
        "resources[0]",
    ),
    "absolute": (
        lambda repo, out: add(repo / "clusters/dev/kustomization.yaml", "resources", str(out)),
        "resources[0]",
    ),
    "symlinked-folder": (
        lambda repo, out: (
            (repo / "clusters/dev/shared").symlink_to(out),
            add(repo / "clusters/dev/kustomization.yaml", "resources", "shared"),
        ),
        "resources[0]",
    ),
    "symlinked-file": (
        lambda repo, out: (
            (repo / "clusters/dev/configmap.yaml").symlink_to(out / "configmap.yaml"),
            add(repo / "clusters/dev/kustomization.yaml", "resources", "configmap.yaml"),
        ),
        "resources[0]",
    ),
    "patch": (
        lambda repo, out: (repo / "clusters/dev/kustomization.yaml").write_text(
            (repo / "clusters/dev/kustomization.yaml").read_text() + "patches:\n  - path: ../../../outside/patch.yaml\n"
        ),
        "patches[0].path",
    ),
    "generator-file": (
        lambda repo, out: (repo / "clusters/dev/kustomization.yaml").write_text(
            (repo / "clusters/dev/kustomization.yaml").read_text()
            + "configMapGenerator:\n  - name: x\n    files:\n      - passwd=/etc/passwd\n"
        ),
        "configMapGenerator[0].files[0]",
    ),
}


@pytest.mark.parametrize("case", sorted(OUTSIDE_CASES))
def test_paths_out_of_the_repository_are_refused(repo, outside, listener, capsys, case):
    change, field = OUTSIDE_CASES[case]
    change(repo, outside)
    code, lines = validate(repo, "clusters/dev", capsys=capsys)
    assert code == 1
    assert [line.split(": ")[:3] for line in lines] == [
        ["GO126 clusters/dev/kustomization.yaml", "Kustomization", field]
    ], lines
    assert listener.connections == 0


def test_a_target_whose_real_location_is_outside_is_refused(repo, outside, capsys):
    (repo / "clusters/evil").symlink_to(outside)
    code, lines = validate(repo, "clusters/evil", capsys=capsys)
    assert code == 1
    assert any(line.startswith("GO126 clusters/evil/kustomization.yaml: Kustomization: (file): ") for line in lines)


def test_a_symlink_that_stays_inside_is_fine(repo, capsys):
    os.symlink("../../apps/flask-app/overlays/dev", repo / "clusters/dev/overlay")
    path = repo / "clusters/dev/kustomization.yaml"
    path.write_text(path.read_text().replace("../../apps/flask-app/overlays/dev", "overlay"))
    assert validate(repo, "clusters/dev", capsys=capsys) == (0, [])


@pytest.mark.parametrize("pid", ["GO125", "GO126"])
def test_the_gate_cannot_be_switched_off(repo, capsys, pid):
    assert main(["-C", str(repo), "validate", "--skip-policy", pid]) == 2
    assert "cannot be switched off" in capsys.readouterr().err
