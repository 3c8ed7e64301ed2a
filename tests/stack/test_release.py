"""The sandbox's release (issue 27 item 3): an OCI image layout of the checkout's service, its digest stable."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile

from gitops.toolchain import repo_root
from harness.stack import release
from harness.stack.__main__ import summary
from tests.gitops.conftest import copy_repo, git

ROOT = repo_root()


def test_the_release_is_a_content_addressed_oci_layout_of_the_committed_service(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    for name in release.SERVICE_PATHS:  # the manifests copy plus the service's files, committed
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the service")
    first = release.build(repo, tmp_path / "a")
    assert first == release.build(repo, tmp_path / "b")  # the same checkout, the same digest
    index = json.loads((tmp_path / "a" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == first
    blobs = tmp_path / "a" / "blobs" / "sha256"
    for blob in blobs.iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    manifest = json.loads((blobs / first.split(":")[1]).read_bytes())
    layer = blobs / manifest["layers"][0]["digest"].split(":")[1]
    with tarfile.open(layer) as tar:
        names = tar.getnames()
    assert "app/gunicorn.conf.py" in names
    assert any(n.startswith("app/src/flask_app/") for n in names)
    # A committed change to the service is a new release; an uncommitted one is not.
    (repo / "gunicorn.conf.py").write_text((repo / "gunicorn.conf.py").read_text() + "# changed\n")
    assert release.build(repo, tmp_path / "c") == first
    git(repo, "commit", "-qam", "a service change")
    assert release.build(repo, tmp_path / "d") != first


def test_make_up_prints_the_release_and_the_steps_to_prod():
    text = summary(INFO)
    assert f"export TAG=1.2.4 DIGEST=sha256:{'a' * 64}" in text
    assert "promote staging prod" in text


def test_with_the_real_node_dev_already_runs_the_release_and_promote_waits():
    text = summary({**INFO, "node": {"cluster": "dev", "pid": 1}})
    assert "set-image --env dev" not in text, "dev runs the built image already"
    assert "already running in dev on the real node" in text
    assert "promote dev staging --wait 2m" in text


INFO = {
    "ui": "http://127.0.0.1:1",
    "password": "p",
    "token": "t",
    "remote_path": "/x",
    "repo_url": "http://127.0.0.1:2/r.git",
    "release": {"tag": "1.2.4", "digest": "sha256:" + "a" * 64},
}  # what `make up` writes to stack.json, as summary() reads it
