"""--commit --push against a real bare origin, with real races between clones."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tests.gitops.conftest import clone, git

pytestmark = pytest.mark.slow
DEV = "apps/flask-app/overlays/dev/kustomization.yaml"
STAGING = "apps/flask-app/overlays/staging/kustomization.yaml"


def gitops(cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(cwd), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def subjects(origin) -> list[str]:
    return git(origin, "log", "--format=%s", "main").splitlines()


def test_push_lands_on_origin(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert result.returncode == 0, result.stderr
    assert subjects(origin)[0] == "deploy(dev): flask-app sha-aaaaaaa"
    assert "newTag: sha-aaaaaaa" in git(origin, "show", f"main:{DEV}")


@pytest.mark.parametrize("round_", range(6))
def test_concurrent_bumps_both_land(origin, tmp_path, round_):
    a, b, c = (clone(origin, tmp_path / name) for name in "abc")
    # Someone else's unrelated commit lands first; nobody may lose it.
    (c / "NOTES.md").write_text("unrelated\n")
    git(c, "add", "NOTES.md")
    git(c, "commit", "-qm", "docs: unrelated change")
    git(c, "push", "-q", "origin", "main")

    same_env = round_ % 2 == 0  # alternate: both bump dev, or dev and staging
    jobs = [(a, "dev", f"sha-a{round_:06d}"), (b, "dev" if same_env else "staging", f"sha-b{round_:06d}")]
    results = {}

    def bump(work, env, tag):
        results[tag] = gitops(work, "set-image", "--env", env, "--tag", tag, "--push")

    threads = [threading.Thread(target=bump, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for tag, result in results.items():
        assert result.returncode == 0, (tag, result.stdout, result.stderr)

    log = subjects(origin)
    assert "docs: unrelated change" in log
    assert f"deploy(dev): flask-app sha-a{round_:06d}" in log
    assert (f"deploy({'dev' if same_env else 'staging'}): flask-app sha-b{round_:06d}") in log
    assert git(origin, "show", "main:NOTES.md") == "unrelated\n"
    if not same_env:
        assert f"newTag: sha-a{round_:06d}" in git(origin, "show", f"main:{DEV}")
        assert f"newTag: sha-b{round_:06d}" in git(origin, "show", f"main:{STAGING}")
    else:
        # Last writer wins the file; the history keeps both deploys, in order.
        newest = log.index(next(s for s in log if s.startswith("deploy(dev)")))
        winner = log[newest].split()[-1]
        assert f"newTag: {winner}" in git(origin, "show", f"main:{DEV}")


def test_local_unpushed_commit_is_kept(origin, tmp_path):
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    assert gitops(b, "set-image", "--env", "dev", "--tag", "sha-bbbbbbb", "--push").returncode == 0
    (a / "LOCAL.md").write_text("mine\n")
    git(a, "add", "LOCAL.md")
    git(a, "commit", "-qm", "local: my own commit")
    result = gitops(a, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert result.returncode == 0, result.stderr
    assert "re-applied the edit" in result.stdout
    log = subjects(origin)
    assert log[:3] == [
        "deploy(dev): flask-app sha-aaaaaaa",
        "local: my own commit",
        "deploy(dev): flask-app sha-bbbbbbb",
    ]


def test_push_failure_that_is_not_a_race_is_reported(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    git(work, "remote", "set-url", "origin", str(tmp_path / "missing.git"))
    head = git(work, "rev-parse", "HEAD")
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-ccccccc", "--push")
    assert result.returncode == 1
    assert result.stderr.startswith("gitops: error: git: cannot reach remote 'origin': fatal: ")
    assert result.stderr.count("\n") == 1
    assert git(work, "rev-parse", "HEAD") == head  # checked before anything was written or committed
    assert git(work, "status", "--porcelain") == ""
